"""Reading a data dir (the generators' dataset-folder contract) for training and evaluating baselines.

A data dir holds ``audio/<split>/*.wav`` and ``metadata/<split>.tsv`` whose header tells its kind:
``filename onset offset event_label`` (strong), ``filename event_labels`` (weak, comma-separated),
``filename`` (unlabelled). ``metadata/<split>_strong.tsv`` may sit beside a weak ``<split>.tsv``;
``metadata/<split>_durations.tsv`` gives durations; ``metadata/classes.txt`` (one class a line) gives the class
order, else the sorted union of the labels in all TSVs is used.

- :class:`DataDir` / :class:`SplitTable`: splits, classes, per-file weak labels and strong events.
Loading clips from it: :mod:`sedkit.baselines.data.loaders`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from sedkit import SedkitError
from sedkit.specs import Spec

STRONG = ("filename", "onset", "offset", "event_label")
WEAK = ("filename", "event_labels")
UNLABELLED = ("filename",)


class DataSpec(Spec):
    """Which splits to use and how to load clips (the ``data:`` section of a model spec)."""

    train_split: str = "train"
    val_split: str = "validation"
    eval_splits: list[str] = ["eval"]  # scored after training when they exist
    clip_seconds: float | None = None  # pad/crop every clip to this; None keeps each file's length
    batch_size: int = 24
    num_workers: int = 0
    cache_seconds: float = 7200.0  # decoded audio kept in memory up to this many seconds per dataset


def read_tsv(path: Path) -> pd.DataFrame:
    try:
        df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise SedkitError(f"{path}: cannot read TSV ({str(e).splitlines()[0][:200]})") from None
    return df


def tsv_kind(path: Path, df: pd.DataFrame) -> str:
    cols = tuple(df.columns)
    if cols[:4] == STRONG:
        return "strong"
    if cols[:2] == WEAK:
        return "weak"
    if cols[:1] == UNLABELLED and (len(cols) == 1 or cols[1] == "duration"):
        return "unlabelled"
    raise SedkitError(f"{path}: unknown TSV header {list(cols)}; expected {list(STRONG)}, {list(WEAK)} "
                      f"or {list(UNLABELLED)}")


def strong_events(path: Path, df: pd.DataFrame) -> dict[str, list[tuple[float, float, str]]]:
    """filename -> events; rows with an empty label mark files without events."""
    out: dict[str, list] = {}
    for i, row in enumerate(df.itertuples(index=False), start=2):
        evs = out.setdefault(row.filename, [])
        if not row.event_label:
            continue
        try:
            on, off = float(row.onset), float(row.offset)
        except ValueError:
            raise SedkitError(f"{path}:{i}: onset/offset are not numbers ({row.onset!r}, {row.offset!r})") from None
        if not (0 <= on <= off):
            raise SedkitError(f"{path}:{i}: bad event times onset={on} offset={off}")
        evs.append((on, off, row.event_label))
    return out


@dataclass
class SplitTable:
    """One split of a data dir: the files, their weak label sets and (when known) their strong events."""

    root: Path
    split: str
    kind: str
    filenames: list[str]
    labels: list[list[str]] | None  # per file; None for unlabelled splits
    events: dict[str, list[tuple[float, float, str]]] | None = None  # strong events when known
    durations: dict[str, float] = field(default_factory=dict)

    def audio_path(self, filename: str) -> Path:
        return self.root / "audio" / self.split / filename

    def targets(self, classes: list[str]) -> np.ndarray:
        """Multi-hot ``(files, classes)`` float32 weak targets (zeros for unlabelled splits)."""
        y = np.zeros((len(self.filenames), len(classes)), dtype=np.float32)
        if self.labels is None:
            return y
        idx = {c: k for k, c in enumerate(classes)}
        for i, labs in enumerate(self.labels):
            for lab in labs:
                if lab not in idx:
                    raise SedkitError(f"{self.root}/metadata/{self.split}.tsv: label {lab!r} of "
                                      f"{self.filenames[i]} is not in the class list {classes}")
                y[i, idx[lab]] = 1.0
        return y


class DataDir:
    """A dataset folder: ``DataDir(root).table("train")``, ``.classes``, ``.splits()``."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        if not (self.root / "metadata").is_dir():
            raise SedkitError(f"{self.root}: not a data dir (no metadata/ folder; expected audio/<split>/ and "
                              f"metadata/<split>.tsv)")
        self._tables: dict[str, SplitTable] = {}
        self.classes = self._classes()

    def splits(self) -> list[str]:
        meta = self.root / "metadata"
        return sorted(p.stem for p in meta.glob("*.tsv")
                      if not p.stem.endswith(("_durations", "_strong")) and (self.root / "audio" / p.stem).is_dir())

    def has_split(self, split: str) -> bool:
        return split in self.splits()

    def _classes(self) -> list[str]:
        p = self.root / "metadata" / "classes.txt"
        if p.exists():
            classes = [ln.strip() for ln in p.read_text(encoding="utf-8").splitlines() if ln.strip()]
            if len(set(classes)) != len(classes):
                raise SedkitError(f"{p}: duplicate class names")
            if not classes:
                raise SedkitError(f"{p}: no classes listed")
            return classes
        found: set[str] = set()
        for s in self.splits():
            t = self.table(s)
            for labs in t.labels or []:
                found.update(labs)
        if not found:
            raise SedkitError(f"{self.root}: no classes.txt and no labels in any metadata TSV")
        return sorted(found)

    def table(self, split: str) -> SplitTable:
        if split in self._tables:
            return self._tables[split]
        meta = self.root / "metadata"
        path = meta / f"{split}.tsv"
        if not path.exists():
            raise SedkitError(f"{self.root}: split {split!r} not found (no {path.relative_to(self.root)}); "
                              f"splits here: {self.splits() or 'none'}")
        df = read_tsv(path)
        kind = tsv_kind(path, df)
        events = None
        if kind == "strong":
            events = strong_events(path, df)
            names = list(events)
        else:
            names = list(dict.fromkeys(df["filename"]))
            side = meta / f"{split}_strong.tsv"
            if side.exists():
                sdf = read_tsv(side)
                if tsv_kind(side, sdf) != "strong":
                    raise SedkitError(f"{side}: expected a strong TSV header {list(STRONG)}")
                events = {n: [] for n in names}
                for n, evs in strong_events(side, sdf).items():
                    events.setdefault(n, []).extend(evs)
        labels = None
        if kind == "strong":
            labels = [sorted({e[2] for e in events[n]}) for n in names]
        elif kind == "weak":
            weak = {}
            for n, labs in zip(df["filename"], df["event_labels"]):
                weak.setdefault(n, set()).update(x.strip() for x in labs.split(",") if x.strip())
            labels = [sorted(weak[n]) for n in names]
        durations = {}
        dpath = meta / f"{split}_durations.tsv"
        if dpath.exists():
            ddf = read_tsv(dpath)
            if tuple(ddf.columns[:2]) != ("filename", "duration"):
                raise SedkitError(f"{dpath}: expected header ['filename', 'duration'], got {list(ddf.columns)}")
            durations = {n: float(d) for n, d in zip(ddf["filename"], ddf["duration"])}
        if kind == "strong":  # files without events may be listed only in the durations TSV
            for n in durations:
                if n not in events:
                    events[n] = []
                    names.append(n)
                    labels.append([])
        if not names:
            raise SedkitError(f"{path}: no files listed")
        adir = self.root / "audio" / split
        for n in names:
            if not (adir / n).is_file():
                raise SedkitError(f"{path}: audio file {n!r} is missing from {adir}")
        t = SplitTable(self.root, split, kind, names, labels, events, durations)
        self._tables[split] = t
        return t
