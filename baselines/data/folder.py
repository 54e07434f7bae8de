"""Reading a data dir (the generators' dataset-folder contract) for training and evaluating baselines.

The layout and the TSV formats are those of :mod:`sedkit.synth.contract`, whose readers this module uses; the
class order is ``metadata/classes.txt``, else the sorted union of the labels in all TSVs.

- :class:`DataDir` / :class:`SplitTable`: splits, classes, per-file weak labels and strong events.
Loading clips from it: :mod:`sedkit.baselines.data.loaders`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydantic import Field

from sedkit import SedkitError
from sedkit.baselines.data.features import FeatureCacheSpec, default_feature_cache
from sedkit.specs import Spec
from sedkit.synth import contract

class DataSpec(Spec):
    """Which splits to use and how to load clips (the ``data:`` section of a model spec)."""

    train_split: str
    val_split: str
    eval_splits: list[str]  # scored after training when they exist
    clip_seconds: float | None  # pad/crop every clip to this; None keeps each file's length
    batch_size: int
    eval_batch_size: int = 64  # prediction (validation each epoch, evaluation)
    num_workers: int = 0
    cache_seconds: float = 7200.0  # decoded audio kept in memory up to this many seconds per dataset (no feature cache)
    feature_cache: FeatureCacheSpec = Field(default_factory=default_feature_cache)


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
        p = contract.classes_path(self.root)
        if p.exists():
            return contract.read_classes(p)
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
        path = contract.metadata_path(self.root, split)
        if not path.exists():
            raise SedkitError(f"{self.root}: split {split!r} not found (no {path.relative_to(self.root)}); "
                              f"splits here: {self.splits() or 'none'}")
        kind, df = contract.read_metadata(path)
        kind = contract.split_kind(path, kind, df)
        events = None
        if kind == "strong":
            events = contract.strong_events(path, df)
            names = list(events)
        else:
            names = list(dict.fromkeys(df["filename"]))
            side = contract.metadata_path(self.root, split, "_strong")
            if side.exists():
                side_kind, sdf = contract.read_metadata(side)
                if side_kind != "strong":
                    raise SedkitError(f"{side}: expected a strong TSV header {contract.STRONG_COLS}")
                events = {n: [] for n in names}
                for n, evs in contract.strong_events(side, sdf).items():
                    events.setdefault(n, []).extend(evs)
        labels = None
        if kind == "strong":
            labels = [sorted({e[2] for e in events[n]}) for n in names]
        elif kind == "weak":
            weak = contract.weak_labels(df)
            labels = [weak[n] for n in names]
        durations = {}
        dpath = contract.metadata_path(self.root, split, "_durations")
        if dpath.exists():
            durations = contract.read_durations(dpath)
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
