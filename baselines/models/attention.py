"""Deshmukh et al. (2021): VGG-like encoder, pooling heads, two-step attention, auxiliary reconstruction.

- Encoder: blocks of 2 x (conv 3x3 -> BN -> ReLU) followed by average pooling (32 -> 256 channels), then a 1x1
  conv to C class maps ``Z (B, C, T, F)``. Dilated variant: per-block dilation (``dilations``). Average pooling
  uses kernel 3 with stride 1 by default (the T-F resolution is kept, as in the authors' code, so attention maps
  are per mel bin as in their Fig. 2); ``pool_stride: [2, 2]`` halves time and frequency per block instead.
- Heads: ``gap`` / ``gmp`` / ``gwrp`` (global average / max / weighted-rank pooling of sigmoid(Z) over T x F),
  ``ap`` (attention pooling over T x F), ``2ap`` (two-step attention, eqs. 4-7): over frequency,
  ``Z_p1 = sum_F (W_c1 Z) * softmax_F(sigmoid(W_a1 Z))`` gives (B, C, T) frame logits; then the same over time,
  ``P = sigmoid(sum_T (W_c2 Z_p1) * softmax_T(sigmoid(W_a2 Z_p1)))``, gives the clip probabilities (B, C). The
  classification maps are linear, as eqs. 4 and 6 write them; the sigmoid at the end makes ``Z_p2`` the
  probability in [0, 1] the paper calls it. The W are per-position linear maps over the class axis (1x1
  convolutions), so any input length works.
- Head initialisation (not in the paper): the classification maps of ``ap`` and ``2ap`` start as the identity
  (class c reads class map c) and the attention maps at zero (uniform attention), so every head starts as a plain
  pooling of the encoder's class maps. With random class-mixing maps the two-step head did not learn at 0 and
  10 dB at the medium scale (micro-P .30-.36, chance level), below GAP on the same clips.
- Auxiliary decoder (``aux_decoder: true``): mirrors the encoder from Z back to one channel and reconstructs the
  (normalised) log-mel; loss = BCE + aux_alpha * MSE (alpha = 0.001 in the paper).
- Layout: the encoder's and decoder's convolution weights are stored channels-last, so oneDNN (CPU) and cuDNN run
  their convolutions in NHWC; a training step of the medium-scale networks takes about 25 % less time on one CPU
  thread than in the default layout (``python -m sedkit.benchmarks.conv_layout``). The class maps ``Z`` and the
  reconstruction are returned contiguous, so the heads see the default layout.
- Metrics: micro / macro average precision ("micro-p", "macro-p") and AUC among the tagging metrics.
- Evaluation also draws PNGs of the log-mel, reconstruction, attention maps and frame outputs (their Fig. 2).
"""
from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import model_validator
from torch import nn

from sedkit.specs import Spec
from sedkit.synth.io import atomic_path, safe_join
from sedkit.baselines.evaluation import tagging
from sedkit.baselines.evaluation.predictions import audio_id
from sedkit.baselines.data.folder import DataSpec
from sedkit.baselines.data.loaders import SplitLoaders
from sedkit.baselines.data.features import model_input
from sedkit.baselines.models.frontends import FrontendSpec, build_frontend
from sedkit.baselines.registry import ModelEntry, validate
from sedkit.baselines.strategies.tagging import BCEStrategy
from sedkit.baselines.trainer import TrainSpec, to_device


class EncoderSpec(Spec):
    defaults_from: ClassVar[str] = "models/gap#encoder"
    channels: list[int]
    dilations: list[int] | None  # per block; None = no dilation
    pool_kernel: int
    pool_stride: list[int]  # (time, frequency) stride of each block's average pooling

    @model_validator(mode="after")
    def _check(self):
        if self.dilations is not None and len(self.dilations) != len(self.channels):
            raise ValueError(f"dilations has {len(self.dilations)} entries for {len(self.channels)} blocks")
        return self


class DeshmukhSpec(Spec):
    pooling: Literal["gap", "gmp", "gwrp", "ap", "2ap"]
    frontend: FrontendSpec
    data: DataSpec
    encoder: EncoderSpec
    gwrp_decay: float  # weight of the k-th largest value is decay^k
    aux_decoder: bool
    aux_alpha: float
    train: TrainSpec
    figures: int  # clips of each scored split drawn as PNGs


SPEC = DeshmukhSpec  # validates specs/models/<name>.yaml for this module's models


def conv_block(c_in: int, c_out: int, dilation: int = 1) -> nn.Sequential:
    layers = []
    for c in (c_in, c_out):
        layers += [nn.Conv2d(c, c_out, 3, padding=dilation, dilation=dilation, bias=False), nn.BatchNorm2d(c_out),
                   nn.ReLU()]
    return nn.Sequential(*layers)


