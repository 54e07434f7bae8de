"""The paired, seed-aware bootstrap: exact metric decompositions, calibration on simulated systems with a known
true difference, Holm, verdicts; `sedkit eval compare` on real runs."""
import json

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from sedkit.baselines.evaluation.bootstrap import (ClipData, System, clip_weights, compare, holm, interval,
                                                   metric_values, point_value, verdict)
from sedkit.baselines.evaluation.clipdata import sed_clip_data, tagging_clip_data
from sedkit.baselines.evaluation.scores import weighted_ap, weighted_auc
from sedkit.baselines.evaluation.sed import clip_counts, event_segment_f1
from sedkit.baselines.evaluation.tagging import tagging_metrics

CLASSES = ["a", "b", "c", "d"]


def test_weighted_ranks_equal_sklearn_with_weights_and_ties():
    rng = np.random.default_rng(0)
    checked = 0
    for _ in range(30):
        y = (rng.random(60) < 0.3).astype(int)
        s = np.round(rng.random(60), 1)  # many ties
        w = rng.integers(0, 3, size=60).astype(float)
        if not (y[w > 0].any() and (1 - y)[w > 0].any()):
            continue
        assert weighted_ap(y, s, w[None])[0] == pytest.approx(average_precision_score(y, s, sample_weight=w), abs=1e-12)
        assert weighted_auc(y, s, w[None])[0] == pytest.approx(roc_auc_score(y, s, sample_weight=w), abs=1e-12)
        checked += 1
    assert checked > 20


def simulate(rng, n, skill, shared=None, p=0.3):
    """Targets and clip scores of a system: logit = skill * (2y - 1) + the clip's difficulty + noise."""
    y = (rng.random((n, len(CLASSES))) < p).astype(float) if shared is None else shared[0]
    hard = rng.normal(0, 1, (n, len(CLASSES))) if shared is None else shared[1]
    logit = skill * (2 * y - 1) + hard + rng.normal(0, 1, y.shape)
    return y, hard, 1 / (1 + np.exp(-logit))


@pytest.mark.parametrize("metric", ["f1_macro", "f1_micro", "map", "micro_p", "auc", "per_class.b.ap",
                                    "per_class.c.f1", "per_class.a.auc"])
def test_tagging_point_values_equal_the_evaluation(metric):
    rng = np.random.default_rng(1)
    y, _, s = simulate(rng, 80, 1.0)
    y[:, 3] = 0  # a class without positives: NaN AP/AUC, left out of the means, as tagging_metrics does
    ref = tagging_metrics(y, s, CLASSES)
    want = ref
    for k in metric.split("."):
        want = want[k]
    d = tagging_clip_data(metric, [f"c{i}" for i in range(80)], y, s, CLASSES)
    assert point_value(d) == pytest.approx(want, abs=1e-12)


def random_events(rng, n_clips=60):
    ref, est, dur = {}, {}, {}
    for i in range(n_clips):
        a = f"clip{i:03d}"
        dur[a] = 10.0

        def draw(k):
            out = []
            for _ in range(k):
                on = float(rng.uniform(0, 9))
                out.append((round(on, 3), round(min(10.0, on + rng.uniform(0.2, 3)), 3), CLASSES[rng.integers(4)]))
            return out

        ref[a] = draw(rng.integers(0, 4))
        kept = [(o + rng.normal(0, 0.2), f + rng.normal(0, 0.3), lab) for o, f, lab in ref[a] if rng.random() < 0.7]
        est[a] = [(round(max(0.0, o), 3), round(max(o + 0.05, f), 3), lab) for o, f, lab in kept + draw(rng.integers(0, 2))]
    return ref, est, dur


