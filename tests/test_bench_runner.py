"""The benchmark runner on a tiny suite: report files, cache reuse, resume after a kill, executors agree."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from toydata import make_toy_datadir
from sedkit.benchmarks import runner
from sedkit.benchmarks.cache import Cache
from sedkit.cli import root

TINY_MODEL = {"model": "classifier",
              "config": {"net": {"channels": [4, 8]}, "train": {"epochs": 2, "patience": None},
                         "data": {"batch_size": 4}}}


def tiny_suite(folder: Path, seeds: int = 2) -> Path:
    """Two toy data dirs (short and long clips), one tiny classifier, a 2 x 2 train/test grid and a bar table."""
    per = {"train": 2, "validation": 1, "eval": 1}
    a = make_toy_datadir(folder / "short", per_class=per, sr=8000, duration_s=0.5, seed=0)
    b = make_toy_datadir(folder / "long", per_class=per, sr=8000, duration_s=1.0, seed=1)
    spec = {
        "title": "Tiny suite", "paper": "Nobody et al. 2099", "seeds": seeds,
        "datasets": {"a": {"path": str(a)}, "b": {"path": str(b)}},
        "models": {"clf": TINY_MODEL, "later": {**TINY_MODEL, "unavailable": "needs a feature not built yet"}},
        "tables": [
            {"id": "grid", "title": "Table 1: F (%)", "source": "Nobody et al., Table 1", "percent": True,
             "row_header": ["Method", "Train"], "plot": "heatmap", "defaults": {"metric": "f1_macro", "model": "clf"},
             "rows": [{"id": "a", "label": ["Classifier", "short"], "train": "a", "paper": ["50.0±1.0", 40]},
                      {"id": "b", "label": ["Classifier", "long"], "train": "b", "paper": [30, 45]}],
             "columns": [{"id": "a", "label": "short", "test": "a"}, {"id": "b", "label": "long", "test": "b"}]},
            {"id": "ap", "title": "Table 2: mAP", "source": "Nobody et al., Table 2", "plot": "bars",
             "defaults": {"metric": "map", "model": "clf", "train": "a"},
             "rows": [{"id": "map", "label": "MAP", "paper": [0.5]},
                      {"id": "ap-a", "label": "a", "metric": "per_class.a.ap"},
                      {"id": "later", "label": "later", "model": "later"}],
             "columns": [{"id": "clf", "label": "classifier"}]},
        ],
        "findings": [{"claim": "same length is best", "better": ["a:a"], "worse": ["b:a"]}],
    }
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def values(out: Path) -> dict:
    cells = json.loads((out / "results.json").read_text())["cells"]
    return {(c["table"], c["row"], c["column"]): c["values"] for c in cells}


def pending_models(suite: Path, out: Path) -> int:
    from sedkit.benchmarks.suites import load_suite

    name, spec = load_suite(suite)
    cache = Cache(out / "cache")
    ds = {n: runner.resolve_dataset(n, e, "small", cache, None) for n, e in spec.datasets.items()}
    plan = runner.plan_suite(name, spec, "small", list(range(spec.seeds)), cache, "auto", 1, ds)
    return sum(runner.pending(j) for j in plan.jobs.values() if not j["error"])


def last_run(out: Path) -> dict:
    return json.loads((out / "suites" / "tiny" / "timing.json").read_text())["runs"][-1]


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("bench")
    suite = tiny_suite(d)
    out = d / "out"
    runner.run([str(suite)], out, workers=1, threads=1, echo=lambda s: None)
    return suite, out


def test_run_writes_report_tables_findings_and_figures(local_run):
    suite, out = local_run
    for f in ("results.csv", "results.json", "report.md", "figures/tiny-grid.png", "figures/tiny-ap.png",
              "figures/tiny-validation.png"):
        assert (out / f).is_file(), f
    res = json.loads((out / "results.json").read_text())
    cells = [c for c in res["cells"] if c["row"] != "later"]
    assert len(cells) == 6 and all(c["status"] == "ok" and c["n_seeds"] == 2 for c in cells)
    later = [c for c in res["cells"] if c["row"] == "later"]
    assert later[0]["status"] == "unavailable" and "needs a feature not built yet" in later[0]["error"]
    assert all(c["device"] == "cpu" and c["git_commit"] and c["wall_s"] > 0 for c in cells)
    grid = {(c["row"], c["column"]): c for c in cells if c["table"] == "grid"}
    assert grid[("a", "a")]["paper"] == "50.0±1.0" and grid[("a", "a")]["paper_value"] == 50.0
    assert 0 <= grid[("a", "a")]["mean"] <= 100  # percent table: x100
    # each seed's source names the dataset its clips belong to (the bootstrap pairs cells on one dataset's clips)
    clips = {col: {s["clips"] for s in grid[("a", col)]["sources"]} for col in ("a", "b")}
    assert all(len(c) == 1 for c in clips.values()) and clips["a"] != clips["b"]
    report = (out / "report.md").read_text()
    assert "| Method | Train | short | long |" in report and "(50.0±1.0)" in report
    assert "same length is best" in report
    assert any(f"**{v}**" in report for v in ("holds", "reversed", "inconclusive", "degenerate"))
    finding = res["findings"][0]
    assert finding["verdict"] in ("holds", "reversed", "inconclusive", "degenerate")
    lo, hi = finding["ci"]
    assert lo <= finding["effect"] <= hi and 0 < finding["p"] <= 1 and finding["p_holm"] >= finding["p"]
    assert finding["n_seeds"] == 2 and finding["companion"]["metric"] == "map"  # F-measure gets mAP beside it
    assert all(c["ci_low"] <= c["mean"] + 1e-9 and c["mean"] <= c["ci_high"] + 1e-9 for c in cells
               if c["mean"] is not None and c["ci_low"] is not None) and any(c["ci_low"] is not None for c in cells)
    assert "Threshold-free companion (map" in report and "Findings:" in report
    assert "Wall time:" in report and res["meta"]["suites"]["tiny"]["wall_s"] > 0
    assert "### Validation curves (" in report and "![Validation curves](figures/tiny-validation.png)" in report
    header = (out / "results.csv").read_text().splitlines()[0].split(",")
    for col in ("mean", "std", "n_seeds", "wall_s", "device", "git_commit"):
        assert col in header


def test_rerun_reuses_cache_and_report_rerenders(local_run):
    suite, out = local_run
    before = values(out)
    runner.run([str(suite)], out, workers=1, threads=1, echo=lambda s: None)
    assert last_run(out)["jobs_run"] == 0 and last_run(out)["jobs_cached"] == 4 and last_run(out)["jobs_blocked"] == 0
    assert values(out) == before
    (out / "report.md").unlink()
    r = CliRunner().invoke(root, ["bench", "report", str(out)])
    assert r.exit_code == 0, r.output
    assert (out / "report.md").is_file()


def test_killed_run_resumes_only_unfinished_models(tmp_path):
    suite = tiny_suite(tmp_path, seeds=2)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "sedkit.cli", "bench", "run", str(suite), "--out", str(out), "--workers", "1",
           "--threads", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    runs = out / "cache" / "runs"
    try:
        deadline = time.time() + 240
        while time.time() < deadline and not list(runs.glob("*.done.json")):
            if proc.poll() is not None:
                pytest.fail("the benchmark finished before it could be killed")
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    finished = {p.name[:-len(".done.json")] for p in runs.glob("*.done.json")}
    assert 1 <= len(finished) < 4
    stamps = {name: (runs / name / "best.pt").stat().st_mtime_ns for name in finished}
    todo = pending_models(suite, out)
    assert todo <= 4 - len(finished) + 1  # a trained model may still miss an evaluation
    runner.run([str(suite)], out, workers=1, threads=1, echo=lambda s: None)
    assert last_run(out)["jobs_run"] == todo and last_run(out)["jobs_cached"] == 4 - todo
    assert {name: (runs / name / "best.pt").stat().st_mtime_ns for name in finished} == stamps  # not retrained
    assert len(list(runs.glob("*.done.json"))) == 4
    cells = json.loads((out / "results.json").read_text())["cells"]
    assert all(c["status"] == "ok" and c["n_seeds"] == 2 for c in cells if c["row"] != "later")


def test_ray_executor_gives_the_same_results(local_run, tmp_path):
    pytest.importorskip("ray", reason="Ray is an optional extra (pip install -e '.[ray]' in the sedkit checkout)")
    suite, out = local_run
    out_ray = tmp_path / "ray"
    runner.run([str(suite)], out_ray, executor="ray", threads=1, echo=lambda s: None)
    assert last_run(out_ray)["executor"] == "ray" and last_run(out_ray)["jobs_run"] == 4
    assert values(out_ray) == values(out)


def test_cache_entries_are_content_addressed(tmp_path):
    c = Cache(tmp_path / "cache")
    a = c.entry("runs", "clf-s0", {"model": "classifier", "seed": 0})
    assert a == c.entry("runs", "clf-s0", {"seed": 0, "model": "classifier"})  # key order does not matter
    assert a != c.entry("runs", "clf-s0", {"model": "classifier", "seed": 1})
    assert not Cache.is_done(a)
    Cache.finish(a, {"train_s": 1.0})
    assert Cache.is_done(a) and Cache.read_done(a)["train_s"] == 1.0


def test_bench_exits_nonzero_with_a_summary_when_cells_fail(tmp_path):
    """A suite whose data cannot train: every cell fails, the run says how many and why, and exits 1."""
    suite = tiny_suite(tmp_path, seeds=1)
    spec = yaml.safe_load(suite.read_text())
    broken = make_toy_datadir(tmp_path / "broken", per_class={"train": 1, "validation": 1, "eval": 1}, sr=8000)
    for wav in (broken / "audio").rglob("*.wav"):
        wav.write_bytes(b"not audio")
    spec["datasets"] = {"a": {"path": str(broken)}, "b": {"path": str(broken)}}
    suite.write_text(yaml.safe_dump(spec, sort_keys=False))
    r = CliRunner().invoke(root, ["bench", "run", str(suite), "--out", str(tmp_path / "out"), "--workers", "1",
                                  "--threads", "1"])
    assert r.exit_code == 1, r.output
    assert "cells failed or are incomplete" in r.stderr and "of 7 cells" in r.stderr
    assert (tmp_path / "out" / "report.md").is_file()  # the report still says which cells and why


def test_builtin_suite_names_win_over_local_folders_and_data_names_are_checked(tmp_path, monkeypatch):
    from sedkit import SedkitError
    from sedkit.benchmarks.suites import load_suite

    monkeypatch.chdir(tmp_path)
    (tmp_path / "waa").mkdir()  # what the README tour leaves behind
    (tmp_path / "mine").mkdir()
    name, spec = load_suite("waa")
    assert name == "waa" and "Turpault" in spec.paper  # the built-in suite, not the folder
    with pytest.raises(SedkitError, match="unknown suite 'mine'"):
        load_suite("mine")  # a folder is not a suite
    r = CliRunner().invoke(root, ["bench", "run", "waa", "--data", "nosuch=.", "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "no suite being run has a dataset named 'nosuch'" in r.stderr
    assert not (tmp_path / "o").exists()


def test_cache_never_serves_results_of_other_code(tmp_path, monkeypatch):
    """Change one model family's source fingerprint: only that model's cells are computed again; --reuse-stale
    keeps them and the report marks them."""
    from sedkit.synth import fingerprint

    per = {"train": 2, "validation": 1, "eval": 1}
    data = make_toy_datadir(tmp_path / "d", per_class=per, sr=8000, duration_s=1.0)
    gmp = {"model": "gmp", "config": {"frontend": {"sr": 8000, "n_fft": 512, "hop_length": 256, "n_mels": 16},
                                      "encoder": {"channels": [4, 4]}, "figures": 0,
                                      "train": {"epochs": 1, "patience": None},
                                      "data": {"clip_seconds": 1.0, "batch_size": 4}}}
    spec = {"title": "Two families", "paper": "Nobody 2099", "seeds": 1, "datasets": {"d": {"path": str(data)}},
            "models": {"clf": {**TINY_MODEL, "config": {**TINY_MODEL["config"], "train": {"epochs": 1,
                                                                                            "patience": None}}},
                       "gmp": gmp},
            "tables": [{"id": "t", "title": "T", "source": "S", "defaults": {"metric": "map", "train": "d"},
                        "rows": [{"id": "clf", "label": "clf", "model": "clf"},
                                 {"id": "gmp", "label": "gmp", "model": "gmp"}],
                        "columns": [{"id": "map", "label": "mAP"}]}]}
    suite = tmp_path / "two.yaml"
    suite.write_text(yaml.safe_dump(spec, sort_keys=False))
    out = tmp_path / "out"

    def jobs():
        return json.loads((out / "suites" / "two" / "timing.json").read_text())["runs"][-1]

    runner.run([str(suite)], out, workers=1, threads=1, echo=lambda s: None)
    assert (jobs()["jobs_run"], jobs()["jobs_cached"]) == (2, 0)
    real = fingerprint.source_bytes
    monkeypatch.setattr(fingerprint, "source_bytes",
                        lambda p: real(p) + (b"# changed" if p.name == "attention.py" else b""))
    fingerprint.clear()
    try:
        runner.run([str(suite)], out, workers=1, threads=1, echo=lambda s: None, reuse_stale=True)
        assert (jobs()["jobs_run"], jobs()["jobs_cached"]) == (0, 2)  # kept ...
        cells = {c["row"]: c for c in json.loads((out / "results.json").read_text())["cells"]}
        assert cells["gmp"]["stale"] and not cells["clf"]["stale"]  # ... and marked
        assert "†" in (out / "report.md").read_text() and "made by other code" in (out / "report.md").read_text()
        runner.run([str(suite)], out, workers=1, threads=1, echo=lambda s: None)
        assert (jobs()["jobs_run"], jobs()["jobs_cached"]) == (1, 1)  # only gmp (attention.py) is trained again
        cells = {c["row"]: c for c in json.loads((out / "results.json").read_text())["cells"]}
        assert not cells["gmp"]["stale"] and cells["gmp"]["status"] == "ok"
    finally:
        monkeypatch.undo()
        fingerprint.clear()


def test_bench_on_a_bank_that_cannot_make_its_datasets_exits_nonzero(tiny_bank, tmp_path):
    import pandas as pd

    idx = pd.read_csv(tiny_bank / "sedkit_index.csv", dtype=str)
    idx[idx.role == "foreground"].to_csv(tiny_bank / "sedkit_index.csv", index=False)  # no backgrounds at all
    r = CliRunner().invoke(root, ["bench", "run", "waa", "--soundbank", str(tiny_bank), "--seeds", "1",
                                  "--out", str(tmp_path / "out"), "--workers", "1"])
    assert r.exit_code == 1, r.output
    assert "cells failed or are incomplete" in r.stderr and "generating dataset" in r.stderr


def test_class_rows_come_from_the_data_and_the_report_names_the_bank(tmp_path):
    per = {"train": 2, "validation": 1, "eval": 1}
    data = make_toy_datadir(tmp_path / "d", classes=("kettle", "bird", "drill"), per_class=per, sr=8000)
    spec = {"title": "Per class", "paper": "Nobody 2099", "seeds": 1, "description": "Made from {bank}.",
            "datasets": {"d": {"path": str(data)}},
            "models": {"a": TINY_MODEL, "b": {**TINY_MODEL, "config": {**TINY_MODEL["config"], "net": {"channels": [4]}}}},
            "tables": [{"id": "ap", "title": "AP", "source": "S", "defaults": {"train": "d", "metric": "map"},
                        "class_rows": {"metric": "per_class.{class}.ap"},
                        "rows": [{"id": "map", "label": "MAP"}],
                        "columns": [{"id": "a", "label": "A", "model": "a"}, {"id": "b", "label": "B", "model": "b"}]}],
            "findings": [{"claim": "A beats B on every class", "mode": "pairwise", "better": ["{class}:a"],
                          "worse": ["{class}:b"]}]}
    suite = tmp_path / "pc.yaml"
    suite.write_text(yaml.safe_dump(spec, sort_keys=False))
    out = tmp_path / "out"
    runner.run([str(suite)], out, workers=1, threads=1, echo=lambda s: None)
    res = json.loads((out / "results.json").read_text())
    rows = {c["row"] for c in res["cells"]}
    assert rows == {"kettle", "bird", "drill", "map"}
    assert all(c["status"] == "ok" for c in res["cells"])
    report = (out / "report.md").read_text()
    assert "| kettle |" in report and "Alarm_bell_ringing" not in report
    assert res["findings"][0]["n_clips"] >= 3 and "Soundbank:" in report and "{bank}" not in report
