"""Loading the clips of a data dir (read by :mod:`sedkit.baselines.data.folder`) for training and evaluation.

- :class:`ClipDataset`: audio at a given sample rate, fixed length (pad/crop) or the file's own length; items are
  dicts ``{"audio", "target", "index", "filename"}``; :func:`collate` pads variable lengths and adds ``"n_samples"``.
  With a :class:`~sedkit.baselines.data.features.FeatureSet` (the feature cache) items carry ``"stage"`` instead of
  ``"audio"``, and whole batches are gathered from it at once (``__getitems__``, which the DataLoader calls).
- :class:`TripletSampler`, :class:`EpisodeSampler`: batch samplers for metric learning; :func:`make_loader`.
- :class:`SplitLoaders`: the loaders of a tagging model's splits.
Random draws use ``torch.Generator`` objects exposed as ``.generator`` (the trainer checkpoints their states).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from sedkit import SedkitError
from sedkit.baselines.data.features import FeatureSet, split_features
from sedkit.baselines.data.folder import DataDir, DataSpec, SplitTable
from sedkit.baselines.models.frontends import FrontendSpec


class ClipDataset(Dataset):
    """Clips of one split as ``{"audio": (n,), "target": (C,), "index": i, "filename": str}``."""

    def __init__(self, table: SplitTable, classes: list[str], sr: int, clip_seconds: float | None = None,
                 cache_seconds: float = 0.0, features: FeatureSet | None = None):
        self.table, self.classes, self.sr, self.features = table, classes, sr, features
        self.n_samples = None if clip_seconds is None else int(round(clip_seconds * sr))
        self.targets = torch.from_numpy(table.targets(classes))
        self.cache_seconds = cache_seconds
        self._cache: dict[int, np.ndarray] = {}
        self._cached_s = 0.0

    def __len__(self) -> int:
        return len(self.table.filenames)

    def load(self, i: int) -> np.ndarray:
        from sedkit.synth import audio as audio_io

        if i in self._cache:
            return self._cache[i]
        x, _ = audio_io.read(self.table.audio_path(self.table.filenames[i]), sr=self.sr)
        x = fix_length(x, self.n_samples)
        if self._cached_s + len(x) / self.sr <= self.cache_seconds:
            self._cache[i] = x
            self._cached_s += len(x) / self.sr
        return x

    def __getitem__(self, i: int) -> dict:
        if self.features is not None:
            return {**self.features.item(i), "target": self.targets[i], "index": i,
                    "filename": self.table.filenames[i]}
        return self.audio_item(i)

    def audio_item(self, i: int) -> dict:
        """Item ``i`` with its audio, cache or not (online augmentation needs the waveform)."""
        return {"audio": torch.from_numpy(self.load(i)), "target": self.targets[i], "index": i,
                "filename": self.table.filenames[i]}

    def __getitems__(self, idx: list[int]):
        """A whole batch gathered from the feature cache (a dict :func:`collate` passes on), else the items."""
        if self.features is None:
            return [self[i] for i in idx]
        return {**self.features.batch(idx), "target": self.targets[idx], "index": torch.as_tensor(idx),
                "filename": [self.table.filenames[i] for i in idx]}


def fix_length(x: np.ndarray, n: int | None) -> np.ndarray:
    if n is None or len(x) == n:
        return x
    if len(x) > n:
        return x[:n]
    return np.pad(x, (0, n - len(x)))


def collate(items: list[dict] | dict) -> dict:
    """Stack items; audio of different lengths is zero-padded at the end, true lengths in ``n_samples``. A batch
    already gathered (a dict) is returned as it is; items with cached stages go through :func:`concat_batches`."""
    if isinstance(items, dict):
        return items
    if any("stage" in it for it in items):
        return concat_batches([item_batch(it) for it in items])
    lens = [len(it["audio"]) for it in items]
    n = max(lens)
    audio = torch.zeros(len(items), n)
    for k, it in enumerate(items):
        audio[k, :lens[k]] = it["audio"]
    out = {"audio": audio, "n_samples": torch.tensor(lens), "index": torch.tensor([it["index"] for it in items]),
           "filename": [it["filename"] for it in items]}
    if any("mix" in it for it in items):  # draws of mixtures rendered on the device (data.augment.mix_on)
        out["mix"] = [it.get("mix") for it in items]
    for key in items[0]:
        if key not in out:
            out[key] = torch.stack([torch.as_tensor(it[key]) for it in items])
    return out


def item_batch(it: dict) -> dict:
    """One item as a batch of one."""
    out = {k: [v] if k in ("filename", "mix") else torch.as_tensor(v)[None] for k, v in it.items()}
    if "n_samples" not in out:
        out["n_samples"] = torch.tensor([len(it["audio"])])
    return out


def concat_batches(batches: list[dict]) -> dict:
    """Concatenate batches row-wise, zero-padding ``stage`` and ``audio`` to the longest. Where some rows carry
    cached stages and others audio, the result has both (zero rows where a batch had none) and ``cached`` (bool:
    the rows whose stage is real)."""
    sizes = [len(b["filename"]) for b in batches]
    out: dict = {"filename": [n for b in batches for n in b["filename"]]}
    if any("mix" in b for b in batches):
        out["mix"] = [m for b, n in zip(batches, sizes) for m in (b.get("mix") or [None] * n)]
    for key, tdim in (("stage", 2), ("audio", 1)):
        have = [b[key] for b in batches if key in b]
        if not have:
            continue
        shape = list(have[0].shape)
        shape[tdim] = max(x.shape[tdim] for x in have)
        parts = []
        for b, n in zip(batches, sizes):
            full = torch.zeros([n, *shape[1:]], dtype=have[0].dtype, device=have[0].device)
            if key in b:
                full.narrow(tdim, 0, b[key].shape[tdim]).copy_(b[key])
            parts.append(full)
        out[key] = torch.cat(parts)
    if "stage" in out and "audio" in out:
        out["cached"] = torch.cat([b["cached"].cpu() if "cached" in b else torch.full((n,), "stage" in b)
                                   for b, n in zip(batches, sizes)])
    for key in batches[0]:
        if key not in out and key != "cached":
            out[key] = torch.cat([torch.as_tensor(b[key]).cpu() for b in batches])
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


def open_clips(dd: DataDir, split: str, data, frontend: FrontendSpec, device="cpu") -> ClipDataset:
    """The clips of one split for a ``data:`` section (tagging or SED): from the feature cache when
    ``data.feature_cache.enabled``, else from the audio files."""
    table = dd.table(split)
    fc = data.feature_cache
    feats = split_features(table, frontend, data.clip_seconds, fc, device) if fc.enabled else None
    return ClipDataset(table, dd.classes, frontend.sr, data.clip_seconds, data.cache_seconds, feats)


def loader_workers(dataset, asked: int) -> int:
    """DataLoader workers: none for batches gathered from the feature cache (they come from memory, maybe a GPU)."""
    clips = getattr(dataset, "clips", dataset)
    return 0 if getattr(clips, "features", None) is not None else asked


class SplitLoaders:
    """Datasets and loaders of one data dir under one :class:`DataSpec`, created on demand and reused."""

    def __init__(self, data_dir: str | Path, spec: DataSpec, frontend: FrontendSpec, seed: int = 0, device="cpu"):
        self.dd = DataDir(data_dir)
        self.spec, self.frontend, self.seed, self.device = spec, frontend, seed, device
        self.classes = self.dd.classes
        self._sets: dict[str, ClipDataset] = {}

    def dataset(self, split: str) -> ClipDataset:
        if split not in self._sets:
            self._sets[split] = open_clips(self.dd, split, self.spec, self.frontend, self.device)
        return self._sets[split]

    def loader(self, split: str, shuffle: bool = False, batch_sampler: Sampler | None = None,
               batch_size: int | None = None) -> DataLoader:
        ds = self.dataset(split)
        return make_loader(ds, batch_size or self.spec.batch_size, shuffle, self.seed,
                           loader_workers(ds, self.spec.num_workers), batch_sampler)

    def eval_loader(self, split: str) -> DataLoader:
        """Non-shuffled loader for prediction, in batches of ``data.eval_batch_size``."""
        return self.loader(split, batch_size=self.spec.eval_batch_size)

    def eval_splits(self) -> list[str]:
        """The configured evaluation splits that exist in this data dir."""
        have = set(self.dd.splits())
        return [s for s in self.spec.eval_splits if s in have]
