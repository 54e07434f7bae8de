"""Torch datasets for dynamic mixing.

- :class:`DynamicMixDataset`: strong training clips mixed on the fly. Item ``i`` of epoch ``e`` depends only on
  (seed, split, e, i), so any number of DataLoader workers gives the same batches. With ``render="draw"`` (default)
  an item is ``(ItemDraw, dry excerpts)`` and a :class:`~.gpu.BatchMixer` renders whole batches on the device;
  with ``render="cpu"`` the worker renders the clip with numpy (:func:`~.chain.render_item`).
- :class:`ExtraBackground`: any clips (a training role, or :class:`DataDirClips`), each given one more background
  with probability ``extra_background.p`` (no time-domain effects); feature augmentation comes after
  (:mod:`.features`). :class:`ExtraBackgroundDataset` is it over the weak or unlabelled clips of a data dir.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from sedkit import SedkitError
from sedkit.synth import audio
from sedkit.synth.dynamic.chain import render_item
from sedkit.synth.contract import frame_targets
from sedkit.synth.dynamic.plan import draw_item, source_length
from sedkit.synth.dynamic.sources import AudioCache, SourcePool, excerpt, load_sources
from sedkit.synth.dynamic.spec import DynamicSpec
from sedkit.synth.rir import RirBank
from sedkit.synth.rng import seed_sequence


def build_pool(spec: DynamicSpec, soundbank: str | Path | None = None, strong_dir: str | Path | None = None) -> SourcePool:
    """Sources of ``spec.split`` from a soundbank and/or the events of a strong data dir (at least one)."""
    pools = []
    if soundbank is not None:
        pools.append(SourcePool.from_soundbank(soundbank, spec.split))
    if strong_dir is not None:
        pools.append(SourcePool.from_strong_dir(strong_dir, spec.split))
    if not pools:
        raise SedkitError("dynamic mixing needs a soundbank and/or a strong data dir to draw sources from")
    return sum(pools[1:], pools[0])


def load_rirs(spec: DynamicSpec, root: str | Path | None) -> RirBank | None:
    return RirBank.load(root, spec.sr, spec.rir.max_s) if root is not None else None


class CachedSources(Dataset):
    """A per-process AudioCache, created lazily so that DataLoader workers do not copy the parent's."""

    def __init__(self, spec: DynamicSpec):
        self.spec = spec
        self._cache = None

    @property
    def cache(self) -> AudioCache:
        if self._cache is None:
            self._cache = AudioCache(self.spec.sr, self.spec.cache_mb << 20, self.spec.effects.pitch_shift.method)
        return self._cache

    def __getstate__(self):
        return {**self.__dict__, "_cache": None}


class DynamicMixDataset(CachedSources):
    def __init__(self, spec: DynamicSpec, pool: SourcePool, rirs: RirBank | None = None, seed: int = 0,
                 render: str = "draw"):
        super().__init__(spec)
        if render not in ("draw", "cpu"):
            raise SedkitError(f"render must be 'draw' or 'cpu', got {render!r}")
        self.pool, self.rirs, self.seed, self.render = pool, rirs, seed, render
        self.epoch = 0

    @property
    def labels(self) -> list[str]:
        return self.pool.labels

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.spec.items_per_epoch

    def warm_cache(self) -> int:
        """Decode every source, and pitch-shift it by every value of a discrete ``pitch_shift.cents`` distribution,
        into this process's cache (before starting workers, or in each). Returns the number of cached arrays."""
        refs = self.pool.fg + self.pool.bg
        values = self.pitch_values()
        for ref in tqdm(refs, desc="warm cache", unit="source", disable=None):
            for c in values:
                self.cache.get(ref, c)
        return len(refs) * len(values)

    def pitch_values(self) -> list:
        """None (no shift) and, when ``pitch_shift.cents`` is a discrete distribution, each of its values."""
        cents = self.spec.effects.pitch_shift.cents
        values = [None]
        if "pitch_shift" in self.spec.effects.pool and cents.kind in ("choose", "const"):
            values += [float(c) for c in (cents.args[0] if cents.kind == "choose" else cents.args) if c]
        return values

    def draw(self, index: int):
        return draw_item(self.spec, self.pool, len(self.rirs) if self.rirs else 0, self.seed, self.epoch, index)

    def __getitem__(self, index: int):
        d = self.draw(index)
        arrays = load_sources(d, self.pool, self.cache)
        if self.render == "draw":
            return d, arrays
        events = d.events()
        return {"audio": torch.from_numpy(render_item(d, arrays, self.spec, self.rirs)),
                "targets": torch.from_numpy(frame_targets(events, self.labels, self.spec.n_frames, 1 / self.spec.frame_rate)),
                "events": events, "index": index}


def collate_list(batch: list) -> list:
    return list(batch)


def draw_loader(ds: DynamicMixDataset, batch_size: int, num_workers: int = 0, **kw) -> DataLoader:
    """A DataLoader of (ItemDraw, excerpts) lists for a BatchMixer; in index order unless ``shuffle`` is passed.

    Workers are not persistent: each epoch's iterator starts them from the dataset as it is then, so a
    ``set_epoch`` called in the parent reaches them (a persistent worker would keep drawing epoch 0)."""
    return DataLoader(ds, batch_size=batch_size, num_workers=num_workers, collate_fn=collate_list, **kw)


