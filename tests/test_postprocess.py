"""Post-processing: Viterbi, HMM smoothing, median filter, min-duration deletion, merging, seeded tuning."""
import itertools

import numpy as np
import pytest

from sedkit import SedkitError
from sedkit.baselines.evaluation.postprocess import (HMMConfig, PostprocessConfig, active_to_events, arrays_to_frames,
                                                     delete_short, hmm_decode, hmm_decode_clips, hmm_scores,
                                                     median_filter, merge_events, pick_event_threshold, postprocess,
                                                     split_half, tune_hmm, viterbi)

CLASSES = ["dog", "speech"]


def _brute_force_path(p, ss, se):
    """Exhaustive MAP path of a 2-state HMM (uniform start), for checking Viterbi."""
    trans = np.log([[ss, 1 - ss], [1 - se, se]])
    best, best_path = -np.inf, None
    for path in itertools.product((0, 1), repeat=len(p)):
        lp = np.log(0.5) + sum(np.log(p[t] if s else 1 - p[t]) for t, s in enumerate(path))
        lp += sum(trans[a, b] for a, b in zip(path, path[1:]))
        if lp > best:
            best, best_path = lp, path
    return np.array(best_path, bool)


def test_viterbi_equals_exhaustive_search():
    rng = np.random.default_rng(1)
    for _ in range(20):
        p = rng.uniform(0.02, 0.98, size=9)
        ss, se = rng.uniform(0.5, 0.97, size=2)
        got = viterbi(p[:, None], ss, se)[:, 0]
        np.testing.assert_array_equal(got, _brute_force_path(p, ss, se))


def test_viterbi_vectorised_columns_are_independent():
    rng = np.random.default_rng(2)
    p = rng.random((40, 6))
    ss = 0.9
    se = np.linspace(0.6, 0.99, 6)
    both = viterbi(p, ss, se)
    for k in range(6):
        np.testing.assert_array_equal(both[:, k], viterbi(p[:, k:k + 1], ss, se[k])[:, 0])


def test_hmm_removes_single_frame_blips_and_keeps_long_events():
    t = 100
    p = np.full((t, 2), 0.05)
    for f in (7, 30, 61, 88):  # isolated one-frame blips on class 0
        p[f, 0] = 0.97
    p[20:70, 1] = 0.9  # a long event on class 1 ...
    p[[33, 47, 52], 1] = 0.3  # ... with dips inside
    p[80, 1] = 0.99  # and one blip
    thresholded = p >= 0.5
    assert thresholded[:, 0].sum() == 4 and thresholded[:, 1].sum() == 48
    act = hmm_decode(p, 0.98, [0.98, 0.98], HMMConfig(min_frames=3))
    assert not act[:, 0].any()
    np.testing.assert_array_equal(np.flatnonzero(act[:, 1]), np.arange(20, 70))
    ts = np.arange(t + 1) * 0.064
    assert active_to_events(act, ts, CLASSES) == [(pytest.approx(20 * 0.064), pytest.approx(70 * 0.064), "speech")]


def test_hmm_scores_are_monotone_thresholds():
    rng = np.random.default_rng(3)
    p = np.clip(np.cumsum(rng.normal(0, 0.15, size=(80, 2)), axis=0) * 0.3 + 0.5, 0, 1)
    cfg = HMMConfig(n_thresholds=19, min_frames=0)
    s = hmm_scores(p, 0.9, [0.9, 0.8], cfg)
    for tau in (0.25, 0.5, 0.75):  # thresholding the scores reproduces the decoding at that tau
        np.testing.assert_array_equal(s >= tau - 1e-9, hmm_decode(p, 0.9, [0.9, 0.8], cfg, tau=tau))


def test_median_filter_global_and_per_class():
    x = np.zeros((20, 2))
    x[5, :] = 1.0  # one-frame spike on both classes
    x[10:13, :] = 1.0  # three-frame event on both classes
    g = median_filter(x, 3)
    assert g[5].sum() == 0 and g[10:13].sum() == 6
    per = median_filter(x, [1, 7])
    np.testing.assert_array_equal(per[:, 0], x[:, 0])
    assert per[:, 1].sum() == 0  # a 7-frame median removes the 3-frame event
    with pytest.raises(SedkitError):
        median_filter(x, [3, 3, 3])


def test_delete_short_and_merge_overlaps():
    a = np.zeros((12, 1), bool)
    a[1:4, 0] = True  # 3 frames: deleted with min_frames=3
    a[6:10, 0] = True  # 4 frames: kept
    np.testing.assert_array_equal(np.flatnonzero(delete_short(a, 3)[:, 0]), np.arange(6, 10))
    ev = [(0.0, 1.0, "dog"), (0.8, 2.0, "dog"), (2.0, 2.5, "dog"), (3.0, 4.0, "dog"), (0.5, 0.7, "speech")]
    assert merge_events(ev) == [(0.0, 2.5, "dog"), (3.0, 4.0, "dog"), (0.5, 0.7, "speech")]
    assert merge_events(ev, gap_s=0.5) == [(0.0, 4.0, "dog"), (0.5, 0.7, "speech")]


