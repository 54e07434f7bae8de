"""Kumar & Raj (2017): weak-label CNN (WLER) vs strong-label-assumption training (SLAT).

- Conv blocks with 96/128/128/256/256 filters (3x3, stride 1, ReLU), each followed by 2x2 max pooling.
- WLER (network N_T/N_W): FCv1 = 256 filters of 4x4 (no padding, ReLU), FCv2 = C filters of 1x1 + sigmoid, so a
  recording of any length gives one output per segment (window 128 frames, hop 32); global max pooling over the
  segments gives the recording score. Trained on whole recordings.
- SLAT (network N_S): the same conv blocks with FC1 (256) and FC2 (C, sigmoid) on fixed 128-frame segments that
  carry the recording's label; the recording score is the max over segments slid at hop 32.
- Multi-scale mel input (4 FFT sizes): training treats each scale as an example; prediction averages the scores
  over the scales.
- Metrics: AP per class and mAP (sklearn) among the tagging metrics.

``time_padding: same`` is the paper's layer configuration (padding 1), where a segment's output also sees a few
neighbouring frames, so WLER equals slid SLAT only away from segment borders. ``time_padding: valid`` (no padding
along time) makes the two exactly equal; the segment is then the receptive field (190 frames for 5 blocks).
"""
from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from pydantic import model_validator
from torch import nn

from sedkit import SedkitError
from sedkit.specs import Spec
from sedkit.baselines.evaluation import tagging
from sedkit.baselines.data.folder import DataSpec
from sedkit.baselines.data.loaders import SplitLoaders
from sedkit.baselines.models.frontends import FrontendSpec, build_frontend
from sedkit.baselines.registry import ModelEntry, validate
from sedkit.baselines.strategies.tagging import BCEStrategy, SegmentStrategy
from sedkit.baselines.trainer import TrainSpec


class KumarNetSpec(Spec):
    defaults_from: ClassVar[str] = "models/wler#net"
    channels: list[int]
    fc_channels: int
    fc_frames: int  # time extent of FCv1 (4x4 in the paper; the frequency extent is what is left of the mels)
    dropout: float
    time_padding: Literal["same", "valid"]
    # weight init of the convolutions and FC layers: torch's default (kaiming_uniform with a = sqrt(5): each
    # ReLU block shrinks the activations ~2.4x, so 5 blocks without normalisation start near the sigmoid's bias
    # and sit at the class prior for many epochs), or He (kaiming_normal for ReLU, zero biases)
    init: Literal["torch", "he"]


class KumarSpec(Spec):
    method: Literal["wler", "slat"]
    frontend: FrontendSpec
    data: DataSpec
    net: KumarNetSpec
    train: TrainSpec
    slat_train_hop: int | None = None  # hop (frames) between the training segments of SLAT (needed by method slat)

    @model_validator(mode="after")
    def _slat(self):
        if self.method == "slat" and self.slat_train_hop is None:
            raise ValueError("method slat needs slat_train_hop")
        return self


SPEC = KumarSpec  # validates specs/models/<name>.yaml for this module's models


class KumarNet(nn.Module):
    """Conv blocks + head. ``fully_conv=True``: FCv1/FCv2 convolutions, ``(N, 1, T, F) -> (N, segments, C)``;
    ``False``: FC1/FC2 linear layers on exactly ``segment_frames`` frames, ``(N, 1, seg, F) -> (N, C)``."""

    def __init__(self, spec: KumarNetSpec, n_mels: int, n_classes: int, fully_conv: bool):
        super().__init__()
        pad_t = 1 if spec.time_padding == "same" else 0
        layers, c, f = [], 1, n_mels
        for out in spec.channels:
            layers += [nn.Conv2d(c, out, 3, padding=(pad_t, 1)), nn.ReLU(), nn.MaxPool2d(2)]
            c, f = out, f // 2
        if f < 1:
            raise SedkitError(f"{len(spec.channels)} pooling blocks leave no frequency bins of {n_mels} mels")
        self.stack = nn.Sequential(*layers)
        self.fully_conv = fully_conv
        self.hop = 2 ** len(spec.channels)
        self.segment = segment_frames(spec)
        self.drop = nn.Dropout(spec.dropout)
        if fully_conv:
            self.fc1 = nn.Conv2d(c, spec.fc_channels, (spec.fc_frames, f))
            self.fc2 = nn.Conv2d(spec.fc_channels, n_classes, 1)
        else:
            self.fc1 = nn.Linear(c * spec.fc_frames * f, spec.fc_channels)
            self.fc2 = nn.Linear(spec.fc_channels, n_classes)
        if spec.init == "he":
            for m in self.modules():
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                    nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stack(x)
        if self.fully_conv:
            h = self.fc2(self.drop(F.relu(self.fc1(self.drop(h)))))  # (N, C, segments, 1)
            return torch.sigmoid(h[..., 0].transpose(1, 2))
        h = self.fc2(self.drop(F.relu(self.fc1(self.drop(h.flatten(1))))))
        return torch.sigmoid(h)


