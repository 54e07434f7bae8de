"""The CRNN family as registry models: spec, builder, selection metric and evaluation.

A SED model spec (``specs/models/crnn*.yaml``, ``specs/models/tri-training*.yaml``) has the sections
``frontend`` (:class:`~sedkit.baselines.models.frontends.FrontendSpec`),
``net`` (:class:`~sedkit.baselines.models.crnn.CRNNConfig`),
``strategy`` (:class:`~sedkit.baselines.strategies.sed.StrategySpec`), ``data``
(:class:`~sedkit.baselines.data.sed.SEDDataSpec`), ``train`` (:class:`~sedkit.baselines.trainer.TrainSpec`) and
``postprocess`` (:class:`~sedkit.baselines.evaluation.postprocess.PostprocessConfig`). ``extends: models/<model>`` starts from
another built-in model spec and overrides it key by key (:func:`sedkit.specs.inherit`).

Evaluation of a split (``sedkit train`` after training, ``sedkit eval --postprocess none|median|hmm``): predict,
write ``predictions/<split>/`` (clip scores, sed_scores_eval frame score files), read the score files back, post-process
them, then sed_eval event/segment macro F1 and sed_scores_eval PSDS1/PSDS2. The report (``<kind>_metrics.json``,
``<kind>_macro.tsv``, ``<kind>_per_class.tsv``, ``<kind>_f1_per_class.png``, ``<kind>_psd_roc.png``) and
``detections_<kind>.tsv`` go to ``predictions/<split>/``; ``all_*`` files put every kind evaluated so far in that
folder side by side (re-evaluate all kinds after changing checkpoints). HMM transitions are tuned on a seeded half of the
validation split (when the evaluated split *is* validation, the metrics are on the other half) and saved as
``predictions/<split>/hmm_params.json``.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from sedkit import SedkitError
from sedkit.baselines.evaluation import predictions
from sedkit.baselines.evaluation.predictions import audio_id
from sedkit.baselines.models.crnn import CRNNConfig
from sedkit.baselines.data.folder import DataDir
from sedkit.baselines.models.frontends import FrontendSpec
from sedkit.baselines.evaluation.postprocess import (PostprocessConfig, arrays_to_frames, merge_events,
                                                     pick_event_threshold, postprocess as apply_postprocess,
                                                     tune_hmm)
from sedkit.baselines.registry import ModelEntry
from sedkit.baselines.data.augment import DeviceMixing, MixedRole
from sedkit.baselines.data.features import model_input
from sedkit.baselines.data.sed import SEDData, SEDDataSpec
from sedkit.baselines.evaluation.tagging import DECISION
from sedkit.baselines.evaluation.sed import evaluate_scores, event_segment_f1, quiet_import, write_report
from sedkit.baselines.strategies.sed import CRNNStrategy, StrategySpec
from sedkit.baselines.trainer import TrainSpec
from sedkit.baselines.strategies.tri_training import TriTrainingStrategy
from sedkit.specs import Spec, load_spec, resolved
from sedkit.synth.io import atomic_write_json, json_safe

EVALUATE = "sedkit.baselines.models.sed:evaluate"
DECIDE = "sedkit.baselines.models.sed:decide"


class SEDModelSpec(Spec):
    description: str
    frontend: FrontendSpec
    net: CRNNConfig
    strategy: StrategySpec
    data: SEDDataSpec
    train: TrainSpec
    postprocess: PostprocessConfig


SPEC = SEDModelSpec  # validates specs/models/<name>.yaml for this module's models


def build(cfg: dict, data_dir: Path, device, training: bool = True) -> ModelEntry:
    spec = load_spec(SEDModelSpec, data=cfg)
    fe = spec.frontend
    data = SEDData(data_dir, spec.data, fe, spec.net.time_pool, spec.train.seed, device)
    classes = data.classes
    train_loader = data.train_loader(device) if training else None
    tri = spec.strategy.kind == "tri_training"
    strategy = TriTrainingStrategy(spec) if tri else CRNNStrategy(spec)
    try:
        strategy.build(spec.train, len(classes), device, len(train_loader) if training else 1)
    except ValueError as e:
        raise SedkitError(f"model spec: {e}") from None
    strategy.frame_hop_s = data.hop_out
    strong = train_loader.dataset.parts.get("synthetic") if training else None
    if isinstance(strong, MixedRole) and strong.mixer.render == "draw":
        strategy.device_mixing = DeviceMixing(strong, device)
    if training and fe.norm == "zscore":
        strategy.nets["frontend"].fit_stats(((model_input(b), b["n_samples"]) for b in data.loader(spec.data.synthetic)),
                                           device)
    if tri:
        strategy.pseudo_loaders = {r: ld for r in ("weak", "unlabel") if (ld := data.role_loader(r)) is not None}
    has_val = data.dd.has_split(spec.data.val_split)
    patience = spec.train.patience
    if tri and patience is not None:  # no early stop before phase 2 has had `patience` epochs
        patience += spec.strategy.tri_training.phase1_epochs
    return ModelEntry(
        task="sed", config=resolved(spec), classes=classes, strategy=strategy, loader=data.loader,
        evaluate=EVALUATE, sample_rate=fe.sr, train_loader=train_loader,
        val_loader=data.loader(spec.data.val_split) if has_val and training else None,
        select_metric=event_f1_select(data, spec) if has_val and training else None,
        epochs=spec.train.epochs, patience=patience, amp=spec.train.amp, lr_schedule=spec.train.lr_schedule,
        seed=spec.train.seed,
        val_split=spec.data.val_split, eval_splits=data.eval_splits(), decide=DECIDE)


def event_f1_select(data: SEDData, spec: SEDModelSpec):
    """Selection metric: the validation event macro F1 at the best decision threshold, the rule :func:`decide` picks
    the threshold by (:func:`~sedkit.baselines.evaluation.postprocess.pick_event_threshold`: median filter, one
    threshold of 0.05 ... 0.95 for every class). An epoch is thus chosen by the F1 it will be scored at, not at a
    fixed 0.5 that under-confident models never reach. Ft for tri-training; NaN during its phase 1, so the best
    checkpoint comes from phase 2."""
    table = data.dd.table(spec.data.val_split)
    classes = data.classes

    def select(strategy, loader) -> float:
        if getattr(strategy, "phase", 2) == 1:
            return float("nan")
        pred = predictions.collect(strategy, loader, strategy.device)
        scores = {name: arrays_to_frames(fr, np.arange(fr.shape[0] + 1) * data.hop_out, classes)
                  for name, fr in zip(pred["filename"], pred["frame"])}
        return pick_event_threshold(scores, table.events or {}, classes, spec.postprocess)["event_f1"]

    return select


def predict_split(entry: ModelEntry, data_dir: Path, split: str, run_dir: Path):
    """Predict a split, write ``predictions/<split>/``, read the frame score files back.

    Returns ``(scores {audio_id: DataFrame}, ground truth {audio_id: events}, durations {audio_id: s})``.
    """
    read_sed_scores = quiet_import("sed_scores_eval.base_modules.io").read_sed_scores
    table = DataDir(data_dir).table(split)
    if table.events is None:
        raise SedkitError(f"{data_dir}: split {split!r} has no strong labels; event metrics need "
                          f"metadata/{split}.tsv strong or metadata/{split}_strong.tsv")
    strategy = entry.strategy
    pred = predictions.collect(strategy, entry.loader(split), strategy.device)
    sr = entry.sample_rate
    pred["n_samples"] = np.array([int(round(table.durations[n] * sr)) if n in table.durations else int(n_s)
                                  for n, n_s in zip(pred["filename"], pred["n_samples"])])
    out = predictions.write_split(run_dir, split, pred, entry.classes, strategy.frame_hop_s, sr)
    scores = read_sed_scores(out / "frame_scores")
    gt = {audio_id(n): merge_events(evs) for n, evs in table.events.items()}  # PSDS refuses overlapping events
    dur = {audio_id(n): n_s / sr for n, n_s in zip(pred["filename"], pred["n_samples"])}
    return scores, gt, dur


def decide(entry: ModelEntry, data_dir: str | Path, run_dir: str | Path) -> dict:
    """After training: the decision threshold of the event and segment F-measures, picked on the validation split
    (:func:`~sedkit.baselines.evaluation.postprocess.pick_event_threshold`: the best validation event macro F1
    after the median filter, of 0.05 ... 0.95); written to ``<run_dir>/decision.json`` and ``entry.options``.
    Without strong labels on validation the threshold stays at the spec's."""
    data_dir, run_dir = Path(data_dir), Path(run_dir)
    pp = PostprocessConfig.model_validate(entry.config["postprocess"])
    if DataDir(data_dir).table(entry.val_split).events is None:
        decision = {"threshold": pp.threshold, "picked_on": None,
                    "rule": f"the spec's threshold: split {entry.val_split!r} has no strong labels to pick one on"}
    else:
        scores, gt, dur = predict_split(entry, data_dir, entry.val_split, run_dir)
        pick = pick_event_threshold(scores, gt, entry.classes, pp, dur)
        decision = {**pick, "picked_on": entry.val_split,
                    "rule": "one threshold for every class, maximising the validation event macro F1 after the "
                            "median filter"}
    atomic_write_json(run_dir / DECISION, json_safe(decision))
    entry.options["threshold"] = float(decision["threshold"])
    return decision


