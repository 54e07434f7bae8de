"""Audio-tagging metrics (clip level) and the evaluate function of tagging models.

:func:`tagging_metrics` gives, from multi-hot targets and clip probabilities:

- ``f1_macro`` / ``f1_micro``: tagging F-measure at the decision threshold (Turpault et al. report the macro one),
  and ``threshold``, that threshold. A trained model's threshold is picked on its validation split
  (:func:`decide`: the one threshold, for every class, that maximises the validation macro F-measure), so a model
  whose probabilities sit below 0.5 is not scored as if it detected nothing; ``f1_macro_at_0.5`` keeps the
  F-measure at 0.5 beside it;
- ``ap`` per class and ``map`` (mean over classes with at least one positive; Kumar & Raj's AP / MAP);
- ``micro_p`` / ``macro_p``: micro- and macro-averaged average precision (Deshmukh et al.'s "micro-p"/"macro-p",
  the same quantities their code logs as ap_micro / ap_macro), and ``auc``: macro ROC AUC over classes that have
  both positives and negatives.
Classes without positives get NaN AP/AUC and are left out of the means. The scores are sklearn's definitions,
computed by :mod:`sedkit.baselines.evaluation.scores` (equal to sklearn's functions to 1e-12, and ~100x cheaper).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from sedkit.specs import resolved
from sedkit.synth.io import atomic_write_json, json_safe
from sedkit.baselines.data.features import model_input
from sedkit.baselines.evaluation import predictions
from sedkit.baselines.evaluation.scores import f1_from_counts, weighted_ap, weighted_auc
from sedkit.baselines.registry import ModelEntry


def _mean(xs) -> float:
    xs = [x for x in xs if not math.isnan(x)]
    return float(np.mean(xs)) if xs else float("nan")


def tagging_metrics(y_true: np.ndarray, scores: np.ndarray, classes: list[str], threshold: float = 0.5) -> dict:
    y = np.asarray(y_true) > 0.5
    s = np.asarray(scores, dtype=np.float64)
    pred = s >= threshold
    once = np.ones((1, len(y)))  # every clip weighs one
    tp, fp, fn = (y & pred).sum(0), (~y & pred).sum(0), (y & ~pred).sum(0)
    f1 = np.nan_to_num(f1_from_counts(tp, fp, fn), nan=0.0)  # sklearn's zero_division=0
    per = {}
    for k, c in enumerate(classes):
        pos = int(y[:, k].sum())
        ap = float(weighted_ap(y[:, k], s[:, k], once)[0]) if pos else float("nan")
        auc = float(weighted_auc(y[:, k], s[:, k], once)[0]) if 0 < pos < len(y) else float("nan")
        per[c] = {"ap": ap, "auc": auc, "f1": float(f1[k]), "positives": pos}
    labelled = y.any(axis=0)
    out = {
        "f1_macro": float(np.mean(f1[labelled])) if labelled.any() else float("nan"),
        "f1_micro": float(np.nan_to_num(f1_from_counts(tp.sum(), fp.sum(), fn.sum()), nan=0.0)),
        "map": _mean(v["ap"] for v in per.values()),
        "micro_p": float(weighted_ap(y.ravel(), s.ravel(), np.ones((1, y.size)))[0]) if y.any() else float("nan"),
        "auc": _mean(v["auc"] for v in per.values()),
        "n_clips": int(len(y)),
        "per_class": per,
    }
    out["macro_p"] = out["map"]
    return out


F1_TIE_BREAK = 1e-6  # weight of the mAP in f1_select: far below one clip's change of the F-measure


def f1_then_map(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Macro F-measure + ``F1_TIE_BREAK`` x mAP: the F-measure, ties broken by the ranking quality."""
    m = tagging_metrics(y_true, scores, [str(k) for k in range(y_true.shape[1])])
    return m["f1_macro"] + F1_TIE_BREAK * (0.0 if math.isnan(m["map"]) else m["map"])


def f1_select(strategy, loader) -> float:
    """Selection metric for classifiers: macro tagging F-measure on the validation loader, ties broken by mAP.

    Without the tie-break, a model whose probabilities stay below 0.5 for its first epochs (F-measure 0 on every
    one of them) keeps its first epoch, the least trained, whose near-0.5 outputs tag many clips with everything.
    """
    y, s = _targets_and_scores(strategy, loader)
    return f1_then_map(y, s)


def map_select(strategy, loader) -> float:
    y, s = _targets_and_scores(strategy, loader)
    return tagging_metrics(y, s, [str(k) for k in range(y.shape[1])])["map"]


def micro_ap_select(strategy, loader) -> float:
    y, s = _targets_and_scores(strategy, loader)
    return tagging_metrics(y, s, [str(k) for k in range(y.shape[1])])["micro_p"]


def _targets_and_scores(strategy, loader):
    pred = predictions.collect(strategy, loader, strategy.device)
    return loader.dataset.targets.numpy()[pred["index"]], pred["clip"]


