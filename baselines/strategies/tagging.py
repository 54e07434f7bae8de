"""Training strategies for the tagging baselines (plugged into :class:`sedkit.baselines.trainer.Trainer`).

- :class:`BCEStrategy`: end-to-end binary cross-entropy on clip probabilities, plus ``aux_alpha`` x MSE when the
  model also reconstructs its input features (Deshmukh et al.'s auxiliary decoder); also trains a classifier on a
  frozen embedding (the model freezes its own embedding part).
- :class:`SegmentStrategy`: strong-label-assumption training (Kumar & Raj's SLAT): fixed-length feature segments
  carry their recording's label; the recording score is the max over segments.
- :class:`TripletStrategy`: triplet loss on L2-normalised embeddings with margin delta, random positives and
  negatives, optional semi-hard negative mining inside the batch (Turpault et al. eq. 2).
- :class:`ProtoStrategy`: prototypical-network episodes (Turpault et al. eq. 3 and sec. 2.3).
- :func:`centroid_select`: the centroid early-stopping metric (Turpault et al. eqs. 4-5).

Models given to these strategies are ``nn.Module`` s whose ``forward(audio, n_samples)`` returns a dict with
``"clip"`` (B, C) probabilities (classifiers) or ``"embedding"`` (B, D) (embedding networks), optionally
``"frame"`` (B, T, C), ``"recon"`` and ``"features"`` (same shape; reconstruction and its target).
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from sedkit.baselines.data.features import model_input
from sedkit.baselines.data.loaders import primary_class
from sedkit.baselines.losses import bce
from sedkit.baselines.strategies.base import Strategy, make_optimizer
from sedkit.baselines.trainer import TrainSpec


class ModelStrategy(Strategy):
    """A strategy around one model (built by the model's builder for its classes) and one optimiser."""

    def __init__(self, model: nn.Module, **options):
        super().__init__()
        self.model = model
        self.options = options

    def build(self, train: TrainSpec, n_classes: int, device, steps_per_epoch: int = 1) -> None:
        self.device = torch.device(device)
        self.model.to(self.device)
        self.nets = {"model": self.model}
        params = getattr(self.model, "trainable_parameters", self.model.parameters)()
        self.opts = {"opt": make_optimizer(train, params)}
        self.frame_hop_s = getattr(self.model, "frame_hop_s", None)

    def step(self, loss: torch.Tensor) -> None:
        opt = self.opts["opt"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def predict(self, batch: dict) -> dict:
        out = self.model(model_input(batch), batch.get("n_samples"))
        return {k: out[k] for k in ("clip", "frame", "embedding") if k in out}


class BCEStrategy(ModelStrategy):
    """BCE on clip probabilities (+ ``aux_alpha`` x MSE reconstruction when the model returns ``recon``).

    When the model returns ``"clip_per_view"`` (B, V, C) (e.g. one per FFT scale), the loss is over every view.
    """

    def train_step(self, batch: dict, step: int) -> dict:
        out = self.model(model_input(batch), batch.get("n_samples"))
        p, y = out.get("clip_per_view", out["clip"]), batch["target"]
        if p.dim() == 3:  # (B, views, C): every view (e.g. FFT scale) is a training example
            y = y[:, None, :].expand_as(p)
        loss = bce(p, y, eps=1e-7)
        scalars = {"bce": loss.item()}
        alpha = self.options.get("aux_alpha", 0.0)
        if "recon" in out:
            mse = F.mse_loss(out["recon"].float(), out["features"].float())
            scalars["mse"] = mse.item()
            if alpha:
                loss = loss + alpha * mse
        self.step(loss)
        scalars["loss"] = loss.item()
        return scalars


class SegmentStrategy(ModelStrategy):
    """SLAT: the model's ``segments(audio, n_samples)`` gives ``(segments, C)`` probabilities and the index of
    the clip each segment came from; every segment is trained with its clip's label."""

    def train_step(self, batch: dict, step: int) -> dict:
        probs, owner = self.model.segments(model_input(batch), batch.get("n_samples"))
        loss = bce(probs, batch["target"][owner], eps=1e-7)
        self.step(loss)
        return {"loss": loss.item(), "segments": float(len(owner))}


def sq_dist(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pairwise squared Euclidean distances ``(len(a), len(b))``."""
    return (a.unsqueeze(1) - b.unsqueeze(0)).square().sum(-1)


class TripletStrategy(ModelStrategy):
    """Batches are ``[anchors | positives | negatives]`` (:class:`~sedkit.baselines.data.TripletSampler`).

    options: ``margin`` (delta), ``semi_hard`` (bool), ``normalize`` (L2-normalise embeddings, default True).
    Semi-hard mining replaces an anchor's random negative by the hardest clip of another class in the batch
    with ``d(a, p) < d(a, n) < d(a, p) + margin``, when there is one.
    """

    def embed(self, audio, n_samples) -> torch.Tensor:
        e = self.model(audio, n_samples)["embedding"]
        return F.normalize(e, dim=-1) if self.options.get("normalize", True) else e

    def train_step(self, batch: dict, step: int) -> dict:
        emb = self.embed(model_input(batch), batch.get("n_samples"))
        b = emb.shape[0] // 3
        a, p, n = emb[:b], emb[b:2 * b], emb[2 * b:3 * b]
        margin = float(self.options.get("margin", 0.5))
        d_ap = (a - p).square().sum(-1)
        d_an = (a - n).square().sum(-1)
        mined = 0.0
        if self.options.get("semi_hard", False):
            cls = primary_class(batch["target"])
            d_all = sq_dist(a, emb)  # (b, 3b)
            other = cls[:b, None] != cls[None, :]
            semi = other & (d_all > d_ap[:, None].detach()) & (d_all < d_ap[:, None].detach() + margin)
            masked = torch.where(semi, d_all, torch.full_like(d_all, float("inf")))
            best, _ = masked.min(dim=1)
            has = semi.any(dim=1)
            d_an = torch.where(has, best, d_an)
            mined = float(has.float().mean())
        loss = F.relu(d_ap - d_an + margin).mean()
        self.step(loss)
        return {"loss": loss.item(), "active": float((d_ap - d_an + margin > 0).float().mean()), "mined": mined}

    def predict(self, batch: dict) -> dict:
        return {"embedding": self.embed(model_input(batch), batch.get("n_samples"))}


class ProtoStrategy(ModelStrategy):
    """Episodes of ``n_way`` classes x (``n_support`` + ``n_query``) clips in class-major order
    (:class:`~sedkit.baselines.data.EpisodeSampler`); cross-entropy of the softmax over negative squared
    distances between each query and the class prototypes (mean support embedding)."""

    def train_step(self, batch: dict, step: int) -> dict:
        ms, mq = self.options["n_support"], self.options["n_query"]
        emb = self.model(model_input(batch), batch.get("n_samples"))["embedding"]
        way = emb.shape[0] // (ms + mq)
        emb = emb.reshape(way, ms + mq, -1)
        protos = emb[:, :ms].mean(1)
        query = emb[:, ms:].reshape(way * mq, -1)
        logits = -sq_dist(query, protos)
        target = torch.arange(way, device=emb.device).repeat_interleave(mq)
        loss = F.cross_entropy(logits, target)
        self.step(loss)
        return {"loss": loss.item(), "acc": float((logits.argmax(1) == target).float().mean())}


@torch.no_grad()
def embeddings(strategy, loader) -> tuple[torch.Tensor, torch.Tensor]:
    strategy.eval()
    embs, ys = [], []
    for batch in loader:
        out = strategy.predict({k: v.to(strategy.device) if torch.is_tensor(v) else v for k, v in batch.items()})
        embs.append(out["embedding"].float().cpu())
        ys.append(batch["target"])
    return torch.cat(embs), torch.cat(ys)


def centroid_accuracy(train_emb, train_y, val_emb, val_y) -> float:
    """Turpault et al. eq. (5): share of validation clips whose nearest class centroid (eq. 4, computed on the
    training set) is their own class."""
    tc, vc = primary_class(train_y), primary_class(val_y)
    classes = sorted(int(c) for c in tc.unique() if c >= 0)
    cents = torch.stack([train_emb[tc == c].mean(0) for c in classes])
    keep = vc >= 0
    nearest = torch.tensor(classes)[sq_dist(val_emb[keep], cents).argmin(1)]
    return float((nearest == vc[keep]).float().mean()) if keep.any() else float("nan")


def centroid_select(train_eval_loader) -> Callable:
    """Selection metric ``(strategy, val_loader) -> float`` for embedding stages."""

    def metric(strategy, val_loader) -> float:
        te, ty = embeddings(strategy, train_eval_loader)
        ve, vy = embeddings(strategy, val_loader)
        return centroid_accuracy(te, ty, ve, vy)

    return metric
