"""Training strategies of the CRNN baselines (one :class:`CRNNStrategy`, configured by a :class:`StrategySpec`).

- supervised (Park et al.'s baseline, the DCASE CRNN without mean teacher): ``L_y = L_frame + L_clip`` (eqs. 1-3)
  with frame BCE on strongly labelled clips and clip BCE on strongly and weakly labelled clips;
- ``mean_teacher.enabled``: a teacher CRNN holds the exponential moving average of the student's weights with the
  DCASE ramp ``ema_t = min(1 - 1/(t+1), ema)``; an MSE consistency between student and teacher frame and clip
  outputs, on every clip of the batch (S, W and U), is added with weight ``consistency_max * ramp(t)``;
- ``adversarial.scheme: grl`` (Park et al. eqs. 4-7): a domain classifier (synthetic vs target) on the extractor's
  features behind a gradient reversal layer of weight ``alpha``, per clip (``mode: whole``, Adv.whole) or per frame
  (``mode: time``, Adv.time); one optimiser step on ``L_y + L_d``;
- ``adversarial.scheme: two_step`` (Cornell et al. eqs. 1-2): alternating optimisation without GRL. Step 1 updates
  the domain classifier on detached features with ``(1 - lam) L_adv``; step 2 updates the CRNN with
  ``lam L_main - (1 - lam) L_adv`` (``lam = 0.1``), the classifier held fixed. ``L_main`` includes the
  mean-teacher consistency when enabled. Cornell et al. place the branch after the CNN (``tap: cnn``).
The domain branch is used in training only: :meth:`predict` never runs it (it is dropped at inference).
``ramp(t) = exp(-5 (1 - t/T)^2)`` for ``t < T = rampup_epochs * steps_per_epoch`` also warms the learning rate up.
"""
from __future__ import annotations

import copy
import math
from typing import ClassVar, Literal

import torch
from torch import nn

from sedkit.baselines.losses import bce, sed_bce
from sedkit.baselines.models.crnn import CRNN
from sedkit.baselines.models.frontends import build_frontend
from sedkit.baselines.models.domain import DomainClassifier, grad_reverse
from sedkit.baselines.data.augment import FeatureAugment
from sedkit.baselines.data.features import batch_features
from sedkit.baselines.strategies.base import Strategy, make_optimizer
from sedkit.baselines.trainer import TrainSpec
from sedkit.specs import Spec


class MeanTeacherSpec(Spec):
    defaults_from: ClassVar[str] = "models/crnn#strategy.mean_teacher"
    enabled: bool
    ema: float
    consistency_max: float
    predict_with: Literal["teacher", "student"]


class AdversarialSpec(Spec):
    defaults_from: ClassVar[str] = "models/crnn#strategy.adversarial"
    scheme: Literal["none", "grl", "two_step"]
    mode: Literal["whole", "time"]  # Adv.whole: one decision per clip; Adv.time: one per frame
    alpha: float  # GRL weight (Park et al. eq. 5)
    lam: float  # two-step lambda (Cornell et al. eqs. 1-2)
    tap: Literal["cnn", "rnn"]  # which features the domain classifier sees
    hidden: int
    dropout: float


class TriTrainingSpec(Spec):
    defaults_from: ClassVar[str] = "models/crnn#strategy.tri_training"
    phase1_epochs: int  # Algorithm 1: epochs of phase 1; the remaining epochs are phase 2
    reg_lambda: float  # eq. 8 weight of |cos(W_F1, W_F2)|
    threshold: float  # decision threshold of a labeler
    confidence: float  # both labelers need max(p, 1 - p) >= this (0.5: agreement alone decides)


class StrategySpec(Spec):
    """The ``strategy:`` section of a SED model spec."""
    defaults_from: ClassVar[str] = "models/crnn#strategy"

    kind: Literal["crnn", "tri_training"]
    rampup_epochs: float
    mean_teacher: MeanTeacherSpec
    adversarial: AdversarialSpec
    tri_training: TriTrainingSpec


def ramp(step: int, total_steps: float) -> float:
    """``exp(-5 (1 - t)^2)`` with ``t = step / total_steps`` clipped to [0, 1]; 1 when there is no ramp."""
    if total_steps <= 0:
        return 1.0
    t = min(max(step / total_steps, 0.0), 1.0)
    return math.exp(-5.0 * (1.0 - t) ** 2)


@torch.no_grad()
def ema_update(teacher: nn.Module, student: nn.Module, decay: float) -> None:
    for pt, ps in zip(teacher.parameters(), student.parameters()):
        pt.mul_(decay).add_(ps.detach(), alpha=1.0 - decay)
    for bt, bs in zip(teacher.buffers(), student.buffers()):
        bt.copy_(bs)


def labelled_loss(out: dict, batch: dict) -> torch.Tensor:
    """``L_y`` of a batch: frame BCE on clips with strong labels, clip BCE on clips with clip labels."""
    return sed_bce(out, batch["frame_target"], batch["strong"].bool(), batch["target"], batch["weak"].bool())


def domain_loss(d: DomainClassifier, feats: torch.Tensor, batch: dict) -> torch.Tensor:
    p = d(feats)
    return bce(p, d.targets(p, batch["domain"]))


