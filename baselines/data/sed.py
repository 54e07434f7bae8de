"""Mixed S/W/U batches for SED training on a data dir (reads it with :mod:`sedkit.baselines.data.folder`).

Roles (the ``data:`` section of a SED model spec names one split for each):
- ``synthetic`` (S): strong labels, source domain -> frame targets, clip targets, ``domain = 1``;
- ``weak`` (W): weak labels, target domain -> clip targets, ``domain = 0``;
- ``unlabel`` (U): no labels, target domain -> ``domain = 0``.
A training batch concatenates ``batch.synthetic`` S items, ``batch.weak`` W items and ``batch.unlabel`` U items
(in that order). Each item carries ``audio``, ``target (C)`` (clip), ``frame_target (T', C)``, ``strong`` and
``weak`` (bool: which targets are real), ``domain`` (1 synthetic / 0 target), ``role`` (0 S, 1 W, 2 U) and
``index`` (position in its role's split, used to look up pseudo-labels). Frame targets are on the network's
output grid, ``hop_out = hop_length * time_pool / sr`` seconds a frame, by the contract's one rule
(:func:`sedkit.synth.contract.frame_targets`).

With ``augment:`` set, S is replaced by online mixtures and W/U get extra backgrounds
(:mod:`sedkit.baselines.data.augment`); the trainer calls :meth:`MixedDataset.set_epoch` before each epoch.

One epoch = one pass over S (or ``steps_per_epoch`` batches); W and U are drawn without replacement, reshuffled
and cycled as needed. All draws come from the sampler's ``torch.Generator`` (checkpointed by the trainer).
"""
from __future__ import annotations

from typing import ClassVar

import math
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from sedkit import SedkitError
from sedkit.baselines.data.features import FeatureCacheSpec
from sedkit.baselines.data.loaders import ClipDataset, collate, concat_batches, loader_workers, make_loader, open_clips
from sedkit.baselines.data.folder import DataDir
from sedkit.baselines.models.frontends import FrontendSpec
from sedkit.baselines.data.augment import AugmentSpec, augment_roles
from sedkit.specs import Spec
from sedkit.synth.contract import frame_targets

ROLES = ("synthetic", "weak", "unlabel")


class BatchSpec(Spec):
    defaults_from: ClassVar[str] = "models/crnn#data.batch"
    synthetic: int
    weak: int
    unlabel: int


class SEDDataSpec(Spec):
    """The ``data:`` section of a SED model spec."""
    defaults_from: ClassVar[str] = "models/crnn#data"

    synthetic: str  # strong split (a weak split with a <split>_strong.tsv beside it also works)
    weak: str | None
    unlabel: str | None
    batch: BatchSpec
    steps_per_epoch: int | None  # None: one pass over the synthetic split
    val_split: str
    eval_splits: list[str]
    clip_seconds: float
    eval_batch_size: int
    num_workers: int
    cache_seconds: float
    augment: AugmentSpec | None  # online mixing + augmentation (sedkit.baselines.data.augment); None: off
    feature_cache: FeatureCacheSpec  # sedkit.baselines.data.features


