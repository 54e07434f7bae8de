"""A paired, seed-aware bootstrap for every metric sedkit reports.

The unit of resampling is the clip. A resample draws ``N`` clips with replacement (a row of counts ``w``, one per
clip) and gives *the same draw* to every system scored on those clips, so a comparison is paired: what the two
systems share (hard clips, easy clips) cancels. With several training seeds per system, the seeds are resampled
too, independently per system (seed ``k`` of A has nothing to do with seed ``k`` of B): a resample's value of a system
is the mean, over its drawn seeds, of the metric on the drawn clips. That is a two-level (hierarchical) bootstrap:
training noise and test-set noise both reach the interval.

The metric of a resample is computed from the clip weights, never by re-running an evaluator:

- **counts** metrics (tagging F1 macro / micro, per-class F1; sed_eval event- and segment-based F1, whose matching is
  per clip): each clip carries its per-class (TP, FP, FN); a resample is a weighted sum, ``W @ counts``.
  ``sedkit.baselines.evaluation.sed.clip_counts`` decomposes sed_eval exactly (tests check the sums equal
  sed_eval on the full set);
- **rank** metrics (AP, mAP, micro-/macro-averaged precision, ROC AUC): scores are sorted once per class; a
  resample's curve comes from cumulative sums of its weights over tie groups (sklearn's definitions, ties included;
  at weight 1 the values equal sklearn's);
- **PSDS** (sed_scores_eval): recomputed on each resample's clips (duplicates renamed), so it is slow: fewer
  resamples (``PSDS_RESAMPLES``).

Intervals are percentile intervals; p-values are the bootstrap tail fractions ``(1 + #{d* <= 0}) / (R + 1)``
(one-sided) and twice the smaller tail (two-sided).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from sedkit import SedkitError
from sedkit.baselines.evaluation.scores import f1_from_counts, nanmean_rows, weighted_ap, weighted_auc

RESAMPLES = 1000
PSDS_RESAMPLES = 100  # PSDS re-runs sed_scores_eval per resample
CONFIDENCE = 0.95
POWER = 0.8


# ---------------------------------------------------------------- per-clip data of one system (one seed)

@dataclass
class ClipData:
    """What one scored system (one seed) contributes per clip, for one metric.

    ``kind``: ``counts`` (``counts`` is (N, C, 3): TP, FP, FN per clip and class), ``rank`` (``y`` (N, C) 0/1
    targets and ``scores`` (N, C)), or ``custom`` (``fn(ids, weights) -> value`` recomputes the metric on the
    clips ``ids`` with integer ``weights``; PSDS).
    ``reduce`` names how classes combine: ``macro`` / ``micro`` / ``class:<k>`` (one class) for counts;
    ``ap_macro`` / ``ap_micro`` / ``auc_macro`` / ``ap_class:<k>`` / ``auc_class:<k>`` for ranks.
    ``labelled_only``: macro F1 over the classes with a positive in the resample (sedkit's tagging ``f1_macro``),
    else over classes with any TP, FP or FN (sedkit's event / segment ``macro_f1``).
    """

    ids: list[str]
    kind: str
    reduce: str
    counts: np.ndarray | None = None
    y: np.ndarray | None = None
    scores: np.ndarray | None = None
    fn: Callable | None = None
    labelled_only: bool = False
    positives: np.ndarray | None = None  # (N, C) 0/1, for labelled_only
    extra: dict = field(default_factory=dict)

    def aligned(self, ids: list[str]) -> "ClipData":
        """This data with its clips in the order of ``ids`` (which must be the same set)."""
        if ids == self.ids:
            return self
        if sorted(ids) != sorted(self.ids):
            missing = sorted(set(ids) ^ set(self.ids))
            raise SedkitError(f"the systems are scored on different clips (e.g. {missing[:3]}); a paired comparison "
                              "needs the same clips")
        pos = {a: i for i, a in enumerate(self.ids)}
        order = np.array([pos[a] for a in ids])

        def take(a):
            return None if a is None else a[order]

        return ClipData(list(ids), self.kind, self.reduce, take(self.counts), take(self.y), take(self.scores), self.fn,
                        self.labelled_only, take(self.positives), self.extra)


def counts_metric(d: ClipData, W: np.ndarray) -> np.ndarray:
    """(R,) metric values of a counts system under clip weights ``W`` (R, N)."""
    tot = np.einsum("rn,nck->rck", W, d.counts)  # (R, C, 3)
    tp, fp, fn = tot[..., 0], tot[..., 1], tot[..., 2]
    if d.reduce == "micro":
        return np.nan_to_num(f1_from_counts(tp.sum(-1), fp.sum(-1), fn.sum(-1)), nan=0.0)
    per = f1_from_counts(tp, fp, fn)
    if d.reduce.startswith("class:"):
        k = int(d.reduce.split(":")[1])
        out = per[:, k]
        return np.nan_to_num(out, nan=0.0) if d.labelled_only else out
    if d.labelled_only:  # sklearn's f1_score over the labelled classes, zero_division=0
        labelled = (W @ d.positives) > 0  # (R, C)
        vals = np.where(labelled, np.nan_to_num(per, nan=0.0), np.nan)
        return nanmean_rows(vals)
    return nanmean_rows(per)


def rank_metric(d: ClipData, W: np.ndarray, chunk: int = 200) -> np.ndarray:
    """(R,) metric values of a rank system under clip weights ``W`` (R, N)."""
    kind, _, k = d.reduce.partition(":")
    C = d.y.shape[1]
    out = []
    for a in range(0, len(W), chunk):
        Wc = W[a:a + chunk]
        if kind == "ap_micro":  # every (clip, class) pair one item, weighted by its clip
            out.append(weighted_ap(d.y.reshape(-1), d.scores.reshape(-1), np.repeat(Wc, C, axis=1)))
            continue
        f = weighted_ap if kind.startswith("ap") else weighted_auc
        classes = [int(k)] if k else range(C)
        vals = np.stack([f(d.y[:, c], d.scores[:, c], Wc) for c in classes], axis=1)
        out.append(vals[:, 0] if k else nanmean_rows(vals))
    return np.concatenate(out)


def metric_values(d: ClipData, W: np.ndarray) -> np.ndarray:
    """(R,) values of the metric of ``d`` for each row of integer clip weights ``W`` (R, N)."""
    W = np.asarray(W, dtype=float)
    if d.kind == "counts":
        return counts_metric(d, W)
    if d.kind == "rank":
        return rank_metric(d, W)
    return np.array([d.fn(d.ids, w) for w in W], dtype=float)


def point_value(d: ClipData) -> float:
    """The metric on all clips, each once (what the evaluation reported)."""
    return float(metric_values(d, np.ones((1, len(d.ids))))[0])


# ---------------------------------------------------------------- systems and resampling

@dataclass
class System:
    """One system: its seeds' clip data, all on the same clips (aligned to ``ids``)."""

    name: str
    seeds: list[ClipData]

    def __post_init__(self):
        if not self.seeds:
            raise SedkitError(f"{self.name}: no scored run")
        ids = self.seeds[0].ids
        self.seeds = [s.aligned(ids) for s in self.seeds]

    @property
    def ids(self) -> list[str]:
        return self.seeds[0].ids

    def aligned(self, ids: list[str]) -> "System":
        return System(self.name, [s.aligned(ids) for s in self.seeds])

    def point(self) -> float:
        vals = [point_value(s) for s in self.seeds]
        finite = [v for v in vals if math.isfinite(v)]
        return float(np.mean(finite)) if finite else float("nan")

    def values(self, W: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """(R,) resampled values: per row of ``W``, the mean over resampled seeds of the metric on those clips."""
        per_seed = np.stack([metric_values(s, W) for s in self.seeds])  # (S, R)
        S, R = per_seed.shape
        if S == 1:
            return per_seed[0]
        draw = rng.integers(0, S, size=(R, S))
        picked = per_seed[draw, np.arange(R)[:, None]]  # (R, S)
        with np.errstate(invalid="ignore"):
            return np.nanmean(np.where(np.isfinite(picked), picked, np.nan), axis=1)


def clip_weights(n: int, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """(R, n) counts: each row a draw of ``n`` clips with replacement."""
    if n == 0:
        raise SedkitError("no clips to resample")
    return rng.multinomial(n, np.full(n, 1.0 / n), size=resamples).astype(np.float64)


def interval(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    s = samples[np.isfinite(samples)]
    if not len(s):
        return (float("nan"), float("nan"))
    a = (1 - confidence) / 2
    lo, hi = np.quantile(s, [a, 1 - a])
    return (float(lo), float(hi))


def p_values(diff: np.ndarray) -> dict:
    """Bootstrap p-values of a difference: ``greater`` (H1: d > 0), ``less`` (H1: d < 0), ``two_sided``."""
    d = diff[np.isfinite(diff)]
    R = len(d)
    if R == 0:
        return {"greater": float("nan"), "less": float("nan"), "two_sided": float("nan")}
    g = (1 + int((d <= 0).sum())) / (R + 1)
    sm = (1 + int((d >= 0).sum())) / (R + 1)
    return {"greater": g, "less": sm, "two_sided": min(1.0, 2 * min(g, sm))}


def verdict(lo: float, hi: float, degenerate: bool = False) -> str:
    """``holds`` / ``reversed`` / ``inconclusive`` / ``degenerate`` for an effect oriented so that > 0 is the claim."""
    if degenerate:
        return "degenerate"
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return "inconclusive"
    if lo > 0:
        return "holds"
    if hi < 0:
        return "reversed"
    return "inconclusive"


def z(p: float) -> float:
    """The standard normal quantile."""
    from statistics import NormalDist

    return NormalDist().inv_cdf(p)


def minimum_detectable_effect(se: float, confidence: float = CONFIDENCE, power: float = POWER) -> float:
    """The effect a two-sided test at ``confidence`` detects with probability ``power``, given the standard error."""
    return (z(1 - (1 - confidence) / 2) + z(power)) * se


def holm(p: list[float]) -> list[float]:
    """Holm-adjusted p-values (step-down, monotone), NaN kept as NaN."""
    idx = [i for i, v in enumerate(p) if math.isfinite(v)]
    order = sorted(idx, key=lambda i: p[i])
    m = len(order)
    out = [float("nan")] * len(p)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


def compare(a: System, b: System, resamples: int = RESAMPLES, confidence: float = CONFIDENCE,
            seed: int = 0) -> dict:
    """Paired hierarchical bootstrap of ``b - a`` on the clips both were scored on."""
    b = b.aligned(a.ids)
    rng = np.random.default_rng(seed)
    W = clip_weights(len(a.ids), resamples, rng)
    va, vb = a.values(W, rng), b.values(W, rng)
    d = vb - va
    pa, pb = a.point(), b.point()
    out = {"n_clips": len(a.ids), "resamples": resamples, "confidence": confidence,
           "systems": {}, "difference": {}}
    for sys_, p, v in ((a, pa, va), (b, pb, vb)):
        lo, hi = interval(v, confidence)
        out["systems"][sys_.name] = {"value": p, "ci": [lo, hi], "seeds": len(sys_.seeds)}
    lo, hi = interval(d, confidence)
    se = float(np.nanstd(d, ddof=1)) if np.isfinite(d).sum() > 1 else float("nan")
    seeds = [point_value(s) for s in a.seeds + b.seeds]
    degenerate = all(abs(v) < 1e-12 for v in seeds) or all(abs(v - 1) < 1e-12 for v in seeds)
    out["difference"] = {"value": pb - pa, "ci": [lo, hi], "se": se, **p_values(d),
                         "verdict": verdict(lo, hi, degenerate),
                         "mde": minimum_detectable_effect(se, confidence) if se > 0 else float("nan")}
    return out