class Encoder(nn.Module):
    def __init__(self, spec: EncoderSpec, in_channels: int, n_classes: int):
        super().__init__()
        dil = spec.dilations or [1] * len(spec.channels)
        blocks, c = [], in_channels
        st = tuple(spec.pool_stride)
        for out, d in zip(spec.channels, dil):
            blocks += [conv_block(c, out, d), nn.AvgPool2d(spec.pool_kernel, st, padding=spec.pool_kernel // 2)]
            c = out
        self.body = nn.Sequential(*blocks)
        self.classes = nn.Conv2d(c, n_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classes(self.body(x))


class Decoder(nn.Module):
    """Mirror of the encoder: Z (C maps) -> blocks with the channels reversed -> one reconstructed map."""

    def __init__(self, spec: EncoderSpec, n_classes: int):
        super().__init__()
        dil = list(reversed(spec.dilations or [1] * len(spec.channels)))
        blocks, c = [], n_classes
        up = tuple(spec.pool_stride) != (1, 1)
        for out, d in zip(reversed(spec.channels), dil):
            if up:
                blocks.append(nn.Upsample(scale_factor=tuple(float(s) for s in spec.pool_stride)))
            blocks += [conv_block(c, out, d)]
            c = out
        self.body = nn.Sequential(*blocks)
        self.out = nn.Conv2d(c, 1, 1)

    def forward(self, z: torch.Tensor, size) -> torch.Tensor:
        y = self.out(self.body(z))
        return y if tuple(y.shape[-2:]) == tuple(size) else F.interpolate(y, size=size)


def class_maps(conv: nn.Conv1d | nn.Conv2d, identity: bool) -> nn.Module:
    """Start a 1x1 map over the class axis as the identity (``identity``) or at zero (uniform attention)."""
    with torch.no_grad():
        conv.weight.zero_()
        conv.bias.zero_()
        if identity:
            conv.weight.view(conv.out_channels, conv.in_channels).fill_diagonal_(1.0)
    return conv


class TwoStepAttention(nn.Module):
    """Eqs. 4-7: attention over frequency, then over time, with sigmoid-squashed attention logits and linear
    classification maps; the clip probability is the sigmoid of the time-pooled logits."""

    def __init__(self, n_classes: int):
        super().__init__()
        c = n_classes
        self.att_f, self.cla_f = class_maps(nn.Conv2d(c, c, 1), False), class_maps(nn.Conv2d(c, c, 1), True)
        self.att_t, self.cla_t = class_maps(nn.Conv1d(c, c, 1), False), class_maps(nn.Conv1d(c, c, 1), True)

    def forward(self, z: torch.Tensor) -> dict:  # z: (B, C, T, F)
        att_f = torch.softmax(torch.sigmoid(self.att_f(z)), dim=-1)
        z1 = (self.cla_f(z) * att_f).sum(-1)  # Z_p1, (B, C, T) logits
        att_t = torch.softmax(torch.sigmoid(self.att_t(z1)), dim=-1)
        z2 = self.cla_t(z1)  # Z_c2
        clip = torch.sigmoid((z2 * att_t).sum(-1))
        return {"clip": clip, "frame": torch.sigmoid(z2).transpose(1, 2), "att_freq": att_f, "att_time": att_t}


class AttentionPooling(nn.Module):
    """Attention pooling over all T x F positions: clip = sum(att * cla) / sum(att), att in [eps, 1 - eps]."""

    def __init__(self, n_classes: int, eps: float = 0.1):
        super().__init__()
        c = n_classes
        self.att, self.cla = class_maps(nn.Conv2d(c, c, 1), False), class_maps(nn.Conv2d(c, c, 1), True)
        self.eps = eps

    def forward(self, z: torch.Tensor) -> dict:
        att = torch.sigmoid(self.att(z)).clamp(self.eps, 1 - self.eps)
        cla = torch.sigmoid(self.cla(z))
        clip = (att * cla).sum((2, 3)) / att.sum((2, 3))
        frame = (att * cla).sum(-1) / att.sum(-1)
        return {"clip": clip, "frame": frame.transpose(1, 2), "att_tf": att}


def gwrp(x: torch.Tensor, decay: float, dims: tuple[int, ...]) -> torch.Tensor:
    """Global weighted rank pooling: sorted values weighted by decay^rank, normalised by the weights' sum."""
    moved = x.movedim(dims, tuple(range(-len(dims), 0)))
    flat = moved.reshape(*moved.shape[:moved.dim() - len(dims)], -1)
    vals = flat.sort(dim=-1, descending=True).values
    w = decay ** torch.arange(vals.shape[-1], device=x.device, dtype=x.dtype)
    return (vals * w).sum(-1) / w.sum()


class GlobalPooling(nn.Module):
    def __init__(self, kind: str, decay: float):
        super().__init__()
        self.kind, self.decay = kind, decay

    def pool(self, s: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
        if self.kind == "gap":
            return s.mean(dims)
        if self.kind == "gmp":
            return s.amax(dims)
        return gwrp(s, self.decay, dims)

    def forward(self, z: torch.Tensor) -> dict:
        s = torch.sigmoid(z)
        return {"clip": self.pool(s, (2, 3)), "frame": self.pool(s, (3,)).transpose(1, 2), "seg_maps": s}


class DeshmukhModel(nn.Module):
    def __init__(self, frontend, spec: DeshmukhSpec, n_classes: int):
        super().__init__()
        self.frontend = frontend
        self.encoder = Encoder(spec.encoder, frontend.channels, n_classes)
        if spec.pooling == "2ap":
            self.head = TwoStepAttention(n_classes)
        elif spec.pooling == "ap":
            self.head = AttentionPooling(n_classes)
        else:
            self.head = GlobalPooling(spec.pooling, spec.gwrp_decay)
        self.decoder = Decoder(spec.encoder, n_classes) if spec.aux_decoder else None
        for convs in (self.encoder, self.decoder):
            if convs is not None:
                convs.to(memory_format=torch.channels_last)  # see the module docstring: "Layout"
        self.frame_hop_s = frontend.frame_hop_s * spec.encoder.pool_stride[0] ** len(spec.encoder.channels)

    def forward(self, audio: torch.Tensor, n_samples: torch.Tensor | None = None) -> dict:
        x = self.frontend(audio)  # (B, ch, T, F)
        z = self.encoder(x).contiguous()
        out = self.head(z)
        out["features"] = x
        if self.decoder is not None:
            out["recon"] = self.decoder(z, x.shape[-2:]).contiguous().expand_as(x)
        return out


def build(cfg: dict, data_dir: Path, device: torch.device, training: bool = True) -> ModelEntry:
    spec = validate(DeshmukhSpec, cfg, f"config of model {cfg.get('pooling', '?')}")
    loaders = SplitLoaders(data_dir, spec.data, spec.frontend, spec.train.seed, device)
    frontend = build_frontend(spec.frontend)
    model = DeshmukhModel(frontend, spec, len(loaders.classes))
    strategy = BCEStrategy(model, aux_alpha=spec.aux_alpha if spec.aux_decoder else 0.0)
    strategy.build(spec.train, len(loaders.classes), device)
    entry = tagging.tagging_entry(spec, loaders, strategy, frontend, device, training, tagging.micro_ap_select,
                                  evaluate="sedkit.baselines.models.attention:evaluate")
    entry.options["figures"] = spec.figures
    return entry


def evaluate(entry, data_dir, split: str, run_dir, postprocess: str = "none") -> dict:
    """Tagging evaluation, then PNGs of the first ``figures`` clips in ``figures/<split>/``."""
    metrics = tagging.evaluate(entry, data_dir, split, run_dir, postprocess)
    n = entry.options.get("figures", 0)
    if n:
        draw_figures(entry, split, run_dir, n)
    return metrics


@torch.no_grad()
def draw_figures(entry, split: str, run_dir, n: int) -> list[Path]:
    from sedkit.synth.card import figure

    model = entry.strategy.model
    entry.strategy.eval()
    paths = []
    for batch in entry.loader(split):
        b = to_device(batch, entry.strategy.device)
        out = model(model_input(b), b.get("n_samples"))
        for k in range(len(batch["filename"])):
            if len(paths) >= n:
                return paths
            panels = figure_panels(out, k, entry.classes)
            fig, axes = figure(len(panels), 1, figsize=(8, 1.8 * len(panels)), squeeze=False)
            for ax, (title, img, kind) in zip(axes[:, 0], panels):
                if kind == "bar":
                    ax.bar(range(len(img)), img)
                    ax.set_xticks(range(len(img)))
                    ax.set_xticklabels(entry.classes, rotation=90, fontsize=6)
                    ax.set_ylim(0, 1)
                else:
                    ax.imshow(img, origin="lower", aspect="auto", interpolation="nearest")
                ax.set_title(title, fontsize=8)
            fig.suptitle(batch["filename"][k], fontsize=9)
            fig.tight_layout()
            path = safe_join(run_dir, f"figures/{split}/{audio_id(batch['filename'][k])}.png")
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(path) as tmp:
                fig.savefig(tmp, dpi=80)
            paths.append(path)
    return paths


def figure_panels(out: dict, k: int, classes: list[str]) -> list[tuple[str, np.ndarray, str]]:
    """(title, array, "image"|"bar") panels for clip ``k``: images are (rows, time)."""
    a = {key: v[k].float().cpu().numpy() for key, v in out.items() if torch.is_tensor(v)}
    clip = a["clip"]
    top = np.argsort(-clip)[:3]
    panels = [("input log-mel (mel x time)", a["features"][0].T, "image")]
    if "recon" in a:
        panels.append(("reconstruction (auxiliary decoder)", a["recon"][0].T, "image"))
    if "att_freq" in a:
        for c in top:
            panels.append((f"frequency attention: {classes[c]} (p={clip[c]:.2f})", a["att_freq"][c].T, "image"))
        panels.append(("frame probabilities sigmoid(Z_c2) (class x time)", a["frame"].T, "image"))
        panels.append(("time attention (class x time)", a["att_time"], "image"))
    else:
        panels.append(("frame-level output (class x time)", a["frame"].T, "image"))
    panels.append(("clip probabilities", clip, "bar"))
    return panels
