"""``data.augment``: Cornell et al. 2020's "Augm" for SED training (online mixing + augmentation, section 3.2).

When a SED model spec has an ``augment:`` section in ``data:``:
- the strong (synthetic) role is replaced by dynamic mixtures (:class:`~sedkit.synth.dynamic.dataset.DynamicMixDataset`,
  rendered on the CPU in the loader) drawn from a soundbank: foregrounds with effect chains, optional per-source
  RIRs, one background; as many per epoch as the synthetic split has clips, new ones every epoch (keyed by seed,
  epoch, index). Frame targets come from the draws, on the CRNN's output grid.
- weak and unlabelled clips get an extra background of the soundbank with probability ``extra_background.p``;
- features of every training batch get noise at a random SNR and SpecAugment masks (:mod:`sedkit.synth.dynamic.features`).

Every parameter of the mixing and augmentation is in ``specs/dynamic.yaml``; ``augment.dynamic`` overrides it
(``sample_rate`` and ``clip_s`` always follow the model). The soundbank defaults to the one the data dir was
synthesized from (its manifest names it; built-in banks are found in the sedkit cache).
"""
from __future__ import annotations

from typing import Literal
from pathlib import Path

import torch
from torch.utils.data import Dataset

from sedkit import SedkitError
from sedkit.specs import Spec, load_spec
from sedkit.synth.dynamic.features import augment_features, feature_generator



class AugmentSpec(Spec):
    soundbank: str | None = None   # soundbank root; None: the one named in the data dir's manifest
    rirs: str | None = None        # RIR bank (``sedkit rir make``) for per-source reverberation; None: dry sources
    dynamic: dict = {}             # overrides of specs/dynamic.yaml
    mix_synthetic: bool = True     # strong role: online mixtures instead of the synthetic clips
    extra_background: bool = True  # weak / unlabelled roles: one more background with probability p
    features: bool = True          # noise at a random SNR + SpecAugment on the features of each batch
    mix_on: Literal["auto", "loader", "device"] = "auto"  # where the strong role's mixtures are rendered: in the
    # loader's workers (numpy), or as whole batches on the training device by the batch mixer (synth/dynamic/gpu.py);
    # auto: the device when it is a GPU


def dynamic_spec(aug: AugmentSpec, sr: int, clip_s: float):
    from sedkit.specs import deep_merge
    from sedkit.synth.dynamic.spec import DynamicSpec

    return load_spec(DynamicSpec, data=deep_merge(aug.dynamic, {"sr": sr, "clip_s": clip_s}))  # over specs/dynamic.yaml


def data_soundbank(data_dir: Path) -> Path:
    """The soundbank a sedkit data dir was synthesized from: the path its manifest records (any bank), or, for a
    built-in bank that is gone from the cache, the same bank built again. One line when it has moved."""
    from sedkit.synth.builtin import BUILTIN_NAME
    from sedkit.synth.dataset import read_manifest

    try:
        man = read_manifest(data_dir)
    except SedkitError:
        man = {}
    src = man.get("soundbank") or {}
    if src.get("path") and Path(src["path"]).is_dir():
        return Path(src["path"])
    if src.get("path") and not src.get("builtin"):
        raise SedkitError(f"{data_dir}: made from the soundbank {src['path']}, which is not there any more (moved?): "
                          "set data.augment.soundbank to where it is now")
    name = Path(src["path"]).name if src.get("path") else (man.get("spec") or {}).get("soundbank")
    m = BUILTIN_NAME.match(str(name or ""))
    if m is None:
        named = f"names {name!r}, which is not a built-in bank" if name else "names no soundbank"
        raise SedkitError(f"{data_dir}: data.augment needs a soundbank to mix from and the data dir's manifest "
                          f"{named}: set data.augment.soundbank")
    from sedkit import __version__
    from sedkit.synth.builtin import default_bank

    if m["version"] != __version__:
        raise SedkitError(f"{data_dir}: made from built-in bank {name}, not this sedkit's ({__version__}): "
                          f"set data.augment.soundbank")
    return default_bank(seed=int(m["seed"]), scale=m["scale"])


