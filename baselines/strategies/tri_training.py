"""Tri-training with optional domain-adversarial learning (Park et al. 2019, Algorithm 1).

Networks: a shared extractor F (the CRNN's CNN + BiGRU), labelers F1 and F2 and a final classifier Ft (each a
frame + attention-pooled clip head), and, with ``adversarial.scheme: grl``, a domain classifier D behind a
gradient reversal layer (Adv.whole / Adv.time, see :mod:`sedkit.baselines.models.domain`).

- Phase 1 (epochs ``< phase1_epochs``): F, F1, F2, Ft and D train on S, W and U mini-batches:
  ``L = sum_{h in F1, F2, Ft} L_y(h) + reg_lambda |<W_F1/|W_F1|, W_F2/|W_F2|>| + L_d`` (eqs. 1-8; ``W`` are the
  flattened first-layer weights of the two labelers, so the regulariser is the absolute cosine between them).
  L_y uses frame labels of S and clip labels of S and W; U only reaches the domain loss.
- Pseudo-labelling (once, at the start of phase 2): F, F1 and F2 label every clip of W and U, see
  :func:`pseudo_labels`.
- Phase 2: F, Ft and D train on S (its labels), W (its weak clip labels + frame pseudo-labels) and U (frame and
  clip pseudo-labels); F1 and F2 get no gradient. Masked-out pseudo-labels contribute nothing.
Prediction uses F and Ft only.

Phase 1 must be long enough for F1 and F2 to detect events on the target domain: labelers that agree on
"absent" everywhere produce only negative pseudo-labels for U, and phase 2 then teaches Ft silence on target data
(seen on a toy set with an 8-epoch phase 1). Raise ``phase1_epochs``, or ``confidence`` to keep fewer negatives.
"""
from __future__ import annotations

import torch

from sedkit.baselines.losses import bce
from sedkit.baselines.models.crnn import Extractor, SEDHead
from sedkit.baselines.strategies.sed import SEDBase, domain_loss, labelled_loss
from sedkit.baselines.models.domain import grad_reverse
from sedkit.baselines.strategies.base import make_optimizer
from sedkit.baselines.trainer import TrainSpec, to_device


def agreement(p1: torch.Tensor, p2: torch.Tensor, threshold: float = 0.5, confidence: float = 0.5):
    """``(label, keep)``: label = ``p1 >= threshold``; keep where both labelers decide the same way and both are
    confident (``max(p, 1 - p) >= confidence``; with 0.5 every decision is confident and agreement alone decides)."""
    d1, d2 = p1 >= threshold, p2 >= threshold
    conf = (torch.maximum(p1, 1 - p1) >= confidence) & (torch.maximum(p2, 1 - p2) >= confidence)
    return d1, (d1 == d2) & conf


def pseudo_labels(frame1: torch.Tensor, frame2: torch.Tensor, clip1: torch.Tensor, clip2: torch.Tensor,
                  weak: torch.Tensor | None = None, threshold: float = 0.5, confidence: float = 0.5) -> dict:
    """Pseudo-labels of a set of clips from the two labelers' outputs (``frame (N, T, C)``, ``clip (N, C)``).

    Rule, per class c of clip n:
    1. clip level: the clip label is known when it is given (``weak``, W's weak labels) or, without weak labels
       (U), when both labelers agree on it (:func:`agreement`); otherwise it is masked out;
    2. frame level: a frame label is kept where both labelers agree (:func:`agreement`);
    3. consistency with the clip label: where the class is known absent, every frame is labelled 0 (kept); where it
       is known present but no kept frame is positive, all frames of the class are masked out (a clip known to hold
       the class must not be trained as all-negative). Frames of classes with an unknown clip label keep step 2.
    Returns bool tensors ``frame``, ``frame_mask`` (N, T, C) and ``clip``, ``clip_mask`` (N, C); labels are False
    wherever their mask is.
    """
    f_lab, f_keep = agreement(frame1, frame2, threshold, confidence)
    if weak is not None:
        c_lab = weak >= 0.5
        c_keep = torch.ones_like(c_lab)
    else:
        c_lab, c_keep = agreement(clip1, clip2, threshold, confidence)
    absent = c_keep & ~c_lab  # (N, C)
    present = c_keep & c_lab
    f_lab = f_lab & ~absent[:, None, :]
    f_keep = f_keep | absent[:, None, :]
    no_pos = ~(f_lab & f_keep).any(dim=1)  # (N, C)
    f_keep = f_keep & ~(present & no_pos)[:, None, :]
    return {"frame": f_lab & f_keep, "frame_mask": f_keep, "clip": c_lab & c_keep, "clip_mask": c_keep}


def weight_similarity(w1: torch.Tensor, w2: torch.Tensor) -> torch.Tensor:
    """``|<w1/|w1|, w2/|w2|>|`` of the flattened weights (eq. 8's regulariser)."""
    a, b = w1.flatten(), w2.flatten()
    return (a @ b).abs() / (a.norm() * b.norm()).clamp(min=1e-12)