def n_out_frames(n_samples: int, hop_length: int, time_pool: int) -> int:
    """Output frames of the CRNN for a clip of ``n_samples`` (centred STFT, then time pooling)."""
    return (1 + n_samples // hop_length) // time_pool


class RoleDataset(Dataset):
    """One role's split with its targets and flags (see module docstring)."""

    def __init__(self, clips: ClipDataset, role: str, hop_length: int, time_pool: int):
        self.clips, self.role = clips, role
        self.role_id = ROLES.index(role)
        t = clips.table
        n = clips.n_samples
        self.n_frames = n_out_frames(n, hop_length, time_pool)
        self.hop_out = hop_length * time_pool / clips.sr
        self.strong = role == "synthetic"
        self.weak = role in ("synthetic", "weak")
        if self.strong and t.events is None:
            raise SedkitError(f"{t.root}: split {t.split!r} is used as the strong (synthetic) split but has no strong "
                              f"labels (neither a strong {t.split}.tsv nor a {t.split}_strong.tsv)")
        if role == "weak" and t.labels is None:
            raise SedkitError(f"{t.root}: split {t.split!r} is used as the weak split but has no labels")

        self._frame_targets: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.clips)

    def frame_targets(self) -> torch.Tensor:
        """``(clips, T', C)`` frame targets of the role (zeros unless strong), computed once."""
        if self._frame_targets is None:
            c = len(self.clips.classes)
            t = self.clips.table
            self._frame_targets = torch.stack([
                torch.from_numpy(frame_targets(t.events[n], self.clips.classes, self.n_frames, self.hop_out))
                if self.strong else torch.zeros(self.n_frames, c) for n in t.filenames]) if len(t.filenames) \
                else torch.zeros(0, self.n_frames, c)
        return self._frame_targets

    def _flags(self, it: dict, i) -> dict:
        target = it["target"] if self.weak else torch.zeros_like(it["target"])
        return {**it, "target": target, "frame_target": self.frame_targets()[i], "strong": self.strong,
                "weak": self.weak, "domain": float(self.strong), "role": self.role_id}

    def __getitem__(self, i: int) -> dict:
        return self._flags(self.clips[i], i)

    def audio_item(self, i: int) -> dict:
        """Item ``i`` with its waveform even when the clips come from the feature cache."""
        return self._flags(self.clips.audio_item(i), i)

    def __getitems__(self, idx: list[int]):
        got = self.clips.__getitems__(idx)
        if isinstance(got, list):
            return [self._flags(it, i) for it, i in zip(got, idx)]
        n = len(idx)
        return {**self._flags(got, idx), "strong": torch.full((n,), self.strong), "weak": torch.full((n,), self.weak),
                "domain": torch.full((n,), float(self.strong)), "role": torch.full((n,), self.role_id)}


class MixedDataset(Dataset):
    """Concatenation of the role datasets; global index = offset of the role + index in the role."""

    def __init__(self, parts: dict[str, RoleDataset]):
        self.parts = parts
        self.offsets, off = {}, 0
        for r in ROLES:
            if r in parts:
                self.offsets[r] = off
                off += len(parts[r])
        self.total = off

    def __len__(self) -> int:
        return self.total

    def set_epoch(self, epoch: int) -> None:
        """Tell the parts that draw per epoch (online mixtures, extra backgrounds) which epoch it is."""
        for d in self.parts.values():
            if hasattr(d, "set_epoch"):
                d.set_epoch(epoch)

    def _locate(self, g: int) -> tuple[str, int]:
        for r in reversed([r for r in ROLES if r in self.parts]):
            if g >= self.offsets[r]:
                return r, g - self.offsets[r]
        raise IndexError(g)

    def __getitem__(self, g: int) -> dict:
        r, i = self._locate(g)
        return self.parts[r][i]

    def __getitems__(self, idx: list[int]) -> dict:
        """A batch: each run of indices of one role fetched together (gathered from the feature cache where the
        role's clips come from it), then the runs concatenated in order."""
        runs: list[tuple[str, list[int]]] = []
        for g in idx:
            r, i = self._locate(g)
            if runs and runs[-1][0] == r:
                runs[-1][1].append(i)
            else:
                runs.append((r, [i]))
        batches = []
        for r, local in runs:
            part = self.parts[r]
            got = part.__getitems__(local) if hasattr(part, "__getitems__") else [part[i] for i in local]
            batches.append(collate(got))
        return batches[0] if len(batches) == 1 else concat_batches(batches)


