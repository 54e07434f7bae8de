"""SED metrics: sed_eval event/segment macro F1, PSDS1/PSDS2 through sed_scores_eval, tables and PNGs.

Clips are keyed by audio id (the file name without its extension, as sed_scores_eval does); events are
``(onset, offset, label)`` tuples. Settings (DESED / DCASE task 4):
- event-based F1: collar 200 ms on onsets, offsets within max(200 ms, 20 % of the event length);
- segment-based F1: 1 s segments;
- PSDS1: dtc = gtc = 0.7, alpha_ct = 0; PSDS2: dtc = gtc = 0.1, cttc = 0.3, alpha_ct = 0.5; both alpha_st = 1,
  max_efpr = 100 per hour (the DESED recipe's values).
"""
from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from sedkit import SedkitError
from sedkit.synth.io import atomic_path, atomic_write_json, atomic_write_text

EVENT_COLLAR_S = 0.2
EVENT_OFFSET_FRACTION = 0.2
SEGMENT_S = 1.0
MAX_EFPR = 100.0
PSDS_SCENARIOS = {
    "psds1": {"dtc_threshold": 0.7, "gtc_threshold": 0.7, "cttc_threshold": None, "alpha_ct": 0.0, "alpha_st": 1.0},
    "psds2": {"dtc_threshold": 0.1, "gtc_threshold": 0.1, "cttc_threshold": 0.3, "alpha_ct": 0.5, "alpha_st": 1.0},
}


def quiet_import(module: str):
    """Import a module of the sed_eval family without the pkg_resources deprecation warning of dcase_util."""
    import importlib

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return importlib.import_module(module)


def _event_dicts(aid: str, events) -> list[dict]:
    return [{"filename": aid, "onset": float(a), "offset": float(b), "event_label": lab} for a, b, lab in events]


def event_segment_f1(reference: dict[str, list], estimate: dict[str, list], classes: list[str],
                     durations: dict[str, float] | None = None, segment: bool = True) -> dict:
    """sed_eval event-based (and segment-based) F1, evaluated clip by clip over every clip of either side.

    Returns ``{"event": {"macro_f1", "macro_f1_sed_eval", "micro_f1", "per_class": {label: f1}}, "segment": {...}}``
    (F1 in [0, 1]; see :func:`_f1_summary` for classes without detections).
    """
    ev = sg = None
    for _, ev, sg in _sed_eval_clips(reference, estimate, classes, durations, segment):
        pass
    if ev is None:  # no clip at all: empty metrics objects
        ev, sg = _sed_eval_metrics(classes, segment)
    out = {"event": _f1_summary(ev)}
    if sg is not None:
        out["segment"] = _f1_summary(sg)
    return out


def _sed_eval_metrics(classes: list[str], segment: bool):
    se = quiet_import("sed_eval")
    ev = se.sound_event.EventBasedMetrics(event_label_list=list(classes), t_collar=EVENT_COLLAR_S,
                                          percentage_of_length=EVENT_OFFSET_FRACTION)
    sg = se.sound_event.SegmentBasedMetrics(event_label_list=list(classes), time_resolution=SEGMENT_S) if segment else None
    return ev, sg


def _sed_eval_clips(reference: dict[str, list], estimate: dict[str, list], classes: list[str],
                    durations: dict[str, float] | None, segment: bool = True):
    """Feed sed_eval one clip at a time (its matching is per clip); yields ``(audio_id, event, segment)`` metric
    objects after each clip, their class-wise counts accumulated so far."""
    dcase_util = quiet_import("dcase_util")

    ev, sg = _sed_eval_metrics(classes, segment)
    unknown = sorted({e[2] for evs in [*reference.values(), *estimate.values()] for e in evs} - set(classes))
    if unknown:
        raise SedkitError(f"events with labels not in the class list: {unknown}")
    for aid in sorted(set(reference) | set(estimate) | set(durations or {})):
        ref = dcase_util.containers.MetaDataContainer(_event_dicts(aid, reference.get(aid, [])))
        est = dcase_util.containers.MetaDataContainer(_event_dicts(aid, estimate.get(aid, [])))
        ev.evaluate(reference_event_list=ref, estimated_event_list=est)
        if sg is not None:
            length = (durations or {}).get(aid)
            if length is None:
                length = max([0.0, *[e["offset"] for e in ref], *[e["offset"] for e in est]])
            sg.evaluate(reference_event_list=ref, estimated_event_list=est, evaluated_length_seconds=length)
        yield aid, ev, sg


