"""Per-clip data of a scored system, for the bootstrap (:mod:`sedkit.baselines.evaluation.bootstrap`).

A *scored system* is a prediction folder in sedkit's format (``predictions/<split>/`` of a run or of a benchmark
evaluation, see :mod:`~sedkit.baselines.evaluation.predictions`) plus the data dir that holds the split's labels.
:func:`clip_data` turns it into a :class:`~sedkit.baselines.evaluation.bootstrap.ClipData` for one metric, named as
in ``metrics.json``:

- tagging (``clip_scores.tsv``): ``f1_macro``, ``f1_micro``, ``map`` / ``macro_p``, ``micro_p``, ``auc``,
  ``per_class.<class>.f1|ap|auc``; F-measures (tagging and SED) at the threshold the split was scored at (its ``decision.json``,
  else 0.5);
- SED (``frame_scores/``): ``event_f1``, ``segment_f1``, ``psds1``, ``psds2``,
  ``per_class.<class>.event_f1|segment_f1``; the frames are post-processed again exactly as ``sedkit eval`` did
  (``none``, ``median`` or ``hmm`` with the tuned ``hmm_params.json``), so the values on all clips equal the
  evaluation's.

:data:`THRESHOLD_FREE` names the threshold-free companion of each thresholded metric.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from sedkit import SedkitError
from sedkit.baselines.evaluation.bootstrap import ClipData

TAGGING = {"f1_macro", "f1_micro", "map", "macro_p", "micro_p", "auc"}
SED = {"event_f1", "segment_f1", "psds1", "psds2"}
# the threshold-free companion of each thresholded metric; SED F-measures get the clip-level mAP of the same
# model's clip scores (PSDS re-runs sed_scores_eval per resample: too slow to shadow every cell at paper scale)
THRESHOLD_FREE = {"f1_macro": "map", "f1_micro": "micro_p", "event_f1": "map", "segment_f1": "map"}


def metric_family(metric: str) -> str:
    """``tagging`` or ``sed`` for a metric name; a one-line error for names the bootstrap does not know."""
    head = metric.split(".")[-1] if metric.startswith("per_class.") else metric
    if head in TAGGING or head in ("f1", "ap"):
        return "tagging"
    if head in SED:
        return "sed"
    raise SedkitError(f"metric {metric!r}: the bootstrap knows {', '.join(sorted(TAGGING | SED))} and "
                      "per_class.<class>.f1|ap|auc|event_f1|segment_f1")


def _class_index(metric: str, classes: list[str]) -> tuple[int | None, str]:
    if not metric.startswith("per_class."):
        return None, metric
    label, _, what = metric[len("per_class."):].rpartition(".")
    if label not in classes:
        raise SedkitError(f"metric {metric!r}: class {label!r} is not one of the data's classes")
    return classes.index(label), what


def tagging_clip_data(metric: str, ids: list[str], y: np.ndarray, scores: np.ndarray, classes: list[str],
                      threshold: float = 0.5) -> ClipData:
    """Clip data of a tagging metric from multi-hot targets and clip probabilities (as ``tagging_metrics``)."""
    y = (np.asarray(y) > 0.5).astype(float)
    s = np.asarray(scores, dtype=np.float64)
    k, what = _class_index(metric, classes)
    if what in ("f1", "f1_macro", "f1_micro"):
        pred = (s >= threshold).astype(float)
        counts = np.stack([y * pred, (1 - y) * pred, y * (1 - pred)], axis=-1)
        reduce = f"class:{k}" if k is not None else ("micro" if what == "f1_micro" else "macro")
        return ClipData(list(ids), "counts", reduce, counts=counts, labelled_only=True, positives=y)
    if k is None:
        reduce = {"map": "ap_macro", "macro_p": "ap_macro", "micro_p": "ap_micro", "auc": "auc_macro"}.get(what)
    else:
        reduce = {"ap": f"ap_class:{k}", "auc": f"auc_class:{k}"}.get(what)
    if reduce is None:
        raise SedkitError(f"metric {metric!r}: not a tagging metric")
    return ClipData(list(ids), "rank", reduce, y=y, scores=s)


def sed_clip_data(metric: str, reference: dict[str, list], estimate: dict[str, list], durations: dict[str, float],
                  classes: list[str], frames: dict | None = None) -> ClipData:
    """Clip data of a SED metric from reference and detected events per clip (and post-processed frames, PSDS)."""
    from sedkit.baselines.evaluation.sed import clip_counts, psds

    ids = sorted(durations)
    k, what = _class_index(metric, classes)
    if what in ("psds1", "psds2"):
        if frames is None:
            raise SedkitError(f"metric {metric}: needs the frame scores")

        def fn(clip_ids, w):
            sc, gt, du = {}, {}, {}
            for aid, n in zip(clip_ids, w):
                for j in range(int(n)):
                    name = f"{aid}#{j}"
                    sc[name], gt[name], du[name] = frames[aid], reference.get(aid, []), durations[aid]
            return psds(sc, gt, du, what)["psds"] if sc else float("nan")

        return ClipData(ids, "custom", what, fn=fn)
    ev, sg = clip_counts({a: reference.get(a, []) for a in ids}, {a: estimate.get(a, []) for a in ids}, classes,
                         durations)
    counts = ev if what in ("event_f1",) else sg if what == "segment_f1" else None
    if counts is None:
        raise SedkitError(f"metric {metric!r}: not a SED metric")
    return ClipData(ids, "counts", f"class:{k}" if k is not None else "macro", counts=counts)


def _run_config(pred_dir: Path) -> dict:
    """The config of the run a prediction folder belongs to (``<run>/predictions/<split>``), or {}."""
    import yaml

    for up in (pred_dir.parent.parent, pred_dir.parent.parent.parent):
        p = up / "config.yaml"
        if p.is_file():
            return yaml.safe_load(p.read_text()) or {}
    return {}


def clip_data(pred_dir: str | Path, data_dir: str | Path, split: str, metric: str, postprocess: str = "none",
              config: dict | None = None) -> ClipData:
    """Clip data of one scored system: ``pred_dir`` (a ``predictions/<split>/`` folder), the labels of ``split``
    of ``data_dir``, one metric. ``config``: the run's config (post-processing, sample rate); by default read from
    the run folder around ``pred_dir``."""
    from sedkit.baselines.data.folder import DataDir
    from sedkit.baselines.evaluation.predictions import audio_id, read_clip_scores
    from sedkit.baselines.evaluation.tagging import read_threshold

    pred_dir, data = Path(pred_dir), DataDir(data_dir)
    table = data.table(split)
    classes = data.classes
    family = metric_family(metric)
    if family == "tagging":
        names, scores, _ = read_clip_scores(pred_dir / "clip_scores.tsv", classes)
        labels = dict(zip(table.filenames, table.labels or [[] for _ in table.filenames]))
        unknown = [n for n in names if n not in labels]
        if unknown:
            raise SedkitError(f"{pred_dir}: clips not in split {split!r} of {data_dir}: {unknown[:3]}")
        y = np.array([[c in labels[n] for c in classes] for n in names], dtype=float)
        return tagging_clip_data(metric, [audio_id(n) for n in names], y, scores, classes, read_threshold(pred_dir))
    return _sed(pred_dir, table, classes, metric, postprocess, config if config is not None else _run_config(pred_dir))


def _sed(pred_dir: Path, table, classes: list[str], metric: str, kind: str, config: dict) -> ClipData:
    from sedkit.baselines.evaluation.postprocess import PostprocessConfig, merge_events, postprocess
    from sedkit.baselines.evaluation.predictions import audio_id
    from sedkit.baselines.evaluation.sed import quiet_import

    if table.events is None:
        raise SedkitError(f"split {table.split!r} has no strong labels; {metric} needs them")
    folder = pred_dir / "frame_scores"
    if not folder.is_dir():
        raise SedkitError(f"{pred_dir}: no frame_scores/ (not a SED model's predictions?)")
    scores = quiet_import("sed_scores_eval.base_modules.io").read_sed_scores(folder)
    hmm = None
    if kind == "hmm":
        p = pred_dir / "hmm_params.json"
        if not p.is_file():
            raise SedkitError(f"{pred_dir}: no hmm_params.json; evaluate with --postprocess hmm first")
        hmm = json.loads(p.read_text())
        if "held_out_ids" in hmm and table.split == (config.get("data") or {}).get("val_split"):
            scores = {a: scores[a] for a in hmm["held_out_ids"]}
    cfg = PostprocessConfig.model_validate(config.get("postprocess") or {})
    if (pred_dir / "decision.json").is_file():  # the threshold the split was scored at (picked on validation)
        from sedkit.baselines.evaluation.tagging import read_threshold

        cfg = cfg.model_copy(update={"threshold": read_threshold(pred_dir)})
    frames, events = postprocess(kind, scores, classes, cfg, hmm)
    sr = ((config.get("frontend") or {}).get("sr"))
    names = {audio_id(n): n for n in table.filenames}
    durations = {}
    for aid in frames:
        d = table.durations.get(names.get(aid, aid))
        if d is None:
            raise SedkitError(f"{pred_dir}: no duration for clip {aid}")
        durations[aid] = int(round(d * sr)) / sr if sr else d  # as the evaluation: whole samples at the model's rate
    gt = {audio_id(n): merge_events(evs) for n, evs in table.events.items()}
    return sed_clip_data(metric, {a: gt.get(a, []) for a in frames}, events, durations, classes, frames)
