"""Tagging metrics computed with numpy equal sklearn's functions (ties, classes without positives or negatives,
all-negative predictions); the decision threshold picked on validation."""
import math

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

from sedkit.baselines.evaluation.tagging import pick_threshold, tagging_metrics


def sklearn_metrics(y, s, threshold=0.5):
    """The metrics as sklearn computes them (what tagging_metrics gave before it used numpy)."""
    y, pred = y > 0.5, s >= threshold
    pos = y.sum(0)
    ap = [average_precision_score(y[:, k], s[:, k]) if pos[k] else math.nan for k in range(y.shape[1])]
    auc = [roc_auc_score(y[:, k], s[:, k]) if 0 < pos[k] < len(y) else math.nan for k in range(y.shape[1])]
    f1 = [f1_score(y[:, k], pred[:, k], zero_division=0) for k in range(y.shape[1])]
    lab = y.any(0)
    return {"f1_macro": f1_score(y[:, lab], pred[:, lab], average="macro", zero_division=0),
            "f1_micro": f1_score(y, pred, average="micro", zero_division=0),
            "map": np.nanmean(ap), "auc": np.nanmean(auc) if not np.isnan(auc).all() else math.nan,
            "micro_p": average_precision_score(y, s, average="micro"), "ap": ap, "f1": f1, "per_auc": auc}


@pytest.mark.parametrize("seed", range(6))
def test_tagging_metrics_equal_sklearn(seed):
    rng = np.random.default_rng(seed)
    n, c = 40 + 7 * seed, 5
    y = (rng.random((n, c)) < [0.3, 0.1, 0.5, 0.0, 1.0]).astype(float)  # class 3: no positive; class 4: no negative
    s = rng.random((n, c))
    if seed % 2:
        s = np.round(s, 1)  # many ties
    if seed == 4:
        s[:, 1] = 0.2  # never predicted: F1 0, AP at the prevalence
    ours, ref = tagging_metrics(y, s, list("abcde")), sklearn_metrics(y, s)
    for key in ("f1_macro", "f1_micro", "map", "auc", "micro_p"):
        assert ours[key] == pytest.approx(ref[key], abs=1e-12), key
    for k, name in enumerate("abcde"):
        got = ours["per_class"][name]
        for key, want in (("ap", ref["ap"][k]), ("auc", ref["per_auc"][k]), ("f1", ref["f1"][k])):
            assert (math.isnan(got[key]) and math.isnan(want)) or got[key] == pytest.approx(want, abs=1e-12), (name, key)



def test_the_picked_threshold_rescues_an_under_confident_model():
    rng = np.random.default_rng(0)
    y = (rng.random((60, 4)) < 0.3).astype(float)
    s = 0.05 + 0.2 * y + 0.05 * rng.random((60, 4))  # perfectly ranked, every score below 0.31
    t = pick_threshold(y, s)
    assert 0.1 < t <= 0.25
    assert tagging_metrics(y, s, list("abcd"), t)["f1_macro"] == 1.0
    assert tagging_metrics(y, s, list("abcd"))["f1_macro"] == 0.0  # at 0.5 it detects nothing


def test_the_picked_threshold_stays_at_one_half_without_evidence():
    assert pick_threshold(np.zeros((5, 2)), np.random.default_rng(1).random((5, 2))) == 0.5
    y = np.array([[1.0], [0.0]])
    assert pick_threshold(y, np.array([[0.9], [0.1]])) == 0.5  # every threshold in (0.1, 0.9] is perfect: 0.5 is one
