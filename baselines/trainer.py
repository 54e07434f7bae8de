"""One trainer for every baseline; what differs between papers lives in a pluggable strategy
(:class:`sedkit.baselines.strategies.base.Strategy`: networks, optimisers, one training step, prediction).

:class:`Trainer` runs the epochs: tqdm progress, ``log.csv`` (per epoch: training losses, the selection metric,
``time_s``, and ``load_s`` / ``step_s``: time waiting for the loader / in training steps, over ``batches``) +
TensorBoard (``tensorboard/``), atomic checkpoints
``last.pt`` / ``best.pt`` (strategy state, epoch, early-stopping state, RNG states; loadable with
``torch.load(weights_only=True)``), ``resume=True`` continues from ``last.pt``, early stopping on
``select_metric(strategy, val_loader)`` (higher is better). AMP (bfloat16 autocast) only on CUDA.
"""
from __future__ import annotations

import contextlib
import warnings
import csv
import io
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import torch
from tqdm import tqdm

from sedkit import SedkitError, first_line
from pydantic import Field

from sedkit.specs import Spec

from sedkit.synth.io import atomic_path, atomic_write_text

if TYPE_CHECKING:
    from sedkit.baselines.strategies.base import Strategy

CHECKPOINT_FORMAT = "sedkit-checkpoint-1"


class TrainSpec(Spec):
    """The ``train:`` section of a model spec."""

    epochs: int = Field(ge=1)
    lr: float = Field(gt=0)
    optimizer: Literal["adam", "adagrad", "sgd"]
    weight_decay: float = Field(0.0, ge=0)
    patience: int | None = Field(ge=1)  # epochs without improvement of the selection metric; None = never stop early
    seed: int = Field(ge=0)
    amp: bool = False  # bfloat16 autocast, CUDA only
    # learning rate over the epochs: constant, or cosine (from lr at the first epoch down towards 0 at the last,
    # so the validation curve settles at the end)
    lr_schedule: Literal["constant", "cosine"] = "constant"


def lr_factor(schedule: str, epoch: int, epochs: int) -> float:
    """The learning-rate multiplier of ``epoch`` (0-based) of ``epochs`` under ``schedule``."""
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * epoch / max(epochs, 1)))
    return 1.0


@contextlib.contextmanager
def torch_threads(n: int | None):
    """Run with ``n`` intra-op CPU threads (None: leave torch's setting). On a busy machine small models run
    much faster on one thread: extra threads spin-wait for cores that other processes hold."""
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def seed_everything(seed: int) -> None:
    """The training seed of a run: seeds torch's global generator (model initialisation, dropout)."""
    torch.manual_seed(seed)


def to_device(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}


def save_checkpoint(path: Path, obj: dict) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    p = Path(path)
    if not p.exists():
        raise SedkitError(f"{p}: checkpoint not found")
    try:
        with warnings.catch_warnings():  # torch warns about foreign pickle protocols before refusing them
            warnings.simplefilter("ignore")
            ck = torch.load(p, map_location=map_location, weights_only=True)
    except Exception as e:  # corrupt file or unsafe pickle content
        why = first_line(e)
        if "weights only" in why.lower() or "weights_only" in why:  # never relay torch's advice to load unsafely
            why = "it holds objects a safe load refuses (loading them could run code)"
        elif p.stat().st_size == 0:
            why = "the file is empty"
        raise SedkitError(f"{p}: cannot load checkpoint: {why}") from None
    if not isinstance(ck, dict) or ck.get("format") != CHECKPOINT_FORMAT:
        raise SedkitError(f"{p}: not a sedkit checkpoint")
    return ck


def loader_generators(loader) -> list[torch.Generator]:
    """The torch.Generators that drive a loader's shuffling / batch sampling (checkpointed for resume)."""
    out = []
    for obj in (loader, getattr(loader, "sampler", None), getattr(loader, "batch_sampler", None)):
        g = getattr(obj, "generator", None)
        if isinstance(g, torch.Generator) and all(g is not x for x in out):
            out.append(g)
    return out