DEFAULT_THRESHOLD = 0.5  # of a model without a picked threshold (runs trained before sedkit picked one)
DECISION = "decision.json"  # a run's picked threshold; beside a split's clip_scores.tsv, the threshold it was scored at


def pick_threshold(y_true: np.ndarray, scores: np.ndarray, candidates: int = 200) -> float:
    """The one decision threshold that maximises the macro F-measure (over the classes with positives) of
    ``scores`` against ``y_true``: tried at ``candidates`` quantiles of the scores and at 0.5; ties go to the
    threshold nearest 0.5. 0.5 when no class has a positive."""
    y = np.asarray(y_true) > 0.5
    s = np.asarray(scores, dtype=np.float64)
    labelled = y.any(axis=0)
    if not labelled.any() or s.size == 0:
        return DEFAULT_THRESHOLD
    y, s = y[:, labelled], s[:, labelled]
    ts = np.unique(np.r_[np.quantile(s, np.linspace(0.0, 1.0, candidates + 1)), DEFAULT_THRESHOLD])
    pred = s[None] >= ts[:, None, None]  # (T, N, C)
    tp = (pred & y[None]).sum(1)
    fp = (pred & ~y[None]).sum(1)
    fn = (~pred & y[None]).sum(1)
    f1 = np.nan_to_num(f1_from_counts(tp, fp, fn), nan=0.0).mean(1)  # (T,)
    best = np.flatnonzero(f1 >= f1.max() - 1e-12)
    return float(ts[best[np.argmin(np.abs(ts[best] - DEFAULT_THRESHOLD))]])


def decide(entry, data_dir: str | Path, run_dir: str | Path) -> dict:
    """After training: pick the decision threshold on the validation split (:func:`pick_threshold`), write it to
    ``<run_dir>/decision.json`` and into ``entry.options`` (where :func:`evaluate` reads it)."""
    loader = entry.loader(entry.val_split)
    pred = predictions.collect(entry.strategy, loader, entry.strategy.device)
    y = loader.dataset.targets.numpy()[pred["index"]]
    t = pick_threshold(y, pred["clip"])
    decision = {"threshold": t, "picked_on": entry.val_split,
                "validation_f1_macro": tagging_metrics(y, pred["clip"], entry.classes, t)["f1_macro"],
                "rule": "one threshold for every class, maximising the validation macro F-measure"}
    atomic_write_json(Path(run_dir) / DECISION, json_safe(decision))
    entry.options["threshold"] = t
    return decision


def evaluate(entry, data_dir: str | Path, split: str, run_dir: str | Path, postprocess: str = "none") -> dict:
    """Predict ``split``, write ``predictions/<split>/``, return tagging metrics at the model's decision threshold
    (``entry.options["threshold"]``, else 0.5) with ``f1_macro_at_0.5`` beside them (``postprocess`` is ignored)."""
    loader = entry.loader(split)
    strategy = entry.strategy
    pred = predictions.collect(strategy, loader, strategy.device)
    folder = predictions.write_split(run_dir, split, pred, entry.classes, getattr(strategy, "frame_hop_s", None),
                                     entry.sample_rate)
    t = float(entry.options.get("threshold", DEFAULT_THRESHOLD))
    atomic_write_json(folder / DECISION, {"threshold": t})
    y = loader.dataset.targets.numpy()[pred["index"]]
    m = tagging_metrics(y, pred["clip"], entry.classes, t)
    m["threshold"] = t
    m["f1_macro_at_0.5"] = tagging_metrics(y, pred["clip"], entry.classes)["f1_macro"]
    return m


def read_threshold(folder: str | Path) -> float:
    """The decision threshold recorded in ``folder/decision.json`` (a run or a predictions split), else 0.5."""
    p = Path(folder) / DECISION
    return float(json.loads(p.read_text())["threshold"]) if p.is_file() else DEFAULT_THRESHOLD


def tagging_entry(spec, loaders, strategy, frontend, device, training: bool, select_metric,
                  evaluate: str = "sedkit.baselines.evaluation.tagging:evaluate") -> ModelEntry:
    """The ModelEntry of a tagging model whose spec has ``frontend``, ``data`` and ``train`` sections; with
    ``training`` also the z-score statistics (training split) and the train / validation loaders."""
    entry = ModelEntry(task="tagging", config=resolved(spec), classes=loaders.classes, strategy=strategy,
                       loader=loaders.eval_loader, evaluate=evaluate, sample_rate=spec.frontend.sr,
                       epochs=spec.train.epochs, patience=spec.train.patience, amp=spec.train.amp,
                       lr_schedule=spec.train.lr_schedule,
                       seed=spec.train.seed, val_split=spec.data.val_split, eval_splits=loaders.eval_splits(),
                       decide="sedkit.baselines.evaluation.tagging:decide")
    if training:
        train = spec.data.train_split
        frontend.to(device).fit_stats(((model_input(b), b["n_samples"]) for b in loaders.loader(train)), device)
        entry.train_loader = loaders.loader(train, shuffle=True)
        entry.val_loader = loaders.eval_loader(spec.data.val_split)
        entry.select_metric = select_metric
    return entry
