"""Training modes of the tagging baselines: tiny overfit runs, checkpoints/resume, and `sedkit train`/`eval` runs
to the end on small WAA-like and remix-like data dirs (built here with tests/toydata.py)."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from sedkit.baselines.evaluation import predictions
from sedkit.baselines import registry
from sedkit.baselines.api import model_config
from sedkit.specs import deep_merge
from sedkit.baselines.strategies.tagging import centroid_accuracy, embeddings
from toydata import make_toy_datadir
from sedkit.baselines.trainer import Trainer, load_checkpoint, seed_everything, torch_threads
from sedkit.cli import root

FE_T = {"sr": 8000, "n_fft": 256, "win_length": None, "hop_length": 80, "n_mels": 24, "fmin": 0, "fmax": 4000}
FE_K = {"sr": 8000, "scales": [256, 128, 512], "hop_length": 64, "n_mels": 24}
FE_D = {"sr": 8000, "n_fft": 512, "hop_length": 256, "n_mels": 16}
NET_T = {"channels": [8, 8, 8, 16], "dropout": 0.0}
NET_K = {"channels": [8, 8, 16], "fc_channels": 16, "dropout": 0.0}
# tiny versions of each model: same code paths, small front-ends and networks
TINY = {
    "classifier": {"frontend": FE_T, "net": NET_T, "train": {"lr": 0.01}},
    "triplet": {"frontend": FE_T, "net": NET_T, "train": {"lr": 0.02}, "embedding_train": {"lr": 0.01},
                "triplet": {"batch_size": 4, "semi_hard": True, "margin": 0.5}},
    "proto": {"frontend": FE_T, "net": NET_T, "train": {"lr": 0.02}, "embedding_train": {"lr": 0.01},
              "proto": {"n_support": 1, "n_query": 1}},
    "wler": {"frontend": FE_K, "net": NET_K, "train": {"lr": 0.01, "optimizer": "adam"}},
    "slat": {"frontend": FE_K, "net": NET_K, "train": {"lr": 0.01, "optimizer": "adam"}, "slat_train_hop": 16},
    "gmp": {"frontend": FE_D, "encoder": {"channels": [8, 8]}, "train": {"lr": 0.03}, "data": {"clip_seconds": 1.0},
            "figures": 0},
    "2ap-aux": {"frontend": FE_D, "encoder": {"channels": [8, 8]}, "train": {"lr": 0.03},
                "data": {"clip_seconds": 1.0}, "figures": 1},
}
CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def _one_thread():
    with torch_threads(1):  # tiny models on a busy machine
        yield


def tiny_config(name: str, **data) -> dict:
    cfg = deep_merge(model_config(name, None, {"train.seed": 0}), TINY[name])
    return deep_merge(cfg, {"data": data})


@pytest.fixture(scope="module")
def four_clips(tmp_path_factory):
    """4 clips, 2 classes (a tone through each clip), variable lengths: the overfit set."""
    return make_toy_datadir(tmp_path_factory.mktemp("four") / "d", classes=("a", "b"), per_class={"train": 2},
                            sr=8000, duration_s=(0.8, 1.2), event_s=(2.0, 2.0))


@pytest.fixture(scope="module")
def waa_like(tmp_path_factory):
    """Weak single-event segments with a strong side TSV, splits train/validation/eval."""
    return make_toy_datadir(tmp_path_factory.mktemp("waa") / "d", per_class={"train": 3, "validation": 1,
                                                                             "eval": 1}, sr=8000)


@pytest.fixture(scope="module")
def remix_like(tmp_path_factory):
    """Fixed-length clips holding several events each (weak + strong side TSV)."""
    return make_toy_datadir(tmp_path_factory.mktemp("remix") / "d", classes=("a", "b", "c", "d"),
                            per_class={"train": 2, "validation": 1, "eval": 1}, sr=8000, duration_s=1.0,
                            events_per_clip=2, event_s=(0.2, 0.3))


def overfit(strategy, batches, steps: int) -> list[float]:
    strategy.train()
    losses = []
    for s in range(steps):
        losses.append(strategy.train_step(batches[s % len(batches)], s)["loss"])
    return losses


def predicted_perfectly(entry) -> tuple[bool, np.ndarray]:
    pred = predictions.collect(entry.strategy, entry.loader("train"), CPU)
    y = entry.loader("train").dataset.targets.numpy()[pred["index"]]
    return bool(((pred["clip"] > 0.5) == (y > 0.5)).all()), pred["clip"]


@pytest.mark.parametrize("name,steps", [("classifier", 40), ("wler", 40), ("slat", 40), ("gmp", 60),
                                        ("2ap-aux", 80)])
def test_overfit_bce_modes(four_clips, name, steps):
    """End-to-end BCE (classifier, WLER, GMP), BCE + aux MSE (2AP+aux), SLAT segments: 4 clips learned."""
    seed_everything(0)
    entry = registry.build(name, tiny_config(name, batch_size=4, val_split="train", eval_splits=[]), four_clips,
                           CPU)
    batch = next(iter(entry.train_loader))
    losses = overfit(entry.strategy, [batch], steps)
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:3])
    ok, scores = predicted_perfectly(entry)
    assert ok, scores


@pytest.mark.parametrize("name", ["triplet", "proto"])
def test_overfit_embedding_modes_then_classifier(four_clips, name):
    """Triplet (semi-hard mining) / prototypical episodes, then G on the frozen embedding: 4 clips learned."""
    seed_everything(0)
    entry = registry.build(name, tiny_config(name, batch_size=4, val_split="train", eval_splits=[]), four_clips,
                           CPU)
    stage = entry.pre_stages[0]
    batches = [b for _ in range(4) for b in stage.train_loader]
    losses = overfit(stage.strategy, batches, 60)
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:3])
    te, ty = embeddings(stage.strategy, entry.loader("train"))
    assert centroid_accuracy(te, ty, te, ty) == 1.0
    assert stage.select_metric(stage.strategy, entry.loader("train")) == 1.0
    frozen = [p.clone() for p in entry.strategy.model.embed.parameters()]
    overfit(entry.strategy, [next(iter(entry.train_loader))], 60)
    assert all(torch.equal(a, b) for a, b in zip(frozen, entry.strategy.model.embed.parameters()))
    ok, scores = predicted_perfectly(entry)
    assert ok, scores


def test_checkpoint_round_trip_and_resume(four_clips, tmp_path):
    cfg = tiny_config("classifier", batch_size=2, val_split="train", eval_splits=[])
    seed_everything(0)
    e1 = registry.build("classifier", cfg, four_clips, CPU)
    Trainer(e1.strategy, e1.train_loader, e1.val_loader, tmp_path / "a", 3, select_metric=e1.select_metric,
            tensorboard=False).fit()
    ck = load_checkpoint(tmp_path / "a" / "last.pt")  # weights_only=True inside
    assert ck["epoch"] == 2 and len(ck["history"]) == 3
    # round trip: a fresh strategy loaded from the checkpoint predicts the same scores
    e2 = registry.build("classifier", cfg, four_clips, CPU, training=False)
    e2.strategy.load_state_dict(ck["strategy"])
    p1 = predictions.collect(e1.strategy, e1.loader("train"), CPU)["clip"]
    p2 = predictions.collect(e2.strategy, e2.loader("train"), CPU)["clip"]
    np.testing.assert_allclose(p1, p2, rtol=0, atol=1e-6)
    # resume: 2 epochs + resume to 3 == 3 epochs straight (same seed), byte-for-byte in the weights
    seed_everything(0)
    e3 = registry.build("classifier", cfg, four_clips, CPU)
    Trainer(e3.strategy, e3.train_loader, e3.val_loader, tmp_path / "b", 2, select_metric=e3.select_metric,
            tensorboard=False).fit()
    seed_everything(123)  # a different global state: resume must restore it from the checkpoint
    e4 = registry.build("classifier", cfg, four_clips, CPU)
    Trainer(e4.strategy, e4.train_loader, e4.val_loader, tmp_path / "b", 3, select_metric=e4.select_metric,
            tensorboard=False, resume=True).fit()
    w_straight = e1.strategy.model.state_dict()
    w_resumed = e4.strategy.model.state_dict()
    assert all(torch.equal(w_straight[k], w_resumed[k]) for k in w_straight)
    rows = list(csv.DictReader(open(tmp_path / "b" / "log.csv")))
    assert [r["epoch"] for r in rows] == ["0", "1", "2"]


def _sets(name: str) -> list[str]:
    out = []

    def walk(prefix, d):
        for k, v in d.items():
            if isinstance(v, dict):
                walk(f"{prefix}{k}.", v)
            else:
                out.extend(["--set", f"{prefix}{k}={json.dumps(v)}"])

    walk("", TINY[name])
    return out


@pytest.mark.parametrize("name,data", [("classifier", "waa"), ("triplet", "waa"), ("proto", "waa"),
                                       ("wler", "waa"), ("slat", "waa"), ("gmp", "remix"), ("2ap-aux", "remix")])
def test_sedkit_train_runs_to_the_end(name, data, waa_like, remix_like, tmp_path):
    data_dir = waa_like if data == "waa" else remix_like
    run = tmp_path / "run"
    args = ["train", name, "--data", str(data_dir), "--out", str(run), "--epochs", "1", "--device", "cpu",
            "--set", "data.batch_size=6", "--set", "embedding_train.epochs=1" if name in ("triplet", "proto")
            else "train.patience=null", *_sets(name)]
    res = CliRunner().invoke(root, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics) == {"validation", "eval"}
    for split in ("validation", "eval"):
        names, scores, classes = predictions.read_clip_scores(run / "predictions" / split / "clip_scores.tsv")
        assert classes == json.loads((run / "run.json").read_text())["classes"]
        assert scores.shape == (len(names), len(classes)) and np.all((scores >= 0) & (scores <= 1))
        assert {"f1_macro", "map", "micro_p", "macro_p", "auc"} <= set(metrics[split])
    assert (run / "best.pt").exists() and (run / "log.csv").exists() and (run / "tensorboard").is_dir()
    if name in ("triplet", "proto"):
        assert (run / "embedding" / "best.pt").exists() and (run / "embedding" / "done.json").exists()
    if name in ("wler", "slat"):
        assert any((run / "predictions" / "eval" / "frame_scores").iterdir())
    if name == "2ap-aux":
        assert len(list((run / "figures" / "eval").glob("*.png"))) == 1
    # sedkit eval re-scores a split from the checkpoint
    res = CliRunner().invoke(root, ["eval", str(run), "--data", str(data_dir), "--split", "eval", "--device", "cpu"],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    again = json.loads((run / "metrics.json").read_text())["eval"]
    assert again["map"] == pytest.approx(metrics["eval"]["map"], abs=1e-9)
    # ... and a score folder alone gives the same tagging metrics (scores are written with 6 decimals)
    scores = run / "predictions" / "eval"
    res = CliRunner().invoke(root, ["eval", str(scores), "--data", str(data_dir), "--split", "eval"],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert json.loads((scores / "tagging_metrics.json").read_text())["map"] == pytest.approx(again["map"], abs=1e-4)


def test_train_errors_are_one_line(waa_like, tmp_path):
    r = CliRunner()
    res = r.invoke(root, ["train", "nosuch", "--data", str(waa_like), "--out", str(tmp_path / "x")])
    assert res.exit_code == 2 and "unknown model 'nosuch'" in res.output and "Traceback" not in res.output
    res = r.invoke(root, ["train", "classifier", "--data", str(waa_like), "--out", str(tmp_path / "x"),
                          "--set", "net.bogus=1"])
    assert res.exit_code == 2 and "net.bogus: unknown key" in res.output
    res = r.invoke(root, ["train", "classifier", "--data", str(tmp_path), "--out", str(tmp_path / "x")])
    assert res.exit_code == 2 and "not a data dir" in res.output
    res = r.invoke(root, ["eval", str(tmp_path), "--data", str(waa_like)])
    assert res.exit_code == 2 and "not a run folder" in res.output and "nor a score folder" in res.output
