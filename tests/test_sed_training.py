"""End to end: every CRNN variant trains on a tiny semi-supervised data dir and reports event F1, segment F1,
PSDS1 and PSDS2 with no post-processing, the median filter and HMM smoothing (through the CLI)."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from click.testing import CliRunner

from sedkit.baselines.api import model_config
from sedkit.baselines.registry import build
from sedkit.baselines.trainer import to_device
from sedkit.cli import root

from helpers import TINY_SED, make_semi

TINY = TINY_SED
VARIANTS = ["crnn-park", "crnn-adv-whole", "crnn-adv-time", "crnn-mt", "crnn-dat", "tri-training",
            "tri-training-adv-time"]


@pytest.fixture(scope="module")
def semi(tmp_path_factory) -> Path:
    return make_semi(tmp_path_factory.mktemp("semi") / "data")


def _train_and_eval(data: Path, run: Path, model: str, cfg_path: Path) -> dict:
    r = CliRunner().invoke(root, ["train", model, "--data", str(data), "--out", str(run), "--config", str(cfg_path),
                                  "--device", "cpu"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    for pp in ("median", "hmm"):
        r = CliRunner().invoke(root, ["eval", str(run), "--data", str(data), "--split", "eval", "--postprocess", pp,
                                      "--device", "cpu"], catch_exceptions=False)
        assert r.exit_code == 0, r.output
    return json.loads((run / "metrics.json").read_text())


def _check(metrics: dict, run: Path, data: Path | None = None):
    for key in ("eval", "eval+median", "eval+hmm"):
        m = metrics[key]
        for name in ("event_f1", "segment_f1", "psds1", "psds2"):
            assert m[name] is None or 0.0 <= m[name] <= 1.0, (key, name, m[name])
        assert m["segment_f1"] is not None  # segment F1 is defined whenever there are reference events
    assert metrics["eval+hmm"]["hmm"]["stay_silence"] > 0
    # the decision threshold was picked on validation and every evaluation scored at it
    decision = json.loads((run / "decision.json").read_text())
    assert decision["picked_on"] == "validation" and decision["threshold"] in decision["candidates"]
    assert decision["event_f1"] == max(decision["candidate_event_f1"])
    for key in ("eval", "eval+median", "eval+hmm"):
        assert metrics[key]["threshold"] == decision["threshold"] and "event_f1_at_0.5" in metrics[key]
    assert json.loads((run / "predictions" / "eval" / "decision.json").read_text())["threshold"] == decision["threshold"]
    if data is not None:  # the bootstrap's clip data scores at the same threshold: its point value is the metric's
        from sedkit.baselines.evaluation.bootstrap import point_value
        from sedkit.baselines.evaluation.clipdata import clip_data

        for kind in ("median", "hmm"):
            cd = clip_data(run / "predictions" / "eval", data, "eval", "event_f1", kind)
            assert point_value(cd) == pytest.approx(metrics[f"eval+{kind}"]["event_f1"] or 0.0, abs=1e-9), kind
    folder = run / "predictions" / "eval"
    for kind in ("none", "median", "hmm"):
        assert (folder / f"{kind}_f1_per_class.png").read_bytes()[:4] == b"\x89PNG"
        assert (folder / f"{kind}_psd_roc.png").exists() and (folder / f"detections_{kind}.tsv").exists()
    assert len(list((folder / "frame_scores").glob("*.tsv"))) == 6
    macro = (folder / "all_macro.tsv").read_text().splitlines()  # the three kinds side by side
    assert [ln.split("\t")[0] for ln in macro[1:]] == ["none", "median", "hmm"]


def test_tri_training_with_adv_time_end_to_end(semi, tmp_path):
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump(TINY))
    run = tmp_path / "run"
    metrics = _train_and_eval(semi, run, "tri-training-adv-time", cfg)
    _check(metrics, run, semi)
    log = (run / "log.csv").read_text().splitlines()
    assert len(log) == 3 and "train_loss_domain" in log[0] and "train_weight_similarity" in log[0]
    # phase 2 ran: pseudo-labels of W and U are in the checkpoint
    ck = torch.load(run / "last.pt", weights_only=True)
    ps = ck["strategy"]["extra"]["pseudo"]
    assert set(ps) == {"weak", "unlabel"} and ps["unlabel"]["frame"].shape[0] == 6
    # another threshold in decision.json: a re-evaluation and the bootstrap's clip data both score at it
    from sedkit.baselines.evaluation.bootstrap import point_value
    from sedkit.baselines.evaluation.clipdata import clip_data

    decision = json.loads((run / "decision.json").read_text())
    (run / "decision.json").write_text(json.dumps({**decision, "threshold": 0.05}))
    r = CliRunner().invoke(root, ["eval", str(run), "--data", str(semi), "--split", "eval", "--postprocess", "median",
                                  "--device", "cpu"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    m = json.loads((run / "metrics.json").read_text())["eval+median"]
    assert m["threshold"] == 0.05 and "event_f1_at_0.5" in m
    for metric in ("event_f1", "segment_f1"):
        cd = clip_data(run / "predictions" / "eval", semi, "eval", metric, "median")
        assert point_value(cd) == pytest.approx(m[metric] or 0.0, abs=1e-9), metric


def test_domain_branch_is_dropped_at_inference(semi):
    cfg = json.loads(json.dumps(TINY))
    cfg["strategy"]["adversarial"] = {"scheme": "two_step", "mode": "whole", "tap": "cnn"}
    cfg["strategy"]["mean_teacher"] = {"enabled": True}
    torch.manual_seed(0)
    entry = build("crnn-dat", model_config("crnn-dat", cfg), semi, torch.device("cpu"))
    st = entry.strategy
    batch = next(iter(entry.train_loader))
    before = {k: [p.detach().clone() for p in m.parameters()] for k, m in st.nets.items()}
    st.train()
    logs = st.train_step(to_device(batch, st.device), 0)
    assert {"loss_y", "loss_consistency", "loss_domain", "loss"} <= set(logs)
    for k in ("student", "domain"):  # two-step: both the CRNN and the discriminator moved
        assert any(not torch.equal(a, b) for a, b in zip(before[k], st.nets[k].parameters())), k
    st.eval()
    ev = next(iter(entry.loader("eval")))
    with torch.no_grad():
        p1 = st.predict(ev)
        for p in st.nets["domain"].parameters():
            p.add_(1.0)
        p2 = st.predict(ev)
    assert torch.equal(p1["frame"], p2["frame"]) and torch.equal(p1["clip"], p2["clip"])


@pytest.mark.slow
@pytest.mark.parametrize("model", VARIANTS)
def test_every_variant_runs_to_the_end(semi, tmp_path, model):
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump(TINY))
    run = tmp_path / model
    _check(_train_and_eval(semi, run, model, cfg), run, semi)


def test_checkpoints_are_selected_at_the_best_decision_threshold(semi, monkeypatch):
    """An oracle that is under-confident (its scores never reach 0.5) scores 0 at 0.5; the selection metric scores
    it where decide() will threshold it, so a checkpoint is chosen by the F1 it will be evaluated at."""
    from sedkit.baselines.data.sed import SEDData
    from sedkit.baselines.evaluation import predictions
    from sedkit.baselines.models import sed
    from sedkit.specs import load_spec
    from sedkit.synth.contract import frame_targets

    spec = load_spec(sed.SEDModelSpec, data=model_config("crnn-mt", json.loads(json.dumps(TINY))))
    data = SEDData(semi, spec.data, spec.frontend, spec.net.time_pool, 0, torch.device("cpu"))
    table = data.dd.table(spec.data.val_split)
    names = sorted(table.events)
    n = int(round(spec.data.clip_seconds / data.hop_out))

    def collect_as(frames):
        return lambda *a, **k: {"filename": names, "frame": frames}

    def oracle(scale: float):
        return collect_as([0.02 + scale * frame_targets(table.events[k], data.classes, n, data.hop_out) for k in names])

    select = sed.event_f1_select(data, spec)
    model = type("Strategy", (), {"device": "cpu"})()
    monkeypatch.setattr(predictions, "collect", oracle(0.28))  # peaks at 0.30: detects nothing at 0.5
    under = select(model, None)
    monkeypatch.setattr(predictions, "collect", oracle(0.9))
    assert under == pytest.approx(select(model, None)) and under > 0.9
    monkeypatch.setattr(predictions, "collect", collect_as([np.full((n, len(data.classes)), 0.02) for _ in names]))
    assert select(model, None) == 0.0  # nothing detected at any threshold
