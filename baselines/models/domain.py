"""Gradient reversal (Ganin & Lempitsky) and the domain classifiers of Park et al. (2019).

``grad_reverse(x, alpha)`` is the identity forward and multiplies the gradient by ``-alpha`` backward, so that one
optimiser step on ``L_y + L_d`` gives Park et al. eqs. 5-7: the extractor descends ``dL_y - alpha dL_d``, the
domain classifier descends ``dL_d``. The domain classifier decides synthetic (label 1) vs target (label 0):
- ``mode="whole"`` (Adv.whole): once per clip, on the time-averaged feature map;
- ``mode="time"`` (Adv.time): once per frame.
It is a training-time branch only: models keep it outside their inference path and never call it in ``predict``.
"""
from __future__ import annotations

import torch
from torch import nn


class _GradReverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, alpha: float):
        ctx.alpha = alpha
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return -ctx.alpha * grad, None


def grad_reverse(x: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """Identity forward; gradient multiplied by ``-alpha`` backward."""
    return _GradReverse.apply(x, float(alpha))


class DomainClassifier(nn.Module):
    """MLP on extractor features ``(B, T, D)``; returns P(synthetic) as ``(B,)`` (whole) or ``(B, T)`` (time)."""

    def __init__(self, in_dim: int, hidden: int = 64, mode: str = "time", dropout: float = 0.2):
        super().__init__()
        if mode not in ("whole", "time"):
            raise ValueError(f"domain classifier mode must be 'whole' or 'time', got {mode!r}")
        self.mode = mode
        self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        if self.mode == "whole":
            feats = feats.mean(1)  # (B, D)
        return torch.sigmoid(self.net(feats)).squeeze(-1)

    def targets(self, p: torch.Tensor, is_synthetic: torch.Tensor) -> torch.Tensor:
        """Domain labels shaped like ``p``: 1 for synthetic clips, 0 for target-domain clips."""
        d = is_synthetic.to(p.dtype)
        return d if p.dim() == 1 else d[:, None].expand_as(p)
