"""Metrics: our sed_eval F1 wrapper against sed_eval itself and hand counts; PSDS vs psds_eval; report files."""
import warnings

import numpy as np
import pandas as pd
import pytest

from sedkit.baselines.evaluation.postprocess import PostprocessConfig, active_to_events, arrays_to_frames
from sedkit.baselines.evaluation.sed import PSDS_SCENARIOS, evaluate_scores, event_segment_f1, psds, write_report

CLASSES = ["cat", "dog", "speech"]

REF = {
    "a": [(1.0, 3.0, "dog"), (5.0, 6.0, "speech")],
    "b": [(0.5, 2.5, "cat"), (4.0, 9.0, "dog")],
    "c": [],
}
EST = {
    "a": [(1.1, 2.9, "dog"), (5.5, 6.0, "speech"), (8.0, 9.0, "cat")],  # dog TP, speech onset 0.5 s late: FP+FN
    "b": [(0.45, 2.6, "cat"), (4.1, 7.0, "dog")],  # cat TP; dog offset 2 s early (> 20 % of 5 s): FP+FN
    "c": [(2.0, 3.0, "speech")],  # FP on a clip with no reference
}
DUR = {"a": 10.0, "b": 10.0, "c": 10.0}


def _sed_eval_direct():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import sed_eval
    ev = sed_eval.sound_event.EventBasedMetrics(event_label_list=CLASSES, t_collar=0.2, percentage_of_length=0.2)
    sg = sed_eval.sound_event.SegmentBasedMetrics(event_label_list=CLASSES, time_resolution=1.0)
    for aid in "abc":
        ref = [{"filename": aid, "onset": a, "offset": b, "event_label": c} for a, b, c in REF[aid]]
        est = [{"filename": aid, "onset": a, "offset": b, "event_label": c} for a, b, c in EST[aid]]
        ev.evaluate(ref, est)
        sg.evaluate(ref, est, evaluated_length_seconds=DUR[aid])
    return ev.results(), sg.results()


def test_event_and_segment_f1_equal_sed_eval_and_hand_counts():
    ours = event_segment_f1(REF, EST, CLASSES, DUR)
    ev, sg = _sed_eval_direct()
    assert ours["event"]["macro_f1"] == pytest.approx(ev["class_wise_average"]["f_measure"]["f_measure"])
    assert ours["segment"]["macro_f1"] == pytest.approx(sg["class_wise_average"]["f_measure"]["f_measure"])
    for c in CLASSES:
        assert ours["event"]["per_class"][c] == pytest.approx(ev["class_wise"][c]["f_measure"]["f_measure"])
        assert ours["segment"]["per_class"][c] == pytest.approx(sg["class_wise"][c]["f_measure"]["f_measure"])
    # hand counts, event-based: cat TP=1 FP=1 (clip a) FN=0 -> 2/3; dog TP=1 FP=1 FN=1 -> 1/2; speech TP=0 -> 0
    assert ours["event"]["per_class"] == pytest.approx({"cat": 2 / 3, "dog": 0.5, "speech": 0.0})
    assert ours["event"]["macro_f1"] == pytest.approx((2 / 3 + 0.5) / 3)
    # segment-based (1 s): dog ref segs a:1,2 b:4..8 (7), est a:1,2 b:4,5,6 (5), TP 5 -> 2*5/(7+5)
    assert ours["segment"]["per_class"]["dog"] == pytest.approx(10 / 12)


def test_missed_class_scores_zero_not_nan():
    ref = {"a": [(1.0, 2.0, "cat"), (3.0, 4.0, "dog")]}
    est = {"a": [(1.0, 2.0, "dog")]}  # cat missed entirely, dog detected at the wrong place, speech absent on both
    r = event_segment_f1(ref, est, CLASSES, {"a": 10.0})
    for m in ("event", "segment"):
        assert r[m]["per_class"]["cat"] == 0.0  # sed_eval: NaN (precision 0/0), which its average skips
        assert np.isnan(r[m]["per_class"]["speech"])  # nothing to score
    assert r["event"]["macro_f1"] == 0.0
    perfect_dog = event_segment_f1(ref, {"a": [(3.0, 4.0, "dog")]}, CLASSES, {"a": 10.0})["event"]
    assert perfect_dog["macro_f1"] == pytest.approx(0.5)  # (cat 0 + dog 1) / 2
    assert perfect_dog["macro_f1_sed_eval"] == pytest.approx(1.0)  # sed_eval's average ignores the missed class


