"""The CRNN for sound event detection: a CNN of conv blocks, a BiGRU, a frame head and an attention-pooled clip head.

Two configurations ship as specs:
- ``specs/models/crnn.yaml``: the DCASE reference (7 blocks of conv 3x3 -> BN -> GLU -> dropout -> avg-pool with
  16..128 filters, pooling (2,2),(2,2),(1,2)x5, a 2-layer BiGRU of 128 units, 16 kHz / 2048 / 256 / 128 mels);
- ``specs/models/crnn-park.yaml``: Park et al. (2019): the same 7 CNN blocks and 2 BiGRU layers on 22.05 kHz input,
  128 mels, 2048 window, 345 hop.

The network is split into an :class:`Extractor` (CNN + BiGRU, Park et al.'s shared extractor F) and one or more
:class:`SEDHead` (a frame sigmoid classifier and an attention pooling for the clip), so that tri-training can put
three heads (F1, F2, Ft) on one extractor. Input features are ``(B, channels, T, n_mels)`` (what
:mod:`sedkit.baselines.models.frontends` produces); outputs are probabilities ``frame (B, T', C)`` and ``clip (B, C)`` with
``T' = T // prod(time pooling)``.
"""
from __future__ import annotations

from typing import ClassVar

import math

import torch
from pydantic import field_validator
from torch import nn

from sedkit import SedkitError
from sedkit.specs import Spec


class CRNNConfig(Spec):
    """Architecture hyper-parameters (the ``net:`` block of a model spec)."""
    defaults_from: ClassVar[str] = "models/crnn#net"

    filters: list[int]
    pooling: list[tuple[int, int]]  # (time, freq)
    kernel: int
    dropout: float
    rnn_hidden: int
    rnn_layers: int
    rnn_dropout: float
    head_dropout: float
    head_hidden: int  # >0: a hidden layer in each head (its weights are the "first layer" of a labeler)

    @field_validator("pooling")
    @classmethod
    def _pool(cls, v, info):
        filters = info.data.get("filters")
        if filters is not None and len(v) != len(filters):
            raise ValueError(f"pooling has {len(v)} entries but filters has {len(filters)}; give one per block")
        if any(a < 1 or b < 1 for a, b in v):
            raise ValueError("pooling sizes must be >= 1")
        return v

    @property
    def time_pool(self) -> int:
        return math.prod(p[0] for p in self.pooling)

    def freq_out(self, n_mels: int) -> int:
        f = n_mels
        for _, p in self.pooling:
            f //= p
        return f


class ConvBlock(nn.Module):
    """conv k x k -> BN -> GLU -> dropout -> avg-pool (time, freq)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, dropout: float, pool: tuple[int, int]):
        super().__init__()
        self.conv = nn.Conv2d(c_in, 2 * c_out, kernel, padding=kernel // 2)
        self.bn = nn.BatchNorm2d(2 * c_out)
        self.drop = nn.Dropout(dropout)
        self.pool = nn.AvgPool2d(pool) if tuple(pool) != (1, 1) else nn.Identity()

    def forward(self, x):
        x = nn.functional.glu(self.bn(self.conv(x)), dim=1)
        return self.pool(self.drop(x))


class Extractor(nn.Module):
    """CNN blocks + BiGRU. ``forward`` returns ``{"cnn": (B, T', D_cnn), "rnn": (B, T', 2*hidden)}``."""

    def __init__(self, cfg: CRNNConfig, n_mels: int, in_channels: int = 1):
        super().__init__()
        f_out = cfg.freq_out(n_mels)
        if f_out < 1:
            raise SedkitError(f"net.pooling {cfg.pooling} pools {n_mels} mel bands down to nothing")
        chans = [in_channels, *cfg.filters]
        self.blocks = nn.Sequential(*[ConvBlock(chans[i], chans[i + 1], cfg.kernel, cfg.dropout, cfg.pooling[i])
                                      for i in range(len(cfg.filters))])
        self.cnn_dim = cfg.filters[-1] * f_out
        self.rnn = nn.GRU(self.cnn_dim, cfg.rnn_hidden, num_layers=cfg.rnn_layers, batch_first=True,
                          bidirectional=True, dropout=cfg.rnn_dropout if cfg.rnn_layers > 1 else 0.0)
        self.out_dim = 2 * cfg.rnn_hidden
        self.time_pool = cfg.time_pool

    def forward(self, feats: torch.Tensor) -> dict[str, torch.Tensor]:
        x = self.blocks(feats)  # (B, C, T, F) -> (B, C', T', F')
        b, c, t, f = x.shape
        cnn = x.permute(0, 2, 1, 3).reshape(b, t, c * f)
        rnn, _ = self.rnn(cnn)
        return {"cnn": cnn, "rnn": rnn}


class SEDHead(nn.Module):
    """Frame sigmoid classifier + attention pooling over time for the clip (weights softmax-ed over classes)."""

    def __init__(self, in_dim: int, n_classes: int, dropout: float = 0.5, hidden: int = 0):
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.hidden = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU()) if hidden > 0 else None
        d = hidden if hidden > 0 else in_dim
        self.frame = nn.Linear(d, n_classes)
        self.att = nn.Linear(d, n_classes)

    def first_layer_weight(self) -> torch.Tensor:
        """Weights of the head's first layer (Park et al. eq. 8 regularises these between labelers)."""
        return (self.hidden[0] if self.hidden is not None else self.frame).weight

    def forward(self, h: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.drop(h)
        if self.hidden is not None:
            h = self.hidden(h)
        frame = torch.sigmoid(self.frame(h))  # (B, T, C)
        w = torch.softmax(self.att(h), dim=-1).clamp(1e-7, 1.0)
        clip = (frame * w).sum(1) / w.sum(1)
        return {"frame": frame, "clip": clip.clamp(0.0, 1.0)}


class CRNN(nn.Module):
    """Extractor + one SED head. ``forward`` returns frame/clip probabilities and the extractor's features."""

    def __init__(self, cfg: CRNNConfig, n_classes: int, n_mels: int, in_channels: int = 1):
        super().__init__()
        self.extractor = Extractor(cfg, n_mels, in_channels)
        self.head = SEDHead(self.extractor.out_dim, n_classes, cfg.head_dropout, cfg.head_hidden)

    def forward(self, feats: torch.Tensor) -> dict[str, torch.Tensor]:
        f = self.extractor(feats)
        return {**self.head(f["rnn"]), **f}