def test_event_and_segment_f1_decompose_exactly_into_clips():
    """Summing the per-clip counts gives sed_eval's class-wise counts on the full set, so the macro F1 is the same."""
    import warnings

    import dcase_util
    import sed_eval

    warnings.simplefilter("ignore")
    ref, est, dur = random_events(np.random.default_rng(2))
    full = event_segment_f1(ref, est, CLASSES, dur)
    ev, sg = clip_counts(ref, est, CLASSES, dur)
    # sed_eval fed all clips directly
    whole = sed_eval.sound_event.EventBasedMetrics(event_label_list=CLASSES, t_collar=0.2, percentage_of_length=0.2)
    for a in sorted(dur):
        whole.evaluate(dcase_util.containers.MetaDataContainer(
            [{"filename": a, "onset": x, "offset": y, "event_label": lab} for x, y, lab in ref[a]]),
            dcase_util.containers.MetaDataContainer(
            [{"filename": a, "onset": x, "offset": y, "event_label": lab} for x, y, lab in est[a]]))
    for k, c in enumerate(CLASSES):
        assert ev[:, k].sum(axis=0).tolist() == [whole.class_wise[c][n] for n in ("Ntp", "Nfp", "Nfn")]
    for what, kind in (("event_f1", "event"), ("segment_f1", "segment")):
        assert point_value(sed_clip_data(what, ref, est, dur, CLASSES)) == pytest.approx(full[kind]["macro_f1"],
                                                                                            abs=1e-12)
    assert point_value(sed_clip_data("per_class.b.event_f1", ref, est, dur, CLASSES)) == \
        pytest.approx(full["event"]["per_class"]["b"], abs=1e-12)
    # a weighted resample is the weighted sum: clip 0 twice, clip 1 never == the set with clip 0 duplicated
    w = np.ones(len(dur))
    w[0], w[1] = 2, 0
    ids = sorted(dur)
    dup = {**{a: ref[a] for a in ids[2:]}, ids[0]: ref[ids[0]], "zz_copy": ref[ids[0]]}
    dup_est = {**{a: est[a] for a in ids[2:]}, ids[0]: est[ids[0]], "zz_copy": est[ids[0]]}
    dup_dur = {a: 10.0 for a in dup}
    want = event_segment_f1(dup, dup_est, CLASSES, dup_dur)["event"]["macro_f1"]
    assert metric_values(sed_clip_data("event_f1", ref, est, dur, CLASSES), w[None])[0] == pytest.approx(want)


def system(name, y, s, metric="f1_macro"):
    return System(name, [tagging_clip_data(metric, [f"c{i}" for i in range(len(y))], y, s, CLASSES)])


def test_calibration_no_difference_rarely_judged_and_large_difference_found():
    """Simulated systems with a known true difference, 200 comparisons each at 95% confidence."""
    rng = np.random.default_rng(3)
    false, found = 0, 0
    trials = 200
    for t in range(trials):
        y, hard, sa = simulate(rng, 150, 1.2)
        _, _, sb = simulate(rng, 150, 1.2, shared=(y, hard))  # same skill: no true difference
        res = compare(system("A", y, sa), system("B", y, sb), resamples=400, seed=t)
        false += res["difference"]["verdict"] != "inconclusive"
        _, _, sc = simulate(rng, 150, 2.5, shared=(y, hard))  # much better
        res = compare(system("A", y, sa), system("C", y, sc), resamples=400, seed=t)
        found += res["difference"]["verdict"] == "holds"
    print(f"no difference: {false}/{trials} judged; large difference: {found}/{trials} holds")
    assert false / trials <= 0.07
    assert found / trials >= 0.90


def test_interval_of_one_metric_covers_the_population_value():
    rng = np.random.default_rng(4)
    y, _, s = simulate(rng, 200_000, 1.0)
    population = tagging_metrics(y, s, CLASSES)["f1_macro"]
    covered, trials = 0, 200
    for t in range(trials):
        yy, _, ss = simulate(rng, 200, 1.0)
        d = tagging_clip_data("f1_macro", [str(i) for i in range(200)], yy, ss, CLASSES)
        lo, hi = interval(metric_values(d, clip_weights(200, 500, np.random.default_rng(t))), 0.95)
        covered += lo <= population <= hi
    rate = covered / trials
    print(f"95% interval coverage of the population f1_macro: {rate:.3f}")
    assert 0.88 <= rate <= 0.99