class MixedBatchSampler(Sampler):
    """Each batch: ``sizes[role]`` draws per role, roles in S, W, U order (see module docstring)."""

    def __init__(self, dataset: MixedDataset, sizes: dict[str, int], steps: int | None = None, seed: int = 0):
        self.ds = dataset
        self.sizes = {r: s for r, s in sizes.items() if r in dataset.parts and s > 0}
        if "synthetic" not in self.sizes:
            raise SedkitError("SED training needs a synthetic (strong) split with batch.synthetic > 0")
        self.steps = steps or math.ceil(len(dataset.parts["synthetic"]) / self.sizes["synthetic"])
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return self.steps

    def _stream(self, role: str) -> list[int]:
        n = len(self.ds.parts[role])
        need = self.steps * self.sizes[role]
        perms = [torch.randperm(n, generator=self.generator) for _ in range(math.ceil(need / n))]
        return (torch.cat(perms)[:need] + self.ds.offsets[role]).tolist()

    def __iter__(self):
        streams = {r: self._stream(r) for r in self.sizes}
        for k in range(self.steps):
            batch = []
            for r, s in self.sizes.items():
                batch.extend(streams[r][k * s:(k + 1) * s])
            yield batch


class SEDData:
    """The datasets and loaders of one data dir for SED training / evaluation."""

    def __init__(self, data_dir: str | Path, spec: SEDDataSpec, frontend: FrontendSpec, time_pool: int,
                 seed: int = 0, device="cpu"):
        self.dd = DataDir(data_dir)
        self.spec, self.frontend, self.time_pool, self.seed, self.device = spec, frontend, time_pool, seed, device
        self.sr, self.hop_length = frontend.sr, frontend.hop_length
        self.classes = self.dd.classes
        self._clips: dict[str, ClipDataset] = {}

    @property
    def hop_out(self) -> float:
        return self.hop_length * self.time_pool / self.sr

    def clips(self, split: str) -> ClipDataset:
        if split not in self._clips:
            self._clips[split] = open_clips(self.dd, split, self.spec, self.frontend, self.device)
        return self._clips[split]

    def role(self, role: str) -> RoleDataset | None:
        split = getattr(self.spec, role)
        if split is None:
            return None
        return RoleDataset(self.clips(split), role, self.hop_length, self.time_pool)

    def train_loader(self, device="cpu") -> DataLoader:
        """The S/W/U training loader; with ``data.augment``, its roles augmented (mixtures drawn for ``device``
        to render when :func:`~sedkit.baselines.data.augment.mixes_on_device`)."""
        sizes = self.spec.batch.model_dump()
        parts = {r: d for r in ROLES if sizes[r] > 0 and (d := self.role(r)) is not None}
        if self.spec.augment is not None:
            parts = augment_roles(parts, self.spec.augment, self.dd.root, self.classes, self.sr,
                                  self.spec.clip_seconds, self.seed, device)
        ds = MixedDataset(parts)
        sampler = MixedBatchSampler(ds, sizes, self.spec.steps_per_epoch, self.seed)
        workers = self.spec.num_workers if any(loader_workers(p, 1) for p in parts.values()) else 0
        return DataLoader(ds, batch_sampler=sampler, collate_fn=collate, num_workers=workers)

    def loader(self, split: str) -> DataLoader:
        """Non-shuffled loader of a split (prediction, validation, pseudo-labelling)."""
        ds = self.clips(split)
        return make_loader(ds, self.spec.eval_batch_size, shuffle=False,
                           num_workers=loader_workers(ds, self.spec.num_workers))

    def role_loader(self, role: str) -> DataLoader | None:
        """Non-shuffled loader of a role's dataset (items keep the role's targets and indices)."""
        ds = self.role(role)
        if ds is None:
            return None
        return DataLoader(ds, batch_size=self.spec.eval_batch_size, shuffle=False, collate_fn=collate,
                          num_workers=loader_workers(ds, self.spec.num_workers))

    def eval_splits(self) -> list[str]:
        have = set(self.dd.splits())
        return [s for s in self.spec.eval_splits if s in have]
