"""The torch device a command runs on: the one ``--device auto|cpu|cuda`` rule of training, evaluation, the bench and
the batch mixer."""
from __future__ import annotations

import torch

from sedkit import SedkitError


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """``auto``: CUDA when available, else the CPU; ``cuda`` where there is none is a one-line error."""
    name = str(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SedkitError("--device cuda requested but CUDA is not available on this machine")
    if name != "cpu" and not name.startswith("cuda"):
        raise SedkitError(f"unknown device {name!r}; expected auto, cpu or cuda")
    return torch.device(name)
