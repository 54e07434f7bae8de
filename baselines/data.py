"""Reading a data dir (the generators' dataset-folder contract) for training and evaluating baselines.

A data dir holds ``audio/<split>/*.wav`` and ``metadata/<split>.tsv`` whose header tells its kind:
``filename onset offset event_label`` (strong), ``filename event_labels`` (weak, comma-separated),
``filename`` (unlabelled). ``metadata/<split>_strong.tsv`` may sit beside a weak ``<split>.tsv``;
``metadata/<split>_durations.tsv`` gives durations; ``metadata/classes.txt`` (one class a line) gives the class
order, else the sorted union of the labels in all TSVs is used.

- :class:`DataDir` / :class:`SplitTable`: splits, classes, per-file weak labels and strong events.
- :class:`ClipDataset`: audio at a given sample rate, fixed length (pad/crop) or the file's own length; items are
  dicts ``{"audio", "target", "index", "filename"}``; :func:`collate` pads variable lengths and adds ``"n_samples"``.
- :class:`TripletSampler`, :class:`EpisodeSampler`: batch samplers for metric learning; :func:`make_loader`.
Random draws use ``torch.Generator`` objects exposed as ``.generator`` (the trainer checkpoints their states).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from sedkit import SedkitError
from sedkit.specs import Spec
from sedkit.synth import audio as audio_io

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


class ClipDataset(Dataset):
    """Clips of one split as ``{"audio": (n,), "target": (C,), "index": i, "filename": str}``."""

    def __init__(self, table: SplitTable, classes: list[str], sr: int, clip_seconds: float | None = None,
                 cache_seconds: float = 0.0):
        self.table, self.classes, self.sr = table, classes, sr
        self.n_samples = None if clip_seconds is None else int(round(clip_seconds * sr))
        self.targets = torch.from_numpy(table.targets(classes))
        self.cache_seconds = cache_seconds
        self._cache: dict[int, np.ndarray] = {}
        self._cached_s = 0.0

    def __len__(self) -> int:
        return len(self.table.filenames)

    def load(self, i: int) -> np.ndarray:
        if i in self._cache:
            return self._cache[i]
        x, _ = audio_io.read(self.table.audio_path(self.table.filenames[i]), sr=self.sr)
        x = fix_length(x, self.n_samples)
        if self._cached_s + len(x) / self.sr <= self.cache_seconds:
            self._cache[i] = x
            self._cached_s += len(x) / self.sr
        return x

    def __getitem__(self, i: int) -> dict:
        return {"audio": torch.from_numpy(self.load(i)), "target": self.targets[i], "index": i,
                "filename": self.table.filenames[i]}


def fix_length(x: np.ndarray, n: int | None) -> np.ndarray:
    if n is None or len(x) == n:
        return x
    if len(x) > n:
        return x[:n]
    return np.pad(x, (0, n - len(x)))


def collate(items: list[dict]) -> dict:
    """Stack items; audio of different lengths is zero-padded at the end, true lengths in ``n_samples``."""
    lens = [len(it["audio"]) for it in items]
    n = max(lens)
    audio = torch.zeros(len(items), n)
    for k, it in enumerate(items):
        audio[k, :lens[k]] = it["audio"]
    out = {"audio": audio, "n_samples": torch.tensor(lens), "index": torch.tensor([it["index"] for it in items]),
           "filename": [it["filename"] for it in items]}
    for key in items[0]:
        if key not in out:
            out[key] = torch.stack([torch.as_tensor(it[key]) for it in items])
    return out


def make_loader(dataset: Dataset, batch_size: int, shuffle: bool, seed: int = 0, num_workers: int = 0,
                batch_sampler: Sampler | None = None) -> DataLoader:
    """A DataLoader with :func:`collate`; shuffling draws from its own seeded ``torch.Generator``."""
    if batch_sampler is not None:
        return DataLoader(dataset, batch_sampler=batch_sampler, collate_fn=collate, num_workers=num_workers)
    gen = torch.Generator().manual_seed(seed) if shuffle else None
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=gen, collate_fn=collate,
                      num_workers=num_workers)


def primary_class(targets: torch.Tensor) -> torch.Tensor:
    """First active class of each clip (-1 when none); WAA clips have exactly one."""
    has = targets.sum(1) > 0
    return torch.where(has, targets.argmax(1), torch.full_like(has, -1, dtype=torch.long))


class TripletSampler(Sampler):
    """Batches ``[anchors, positives, negatives]`` (3 x ``batch_size`` indices): each anchor gets a random
    clip of its class and a random clip of another class. Anchors run over the labelled clips in random order."""

    def __init__(self, targets: torch.Tensor, batch_size: int, seed: int = 0):
        self.cls = primary_class(targets)
        self.batch_size = batch_size
        self.generator = torch.Generator().manual_seed(seed)
        self.anchors = torch.nonzero(self.cls >= 0).flatten()
        self.by_class = {int(c): torch.nonzero(self.cls == c).flatten() for c in self.cls.unique() if c >= 0}
        if len(self.by_class) < 2:
            raise SedkitError("triplet training needs labelled clips of at least 2 classes")

    def __len__(self) -> int:
        return (len(self.anchors) + self.batch_size - 1) // self.batch_size

    def __iter__(self):
        g = self.generator
        order = self.anchors[torch.randperm(len(self.anchors), generator=g)]
        for start in range(0, len(order), self.batch_size):
            a = order[start:start + self.batch_size]
            pos, neg = [], []
            for i in a.tolist():
                c = int(self.cls[i])
                same = self.by_class[c]
                cand = same[same != i] if len(same) > 1 else same
                pos.append(int(cand[torch.randint(len(cand), (1,), generator=g)]))
                others = torch.nonzero((self.cls >= 0) & (self.cls != c)).flatten()
                neg.append(int(others[torch.randint(len(others), (1,), generator=g)]))
            yield a.tolist() + pos + neg


class EpisodeSampler(Sampler):
    """Prototypical-network episodes: ``n_way`` classes x ``n_per_class`` clips, class-major order.

    The first ``n_support`` clips of each class block are the support set, the rest the queries.
    """

    def __init__(self, targets: torch.Tensor, n_way: int | None, n_per_class: int, n_episodes: int | None,
                 seed: int = 0):
        self.cls = primary_class(targets)
        self.by_class = {int(c): torch.nonzero(self.cls == c).flatten() for c in self.cls.unique() if c >= 0}
        self.n_way = min(n_way or len(self.by_class), len(self.by_class))
        if self.n_way < 2:
            raise SedkitError("prototypical training needs labelled clips of at least 2 classes")
        self.n_per_class = n_per_class
        labelled = int((self.cls >= 0).sum())
        self.n_episodes = n_episodes or max(1, labelled // (self.n_way * n_per_class))
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return self.n_episodes

    def __iter__(self):
        g = self.generator
        classes = torch.tensor(sorted(self.by_class))
        for _ in range(self.n_episodes):
            chosen = classes[torch.randperm(len(classes), generator=g)[:self.n_way]].sort().values
            batch = []
            for c in chosen.tolist():
                pool = self.by_class[c]
                if len(pool) >= self.n_per_class:
                    pick = pool[torch.randperm(len(pool), generator=g)[:self.n_per_class]]
                else:
                    pick = pool[torch.randint(len(pool), (self.n_per_class,), generator=g)]
                batch.extend(pick.tolist())
            yield batch


class SplitLoaders:
    """Datasets and loaders of one data dir under one :class:`DataSpec`, created on demand and reused."""

    def __init__(self, data_dir: str | Path, spec: DataSpec, sr: int, seed: int = 0):
        self.dd = DataDir(data_dir)
        self.spec, self.sr, self.seed = spec, sr, seed
        self.classes = self.dd.classes
        self._sets: dict[str, ClipDataset] = {}

    def dataset(self, split: str) -> ClipDataset:
        if split not in self._sets:
            self._sets[split] = ClipDataset(self.dd.table(split), self.classes, self.sr, self.spec.clip_seconds,
                                            self.spec.cache_seconds)
        return self._sets[split]

    def loader(self, split: str, shuffle: bool = False, batch_sampler: Sampler | None = None,
               batch_size: int | None = None) -> DataLoader:
        return make_loader(self.dataset(split), batch_size or self.spec.batch_size, shuffle, self.seed,
                           self.spec.num_workers, batch_sampler)

    def eval_splits(self) -> list[str]:
        """The configured evaluation splits that exist in this data dir."""
        have = set(self.dd.splits())
        return [s for s in self.spec.eval_splits if s in have]