class TriTrainingStrategy(SEDBase):
    HEADS = ("f1", "f2", "ft")

    def build(self, train: TrainSpec, n_classes: int, device, steps_per_epoch: int = 1) -> None:
        super().build(train, n_classes, device, steps_per_epoch)
        cfg = self.cfg
        fe = self.nets["frontend"]
        net = cfg.net
        self.nets["extractor"] = Extractor(net, cfg.frontend.n_mels, fe.channels)
        dim = self.nets["extractor"].out_dim
        for h in self.HEADS:
            self.nets[h] = SEDHead(dim, n_classes, net.head_dropout, net.head_hidden)
        adv = cfg.strategy.adversarial
        if adv.scheme == "two_step":
            raise ValueError("tri-training supports adversarial.scheme none or grl (Park et al.), not two_step")
        if adv.scheme == "grl":
            self.nets["domain"] = self._domain_net({"cnn": self.nets["extractor"].cnn_dim, "rnn": dim})
        self.opts["main"] = make_optimizer(train, [p for m in self.nets.values() for p in m.parameters()])
        self.phase = 1
        self.pseudo: dict[str, dict[str, torch.Tensor]] = {}
        self.pseudo_loaders: dict = {}  # role -> non-shuffled loader of that role's dataset (set by the builder)
        self._to_device()

    # ---- phases
    def on_epoch_start(self, epoch: int) -> None:
        if epoch >= self.cfg.strategy.tri_training.phase1_epochs:
            if not self.pseudo:
                self.label_sets()
            self.phase = 2
        else:
            self.phase = 1

    @torch.no_grad()
    def label_sets(self) -> None:
        """Pseudo-label every clip of W and U with F, F1 and F2 (eval mode)."""
        tt = self.cfg.strategy.tri_training
        self.eval()
        for role, loader in self.pseudo_loaders.items():
            parts = []
            for batch in loader:
                batch = to_device(batch, self.device)
                h = self.nets["extractor"](self.features(batch))["rnn"]
                o1, o2 = self.nets["f1"](h), self.nets["f2"](h)
                weak = batch["target"] if role == "weak" else None
                parts.append(pseudo_labels(o1["frame"], o2["frame"], o1["clip"], o2["clip"], weak,
                                           tt.threshold, tt.confidence))
            self.pseudo[role] = {k: torch.cat([p[k] for p in parts]).cpu() for k in parts[0]} if parts else {}
        self.train()

    def extra_state(self) -> dict:
        return {"pseudo": self.pseudo}

    def load_extra_state(self, state: dict) -> None:
        self.pseudo = state.get("pseudo", {}) or {}

    # ---- steps
    def _pseudo_targets(self, batch: dict, n_frames: int):
        """Frame/clip targets and element masks of a phase-2 batch (S: labels; W: weak + pseudo; U: pseudo)."""
        b, c = batch["target"].shape
        dev = batch["target"].device
        f_t = batch["frame_target"].clone()
        f_m = batch["strong"].bool()[:, None, None].expand(b, n_frames, c).clone()
        c_t = batch["target"].clone()
        c_m = batch["weak"].bool()[:, None].expand(b, c).clone()
        for role_id, role in ((1, "weak"), (2, "unlabel")):
            rows = torch.nonzero(batch["role"] == role_id).flatten()
            if len(rows) == 0 or role not in self.pseudo:
                continue
            idx = batch["index"][rows].cpu()
            ps = self.pseudo[role]
            f_t[rows] = ps["frame"][idx].to(dev, f_t.dtype)
            f_m[rows] = ps["frame_mask"][idx].to(dev)
            if role == "unlabel":
                c_t[rows] = ps["clip"][idx].to(dev, c_t.dtype)
                c_m[rows] = ps["clip_mask"][idx].to(dev)
        return f_t, f_m, c_t, c_m

    def train_step(self, batch: dict, step: int) -> dict[str, float]:
        st = self.cfg.strategy
        self._warmup(step)
        batch = self.render_mixtures(batch)
        feats = self.nets["extractor"](self.augment(self.features(batch), step))
        h = feats["rnn"]
        logs = {}
        if self.phase == 1:
            loss = h.new_zeros((), dtype=torch.float32)
            for name in self.HEADS:
                ly = labelled_loss(self.nets[name](h), batch)
                logs[f"loss_{name}"] = ly.item()
                loss = loss + ly
            reg = weight_similarity(self.nets["f1"].first_layer_weight(), self.nets["f2"].first_layer_weight())
            loss = loss + st.tri_training.reg_lambda * reg
            logs["weight_similarity"] = reg.item()
        else:
            out = self.nets["ft"](h)
            f_t, f_m, c_t, c_m = self._pseudo_targets(batch, out["frame"].shape[1])
            loss = bce(out["frame"], f_t, f_m) + bce(out["clip"], c_t, c_m)
            logs["loss_ft"] = loss.item()
        if st.adversarial.scheme == "grl":
            ld = domain_loss(self.nets["domain"], grad_reverse(feats[st.adversarial.tap], st.adversarial.alpha), batch)
            loss = loss + ld
            logs["loss_domain"] = ld.item()
        self.opts["main"].zero_grad()
        loss.backward()
        self.opts["main"].step()
        logs["loss"] = loss.item()
        logs["phase"] = float(self.phase)
        return logs

    def predict(self, batch: dict) -> dict[str, torch.Tensor]:
        out = self.nets["ft"](self.nets["extractor"](self.features(batch))["rnn"])
        return {"clip": out["clip"], "frame": out["frame"]}

