"""Feature-domain augmentation on (batch, bins, frames) tensors: Gaussian noise at a random SNR, SpecAugment masks.

Randomness comes from a ``torch.Generator`` (on the features' device) that the caller seeds, e.g. with
:func:`feature_generator` keyed by (seed, epoch, step); global torch random state is never used.
"""
from __future__ import annotations

import torch

from sedkit.synth.dynamic.spec import FeatureAugSpec
from sedkit.synth.rng import seed_sequence


def feature_generator(seed: int, epoch: int, step: int, device: str | torch.device = "cpu") -> torch.Generator:
    g = torch.Generator(device=device)
    g.manual_seed(int(seed_sequence(seed, "features", epoch, step).generate_state(1, dtype="uint64")[0] >> 1))
    return g


def _uniform(n: int, lo: float, hi: float, g: torch.Generator, device) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=g, device=device)


def add_noise_snr(x: torch.Tensor, snr_db: tuple[float, float], g: torch.Generator, p: float = 1.0) -> torch.Tensor:
    """Add white Gaussian noise to each item at an SNR drawn from U(snr_db) (power of the item's features)."""
    b = x.shape[0]
    snr = _uniform(b, *snr_db, g, x.device)
    on = torch.rand(b, generator=g, device=x.device) < p
    power = x.pow(2).flatten(1).mean(dim=1)
    std = torch.sqrt(power / 10 ** (snr / 10)) * on
    noise = torch.randn(x.shape, generator=g, device=x.device, dtype=x.dtype)
    return x + noise * std.view(b, *([1] * (x.dim() - 1)))


def mask_axis(x: torch.Tensor, n_masks: int, max_width: int, axis: int, g: torch.Generator,
              value: float = 0.0) -> torch.Tensor:
    """SpecAugment: ``n_masks`` bands of width U{0..max_width} along ``axis`` (-2 bins, -1 frames) set to ``value``."""
    if n_masks <= 0 or max_width <= 0:
        return x
    b, size = x.shape[0], x.shape[axis]
    width = torch.randint(0, min(max_width, size) + 1, (b, n_masks), generator=g, device=x.device)
    start = (torch.rand(b, n_masks, generator=g, device=x.device) * (size - width + 1)).long()
    pos = torch.arange(size, device=x.device).view(1, 1, size)
    hit = ((pos >= start[..., None]) & (pos < (start + width)[..., None])).any(dim=1)   # (b, size)
    shape = [b] + [1] * (x.dim() - 1)
    shape[axis] = size
    return x.masked_fill(hit.view(shape), value)


def augment_features(x: torch.Tensor, spec: FeatureAugSpec, g: torch.Generator) -> torch.Tensor:
    """Noise at a random SNR, then frequency and time masks (masked cells take the item's mean)."""
    lo, hi = spec.snr_db.bounds()
    x = add_noise_snr(x, (lo, hi), g, spec.p_noise)
    fill = float(x.mean())
    x = mask_axis(x, spec.freq_masks, spec.freq_mask_max, -2, g, fill)
    return mask_axis(x, spec.time_masks, spec.time_mask_max, -1, g, fill)