def test_seeds_are_resampled_within_each_system():
    """Two seeds that disagree widen a system's interval beyond the clip noise of either seed alone."""
    rng = np.random.default_rng(5)
    y, hard, s1 = simulate(rng, 300, 1.5)
    _, _, s2 = simulate(rng, 300, 0.3, shared=(y, hard))
    ids = [str(i) for i in range(300)]
    one = System("one", [tagging_clip_data("f1_macro", ids, y, s1, CLASSES)])
    two = System("two", [tagging_clip_data("f1_macro", ids, y, s, CLASSES) for s in (s1, s2)])
    r = compare(one, two, resamples=500)
    w1 = np.subtract(*r["systems"]["one"]["ci"][::-1])
    w2 = np.subtract(*r["systems"]["two"]["ci"][::-1])
    assert w2 > 2 * w1
    assert r["systems"]["two"]["value"] == pytest.approx(np.mean([point_value(d) for d in two.seeds]))


def test_clips_must_match_and_verdicts_and_holm():
    from sedkit import SedkitError

    y = np.zeros((3, 4))
    a = System("a", [tagging_clip_data("f1_macro", ["x", "y", "z"], y, y, CLASSES)])
    b = System("b", [tagging_clip_data("f1_macro", ["x", "y", "w"], y, y, CLASSES)])
    with pytest.raises(SedkitError, match="different clips"):
        compare(a, b, resamples=20)
    assert [verdict(0.1, 0.3), verdict(-0.3, -0.1), verdict(-0.1, 0.2), verdict(0, 0, degenerate=True)] == \
        ["holds", "reversed", "inconclusive", "degenerate"]
    assert holm([0.01, 0.04, 0.03, float("nan")])[:3] == pytest.approx([0.03, 0.06, 0.06])
    assert np.isnan(holm([0.01, float("nan")])[1])
    assert isinstance(ClipData, type)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """Two short classifier trainings (different seeds) on a toy data dir."""
    from click.testing import CliRunner
    from toydata import make_toy_datadir

    from sedkit.cli import root

    import yaml

    root_dir = tmp_path_factory.mktemp("cmp")
    data = make_toy_datadir(root_dir / "data", per_class={"train": 4, "validation": 2, "eval": 6})
    cfg = root_dir / "tiny.yaml"
    cfg.write_text(yaml.safe_dump({"frontend": {"sr": 8000, "n_fft": 256, "win_length": None, "hop_length": 80,
                                                "n_mels": 24, "fmin": 0, "fmax": 4000},
                                   "net": {"channels": [4, 4, 4, 8], "dropout": 0.0}, "data": {"batch_size": 4}}))
    runs = []
    for seed in (0, 1):
        out = root_dir / f"run{seed}"
        r = CliRunner().invoke(root, ["train", "classifier", "--data", str(data), "--out", str(out), "--epochs", "2",
                                      "--seed", str(seed), "--config", str(cfg), "--device", "cpu", "--threads", "1"])
        assert r.exit_code == 0, r.output
        runs.append(out)
    return data, runs


