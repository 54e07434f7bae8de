"""Clip-level scores as arrays: the F-measure from counts, and average precision and ROC AUC from scores (sklearn's
definitions, ties included), each vectorised over rows of clip weights ``W`` (R, N).

The evaluation calls them with one row of ones (every clip once); the bootstrap with one row per resample (a clip's
weight is how often the resample drew it). Equal to sklearn's ``average_precision_score`` / ``roc_auc_score`` /
``f1_score`` to 1e-12 (``tests/test_scores.py``), without sklearn's per-call input checks (milliseconds a call,
which the per-epoch validation of every tagging model paid tens of times).
"""
from __future__ import annotations

import numpy as np


def f1_from_counts(tp, fp, fn):
    """F-measure ``2 tp / (2 tp + fp + fn)`` element-wise; NaN where nothing was true or predicted."""
    den = 2 * tp + fp + fn
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, 2 * tp / np.where(den > 0, den, 1), np.nan)


def nanmean_rows(x: np.ndarray) -> np.ndarray:
    """Mean over the last axis leaving NaN out; NaN where all are NaN (no warning)."""
    ok = ~np.isnan(x)
    n = ok.sum(axis=-1)
    with np.errstate(invalid="ignore"):
        return np.where(n > 0, np.where(ok, x, 0.0).sum(axis=-1) / np.maximum(n, 1), np.nan)


def tie_groups(sorted_scores: np.ndarray) -> np.ndarray:
    """Start index of each run of equal scores in a sorted vector."""
    return np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])


def weighted_ap(y: np.ndarray, s: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Average precision (sklearn's step-wise definition) of one class for each row of weights ``W`` (R, N)."""
    order = np.argsort(-s, kind="mergesort")
    ys, ss = y[order].astype(float), s[order]
    starts = tie_groups(ss)
    Wo = W[:, order]
    tp = np.add.reduceat(Wo * ys, starts, axis=1).cumsum(axis=1)  # (R, G) positives at or above each threshold
    fp = np.add.reduceat(Wo * (1 - ys), starts, axis=1).cumsum(axis=1)
    total = tp[:, -1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tp + fp > 0, tp / np.where(tp + fp > 0, tp + fp, 1), 0.0)
        recall = tp / np.where(total > 0, total, 1)
    d_recall = np.diff(np.concatenate([np.zeros((len(W), 1)), recall], axis=1), axis=1)
    ap = (d_recall * precision).sum(axis=1)
    return np.where(total[:, 0] > 0, ap, np.nan)


def weighted_auc(y: np.ndarray, s: np.ndarray, W: np.ndarray) -> np.ndarray:
    """ROC AUC (ties count one half, as sklearn) of one class for each row of weights ``W`` (R, N)."""
    order = np.argsort(s, kind="mergesort")
    ys, ss = y[order].astype(float), s[order]
    starts = tie_groups(ss)
    Wo = W[:, order]
    pos = np.add.reduceat(Wo * ys, starts, axis=1)  # (R, G)
    neg = np.add.reduceat(Wo * (1 - ys), starts, axis=1)
    neg_below = np.cumsum(neg, axis=1) - neg
    num = (pos * (neg_below + 0.5 * neg)).sum(axis=1)
    den = pos.sum(axis=1) * neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)