def _clip(rng, with_event):
    t = 156
    p = rng.uniform(0.0, 0.35, size=(t, 2))
    gt = []
    if with_event:
        on = int(rng.integers(10, 80))
        p[on:on + 40, 0] = rng.uniform(0.45, 1.0, size=40)
        gt.append((on * 0.064, (on + 40) * 0.064, "dog"))
    blips = rng.integers(0, t, size=3)
    p[blips, 1] = 0.9
    return p, gt


def test_tune_hmm_is_seeded_and_beats_plain_thresholding():
    rng = np.random.default_rng(4)
    ts = np.arange(157) * 0.064
    scores, gt = {}, {}
    for i in range(8):
        p, g = _clip(rng, i % 4 != 3)
        scores[f"c{i}"] = arrays_to_frames(p, ts, CLASSES)
        gt[f"c{i}"] = g
    cfg = HMMConfig(n_calls=12, n_silence=3, seed=7)
    a = tune_hmm(scores, gt, CLASSES, cfg, progress=False)
    b = tune_hmm(scores, gt, CLASSES, cfg, progress=False)
    assert a == b
    assert sorted(a["tuning_ids"] + a["held_out_ids"]) == sorted(scores)
    assert a["tuning_ids"] == split_half(scores, 7)[0]
    pp = PostprocessConfig(hmm=cfg)
    from sedkit.baselines.evaluation.sed import event_segment_f1
    held = {k: scores[k] for k in a["held_out_ids"]}
    ref = {k: gt[k] for k in held}
    f_none = event_segment_f1(ref, postprocess("none", held, CLASSES, pp)[1], CLASSES, segment=False)
    f_hmm = event_segment_f1(ref, postprocess("hmm", held, CLASSES, pp, a)[1], CLASSES, segment=False)
    assert f_hmm["event"]["per_class"]["dog"] > f_none["event"]["per_class"]["dog"]
    with pytest.raises(SedkitError):
        postprocess("hmm", held, CLASSES, pp, None)


def test_decoding_many_clips_at_once_equals_one_by_one():
    rng = np.random.default_rng(5)
    cfg = HMMConfig(min_frames=2)
    ts = {40: np.arange(41) * 0.1, 30: np.arange(31) * 0.1}
    clips = {f"c{i}": (rng.random((40 if i % 2 else 30, 2)), ts[40 if i % 2 else 30]) for i in range(5)}
    many = hmm_decode_clips(clips, 0.9, [0.85, 0.95], cfg)
    for aid, (x, _) in clips.items():
        np.testing.assert_array_equal(many[aid], hmm_decode(x, 0.9, [0.85, 0.95], cfg))


def test_the_event_threshold_picked_on_validation_rescues_an_under_confident_model():
    """Scores that never reach 0.5 detect nothing at 0.5; the picked threshold finds the events."""
    from sedkit.baselines.evaluation.sed import event_segment_f1

    ts = np.arange(101) * 0.1
    scores, gt = {}, {}
    for i in range(4):
        p = np.full((100, 2), 0.05)
        on = 10 + 15 * i
        p[on:on + 20, i % 2] = 0.3
        scores[f"c{i}"] = arrays_to_frames(p, ts, CLASSES)
        gt[f"c{i}"] = [(on * 0.1, (on + 20) * 0.1, CLASSES[i % 2])]
    cfg = PostprocessConfig(median=3)
    pick = pick_event_threshold(scores, gt, CLASSES, cfg)
    assert 0.05 < pick["threshold"] <= 0.3 and pick["event_f1"] == pytest.approx(1.0)
    assert len(pick["candidate_event_f1"]) == len(pick["candidates"]) == 19
    at_half = postprocess("median", scores, CLASSES, cfg)[1]
    assert event_segment_f1(gt, at_half, CLASSES, segment=False)["event"]["macro_f1"] == 0.0
    picked = postprocess("median", scores, CLASSES, cfg.model_copy(update={"threshold": pick["threshold"]}))[1]
    assert event_segment_f1(gt, picked, CLASSES, segment=False)["event"]["macro_f1"] == pytest.approx(1.0)


def test_the_event_threshold_stays_at_the_specs_without_reference_events():
    ts = np.arange(11) * 0.1
    scores = {"c0": arrays_to_frames(np.full((10, 2), 0.7), ts, CLASSES)}
    assert pick_event_threshold(scores, {}, CLASSES, PostprocessConfig())["threshold"] == 0.5