def clip_counts(reference: dict[str, list], estimate: dict[str, list], classes: list[str],
                durations: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """sed_eval's event- and segment-based class-wise counts, clip by clip: two ``(N, C, 3)`` arrays of (TP, FP,
    FN), clips in sorted audio-id order. Their sums over clips are sed_eval's counts on the whole set, so any
    weighted resample's F1 is a weighted sum (:mod:`~sedkit.baselines.evaluation.bootstrap`)."""
    rows_ev, rows_sg = [], []
    prev_ev = prev_sg = np.zeros((len(classes), 3))
    for _, ev, sg in _sed_eval_clips(reference, estimate, classes, durations):
        now_ev = np.array([[ev.class_wise[c][k] for k in ("Ntp", "Nfp", "Nfn")] for c in classes], dtype=float)
        now_sg = np.array([[sg.class_wise[c][k] for k in ("Ntp", "Nfp", "Nfn")] for c in classes], dtype=float)
        rows_ev.append(now_ev - prev_ev)
        rows_sg.append(now_sg - prev_sg)
        prev_ev, prev_sg = now_ev, now_sg
    empty = np.zeros((0, len(classes), 3))
    return (np.stack(rows_ev) if rows_ev else empty), (np.stack(rows_sg) if rows_sg else empty)


def _f1_summary(metric) -> dict:
    """Per-class F1 from sed_eval's class-wise counts, ``2TP / (2TP + FP + FN)``.

    This equals sed_eval's class-wise F-measure wherever sed_eval defines it; sed_eval returns NaN for a class with
    reference events but no detections (precision 0/0) and its class-wise average then skips that class, which
    would reward missing a class entirely. Here such a class scores 0; NaN is left only for classes with neither
    reference nor detected events. ``macro_f1`` is the mean over the defined classes; sed_eval's own average is kept
    as ``macro_f1_sed_eval``.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "mean of empty slice" when no class is defined
        r = metric.results()
    per = {}
    for c, n in metric.class_wise.items():
        tp, fp, fn = float(n["Ntp"]), float(n["Nfp"]), float(n["Nfn"])
        per[c] = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn > 0 else float("nan")
    vals = [v for v in per.values() if not math.isnan(v)]
    return {"macro_f1": float(np.mean(vals)) if vals else float("nan"),
            "macro_f1_sed_eval": float(r["class_wise_average"]["f_measure"]["f_measure"]),
            "micro_f1": float(r["overall"]["f_measure"]["f_measure"]), "per_class": per}


def psds(scores: dict[str, pd.DataFrame] | str | Path, ground_truth: dict[str, list],
         durations: dict[str, float], scenario: str) -> dict:
    """PSDS of one DESED scenario (``psds1``/``psds2``) from sed_scores_eval frames (a dict or a folder of
    ``<audio_id>.tsv`` score files). Returns the value, per-class values and the PSD-ROC curve."""
    parse_scores = quiet_import("sed_scores_eval.base_modules.io").parse_scores
    _psds = quiet_import("sed_scores_eval.intersection_based.psds").psds

    if scenario not in PSDS_SCENARIOS:
        raise SedkitError(f"unknown PSDS scenario {scenario!r}; expected one of {sorted(PSDS_SCENARIOS)}")
    scores, ids = parse_scores(scores if isinstance(scores, dict) else Path(scores))
    missing = sorted(set(ids) - set(durations))
    if missing:
        raise SedkitError(f"no duration for scored clip(s) {missing[:3]}{' ...' if len(missing) > 3 else ''}")
    gt = {aid: [list(e) for e in ground_truth.get(aid, [])] for aid in ids}
    # sed_scores_eval refuses classes without any reference event: those are left out (per-class NaN)
    with_gt = {e[2] for evs in gt.values() for e in evs}
    all_classes = [c for c in scores[ids[0]].columns if c not in ("onset", "offset")] if ids else []
    kept = [c for c in all_classes if c in with_gt]
    nan_classes = {c: float("nan") for c in all_classes if c not in with_gt}
    if not kept:
        return {"psds": float("nan"), "per_class": nan_classes, "roc": {"tpr": [], "efpr": []}, "left_out": all_classes}
    if nan_classes:
        scores = {aid: scores[aid][["onset", "offset", *kept]] for aid in ids}
    value, per_class, (tpr, efpr), _ = _psds(
        scores, gt, {aid: float(durations[aid]) for aid in ids}, max_efpr=MAX_EFPR, **PSDS_SCENARIOS[scenario])
    return {"psds": float(value), "per_class": {**{c: float(v) for c, v in per_class.items()}, **nan_classes},
            "roc": {"tpr": np.asarray(tpr).tolist(), "efpr": np.asarray(efpr).tolist()},
            "left_out": sorted(nan_classes)}


def evaluate_scores(scores: dict[str, pd.DataFrame], ground_truth: dict[str, list], durations: dict[str, float],
                    classes: list[str], kind: str, cfg, hmm_params: dict | None = None) -> dict:
    """Post-process (``none|median|hmm``) then event F1, segment F1, PSDS1 and PSDS2 on the given clips.

    The post-processed event lists are returned under ``"events"`` (:func:`write_report` leaves them out)."""
    from sedkit.baselines.evaluation.postprocess import postprocess

    frames, events = postprocess(kind, scores, classes, cfg, hmm_params)
    ref = {aid: ground_truth.get(aid, []) for aid in frames}
    f1 = event_segment_f1(ref, events, classes, {aid: durations[aid] for aid in frames})
    out = {"postprocess": kind, "n_clips": len(frames), **f1, "events": events}
    for sc in PSDS_SCENARIOS:
        out[sc] = psds(frames, ref, durations, sc)
    return out


# ---------------------------------------------------------------- tables and plots

def _fmt(v: float) -> str:
    return "nan" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.4f}"


def tables(results: dict[str, dict], classes: list[str]) -> tuple[str, str]:
    """``(macro TSV, per-class TSV)`` text for ``{postprocess kind: evaluate_scores(...)}``."""
    macro = ["postprocess\tevent_f1\tsegment_f1\tpsds1\tpsds2"]
    per = ["postprocess\tclass\tevent_f1\tsegment_f1\tpsds1\tpsds2"]
    for kind, r in results.items():
        macro.append("\t".join([kind, _fmt(r["event"]["macro_f1"]), _fmt(r["segment"]["macro_f1"]),
                                _fmt(r["psds1"]["psds"]), _fmt(r["psds2"]["psds"])]))
        for c in classes:
            per.append("\t".join([kind, c, _fmt(r["event"]["per_class"].get(c)), _fmt(r["segment"]["per_class"].get(c)),
                                  _fmt(r["psds1"]["per_class"].get(c)), _fmt(r["psds2"]["per_class"].get(c))]))
    return "\n".join(macro) + "\n", "\n".join(per) + "\n"


def plot_f1_bars(results: dict[str, dict], classes: list[str], path: Path) -> Path:
    from sedkit.synth.card import figure

    fig, axes = figure(2, 1, figsize=(max(6, 0.7 * len(classes) + 2), 6.5), sharex=True)
    x = np.arange(len(classes))
    w = 0.8 / max(len(results), 1)
    for ax, metric in zip(axes, ("event", "segment")):
        for i, (kind, r) in enumerate(results.items()):
            vals = [np.nan_to_num(r[metric]["per_class"].get(c, np.nan)) for c in classes]
            ax.bar(x + (i - (len(results) - 1) / 2) * w, vals, w,
                   label=f"{kind} (macro {r[metric]['macro_f1']:.3f})")
        ax.set_ylabel(f"{metric} F1")
        ax.set_ylim(0, 1)
        ax.legend(fontsize=7, loc="upper right")
    axes[1].set_xticks(x, classes, rotation=45, ha="right", fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    return path


def plot_psd_roc(results: dict[str, dict], path: Path) -> Path:
    from sedkit.synth.card import figure

    fig, axes = figure(1, 2, figsize=(10, 4))
    for ax, sc in zip(axes, PSDS_SCENARIOS):
        for kind, r in results.items():
            roc = r[sc]["roc"]
            ax.step(roc["efpr"], roc["tpr"], where="post", label=f"{kind} ({r[sc]['psds']:.3f})")
        ax.set_xlim(0, MAX_EFPR)
        ax.set_ylim(0, 1)
        ax.set_xlabel("eFPR (per hour)")
        ax.set_ylabel("eTPR")
        ax.set_title(sc.upper())
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    return path


def write_report(out_dir: str | Path, results: dict[str, dict], classes: list[str], prefix: str = "") -> dict:
    """Write ``<prefix>metrics.json`` (curves included), macro and per-class TSVs and the two PNGs into out_dir."""
    out = Path(out_dir)
    macro, per = tables(results, classes)
    paths = {"metrics": out / f"{prefix}metrics.json", "macro": out / f"{prefix}macro.tsv",
             "per_class": out / f"{prefix}per_class.tsv", "f1_png": out / f"{prefix}f1_per_class.png",
             "psd_roc_png": out / f"{prefix}psd_roc.png"}
    atomic_write_json(paths["metrics"], {k: {kk: v for kk, v in r.items() if kk != "events"} for k, r in results.items()})
    atomic_write_text(paths["macro"], macro)
    atomic_write_text(paths["per_class"], per)
    plot_f1_bars(results, classes, paths["f1_png"])
    plot_psd_roc(results, paths["psd_roc_png"])
    return paths