def test_eval_compare_on_real_runs(two_runs):
    from click.testing import CliRunner

    from sedkit.cli import root

    data, (a, b) = two_runs
    args = ["eval", "compare", str(a), str(b), "--data", str(data), "--split", "eval", "--metric", "map",
            "--resamples", "200"]
    r = CliRunner().invoke(root, [*args, "--json"])
    assert r.exit_code == 0, r.output
    res = json.loads(r.stdout)
    from sedkit.baselines.api import evaluate

    # the comparison scores the written clip_scores.tsv (6 decimals, which can tie clips the floats did not)
    ma, mb = (evaluate(p / "predictions" / "eval", data, "eval")["map"] for p in (a, b))
    assert res["difference"]["value"] == pytest.approx(mb - ma, abs=1e-9)
    assert res["systems"][str(a)]["value"] == pytest.approx(ma, abs=1e-9)
    ta, tb = (json.loads((p / "metrics.json").read_text())["eval"]["map"] for p in (a, b))
    assert abs(ma - ta) < 0.02 and abs(mb - tb) < 0.02
    lo, hi = res["difference"]["ci"]
    assert lo <= res["difference"]["value"] <= hi and 0 < res["difference"]["two_sided"] <= 1
    evals = sorted((a / "evaluations").iterdir())
    assert len([p for p in evals if p.is_dir()]) == 1
    r = CliRunner().invoke(root, args)  # text; the evaluation is reused
    assert r.exit_code == 0 and "B - A:" in r.stdout and "two-sided p" in r.stdout and "[" in r.stdout
    assert sorted((a / "evaluations").iterdir()) == evals
    r = CliRunner().invoke(root, ["eval", "compare", str(a), str(b), "--data", str(data), "--metric", "nope"])
    assert r.exit_code == 2 and "sedkit: error: metric 'nope'" in r.stderr


def test_a_trained_tagging_model_is_scored_at_the_threshold_picked_on_validation(two_runs, tmp_path):
    from sedkit.baselines.api import evaluate
    from sedkit.baselines.evaluation.clipdata import clip_data

    data, (a, _) = two_runs
    decision = json.loads((a / "decision.json").read_text())
    t = decision["threshold"]
    assert decision["picked_on"] == "validation" and 0 < t < 1
    m = json.loads((a / "metrics.json").read_text())["eval"]
    assert m["threshold"] == t and "f1_macro_at_0.5" in m
    assert json.loads((a / "predictions" / "eval" / "decision.json").read_text()) == {"threshold": t}
    assert point_value(clip_data(a / "predictions" / "eval", data, "eval", "f1_macro")) == \
        pytest.approx(m["f1_macro"], abs=1e-9)
    again = evaluate(a, data, "eval", out=tmp_path / "e")  # a rebuilt run keeps its threshold
    assert again["threshold"] == t and again["f1_macro"] == pytest.approx(m["f1_macro"], abs=1e-9)


def test_psds_resamples_rerun_sed_scores_eval_on_the_drawn_clips():
    from sedkit.baselines.evaluation.postprocess import arrays_to_frames
    from sedkit.baselines.evaluation.sed import psds

    rng = np.random.default_rng(6)
    ts = np.arange(101) * 0.1
    frames, gt, dur = {}, {}, {}
    for i in range(5):
        x = rng.random((100, 4)) * 0.3
        gt[f"f{i}"] = []
        for c, lab in enumerate(CLASSES):
            on = int(rng.integers(0, 60))
            x[on:on + 25, c] += 0.6
            gt[f"f{i}"].append((on * 0.1, (on + 25) * 0.1, lab))
        frames[f"f{i}"] = arrays_to_frames(x, ts, CLASSES)
        dur[f"f{i}"] = 10.0
    d = sed_clip_data("psds1", gt, {}, dur, CLASSES, frames)
    assert point_value(d) == pytest.approx(psds(frames, gt, dur, "psds1")["psds"])
    w = np.array([2, 0, 1, 1, 1], float)  # clip f0 twice, f1 never
    dup = {"f0#0": frames["f0"], "f0#1": frames["f0"], **{k: frames[k] for k in ("f2", "f3", "f4")}}
    dgt = {k: gt[k.split("#")[0]] for k in dup}
    assert metric_values(d, w[None])[0] == pytest.approx(psds(dup, dgt, {k: 10.0 for k in dup}, "psds1")["psds"])