def evaluate(entry: ModelEntry, data_dir: str | Path, split: str, run_dir: str | Path,
             postprocess: str = "none") -> dict:
    """Post-process and score ``split`` at the model's decision threshold (``entry.options["threshold"]``, picked
    on validation by :func:`decide`; else the spec's), with the event F1 at the spec's threshold beside it."""
    data_dir, run_dir = Path(data_dir), Path(run_dir)
    pp = PostprocessConfig.model_validate(entry.config["postprocess"])
    spec_threshold = pp.threshold
    pp = pp.model_copy(update={"threshold": float(entry.options.get("threshold", pp.threshold))})
    scores, gt, dur = predict_split(entry, data_dir, split, run_dir)
    ids = sorted(scores)
    hmm = None
    if postprocess == "hmm":
        val = entry.val_split
        v_scores, v_gt, v_dur = (scores, gt, dur) if split == val else predict_split(entry, data_dir, val, run_dir)
        hmm = tune_hmm(v_scores, v_gt, entry.classes, pp.hmm, v_dur, tau=pp.threshold)
        if split == val:
            ids = hmm["held_out_ids"]
        atomic_write_json(predictions.split_dir(run_dir, split) / "hmm_params.json", hmm)
    res = evaluate_scores({k: scores[k] for k in ids}, gt, dur, entry.classes, postprocess, pp, hmm)
    folder = predictions.split_dir(run_dir, split)
    atomic_write_json(folder / DECISION, {"threshold": pp.threshold})
    at_spec = None
    if spec_threshold != pp.threshold:
        _, ev = apply_postprocess(postprocess, {k: scores[k] for k in ids}, entry.classes,
                                  pp.model_copy(update={"threshold": spec_threshold}), hmm)
        at_spec = event_segment_f1({k: gt.get(k, []) for k in ids}, ev, entry.classes, segment=False)
        at_spec = at_spec["event"]["macro_f1"]
    names = {audio_id(n): n for n in DataDir(data_dir).table(split).filenames}
    predictions.write_detections(folder / f"detections_{postprocess}.tsv",
                                 [(names.get(a, a), on, off, lab) for a, evs in res.pop("events").items()
                                  for on, off, lab in evs])
    write_report(folder, {postprocess: res}, entry.classes, prefix=f"{postprocess}_")
    done = {}  # side by side: every post-processing evaluated so far for this split
    for kind in ("none", "median", "hmm"):
        p = folder / f"{kind}_metrics.json"
        if p.exists():
            done[kind] = res if kind == postprocess else json.loads(p.read_text())[kind]
    write_report(folder, done, entry.classes, prefix="all_")
    per_class = {c: {"event_f1": res["event"]["per_class"].get(c), "segment_f1": res["segment"]["per_class"].get(c),
                     "psds1": res["psds1"]["per_class"].get(c), "psds2": res["psds2"]["per_class"].get(c)}
                 for c in entry.classes}
    return {"postprocess": postprocess, "n_clips": res["n_clips"], "event_f1": res["event"]["macro_f1"],
            "threshold": pp.threshold, f"event_f1_at_{spec_threshold:g}": (res["event"]["macro_f1"] if at_spec is None
                                                                          else at_spec),
            "segment_f1": res["segment"]["macro_f1"], "psds1": res["psds1"]["psds"], "psds2": res["psds2"]["psds"],
            "per_class": per_class, **({"hmm": {k: hmm[k] for k in ("stay_silence", "stay_event")}} if hmm else {})}