class SEDBase(Strategy):
    """What every SED strategy shares: front end, learning-rate warm-up, ramp, device handling.
    Constructed with the model spec (:class:`~sedkit.baselines.models.sed.SEDModelSpec`)."""

    def __init__(self, spec):
        super().__init__()
        self.cfg = spec

    def build(self, train: TrainSpec, n_classes: int, device, steps_per_epoch: int = 1) -> None:
        cfg = self.cfg
        self.train_spec = train
        self.n_classes = n_classes
        self.device = torch.device(device)
        self.lr = train.lr
        self.ramp_steps = cfg.strategy.rampup_epochs * max(steps_per_epoch, 1)
        self.nets["frontend"] = build_frontend(cfg.frontend)
        self.augment = FeatureAugment(cfg.data.augment, cfg.frontend.sr, cfg.data.clip_seconds, train.seed)
        self.frame_hop_s = None  # set by the builder (seconds per output frame)

    def _to_device(self) -> None:
        for m in self.nets.values():
            m.to(self.device)

    def set_lr_factor(self, factor: float) -> None:
        self.lr_factor = factor  # applied with the warm-up at every step

    def _warmup(self, step: int) -> None:
        lr = self.lr * ramp(step, self.ramp_steps) * getattr(self, "lr_factor", 1.0)
        for opt in self.opts.values():
            for g in opt.param_groups:
                g["lr"] = lr

    def render_mixtures(self, batch: dict) -> dict:
        """The batch with its online mixtures rendered on the device, when the loader only drew them
        (``data.augment.mix_on``; the builder sets ``device_mixing``)."""
        mixing = getattr(self, "device_mixing", None)
        return mixing(batch) if mixing is not None else batch

    def features(self, batch: dict) -> torch.Tensor:
        return batch_features(self.nets["frontend"], batch)

    def _domain_net(self, in_dims: dict[str, int]) -> DomainClassifier:
        a = self.cfg.strategy.adversarial
        return DomainClassifier(in_dims[a.tap], a.hidden, a.mode, a.dropout)


class CRNNStrategy(SEDBase):
    """Supervised / mean teacher / GRL domain-adversarial / two-step domain-adversarial CRNN (module docstring)."""

    def build(self, train: TrainSpec, n_classes: int, device, steps_per_epoch: int = 1) -> None:
        super().build(train, n_classes, device, steps_per_epoch)
        cfg = self.cfg
        st = cfg.strategy
        fe = self.nets["frontend"]
        student = CRNN(cfg.net, n_classes, cfg.frontend.n_mels, fe.channels)
        self.nets["student"] = student
        if st.mean_teacher.enabled:
            teacher = copy.deepcopy(student)
            for p in teacher.parameters():
                p.requires_grad_(False)
            self.nets["teacher"] = teacher
        scheme = st.adversarial.scheme
        main_params = [*fe.parameters(), *student.parameters()]
        if scheme != "none":
            dims = {"cnn": student.extractor.cnn_dim, "rnn": student.extractor.out_dim}
            self.nets["domain"] = self._domain_net(dims)
            if scheme == "grl":
                main_params += list(self.nets["domain"].parameters())
            else:
                self.opts["domain"] = make_optimizer(train, self.nets["domain"].parameters())
        self.opts["main"] = make_optimizer(train, main_params)
        self._to_device()

    def train_step(self, batch: dict, step: int) -> dict[str, float]:
        st = self.cfg.strategy
        mt, adv = st.mean_teacher, st.adversarial
        self._warmup(step)
        batch = self.render_mixtures(batch)
        x = self.augment(self.features(batch), step)
        out = self.nets["student"](x)
        loss_y = labelled_loss(out, batch)
        main = loss_y
        logs = {"loss_y": loss_y.item()}
        if mt.enabled:
            with torch.no_grad():
                t = self.nets["teacher"](x)
            cons = nn.functional.mse_loss(out["frame"].float(), t["frame"].float()) + \
                nn.functional.mse_loss(out["clip"].float(), t["clip"].float())
            w = mt.consistency_max * ramp(step, self.ramp_steps)
            main = main + w * cons
            logs["loss_consistency"] = cons.item()
        if adv.scheme == "two_step":
            d = self.nets["domain"]
            feats = out[adv.tap]
            loss_d = (1.0 - adv.lam) * domain_loss(d, feats.detach(), batch)  # eq. 2
            self.opts["domain"].zero_grad()
            loss_d.backward()
            self.opts["domain"].step()
            loss_adv = domain_loss(d, feats, batch)
            total = adv.lam * main - (1.0 - adv.lam) * loss_adv  # eq. 1 (only the CRNN's optimiser steps)
            logs["loss_domain"] = loss_adv.item()
        elif adv.scheme == "grl":
            loss_adv = domain_loss(self.nets["domain"], grad_reverse(out[adv.tap], adv.alpha), batch)
            total = main + loss_adv  # eqs. 5-7 through the reversed gradient
            logs["loss_domain"] = loss_adv.item()
        else:
            total = main
        self.opts["main"].zero_grad()
        total.backward()
        self.opts["main"].step()
        if mt.enabled:
            ema_update(self.nets["teacher"], self.nets["student"], min(1.0 - 1.0 / (step + 1), mt.ema))
        logs["loss"] = total.item()
        return logs

    def predict(self, batch: dict) -> dict[str, torch.Tensor]:
        mt = self.cfg.strategy.mean_teacher
        net = self.nets["teacher"] if mt.enabled and mt.predict_with == "teacher" else self.nets["student"]
        out = net(self.features(batch))
        return {"clip": out["clip"], "frame": out["frame"]}