def test_cells_scored_in_worker_processes_equal_those_scored_in_process(two_runs):
    """The report's slow cells (PSDS) run in a pool of processes that read the clip data again: the values are the
    ones the process itself computes, whatever the number of workers."""
    from sedkit.baselines.evaluation.bootstrap import clip_weights
    from sedkit.baselines.evaluation.clipdata import clip_data
    from sedkit.benchmarks.verdicts import _in_processes, system_values

    data, runs = two_runs
    sources = [{"pred": str(r / "predictions" / "eval"), "data": str(data), "split": "eval", "postprocess": "none",
                "run": str(r)} for r in runs]
    tasks, local = {}, {}
    for k, metric in enumerate(("map", "f1_macro")):
        system = System(metric, [clip_data(s["pred"], data, "eval", metric) for s in sources])
        ids = sorted(system.ids)
        W = clip_weights(len(ids), 50, np.random.default_rng(k))
        tasks[metric] = (metric, sources, metric, ids, W, 7 + k)
        local[metric] = system_values(system.aligned(ids), W, 7 + k)
    for workers in (1, 2):
        got = _in_processes(tasks, workers)
        for metric, (vals, seed_values) in local.items():
            np.testing.assert_array_equal(got[metric][0], vals)
            assert got[metric][1] == seed_values and len(vals) == 50 and np.isfinite(vals).all()


def test_a_system_shown_in_two_tables_gets_the_same_interval_in_both(two_runs):
    from sedkit.benchmarks.verdicts import cell_stats

    data, runs = two_runs
    sources = [{"pred": str(r / "predictions" / "eval"), "data": str(data), "split": "eval", "postprocess": "none",
                "run": str(r)} for r in runs]
    rows = [{"table": t, "row": "m", "column": "c", "metric": "map", "sources": sources} for t in ("t1", "t2")]
    rows.append({"table": "t3", "row": "m", "column": "c", "metric": "map", "sources": sources[:1]})
    stats, problems = cell_stats(rows, {}, resamples=200)
    a, b, one = (stats[(t, "m", "c")] for t in ("t1", "t2", "t3"))
    assert not problems and len(a.values) == 200
    np.testing.assert_array_equal(a.values, b.values)
    assert a.ci == b.ci and not np.array_equal(a.values, one.values)


def test_cells_on_one_datasets_clips_share_draws_wherever_their_folders_live(two_runs, tmp_path):
    """Subsets of one dataset (segments of its clips, its scenes at other SNRs) hold the same clips: their cells are
    paired. The resamples do not depend on where the run and data folders are (two output folders of the same
    models give the same intervals)."""
    import shutil

    from sedkit.benchmarks.verdicts import cell_stats

    data, runs = two_runs
    elsewhere = tmp_path / "other" / data.name
    shutil.copytree(data, elsewhere)
    moved = []
    for r in runs:
        shutil.copytree(r, tmp_path / "moved" / r.name)
        moved.append(tmp_path / "moved" / r.name)

    def row(name, run_dirs, data_dir, clips):
        return {"table": "t", "row": name, "column": "c", "metric": "map",
                "sources": [{"pred": str(r / "predictions" / "eval"), "data": str(data_dir), "split": "eval",
                             "postprocess": "none", "run": str(r), **({"clips": clips} if clips else {})}
                            for r in run_dirs]}

    rows = [row("here", runs, data, "ds1"), row("moved", moved, elsewhere, "ds1"),
            row("other-dataset", moved, elsewhere, "ds2"), row("no-dataset", moved, elsewhere, None)]
    stats, problems = cell_stats(rows, {}, resamples=200)
    here, same, other, unnamed = (stats[("t", n, "c")] for n in ("here", "moved", "other-dataset", "no-dataset"))
    assert not problems
    np.testing.assert_array_equal(here.values, same.values)
    assert not np.array_equal(here.values, other.values)
    assert not np.array_equal(here.values, unnamed.values)  # no dataset named: its data dir is its clips