class ExtraBackground(CachedSources):
    """The items of ``clips`` (dicts whose ``audio`` is at ``spec.sr``), each given an extra background from
    ``backgrounds`` with probability ``spec.extra_background.p``; draws keyed by (seed, name, epoch, index). With
    ``record``, an item also says which background it got (``extra_background``: its key, or None). Training wraps
    its weak and unlabelled roles in it (:mod:`sedkit.baselines.data.augment`)."""

    def __init__(self, clips, spec: DynamicSpec, backgrounds: SourcePool, seed: int = 0, name: str = "",
                 record: bool = True):
        super().__init__(spec)
        self.clips, self.bg, self.seed, self.name, self.record, self.epoch = clips, backgrounds, seed, name, record, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, index: int) -> dict:
        it = self.clips[index]
        rng = np.random.default_rng(seed_sequence(self.seed, "extra_background", self.name, self.epoch, index))
        if "audio" not in it:  # a stage from the feature cache: the waveform only for the clips that get a background
            if not self.bg.bg or rng.random() >= self.spec.extra_background.p:
                return {**it, "extra_background": None} if self.record else it
            it = self.clips.audio_item(index)
            rng = np.random.default_rng(seed_sequence(self.seed, "extra_background", self.name, self.epoch, index))
        x, added = add_background(np.asarray(it["audio"]), self.spec, self.bg, self.cache, rng)
        out = {**it, "audio": torch.from_numpy(np.ascontiguousarray(x))}
        if self.record:
            out["extra_background"] = added
        return out


class DataDirClips(Dataset):
    """The clips of a weak or unlabelled split of a data dir at ``sr``: ``{"audio", "filename"}``, plus ``labels``
    (multi-hot over ``classes``, default: the split's labels, sorted) for a weak split."""

    def __init__(self, data_dir: str | Path, split: str, sr: int, classes: list[str] | None = None):
        from sedkit.synth import contract

        self.root, self.split, self.sr = Path(data_dir), split, sr
        path = contract.metadata_path(self.root, split)
        kind, df = contract.read_metadata(path)
        if kind not in ("weak", "unlabelled"):
            raise SedkitError(f"{path}: expected weak or unlabelled metadata, got {kind}")
        self.files = list(df.filename)
        self.weak, self.classes = None, classes
        if kind == "weak":
            labels = contract.weak_labels(df)
            tags = [labels[f] for f in self.files]
            self.classes = classes or sorted({t for ts in tags for t in ts})
            col = {c: i for i, c in enumerate(self.classes)}
            self.weak = np.zeros((len(tags), len(self.classes)), np.float32)
            for i, ts in enumerate(tags):
                self.weak[i, [col[t] for t in ts]] = 1.0

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> dict:
        from sedkit.synth import contract

        x, _ = audio.read(contract.audio_dir(self.root, self.split) / self.files[index], sr=self.sr)
        item = {"audio": torch.from_numpy(np.ascontiguousarray(x)), "filename": self.files[index]}
        if self.weak is not None:
            item["labels"] = torch.from_numpy(self.weak[index])
        return item


class ExtraBackgroundDataset(ExtraBackground):
    """Clips of ``data_dir/audio/<split>`` listed in ``metadata/<split>.tsv`` (weak or unlabelled), each given an
    extra background from ``backgrounds`` with probability ``spec.extra_background.p``; keyed by (seed, epoch, index)."""

    def __init__(self, spec: DynamicSpec, data_dir: str | Path, split: str, backgrounds: SourcePool,
                 classes: list[str] | None = None, seed: int = 0):
        clips = DataDirClips(data_dir, split, spec.sr, classes)
        super().__init__(clips, spec, backgrounds, seed, name=split)
        self.classes = clips.classes


def add_background(x: np.ndarray, spec: DynamicSpec, backgrounds: SourcePool, cache: AudioCache,
                   rng: np.random.Generator) -> tuple[np.ndarray, str | None]:
    """With probability ``spec.extra_background.p``, ``x`` plus a random excerpt of a random background at
    ``level_db`` relative to the RMS of ``x``; returns the clip and the background's key (None: none added)."""
    sr, eb = spec.sr, spec.extra_background
    if not backgrounds.bg or rng.random() >= eb.p:
        return x, None
    ref = backgrounds.bg[int(rng.integers(len(backgrounds.bg)))]
    start = int(rng.integers(0, source_length(ref.duration_s, sr)))
    b = excerpt(cache.get(ref), start, len(x), loop=True).astype(np.float64)
    rel = float(eb.level_db.sample(rng))
    rms_x, rms_b = np.sqrt(np.mean(np.square(x, dtype=np.float64))), np.sqrt(np.mean(b * b))
    return (x + b * (max(rms_x, 1e-8) * 10 ** (rel / 20) / max(rms_b, 1e-8))).astype(np.float32), ref.key
