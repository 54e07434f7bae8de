"""Model registry: ``sedkit train MODEL`` looks MODEL up in :data:`MODELS`.

Each entry maps a model name to ``"module:function"`` of a builder::

    build(cfg: dict, data_dir: Path, device: torch.device, training: bool = True) -> ModelEntry

``cfg`` is the merged raw config (``specs/models/<name>.yaml`` + ``--config`` + ``--set``); the builder validates
it with its own Spec model (unknown keys are errors) and puts the resolved config in ``ModelEntry.config``.
With ``training=False`` (``sedkit eval``) it only needs ``strategy``, ``classes``, ``loader`` and ``evaluate``:
no training loaders and no statistics passes (they come back from the checkpoint).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from sedkit import SedkitError

if TYPE_CHECKING:  # the registry is read by `sedkit train --help`: no torch at import time
    import torch

MODELS: dict[str, str] = {
    # Turpault et al. 2020 (WAA): end-to-end classifier, triplet and prototypical embeddings + classifier G
    "classifier": "sedkit.baselines.models.embedding:build",
    "triplet": "sedkit.baselines.models.embedding:build",
    "proto": "sedkit.baselines.models.embedding:build",
    # Kumar & Raj 2017: weak-label CNN with global max pooling vs strong-label-assumption training
    "wler": "sedkit.baselines.models.multiscale:build",
    "slat": "sedkit.baselines.models.multiscale:build",
    # Deshmukh et al. 2021 (remix): VGG-like encoder + pooling heads, two-step attention, auxiliary decoder
    "gap": "sedkit.baselines.models.attention:build",
    "gmp": "sedkit.baselines.models.attention:build",
    "gwrp": "sedkit.baselines.models.attention:build",
    "ap-dilated": "sedkit.baselines.models.attention:build",
    "2ap": "sedkit.baselines.models.attention:build",
    "2ap-aux": "sedkit.baselines.models.attention:build",
    # CRNN family (DCASE reference, Park et al. 2019 adversarial + tri-training, Cornell et al. 2020 two-step DAT)
    **{m: "sedkit.baselines.models.sed:build" for m in ("crnn", "crnn-mt", "crnn-dat", "crnn-park", "crnn-adv-whole",
                                                        "crnn-adv-time", "tri-training", "tri-training-adv-time")},
}


@dataclass
class Stage:
    """A training stage that runs before the main one (e.g. embedding learning before classifier G).

    Trained in ``<run>/<name>/`` with its own checkpoints; afterwards its best weights are loaded and
    ``after(strategy)`` hands them to the next stage.
    """

    name: str
    strategy: object
    train_loader: object
    val_loader: object
    select_metric: Callable
    epochs: int
    patience: int | None
    after: Callable | None = None


@dataclass
class ModelEntry:
    """What a builder returns: everything the train / eval commands need."""

    task: str  # "tagging" or "sed"
    config: dict  # the resolved, validated config (saved as <run>/config.yaml)
    classes: list[str]
    strategy: object  # a trainer.Strategy, built and on its device
    loader: Callable  # loader(split) -> a non-shuffled DataLoader of that split (for prediction)
    evaluate: str  # "module:function"; f(entry, data_dir, split, run_dir, postprocess) -> metrics dict
    sample_rate: int
    train_loader: object = None
    val_loader: object = None
    select_metric: Callable | None = None  # (strategy, val_loader) -> float, higher is better
    epochs: int = 1
    patience: int | None = None
    amp: bool = False
    lr_schedule: str = "constant"  # trainer.TrainSpec.lr_schedule
    seed: int = 0
    val_split: str = "validation"
    eval_splits: list[str] = field(default_factory=list)
    pre_stages: list[Stage] = field(default_factory=list)
    options: dict = field(default_factory=dict)  # model-specific extras for its evaluate function
    # "module:function"; f(entry, data_dir, run_dir) after training, before the evaluations: decisions made on
    # the validation split (a tagging model's threshold) that it writes to <run_dir>/decision.json
    decide: str | None = None


def import_target(target: str):
    module, attr = target.split(":")
    return getattr(importlib.import_module(module), attr)


def builder(name: str) -> Callable:
    if name not in MODELS:
        raise SedkitError(f"unknown model {name!r}; available: {', '.join(sorted(MODELS))}")
    return import_target(MODELS[name])


def build(name: str, cfg: dict, data_dir: str | Path, device: torch.device, training: bool = True) -> ModelEntry:
    return builder(name)(cfg, Path(data_dir), device, training)


def validate(model, cfg: dict, where: str):
    """Validate a raw config dict with a Spec model; errors are one line naming ``where`` and the key."""
    from pydantic import ValidationError

    from sedkit.specs import _format_errors

    try:
        return model.model_validate(cfg)
    except ValidationError as e:
        raise SedkitError(_format_errors(where, e)) from None