def test_psds_from_sed_scores_eval_matches_psds_eval():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from psds_eval import PSDSEval
    rng = np.random.default_rng(0)
    hop = 1.0  # 100 s clips: enough hours that a few false alarms stay under max_efpr
    ts = np.arange(101) * hop
    scores, gt = {}, {}
    for i in range(6):
        x = rng.integers(0, 3, size=(100, 3)) / 10.0  # background scores 0.0-0.2 ...
        spikes = rng.random((100, 3)) < 0.01
        x[spikes] = rng.integers(3, 9, size=spikes.sum()) / 10.0  # ... with false alarms up to 0.8
        gt[f"f{i}"] = []
        for c, lab in enumerate(CLASSES):
            if rng.random() < 0.7:
                on = int(rng.integers(0, 60))
                ln = int(rng.integers(5, 35))
                x[on:on + ln, c] = rng.integers(2, 10) / 10.0
                x[on + ln // 2, c] = rng.integers(2, 10) / 10.0  # a dip or a peak inside
                gt[f"f{i}"].append((on * hop, (on + ln) * hop, lab))
        scores[f"f{i}"] = arrays_to_frames(x, ts, CLASSES)
    dur = {k: 100.0 for k in scores}
    gt_df = pd.DataFrame([(f"{k}.wav", a, b, c) for k, evs in gt.items() for a, b, c in evs],
                         columns=["filename", "onset", "offset", "event_label"])
    meta = pd.DataFrame([(f"{k}.wav", d) for k, d in dur.items()], columns=["filename", "duration"])
    for sc, p in PSDS_SCENARIOS.items():
        ours = psds(scores, gt, dur, sc)["psds"]
        ref = PSDSEval(dtc_threshold=p["dtc_threshold"], gtc_threshold=p["gtc_threshold"],
                       cttc_threshold=p["cttc_threshold"] or 0.3, ground_truth=gt_df, metadata=meta,
                       class_names=CLASSES)
        # every operating point sed_scores_eval sees: one per distinct score level, plus "all frames active"
        for thr in [0.0, *np.arange(0.05, 1.0, 0.1)]:
            det = [(f"{k}.wav", a, b, c) for k, df in scores.items()
                   for a, b, c in active_to_events(df[CLASSES].to_numpy() >= thr, ts, CLASSES)]
            ref.add_operating_point(pd.DataFrame(det, columns=["filename", "onset", "offset", "event_label"]))
        theirs = ref.psds(alpha_ct=p["alpha_ct"], alpha_st=p["alpha_st"], max_efpr=100).value
        assert 0.05 < ours < 0.95, (sc, ours)
        assert abs(ours - theirs) < 0.01, (sc, ours, theirs)


def test_evaluate_scores_and_report_files(tmp_path):
    ts = np.arange(101) * 0.1
    x = np.zeros((100, 3))
    x[10:30, 1] = 0.9
    x[50:60, 2] = 0.8
    scores = {"a": arrays_to_frames(x, ts, CLASSES)}
    gt = {"a": [(1.0, 3.5, "dog"), (5.0, 6.0, "speech")]}
    dur = {"a": 10.0}
    res = {k: evaluate_scores(scores, gt, dur, CLASSES, k, PostprocessConfig()) for k in ("none", "median")}
    assert res["none"]["segment"]["per_class"]["speech"] == pytest.approx(1.0)
    assert res["none"]["psds1"]["left_out"] == ["cat"]  # no reference event: not scorable by sed_scores_eval
    score_dir = tmp_path / "scores"  # the same PSDS from score files
    score_dir.mkdir()
    scores["a"].to_csv(score_dir / "a.tsv", sep="\t", index=False)
    assert psds(score_dir, gt, dur, "psds2")["psds"] == pytest.approx(res["none"]["psds2"]["psds"])
    out = tmp_path / "report"
    paths = write_report(out, res, CLASSES)
    for p in paths.values():
        assert p.exists() and p.stat().st_size > 0
    assert paths["f1_png"].read_bytes()[:4] == b"\x89PNG"
    lines = paths["per_class"].read_text().splitlines()
    assert lines[0].split("\t") == ["postprocess", "class", "event_f1", "segment_f1", "psds1", "psds2"]
    assert len(lines) == 1 + 2 * len(CLASSES)
    assert not list(out.glob(".*tmp*"))