def segment_frames(spec: KumarNetSpec) -> int:
    """Frames seen by one output: 128 for the paper's net with padding; the receptive field without."""
    r = spec.fc_frames
    for _ in spec.channels:
        r = 2 * r if spec.time_padding == "same" else 2 * r + 2
    return r


def wler_state_from_slat(state: dict, wler: KumarNet) -> dict:
    """Turn N_S weights (FC1/FC2 linear) into N_T weights (FCv1/FCv2 convolutions): the paper's conversion."""
    out = dict(state)
    out["fc1.weight"] = state["fc1.weight"].reshape(wler.fc1.weight.shape)
    out["fc2.weight"] = state["fc2.weight"].reshape(wler.fc2.weight.shape)
    return out


def slide(net: KumarNet, x: torch.Tensor, hop: int) -> torch.Tensor:
    """Apply a SLAT net to every ``net.segment``-frame window of ``x (N, 1, T, F)`` at ``hop``: (N, windows, C)."""
    seg = net.segment
    win = x.unfold(2, seg, hop)  # (N, 1, W, F, seg)
    n, _, w, f, _ = win.shape
    win = win.permute(0, 2, 1, 4, 3).reshape(n * w, 1, seg, f)
    return net(win).reshape(n, w, -1)


class KumarModel(nn.Module):
    """Front-end (one channel per FFT size) + WLER or SLAT net."""

    def __init__(self, frontend, net: KumarNet, slat_train_hop: int = 64):
        super().__init__()
        self.frontend, self.net = frontend, net
        self.slat_train_hop = slat_train_hop
        self.frame_hop_s = net.hop * frontend.frame_hop_s

    def views(self, audio, n_samples):
        """Features as ``(B*S, 1, T, F)`` (at least one segment long) and the valid frames of each view."""
        x = self.frontend(audio)
        b, s, t, f = x.shape
        if t < self.net.segment:
            x = F.pad(x, (0, 0, 0, self.net.segment - t))
        frames = torch.full((b,), t, device=x.device) if n_samples is None else \
            1 + n_samples.to(x.device) // self.frontend.spec.hop_length
        return x.reshape(b * s, 1, -1, f), frames.repeat_interleave(s), b, s

    def seg_mask(self, n_seg: int, frames: torch.Tensor) -> torch.Tensor:
        """Segments that start inside the clip (the first always counts)."""
        starts = torch.arange(n_seg, device=frames.device) * self.net.hop
        return (starts[None, :] + self.net.segment <= frames[:, None].clamp(min=self.net.segment)) | \
            (starts[None, :] == 0)

    def forward(self, audio: torch.Tensor, n_samples: torch.Tensor | None = None) -> dict:
        x, frames, b, s = self.views(audio, n_samples)
        seg = self.net(x) if self.net.fully_conv else slide(self.net, x, self.net.hop)  # (B*S, n_seg, C)
        seg = seg * self.seg_mask(seg.shape[1], frames)[..., None]
        clip = seg.amax(1).reshape(b, s, -1)
        return {"clip": clip.mean(1), "clip_per_view": clip,
                "frame": seg.reshape(b, s, seg.shape[1], -1).mean(1)}

    def segments(self, audio: torch.Tensor, n_samples: torch.Tensor | None = None):
        """SLAT training examples: every ``segment``-frame window at ``slat_train_hop`` inside each clip, with
        the index of the clip it came from."""
        x, frames, b, s = self.views(audio, n_samples)
        seg = self.net.segment
        win = x.unfold(2, seg, self.slat_train_hop)  # (B*S, 1, W, F, seg)
        w = win.shape[2]
        starts = torch.arange(w, device=x.device) * self.slat_train_hop
        keep = (starts[None, :] + seg <= frames[:, None].clamp(min=seg)) | (starts[None, :] == 0)
        win = win.permute(0, 2, 1, 4, 3)[keep]  # (kept, 1, seg, F)
        owner = torch.arange(b, device=x.device).repeat_interleave(s)[:, None].expand(-1, w)[keep]
        probs = self.net(win)
        return (probs[:, 0] if probs.dim() == 3 else probs), owner  # a WLER net gives 1 output per window


def build(cfg: dict, data_dir: Path, device: torch.device, training: bool = True) -> ModelEntry:
    spec = validate(KumarSpec, cfg, f"config of model {cfg.get('method', '?')}")
    if spec.frontend.compression == "ppcen":
        raise SedkitError("config of model wler/slat: frontend.compression ppcen is not supported (one channel "
                          "per FFT size)")
    loaders = SplitLoaders(data_dir, spec.data, spec.frontend, spec.train.seed, device)
    frontend = build_frontend(spec.frontend)
    net = KumarNet(spec.net, spec.frontend.n_mels, len(loaders.classes), fully_conv=spec.method == "wler")
    model = KumarModel(frontend, net, spec.slat_train_hop)
    strategy = (BCEStrategy if spec.method == "wler" else SegmentStrategy)(model)
    strategy.build(spec.train, len(loaders.classes), device)
    return tagging.tagging_entry(spec, loaders, strategy, frontend, device, training, tagging.map_select)
