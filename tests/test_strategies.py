"""Training strategies: one build signature, the configured optimiser, and each SED strategy learns on a few clips."""
from __future__ import annotations

import copy
import csv

import numpy as np
import pytest
import torch

from sedkit.baselines.api import model_config
from sedkit.synth.contract import frame_targets
from sedkit.baselines.registry import build
from sedkit.baselines.trainer import Trainer, lr_factor, seed_everything, torch_threads
from sedkit.specs import deep_merge

from helpers import TINY_SED, make_semi

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def semi(tmp_path_factory):
    return make_semi(tmp_path_factory.mktemp("strategies") / "data", n=2)


def config(model: str, **sections) -> dict:
    """``specs/models/<model>.yaml`` with the tiny network of the tests, then ``sections`` merged in."""
    return model_config(model, deep_merge(copy.deepcopy(TINY_SED), sections))


@pytest.mark.parametrize("model,opts", [("crnn-mt", {"main"}), ("crnn-dat", {"main", "domain"}),
                                        ("tri-training", {"main"})])
def test_sed_strategies_use_the_configured_optimizer(semi, model, opts):
    """train.optimizer and train.weight_decay reach every optimiser (Adam was hard-coded)."""
    cfg = config(model, train={"optimizer": "sgd", "weight_decay": 0.01, "lr": 0.05})
    st = build(model, cfg, semi, CPU).strategy
    assert set(st.opts) == opts
    for opt in st.opts.values():
        assert isinstance(opt, torch.optim.SGD)
        assert all(g["weight_decay"] == 0.01 for g in opt.param_groups)


def test_tagging_strategies_share_the_build_signature(semi):
    fe = {"extends": None, "sr": 8000, "n_fft": 256, "hop_length": 64, "n_mels": 32, "compression": "log",
          "norm": "zscore"}  # extends: null: this front end only, not the classifier's (Turpault et al.'s)
    cfg = model_config("classifier", {"frontend": fe, "net": {"channels": [8, 16]},
                                      "data": {"train_split": "synthetic", "val_split": "validation", "batch_size": 4},
                                      "train": {"optimizer": "adagrad", "weight_decay": 0.001}})
    st = build("classifier", cfg, semi, CPU).strategy
    assert isinstance(st.opts["opt"], torch.optim.Adagrad)
    assert st.opts["opt"].param_groups[0]["weight_decay"] == 0.001


def frame_f1(entry, data_split: str) -> float:
    """Micro F1 of thresholded frame outputs against the strong labels of ``data_split``."""
    st = entry.strategy
    st.eval()
    tp = fp = fn = 0
    table = None
    with torch.no_grad():
        for batch in entry.loader(data_split):
            frames = st.predict(batch)["frame"].numpy() >= 0.5
            table = table or batch
            for k, name in enumerate(batch["filename"]):
                events = entry.loader(data_split).dataset.table.events[name]
                ref = frame_targets(events, entry.classes, frames.shape[1], st.frame_hop_s) >= 0.5
                tp += int((frames[k] & ref).sum())
                fp += int((frames[k] & ~ref).sum())
                fn += int((~frames[k] & ref).sum())
    return 2 * tp / max(2 * tp + fp + fn, 1)


SCHEMES = {
    "mean-teacher": ("crnn-mt", {"mean_teacher": {"ema": 0.9}}),  # 0.999 over 40 steps stays at the init
    "grl-per-clip": ("crnn-adv-whole", {}),
    "grl-per-frame": ("crnn-adv-time", {}),
    "two-step-dat": ("crnn-dat", {"mean_teacher": {"ema": 0.9}}),
    "tri-training": ("tri-training", {}),
}


@pytest.mark.parametrize("scheme", list(SCHEMES))
def test_each_sed_strategy_learns_a_few_clips(semi, tmp_path, scheme):
    """On 6 strongly labelled clips (+ 6 weak, 6 unlabelled), the training loss goes down and frame F1 on those
    clips goes up."""
    model, strategy = SCHEMES[scheme]
    cfg = config(model, train={"epochs": 40, "lr": 0.02, "patience": None}, strategy=strategy,
                 data={"batch": {"synthetic": 6, "weak": 2, "unlabel": 2}})
    with torch_threads(1):  # one thread: the same sums, so the same trajectory, on an idle or a busy machine
        seed_everything(0)
        entry = build(model, cfg, semi, CPU)
        before = frame_f1(entry, "synthetic")
        Trainer(entry.strategy, entry.train_loader, None, tmp_path / scheme, entry.epochs, CPU, seed=0,
                tensorboard=False).fit()
        after = frame_f1(entry, "synthetic")
    rows = list(csv.DictReader((tmp_path / scheme / "log.csv").open()))
    key = "train_loss_y" if "train_loss_y" in rows[0] else "train_loss"  # the labelled loss
    first, last = float(rows[0][key]), np.mean([float(r[key]) for r in rows[-3:]])
    assert last < 0.7 * first, (scheme, first, last)
    assert after > before + 0.2 and after > 0.5, (scheme, before, after)


@pytest.mark.parametrize("model", ["classifier", "crnn-mt"])
def test_the_cosine_schedule_decays_the_learning_rate_of_every_strategy(semi, tmp_path, model):
    """train.lr_schedule: cosine reaches the trainer; each epoch runs at lr x (1 + cos(pi e / E)) / 2 (a SED
    strategy's warm-up multiplies in, so it is switched off here)."""
    if model == "classifier":
        fe = {"extends": None, "sr": 8000, "n_fft": 256, "hop_length": 64, "n_mels": 32, "compression": "log",
              "norm": "zscore"}
        cfg = model_config("classifier", {"frontend": fe, "net": {"channels": [8, 16]},
                                          "data": {"train_split": "synthetic", "val_split": "validation",
                                                   "batch_size": 4},
                                          "train": {"epochs": 4, "lr": 0.01, "lr_schedule": "cosine"}})
    else:
        cfg = config(model, train={"epochs": 4, "lr": 0.01, "lr_schedule": "cosine", "patience": None},
                     strategy={"rampup_epochs": 0})
    entry = build(model, cfg, semi, CPU)
    assert entry.lr_schedule == "cosine"
    seen = []
    end = entry.strategy.on_epoch_end

    def record(epoch):  # the rate each epoch's steps ran at
        seen.append(next(iter(entry.strategy.opts.values())).param_groups[0]["lr"])
        end(epoch)

    entry.strategy.on_epoch_end = record
    Trainer(entry.strategy, entry.train_loader, None, tmp_path / "run", entry.epochs, CPU, seed=0,
            tensorboard=False, lr_schedule=entry.lr_schedule).fit()
    want = [0.01 * lr_factor("cosine", e, 4) for e in range(4)]
    np.testing.assert_allclose(seen, want, rtol=1e-5)
    assert seen[0] == pytest.approx(0.01) and seen[-1] < 0.2 * seen[0]


def test_a_constant_schedule_leaves_the_learning_rate_alone():
    assert [lr_factor("constant", e, 5) for e in range(5)] == [1.0] * 5
    assert lr_factor("cosine", 0, 5) == 1.0 and 0 < lr_factor("cosine", 4, 5) < 0.1
