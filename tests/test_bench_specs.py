"""Suite specs (built-in and user), findings logic, paper figures, CLI errors and the perf command's helpers."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from sedkit import SedkitError
from sedkit.benchmarks.commands import ratio_of, throughput_scripts
from sedkit.benchmarks.runner import paper_number
from sedkit.benchmarks.suites import load_suite, suite_names
from sedkit.baselines.registry import MODELS
from sedkit.cli import root

BASE = {
    "title": "t", "paper": "p", "seeds": 3,
    "datasets": {"d": {"path": "/nowhere"}},
    "models": {"m": {"model": "classifier"}},
    "tables": [{"id": "t1", "title": "T", "source": "S", "defaults": {"model": "m", "train": "d", "metric": "f1_macro"},
                "rows": [{"id": "r1", "label": "R1", "paper": [1.0, "2.0±0.1"]}, {"id": "r2", "label": "R2"}],
                "columns": [{"id": "c1", "label": "C1"}, {"id": "c2", "label": "C2"}]}],
    "findings": [{"claim": "r1 beats r2", "better": ["r1:c1"], "worse": ["r2:c1"]}],
}


def write(tmp_path, spec: dict):
    p = tmp_path / "s.yaml"
    p.write_text(yaml.safe_dump(spec))
    return p


@pytest.mark.parametrize("name", suite_names())
def test_builtin_suites_validate_and_cite_the_paper(name):
    assert set(suite_names()) >= {"waa", "wler", "semi", "dcase20", "remix"}
    _, spec = load_suite(name)
    assert spec.seeds >= 3 and spec.findings
    for ref in spec.models.values():
        assert ref.model in MODELS
    for t in spec.tables:
        assert t.source and "Table" in t.source
        figures = [paper_number(v) for r in t.rows for v in r.paper]
        assert any(v is not None for v in figures), f"{name}/{t.id} carries no paper figure"
    made = spec.with_classes(lambda ref: ["Class_A", "class b"])  # class rows as a bank with other names makes them
    for f in made.findings:  # every finding resolves its cells
        for ref in f.better + f.worse:
            made.cell(ref, f.table)
    if any(t.class_rows for t in spec.tables):
        assert {"class-a", "class-b"} <= {r.id for t in made.tables for r in t.rows}


def test_user_suite_errors_name_the_problem(tmp_path):
    bad = copy.deepcopy(BASE)
    bad["tables"][0]["rows"][0]["model"] = "nope"
    with pytest.raises(SedkitError, match="model 'nope' is not in models"):
        load_suite(write(tmp_path, bad))
    bad = copy.deepcopy(BASE)
    bad["tables"][0]["rows"][0]["paper"] = [1.0]
    with pytest.raises(SedkitError, match="1 paper figures for 2 columns"):
        load_suite(write(tmp_path, bad))
    bad = copy.deepcopy(BASE)
    bad["findings"][0]["worse"] = ["r3:c1"]
    with pytest.raises(SedkitError, match="cell 'r3:c1'"):
        load_suite(write(tmp_path, bad))
    bad = copy.deepcopy(BASE)
    bad["tables"][0]["defaults"]["train"] = "other/sub"
    with pytest.raises(SedkitError, match="train dataset 'other' is not in datasets"):
        load_suite(write(tmp_path, bad))
    bad = copy.deepcopy(BASE)
    bad["datasets"]["d"] = {"path": "/x", "generator": "waa"}
    with pytest.raises(SedkitError, match="exactly one of generator or path"):
        load_suite(write(tmp_path, bad))
    with pytest.raises(SedkitError, match="unknown suite 'nosuch'"):
        load_suite("nosuch")


def _stats(center, spread=0.01, seeds=(None,), n=200, R=1000, seed=0):
    from sedkit.benchmarks.verdicts import CellStats

    rng = np.random.default_rng(seed)
    vals = center + rng.normal(0, spread, R)
    sv = [center if s is None else s for s in seeds]
    return CellStats(float(np.mean(sv)), vals, (float(np.quantile(vals, .025)), float(np.quantile(vals, .975))), n,
                     len(sv), sv)


def test_finding_verdicts_modes_and_extrapolation():
    from sedkit.benchmarks.verdicts import finding_stats

    b, w = ("t", "b", "c"), ("t", "w", "c")
    res = finding_stats([b], [w], "all", {b: _stats(0.6), w: _stats(0.5, seed=1)}, 1.0, 0.5)
    assert res["verdict"] == "holds" and res["effect"] == pytest.approx(0.1) and res["ci"][0] > 0 and res["p"] < 0.01
    res = finding_stats([b], [w], "all", {b: _stats(0.4), w: _stats(0.5, seed=1)}, 1.0, 0.5)
    assert res["verdict"] == "reversed" and res["ci"][1] < 0
    res = finding_stats([b], [w], "all", {b: _stats(0.51, 0.05), w: _stats(0.5, 0.05, seed=1)}, 1.0, 0.02)
    assert res["verdict"] == "inconclusive" and res["ci"][0] < 0 < res["ci"][1]
    assert res["mde"] == pytest.approx(2.8 * res["se"], rel=0.01)  # (1.96 + 0.84) standard errors
    assert res["needed"]["clips"] > 200 and res["needed"]["seeds"] >= 1  # the paper's 0.02 needs a bigger run
    res = finding_stats([b], [w], "all", {b: _stats(0.51, 0.05), w: _stats(0.5, 0.05, seed=1)}, 1.0, 0.5)
    assert "needed" not in res and res["paper_margin_detectable"]  # 0.5 was within reach: not reproduced
    zero = {b: _stats(0.0, 0.0, seeds=(0.0, 0.0)), w: _stats(0.0, 0.0, seeds=(0.0, 0.0), seed=1)}
    assert finding_stats([b], [w], "all", zero, 1.0, None)["verdict"] == "degenerate"  # F1 = 0 on both sides
    top = {b: _stats(100.0, 0.0, seeds=(100.0,)), w: _stats(100.0, 0.0, seeds=(100.0,), seed=1)}
    assert finding_stats([b], [w], "all", top, 100.0, None)["verdict"] == "degenerate"
    assert finding_stats([b], [w], "all", {b: _stats(0.6)}, 1.0, None)["verdict"] == "unknown"
    # several cells: the statistic is the mode's margin on every resample
    b2, w2 = ("t", "b", "c2"), ("t", "w", "c2")
    cells = {b: _stats(0.6, 0.0), b2: _stats(0.2, 0.0), w: _stats(0.1, 0.0), w2: _stats(0.3, 0.0)}
    assert finding_stats([b, b2], [w, w2], "pairwise", cells, 1.0, None)["effect"] == pytest.approx(-0.1)
    assert finding_stats([b, b2], [w, w2], "mean", cells, 1.0, None)["effect"] == pytest.approx(0.2)
    assert finding_stats([b, b2], [w, w2], "all", cells, 1.0, None)["effect"] == pytest.approx(-0.1)


def test_paper_numbers_parse():
    assert paper_number("45.8±2.9") == 45.8 and paper_number("30.65%") == 30.65 and paper_number(0.61) == 0.61
    assert paper_number(None) is None and paper_number("n/a") is None


def test_cli_errors_are_one_line(tmp_path):
    r = CliRunner().invoke(root, ["bench", "run", "nosuch", "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "unknown suite 'nosuch'" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(root, ["bench", "run", "waa", "--data", "oops", "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "expected NAME=DIR" in r.output
    r = CliRunner().invoke(root, ["bench", "report", str(tmp_path)])
    assert r.exit_code == 2 and "no benchmark results" in r.output
    r = CliRunner().invoke(root, ["bench", "perf", "nosuch"])
    assert r.exit_code == 2 and "unknown throughput benchmark" in r.output
    for cmd in ("run", "report", "perf"):
        r = CliRunner().invoke(root, ["bench", cmd, "--help"])
        assert r.exit_code == 0 and "Example: sedkit bench" in r.output


def test_perf_finds_scripts_and_reads_ratios():
    names = throughput_scripts()
    assert "synth_throughput" in names and "runner" not in names
    assert ratio_of(2.5, "") == 2.5
    assert ratio_of({"ratio": 3.0}, "") == 3.0
    assert ratio_of(None, "a: 1\nratio sedkit / plain: 4.20x\n") == pytest.approx(4.2)
    assert ratio_of(None, "nothing") is None


def test_synth_throughput_times_three_contenders_per_size(tiny_bank, capsys):
    from sedkit.benchmarks.synth_throughput import main

    res = main(["--clips", "3", "6", "--repeats", "1", "--workers", "2", "--soundbank", str(tiny_bank)])
    out = capsys.readouterr().out
    assert out.count("I/O floor (2 workers") == 2 and out.count("ratio sedkit / plain") == 2
    assert res["clips"] == 6 and res["ratio"] > 0 and res["floor_ratio"] > 0
    assert ratio_of(res, out) == res["ratio"]


@pytest.mark.parametrize("name", suite_names())
def test_builtin_suite_configs_validate_at_every_scale(name):
    """Each suite model's merged config passes its model's own spec, and each dataset's its generator's, at every
    scale (catches drift in specs/models/ and a medium block that names a key the generator does not have)."""
    import importlib

    from sedkit.benchmarks.suites import SCALES, scale_overrides
    from sedkit.specs import builtin_spec_path, deep_merge, load_spec, read_yaml
    from sedkit.synth.registry import GENERATORS

    _, suite = load_suite(name)
    assert set(suite.scales) == {"small", "medium"}, "every suite says what its CPU scales are"
    for scale in SCALES:
        for ref in suite.models.values():
            for train in [None, *ref.per_train]:
                cfg = deep_merge(read_yaml(builtin_spec_path(f"models/{ref.model}")), ref.overrides(scale, train))
                load_spec(importlib.import_module(MODELS[ref.model].split(":")[0]).SPEC, data=cfg)
        for entry in suite.datasets.values():
            gen = GENERATORS[entry.generator]
            load_spec(gen.spec_model(), data=deep_merge(gen.fixed, entry.spec, scale_overrides(entry, scale)))


def test_medium_block_merges_over_the_small_one():
    from sedkit.benchmarks.suites import scale_overrides
    from sedkit.benchmarks.suites.spec import ModelRef

    ref = ModelRef(model="crnn", small={"train": {"epochs": 3, "lr": 0.1}, "data": {"batch_size": 4}},
                   medium={"train": {"epochs": 9}}, paper={"train": {"epochs": 200}})
    assert scale_overrides(ref, "small") == {"train": {"epochs": 3, "lr": 0.1}, "data": {"batch_size": 4}}
    assert scale_overrides(ref, "medium") == {"train": {"epochs": 9, "lr": 0.1}, "data": {"batch_size": 4}}
    assert scale_overrides(ref, "paper") == {"train": {"epochs": 200}}
    with pytest.raises(SedkitError, match="unknown"):
        scale_overrides(ref, "huge")


def test_per_train_blocks_merge_over_the_models_and_must_name_a_training_set(tmp_path):
    """A model's per_train blocks change only the models trained on that set, at their scale (and the medium one
    over the small one); a per_train set that no cell of the model trains on is a one-line error."""
    from sedkit.benchmarks.cache import Cache
    from sedkit.benchmarks.runner import plan_suite, resolve_dataset
    from sedkit.benchmarks.suites.spec import ModelRef

    ref = ModelRef(model="gap", config={"aux_alpha": 0.5}, small={"train": {"epochs": 4, "lr": 0.1}},
                   medium={"train": {"epochs": 24}},
                   per_train={"remix/snr_0": {"small": {"train": {"lr": 0.2}}, "medium": {"train": {"epochs": 48}}}})
    assert ref.overrides("medium") == {"aux_alpha": 0.5, "train": {"epochs": 24, "lr": 0.1}}
    assert ref.overrides("medium", "remix/snr_10") == ref.overrides("medium")
    assert ref.overrides("medium", "remix/snr_0") == {"aux_alpha": 0.5, "train": {"epochs": 48, "lr": 0.2}}
    assert ref.overrides("small", "remix/snr_0") == {"aux_alpha": 0.5, "train": {"epochs": 4, "lr": 0.2}}
    assert ref.overrides("paper", "remix/snr_0") == {"aux_alpha": 0.5}

    _, suite = load_suite("remix")
    data = suite.model_dump()
    data["models"]["gap"]["per_train"] = {"remix/snr_0": {"medium": {"train": {"epochs": 7}}}}
    spec = type(suite).model_validate(data)
    cache = Cache(tmp_path)
    ds = {"remix": resolve_dataset("remix", spec.datasets["remix"], "small", cache, None)}  # keys only, no audio
    plan = plan_suite("remix", spec, "medium", [0], cache, "cpu", 1, ds)
    epochs = {(j["model"], j["data"].rsplit("/", 1)[-1]): j["overrides"]["train"]["epochs"] for j in plan.jobs.values()}
    assert epochs[("gap", "snr_0")] == 7
    assert epochs[("gap", "snr_10")] == suite.models["gap"].overrides("medium")["train"]["epochs"] != 7
    assert epochs[("gmp", "snr_0")] == suite.models["gmp"].overrides("medium", "remix/snr_0")["train"]["epochs"] != 7
    data["models"]["gap"]["per_train"] = {"remix/snr_5": {"medium": {}}}
    with pytest.raises(ValueError, match="per_train 'remix/snr_5' is not a training set of its cells"):
        type(suite).model_validate(data)


def test_print_comparison_prints_rates_and_the_ratio_perf_reads(capsys):
    from sedkit.benchmarks.compare import print_comparison

    r = print_comparison("clips", ("plain loop", 10, 5.0), ("sedkit", 10, 2.0), indent="  ")
    out = capsys.readouterr().out
    assert r == pytest.approx(2.5)
    assert "plain loop :    2.00 clips/s (5.0 s)" in out and "sedkit     :    5.00 clips/s (2.0 s)" in out
    assert ratio_of(None, out) == pytest.approx(2.5)
    print_comparison("models", ("loop", 3, 60.0), ("bench", 3, 30.0), names=("sedkit", "loop"), per_minute=True)
    out = capsys.readouterr().out
    assert "3.00 models/min (60.0 s)" in out and "ratio sedkit / loop: 2.00x" in out


def test_a_finding_line_gives_the_suites_reason_and_caveat_for_the_run_scale():
    from sedkit.benchmarks.report import finding_line

    res = {"verdict": "reversed", "claim": "A beats B", "effect": -0.2, "ci": (-0.3, -0.1), "p": 0.002,
           "p_holm": 0.01, "paper_margin": 0.1, "n_seeds": 3, "n_clips": 150}
    because = {"medium": "B was trained longer"}
    line = finding_line(res, 3, "medium", because, {"medium": "A did not learn"})
    assert "why: (found on the built-in bank) B was trained longer" in line
    assert "caveat: (found on the built-in bank) A did not learn" in line
    small = finding_line(res, 3, "small", because, {"medium": "A did not learn"})
    assert "B was trained longer" not in small and "caveat" not in small and "small scale" in small
    holds = finding_line({**res, "verdict": "holds", "effect": 0.2, "ci": (0.1, 0.3)}, 3, "medium", because,
                         {"medium": "A did not learn"})
    assert "why:" not in holds and "A did not learn" in holds
    same = finding_line(res, 3, "medium", because, because)  # one text, printed once
    assert same.count("B was trained longer") == 1


def test_models_that_ask_for_more_seeds_get_them_unless_the_run_sets_seeds(tmp_path):
    """``seeds: {medium: N}`` (on a model or one of its per_train sets) adds seeds to that model's jobs at that
    scale, after the suite's; ``--seeds`` (model_seeds=False) trains every model with exactly the run's seeds."""
    from sedkit.benchmarks.cache import Cache
    from sedkit.benchmarks.report import seeds_text
    from sedkit.benchmarks.runner import plan_suite, resolve_dataset
    from sedkit.benchmarks.suites.spec import ModelRef

    ref = ModelRef(model="gap", seeds={"medium": 5}, per_train={"remix/snr_0": {"seeds": {"medium": 8}}})
    assert ref.n_seeds("medium", "remix/snr_10", 3) == 5 and ref.n_seeds("medium", "remix/snr_0", 3) == 8
    assert ref.n_seeds("small", "remix/snr_0", 3) == 3 and ref.n_seeds("medium", "remix/snr_10", 6) == 6
    with pytest.raises(ValueError):
        ModelRef(model="gap", seeds={"medium": 0})

    _, suite = load_suite("remix")
    data = suite.model_dump()
    data["models"]["gap"]["seeds"] = {"medium": 4}
    data["models"]["gap"]["per_train"] = {"remix/snr_0": {"seeds": {"medium": 5}}}
    spec = type(suite).model_validate(data)
    cache = Cache(tmp_path)
    ds = {"remix": resolve_dataset("remix", spec.datasets["remix"], "small", cache, None)}

    def seeds_of(plan):
        out = {}
        for j in plan.jobs.values():
            out.setdefault((j["model"], j["data"].rsplit("/", 1)[-1]), set()).add(j["seed"])
        return out

    got = seeds_of(plan_suite("remix", spec, "medium", [0, 1], cache, "cpu", 1, ds))
    assert got[("gap", "snr_10")] == {0, 1, 2, 3} and got[("gap", "snr_0")] == {0, 1, 2, 3, 4}
    assert got[("gwrp", "snr_0")] == {0, 1} and got[("gmp", "snr_0")] == set(range(9))  # the shipped gmp asks 9
    assert seeds_of(plan_suite("remix", spec, "small", [0, 1], cache, "cpu", 1, ds))[("gap", "snr_0")] == {0, 1}
    fixed = seeds_of(plan_suite("remix", spec, "medium", [0, 1], cache, "cpu", 1, ds, model_seeds=False))
    assert all(v == {0, 1} for v in fixed.values())
    assert seeds_text({"seeds": [0, 1, 2], "cells": [{"n_seeds": 3}, {"n_seeds": 8}]}) == \
        "3 (up to 8 for models that ask for more)"
    assert seeds_text({"seeds": [0, 1, 2], "cells": [{"n_seeds": 3}, {"n_seeds": 2}]}) == "3"