class MixedRole(Dataset):
    """The strong role as dynamic mixtures: items shaped like :class:`~sedkit.baselines.data.sed.RoleDataset`'s.

    When the mixer draws only (``render="draw"``), an item's ``audio`` is silence and ``mix`` holds its draw and dry
    excerpts: the strategy renders the batch's mixtures on its device (:class:`DeviceMixing`). Targets come from the
    draw's events either way."""

    def __init__(self, mixer, classes: list[str], n_frames: int, hop_out: float):
        unknown = sorted(set(mixer.labels) - set(classes))
        if unknown:
            raise SedkitError(f"data.augment: soundbank classes {unknown} are not classes of the data dir {classes}")
        self.mixer, self.classes, self.n_frames, self.hop_out = mixer, classes, n_frames, hop_out

    def set_epoch(self, epoch: int) -> None:
        self.mixer.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.mixer)

    def __getitem__(self, i: int) -> dict:
        from sedkit.synth.contract import frame_targets

        it = self.mixer[i]
        extra = {}
        if self.mixer.render == "draw":
            draw, arrays = it
            it = {"events": draw.events(), "audio": torch.zeros(self.mixer.spec.n_samples)}
            extra = {"mix": (draw, arrays)}
        ft = frame_targets(it["events"], self.classes, self.n_frames, self.hop_out)
        return {"audio": it["audio"], "target": torch.from_numpy(ft.max(axis=0)), "index": i,
                "filename": f"mix_e{self.mixer.epoch}_{i:05d}", "frame_target": torch.from_numpy(ft),
                "strong": True, "weak": True, "domain": 1.0, "role": 0, **extra}


class DeviceMixing:
    """Renders the ``mix`` rows of a training batch on the device with the batch mixer (Cornell et al.'s online
    mixing, done as whole batches on a GPU instead of one clip at a time in the loader's workers)."""

    def __init__(self, role: MixedRole, device):
        from sedkit.synth.dynamic.gpu import BatchMixer

        m = role.mixer
        self.mixer = BatchMixer(m.spec, m.labels, m.rirs, device=device)

    def __call__(self, batch: dict) -> dict:
        rows = [i for i, m in enumerate(batch.get("mix") or []) if m is not None]
        if rows:
            audio = self.mixer.mix([batch["mix"][i] for i in rows])
            batch["audio"][rows, :audio.shape[1]] = audio.to(batch["audio"].dtype)
        return batch


def mixes_on_device(aug: AugmentSpec, device) -> bool:
    return aug.mix_synthetic and (aug.mix_on == "device" or (aug.mix_on == "auto" and torch.device(device).type == "cuda"))


def augment_roles(parts: dict, aug: AugmentSpec, data_dir: Path, classes: list[str], sr: int, clip_s: float,
                  seed: int, device="cpu") -> dict:
    """The training role datasets with ``aug`` applied (see the module docstring); on ``device`` the strong role
    only draws when :func:`mixes_on_device` (the strategy renders the mixtures)."""
    from sedkit.synth.dynamic.dataset import DynamicMixDataset, ExtraBackground, build_pool, load_rirs
    from sedkit.synth.dynamic.sources import SourcePool

    spec = dynamic_spec(aug, sr, clip_s)
    bank = Path(aug.soundbank) if aug.soundbank else data_soundbank(data_dir)
    out = dict(parts)
    if aug.mix_synthetic and "synthetic" in parts:
        strong = parts["synthetic"]
        spec = spec.model_copy(update={"items_per_epoch": len(strong)})
        pool = build_pool(spec, soundbank=bank)
        render = "draw" if mixes_on_device(aug, device) else "cpu"
        mixer = DynamicMixDataset(spec, pool, load_rirs(spec, aug.rirs), seed=seed, render=render)
        out["synthetic"] = MixedRole(mixer, classes, strong.n_frames, strong.hop_out)
    if aug.extra_background:
        backgrounds = SourcePool.from_soundbank(bank, spec.split)
        for r in ("weak", "unlabel"):
            if r in parts:
                out[r] = ExtraBackground(parts[r], spec, backgrounds, seed, name=parts[r].role, record=False)
    return out


class FeatureAugment:
    """Noise + SpecAugment on ``(B, C, T, F)`` features, seeded by (seed, step); a no-op when disabled."""

    def __init__(self, aug: AugmentSpec | None, sr: int, clip_s: float, seed: int):
        self.spec = dynamic_spec(aug, sr, clip_s).features if aug is not None and aug.features else None
        self.seed = seed

    def __call__(self, x: torch.Tensor, step: int) -> torch.Tensor:
        if self.spec is None:
            return x
        g = feature_generator(self.seed, 0, step, x.device)
        return augment_features(x.transpose(-1, -2), self.spec, g).transpose(-1, -2)
