"""The interface every training strategy implements, and the optimiser a ``train:`` section asks for.

A strategy owns its networks and optimisers and knows how to do one training step and how to predict; the one
:class:`~sedkit.baselines.trainer.Trainer` runs it. Its constructor takes what defines its networks (a model for
the tagging strategies, the model spec for the SED ones); then, with one signature for all:

- ``build(train, n_classes, device, steps_per_epoch)``: create networks/optimisers from the ``train:`` section
  (:class:`~sedkit.baselines.trainer.TrainSpec`; the optimiser comes from :func:`make_optimizer`); register them
  in ``self.nets`` / ``self.opts`` (dicts name -> module / optimiser) so the default ``state_dict`` / ``train`` /
  ``eval`` cover them;
- ``train_step(batch, step) -> {name: float}``: forward, backward, optimiser step; returns scalars to log;
- ``predict(batch) -> {"clip": (B, C) probabilities, optionally "frame": (B, T, C)}`` (called under no_grad, eval);
- optional hooks ``on_epoch_start(epoch)`` / ``on_epoch_end(epoch)``.
"""
from __future__ import annotations

import torch

from sedkit import SedkitError
from sedkit.baselines.trainer import TrainSpec


def make_optimizer(cfg: TrainSpec | dict, params) -> torch.optim.Optimizer:
    """The optimiser a TrainSpec (or a dict with its keys) asks for, over the ``params`` with requires_grad."""
    spec = cfg if isinstance(cfg, TrainSpec) else TrainSpec(**{k: v for k, v in cfg.items()
                                                                  if k in TrainSpec.model_fields})
    params = [p for p in params if p.requires_grad]
    cls = {"adam": torch.optim.Adam, "adagrad": torch.optim.Adagrad, "sgd": torch.optim.SGD}[spec.optimizer]
    return cls(params, lr=spec.lr, weight_decay=spec.weight_decay)


class Strategy:
    """Base class of training strategies (see module docstring)."""

    nets: dict
    opts: dict

    def __init__(self):
        self.nets = {}
        self.opts = {}
        self.device = torch.device("cpu")

    def build(self, train: TrainSpec, n_classes: int, device, steps_per_epoch: int = 1) -> None:
        raise NotImplementedError

    def train_step(self, batch: dict, step: int) -> dict[str, float]:
        raise NotImplementedError

    def predict(self, batch: dict) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def on_epoch_start(self, epoch: int) -> None:
        pass

    def set_lr_factor(self, factor: float) -> None:
        """Scale every optimiser's learning rate to ``factor`` times the one it was built with (the trainer's
        schedule, at each epoch start; the base rate is kept in the optimiser's state, so a resumed run goes on)."""
        for opt in self.opts.values():
            for g in opt.param_groups:
                g["lr"] = g.setdefault("initial_lr", g["lr"]) * factor

    def on_epoch_end(self, epoch: int) -> None:
        pass

    def train(self) -> None:
        for m in self.nets.values():
            m.train()

    def eval(self) -> None:
        for m in self.nets.values():
            m.eval()

    def extra_state(self) -> dict:
        """Anything else to checkpoint (plain tensors / numbers only)."""
        return {}

    def load_extra_state(self, state: dict) -> None:
        pass

    def state_dict(self) -> dict:
        return {"nets": {k: m.state_dict() for k, m in self.nets.items()},
                "opts": {k: o.state_dict() for k, o in self.opts.items()},
                "extra": self.extra_state()}

    def load_state_dict(self, state: dict, optimizers: bool = True) -> None:
        for k, m in self.nets.items():
            if k not in state["nets"]:
                raise SedkitError(f"checkpoint has no weights for network {k!r} (has {sorted(state['nets'])})")
            m.load_state_dict(state["nets"][k])
        if optimizers:
            for k, o in self.opts.items():
                if k in state.get("opts", {}):
                    o.load_state_dict(state["opts"][k])
        self.load_extra_state(state.get("extra", {}))
