"""Losses shared by the strategies: binary cross-entropy on probabilities, and the SED frame + clip loss
(Park et al. 2019, eqs. 1-3)."""
from __future__ import annotations

import torch
from torch import nn


def bce(p: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None,
        eps: float | None = None) -> torch.Tensor:
    """Binary cross-entropy on probabilities, in float32 outside autocast (AMP refuses BCE in half precision).

    With ``mask`` (same shape, 0/1): the mean over the selected elements (0 when none is selected). With ``eps``:
    probabilities are clamped to ``[eps, 1 - eps]`` first (the tagging strategies use 1e-7).
    """
    with torch.autocast(p.device.type, enabled=False):
        p, target = p.float(), target.float()
        if eps is not None:
            p = p.clamp(eps, 1 - eps)
        if mask is None:
            return nn.functional.binary_cross_entropy(p, target)
        m = mask.float()
        el = nn.functional.binary_cross_entropy(p, target, reduction="none")
        return (el * m).sum() / m.sum().clamp(min=1.0)


def sed_bce(out: dict, frame_target=None, frame_mask=None, clip_target=None, clip_mask=None) -> torch.Tensor:
    """Park et al. eqs. 1-3: ``L_y = L_frame + L_clip``, BCE means over the rows each mask selects.

    ``frame_target (B, T', C)`` with ``frame_mask (B,)`` (bool: which clips have strong labels);
    ``clip_target (B, C)`` with ``clip_mask (B,)``. A term with no selected row contributes 0.
    """
    loss = out["clip"].new_zeros((), dtype=torch.float32)
    if frame_target is not None and frame_mask is not None and bool(frame_mask.any()):
        loss = loss + bce(out["frame"][frame_mask], frame_target[frame_mask])
    if clip_target is not None and clip_mask is not None and bool(clip_mask.any()):
        loss = loss + bce(out["clip"][clip_mask], clip_target[clip_mask])
    return loss