class Trainer:
    def __init__(self, strategy: Strategy, train_loader, val_loader, out_dir: str | Path, epochs: int,
                 device: torch.device | str = "cpu", amp: bool = False, seed: int = 0, select_metric=None,
                 patience: int | None = None, resume: bool = False, tensorboard: bool = True,
                 lr_schedule: str = "constant"):
        self.strategy = strategy
        self.train_loader, self.val_loader = train_loader, val_loader
        self.out_dir = Path(out_dir)
        self.epochs, self.patience, self.resume = epochs, patience, resume
        self.device = torch.device(device) if isinstance(device, str) else device
        self.amp = amp and self.device.type == "cuda"
        self.seed = seed
        self.select_metric = select_metric
        self.tensorboard = tensorboard
        self.lr_schedule = lr_schedule

    # ---- checkpoints
    def _rng_state(self) -> dict:
        st = {"torch": torch.get_rng_state(),
              "loaders": [g.get_state() for g in loader_generators(self.train_loader)]}
        if torch.cuda.is_available():
            st["cuda"] = torch.cuda.get_rng_state_all()
        return st

    def _set_rng_state(self, st: dict) -> None:
        torch.set_rng_state(st["torch"])
        for g, s in zip(loader_generators(self.train_loader), st.get("loaders", [])):
            g.set_state(s)
        if "cuda" in st and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(st["cuda"])

    def _checkpoint(self, epoch: int, state: dict) -> dict:
        return {"format": CHECKPOINT_FORMAT, "epoch": epoch, "strategy": self.strategy.state_dict(),
                "rng": self._rng_state(), **state}

    def _write_log(self, history: list[dict]) -> None:
        keys = list(dict.fromkeys(k for row in history for k in row))
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
        w.writeheader()
        for row in history:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
        atomic_write_text(self.out_dir / "log.csv", buf.getvalue())

    def _autocast(self):
        if self.amp:
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def evaluate_metric(self) -> float:
        if self.select_metric is None:
            return float("nan")
        self.strategy.eval()
        with torch.no_grad(), self._autocast():
            v = float(self.select_metric(self.strategy, self.val_loader))
        return v

    # ---- main loop
    def fit(self) -> dict:
        """Train; returns ``{"best_epoch", "best_metric", "epochs_run", "stopped_early"}``."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        state = {"best": -math.inf, "best_epoch": -1, "bad_epochs": 0, "stopped": False, "history": []}
        start = 0
        last = self.out_dir / "last.pt"
        if self.resume and last.exists():
            ck = load_checkpoint(last, map_location=self.device)
            self.strategy.load_state_dict(ck["strategy"])
            self._set_rng_state(ck["rng"])
            state = {k: ck[k] for k in state}
            start = ck["epoch"] + 1
        writer = None
        if self.tensorboard and start < self.epochs and not state["stopped"]:
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(str(self.out_dir / "tensorboard"), purge_step=start)
        step = start * max(1, len(self.train_loader))
        for epoch in range(start, self.epochs):
            if state["stopped"]:
                break
            t0 = time.perf_counter()
            self.strategy.on_epoch_start(epoch)
            if self.lr_schedule != "constant":
                self.strategy.set_lr_factor(lr_factor(self.lr_schedule, epoch, self.epochs))
            ds = getattr(self.train_loader, "dataset", None)
            if hasattr(ds, "set_epoch"):  # datasets that draw anew each epoch (online mixing)
                ds.set_epoch(epoch)
            self.strategy.train()
            sums: dict[str, float] = {}
            n = 0
            load_s = step_s = 0.0  # waiting for the loader / in the training step (the loader must not starve it)
            bar = tqdm(self.train_loader, desc=f"epoch {epoch + 1}/{self.epochs}", leave=False, disable=None)
            t_wait = time.perf_counter()
            for batch in bar:
                t_got = time.perf_counter()
                load_s += t_got - t_wait
                with self._autocast():
                    scalars = self.strategy.train_step(to_device(batch, self.device), step)
                t_wait = time.perf_counter()
                step_s += t_wait - t_got
                step += 1
                n += 1
                for k, v in scalars.items():
                    sums[k] = sums.get(k, 0.0) + float(v)
                if "loss" in scalars:
                    bar.set_postfix(loss=f"{float(scalars['loss']):.4f}")
            self.strategy.on_epoch_end(epoch)
            metric = self.evaluate_metric()
            row = {"epoch": epoch, **{f"train_{k}": v / max(n, 1) for k, v in sums.items()},
                   "select_metric": metric, "time_s": time.perf_counter() - t0, "load_s": load_s, "step_s": step_s,
                   "batches": n}
            state["history"].append(row)
            score = -math.inf if math.isnan(metric) else metric
            if self.select_metric is None:  # no validation: keep the latest weights
                score = float(epoch)
            if score > state["best"] or state["best_epoch"] < 0:
                state.update(best=score, best_epoch=epoch, bad_epochs=0)
                improved = True
            else:
                state["bad_epochs"] += 1
                improved = False
            if self.patience is not None and state["bad_epochs"] >= self.patience:
                state["stopped"] = True
            ck = self._checkpoint(epoch, state)
            if improved:
                save_checkpoint(self.out_dir / "best.pt", ck)
            save_checkpoint(last, ck)
            self._write_log(state["history"])
            if writer is not None:
                for k, v in row.items():
                    if k != "epoch" and isinstance(v, float) and math.isfinite(v):
                        writer.add_scalar(k, v, epoch)
                writer.flush()
        if writer is not None:
            writer.close()
        return {"best_epoch": state["best_epoch"], "best_metric": state["best"],
                "epochs_run": len(state["history"]), "stopped_early": state["stopped"]}

    def load_best(self) -> None:
        """Load ``best.pt`` (weights only) into the strategy."""
        ck = load_checkpoint(self.out_dir / "best.pt", map_location=self.device)
        self.strategy.load_state_dict(ck["strategy"], optimizers=False)
