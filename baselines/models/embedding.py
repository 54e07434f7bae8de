"""Turpault et al. (2020), "Limitations of weak labels for embedding and tagging".

- Embedding network E: a CNN of 4 conv layers applied to 200 ms windows of the log-mel; the window embeddings are
  averaged over time, giving one 130-d vector whatever the input length.
- Classifier G: FC 32 with leaky ReLU, then a sigmoid output layer.
- ``method: classifier``: E and G trained end-to-end with BCE (early stopping on the tagging F-measure).
- ``method: triplet`` / ``proto``: E is first trained with the triplet loss or prototypical episodes (early
  stopping on the centroid metric, eq. 5), then G is trained on the frozen embeddings (F-measure). The frozen
  embeddings are cached by clip content, so G's epochs run E once per clip (the cache is dropped whenever a
  tensor of E or of the front-end changes, e.g. when a checkpoint is loaded).
Evaluation: tagging F-measure (macro, at the threshold picked on validation) and the other tagging metrics.
"""
from __future__ import annotations

import hashlib
import itertools
from pathlib import Path
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from pydantic import model_validator
from torch import nn

from sedkit.specs import Spec
from sedkit.baselines.evaluation import tagging
from sedkit.baselines.data.folder import DataSpec
from sedkit.baselines.data.loaders import EpisodeSampler, SplitLoaders, TripletSampler
from sedkit.baselines.models.frontends import FrontendSpec, build_frontend
from sedkit.baselines.registry import ModelEntry, Stage, validate
from sedkit.baselines.strategies.tagging import BCEStrategy, ProtoStrategy, TripletStrategy, centroid_select
from sedkit.baselines.trainer import TrainSpec


class NetSpec(Spec):
    defaults_from: ClassVar[str] = "models/classifier#net"
    channels: list[int]  # one conv layer each; the last is the embedding size
    kernel: int
    pool_freq: int
    dropout: float
    window_s: float
    hidden: int  # classifier G


class TripletSpec(Spec):
    defaults_from: ClassVar[str] = "models/triplet#triplet"
    margin: float
    semi_hard: bool
    normalize: bool
    batch_size: int  # anchors per batch (each with a positive and a negative)


class ProtoSpec(Spec):
    defaults_from: ClassVar[str] = "models/proto#proto"
    n_way: int | None  # classes per episode; None = all classes (J = K)
    n_support: int
    n_query: int
    episodes_per_epoch: int | None  # None = labelled clips / (n_way * (n_support + n_query))


class TurpaultSpec(Spec):
    method: Literal["classifier", "triplet", "proto"]
    frontend: FrontendSpec
    data: DataSpec
    net: NetSpec
    train: TrainSpec  # end-to-end classifier, or G on frozen embeddings
    # the embedding stage of triplet / proto (each needs its own section and embedding_train)
    embedding_train: TrainSpec | None = None
    triplet: TripletSpec | None = None
    proto: ProtoSpec | None = None

    @model_validator(mode="after")
    def _stage(self):
        for need in ((self.method, "embedding_train") if self.method != "classifier" else ()):
            if getattr(self, need) is None:
                raise ValueError(f"method {self.method} needs a '{need}' section")
        return self


SPEC = TurpaultSpec  # validates specs/models/<name>.yaml for this module's models


class EmbeddingCNN(nn.Module):
    """``(N, 1, frames, mels) -> (N, D)``: conv 3x3 -> leaky ReLU -> max-pool over frequency -> dropout,
    then the mean over time and frequency."""

    def __init__(self, spec: NetSpec, in_channels: int = 1):
        super().__init__()
        layers, c = [], in_channels
        for out in spec.channels:
            layers += [nn.Conv2d(c, out, spec.kernel, padding=spec.kernel // 2), nn.LeakyReLU(0.2),
                       nn.MaxPool2d((1, spec.pool_freq), ceil_mode=True), nn.Dropout(spec.dropout)]
            c = out
        self.body = nn.Sequential(*layers)
        self.dim = c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).mean(dim=(2, 3))


class Classifier(nn.Module):
    """G: FC ``hidden`` + leaky ReLU, then an output layer with a sigmoid."""

    def __init__(self, dim: int, hidden: int, n_classes: int):
        super().__init__()
        self.fc = nn.Linear(dim, hidden)
        self.out = nn.Linear(hidden, n_classes)

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.out(F.leaky_relu(self.fc(e), 0.2)))


class TurpaultModel(nn.Module):
    """Front-end + E over 200 ms windows (+ G). ``frozen=True``: E is fixed (eval mode, no grad), only G trains,
    and each clip's embedding is computed once (cached by the clip's samples)."""

    max_cached = 200_000  # clips; the cache starts over beyond this

    def __init__(self, frontend, embed: EmbeddingCNN, head: Classifier | None, window_s: float,
                 frozen: bool = False):
        super().__init__()
        self.frontend, self.embed, self.head = frontend, embed, head
        self.window = max(1, int(round(window_s / frontend.frame_hop_s)))
        self.frozen = frozen
        self._cache: dict[bytes, torch.Tensor] = {}
        self._cache_token: tuple = ()

    def train(self, mode: bool = True):
        super().train(mode)
        if self.frozen:
            self.frontend.eval()
            self.embed.eval()
        return self

    def trainable_parameters(self):
        return self.head.parameters() if self.frozen else self.parameters()

    def embedding(self, audio: torch.Tensor, n_samples: torch.Tensor | None) -> torch.Tensor:
        x = self.frontend(audio)  # (B, 1, T, F)
        b, c, t, f = x.shape
        w = self.window
        if t < w:
            x = F.pad(x, (0, 0, 0, w - t))
            t = w
        n_win = t // w
        win = x[:, :, :n_win * w].reshape(b, c, n_win, w, f).transpose(1, 2).reshape(b * n_win, c, w, f)
        e = self.embed(win).reshape(b, n_win, -1)
        if n_samples is None:
            return e.mean(1)
        frames = 1 + n_samples // self.frontend.spec.hop_length
        valid = (frames // w).clamp(min=1, max=n_win)
        mask = (torch.arange(n_win, device=e.device)[None, :] < valid[:, None]).to(e.dtype)
        return (e * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)

    def _weights_token(self) -> tuple:
        """Changes whenever a tensor of E or of the front-end is replaced or modified in place (optimiser steps,
        ``load_state_dict``, ``fit_stats`` and ``.to`` all do one or the other)."""
        tensors = itertools.chain(self.frontend.parameters(), self.frontend.buffers(), self.embed.parameters(),
                                  self.embed.buffers())
        return tuple((t.data_ptr(), t._version) for t in tensors)

    @torch.no_grad()
    def frozen_embedding(self, audio: torch.Tensor, n_samples: torch.Tensor | None) -> torch.Tensor:
        """The frozen E's embeddings, computed only for clips not seen since E last changed. A clip's embedding
        does not depend on the batch it comes in (padding is masked), so the key is its valid samples."""
        token = self._weights_token()
        if token != self._cache_token or len(self._cache) > self.max_cached:
            self._cache, self._cache_token = {}, token
        lengths = [audio.shape[1]] * len(audio) if n_samples is None else [int(n) for n in n_samples]
        host = audio.detach().float().cpu()
        keys = [hashlib.blake2b(host[k, :n].numpy().tobytes(), digest_size=16).digest() + n.to_bytes(8, "little")
                for k, n in enumerate(lengths)]
        todo = [k for k, key in enumerate(keys) if key not in self._cache]
        if todo:
            idx = torch.tensor(todo, device=audio.device)
            sub_n = None if n_samples is None else n_samples[idx]
            for k, e in zip(todo, self.embedding(audio[idx], sub_n)):
                self._cache[keys[k]] = e.detach().clone()
        return torch.stack([self._cache[key] for key in keys])

    def forward(self, audio: torch.Tensor, n_samples: torch.Tensor | None = None) -> dict:
        if self.frozen:
            e = self.frozen_embedding(audio, n_samples)
        else:
            e = self.embedding(audio, n_samples)
        out = {"embedding": e}
        if self.head is not None:
            out["clip"] = self.head(e)
        return out


def build(cfg: dict, data_dir: Path, device: torch.device, training: bool = True) -> ModelEntry:
    spec = validate(TurpaultSpec, cfg, f"config of model {cfg.get('method', '?')}")
    loaders = SplitLoaders(data_dir, spec.data, spec.frontend, spec.train.seed, device)
    n_classes = len(loaders.classes)
    frontend = build_frontend(spec.frontend)
    embed = EmbeddingCNN(spec.net, frontend.channels)
    two_stage = spec.method != "classifier"
    model = TurpaultModel(frontend, embed, Classifier(embed.dim, spec.net.hidden, n_classes), spec.net.window_s,
                          frozen=two_stage)
    strategy = BCEStrategy(model)
    strategy.build(spec.train, n_classes, device)
    entry = tagging.tagging_entry(spec, loaders, strategy, frontend, device, training, tagging.f1_select)
    if not (training and two_stage):
        return entry
    train = spec.data.train_split
    embedder = TurpaultModel(frontend, embed, None, spec.net.window_s)
    targets = loaders.dataset(train).targets
    es = spec.embedding_train
    if spec.method == "triplet":
        t = spec.triplet
        stage_strategy = TripletStrategy(embedder, margin=t.margin, semi_hard=t.semi_hard,
                                         normalize=t.normalize)
        sampler = TripletSampler(targets, t.batch_size, es.seed)
    else:
        p = spec.proto
        stage_strategy = ProtoStrategy(embedder, n_support=p.n_support, n_query=p.n_query)
        sampler = EpisodeSampler(targets, p.n_way, p.n_support + p.n_query, p.episodes_per_epoch, es.seed)
    stage_strategy.build(es, n_classes, device)
    entry.pre_stages = [Stage("embedding", stage_strategy, loaders.loader(train, batch_sampler=sampler),
                              entry.val_loader, centroid_select(loaders.loader(train)), es.epochs, es.patience)]
    return entry
