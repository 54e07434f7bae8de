"""Post-processing of frame scores: median filter, HMM (Viterbi) smoothing, and scores -> event lists.

Scores are sed_scores_eval frames: ``{audio_id: DataFrame(onset, offset, <class>...)}``, or per clip a ``(T, C)``
array with ``timestamps (T+1,)``. Three kinds (``sedkit eval --postprocess``):

- ``none``: events = frames with score >= threshold; PSDS on the raw scores.
- ``median``: scores median-filtered along time (one size for all classes, or one per class), then as ``none``.
- ``hmm``: one 2-state HMM per class (silence/event). The silence self-loop ``s`` is shared by all classes, the event
  self-loop ``e_c`` is per class; Viterbi decoding on the frame posteriors ``[1-p, p]``. Afterwards events of
  ``min_frames`` frames or fewer are deleted and same-class events that overlap (or are closer than ``merge_gap_s``)
  are merged. ``s`` and ``e_c`` are tuned on half of validation to maximise the sed_eval event-based macro F1 with a
  seeded search (:func:`tune_hmm`). For PSDS, a decision threshold ``tau`` enters the emissions as a prior,
  ``[(1-p) tau, p (1-tau)]`` (so with flat transitions a frame is active iff ``p > tau``); the HMM is decoded on a
  grid of ``tau`` and each frame's score is the largest ``tau`` at which it is still active after deletion/merging.
"""
from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
import pandas as pd
from scipy.ndimage import median_filter as _scipy_median

from sedkit import SedkitError
from sedkit.specs import Spec

EPS = 1e-7


class HMMConfig(Spec):
    defaults_from: ClassVar[str] = "models/crnn#postprocess.hmm"
    n_calls: int  # event-F1 evaluations in the search
    n_silence: int  # distinct shared-silence values tried (n_calls // n_silence event vectors each)
    stay_min: float  # self-loop probabilities are searched in [stay_min, stay_max], log-uniform in 1 - p
    stay_max: float
    min_frames: int  # events of this many frames or fewer are deleted after decoding
    merge_gap_s: float  # same-class events closer than this are merged (0: only overlapping/touching)
    n_thresholds: int  # decision thresholds for the PSDS scores of HMM output
    seed: int


class PostprocessConfig(Spec):
    defaults_from: ClassVar[str] = "models/crnn#postprocess"
    threshold: float
    median: int | list[int]  # frames; one for all classes or one per class
    hmm: HMMConfig


# ---------------------------------------------------------------- arrays <-> sed_scores_eval frames

def frames_to_arrays(df: pd.DataFrame, classes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(scores (T, C), timestamps (T+1,))`` from one sed_scores_eval DataFrame, columns in ``classes`` order."""
    missing = [c for c in classes if c not in df.columns]
    if missing:
        raise SedkitError(f"score frame has no column for class(es) {missing}")
    ts = np.concatenate([df["onset"].to_numpy(float), df["offset"].to_numpy(float)[-1:]])
    return df[classes].to_numpy(float), ts


def arrays_to_frames(scores: np.ndarray, timestamps: np.ndarray, classes: list[str]) -> pd.DataFrame:
    return pd.DataFrame(np.concatenate([timestamps[:-1, None], timestamps[1:, None], scores], axis=1),
                        columns=["onset", "offset", *classes])


# ---------------------------------------------------------------- median filter

def median_filter(scores: np.ndarray, size: int | list[int]) -> np.ndarray:
    """Median along time of ``(T, C)`` scores; ``size`` frames for all classes or a list with one size per class."""
    sizes = [size] * scores.shape[1] if isinstance(size, int) else list(size)
    if len(sizes) != scores.shape[1]:
        raise SedkitError(f"median filter: {len(sizes)} sizes given for {scores.shape[1]} classes")
    out = np.empty_like(scores)
    for c, k in enumerate(sizes):
        out[:, c] = _scipy_median(scores[:, c], size=max(int(k), 1), mode="nearest")
    return out


# ---------------------------------------------------------------- Viterbi

def viterbi(post: np.ndarray, stay_sil, stay_ev, tau=0.5) -> np.ndarray:
    """Most likely silence/event path of independent 2-state HMMs, vectorised over columns.

    ``post (T, K)``: event posteriors of K independent chains (e.g. classes x clips x thresholds);
    ``stay_sil``, ``stay_ev``, ``tau``: scalars or ``(K,)``. Returns a bool ``(T, K)`` array (True = event).
    """
    post = np.clip(np.asarray(post, float), EPS, 1 - EPS)
    t_len, k = post.shape
    ss = np.broadcast_to(np.clip(np.asarray(stay_sil, float), EPS, 1 - EPS), (k,))
    se = np.broadcast_to(np.clip(np.asarray(stay_ev, float), EPS, 1 - EPS), (k,))
    tau = np.broadcast_to(np.clip(np.asarray(tau, float), EPS, 1 - EPS), (k,))
    l00, l01, l10, l11 = np.log(ss), np.log1p(-ss), np.log1p(-se), np.log(se)  # l_ij: state i -> state j
    em0 = np.log1p(-post) + np.log(tau)
    em1 = np.log(post) + np.log1p(-tau)
    back = np.empty((t_len, 2, k), bool)  # back[t, j]: previous state was 1
    d0, d1 = em0[0] + np.log(0.5), em1[0] + np.log(0.5)
    for t in range(1, t_len):
        a0, b0 = d0 + l00, d1 + l10
        a1, b1 = d0 + l01, d1 + l11
        back[t, 0], back[t, 1] = b0 > a0, b1 > a1
        d0 = np.maximum(a0, b0) + em0[t]
        d1 = np.maximum(a1, b1) + em1[t]
    path = np.empty((t_len, k), bool)
    state = d1 > d0
    path[-1] = state
    cols = np.arange(k)
    for t in range(t_len - 1, 0, -1):
        state = back[t, state.astype(np.intp), cols]
        path[t - 1] = state
    return path


# ---------------------------------------------------------------- decisions -> events

def delete_short(active: np.ndarray, min_frames: int) -> np.ndarray:
    """Set to False every run of True of ``min_frames`` frames or fewer, per column of ``(T, K)``."""
    if min_frames <= 0:
        return active
    a = np.asarray(active, bool)
    pad = np.zeros((1, a.shape[1]), bool)
    d = np.diff(np.concatenate([pad, a, pad]).astype(np.int8), axis=0)
    out = a.copy()
    for col in range(a.shape[1]):
        starts, ends = np.flatnonzero(d[:, col] == 1), np.flatnonzero(d[:, col] == -1)
        for s, e in zip(starts, ends):
            if e - s <= min_frames:
                out[s:e, col] = False
    return out


def merge_events(events: list[tuple[float, float, str]], gap_s: float = 0.0) -> list[tuple[float, float, str]]:
    """Merge same-class events that overlap or are at most ``gap_s`` apart; sorted by label then onset."""
    out: list[list] = []
    for on, off, lab in sorted(events, key=lambda e: (e[2], e[0], e[1])):
        if out and out[-1][2] == lab and on <= out[-1][1] + gap_s:
            out[-1][1] = max(out[-1][1], off)
        else:
            out.append([on, off, lab])
    return [(float(a), float(b), c) for a, b, c in out]


def active_to_events(active: np.ndarray, timestamps: np.ndarray, classes: list[str],
                     gap_s: float = 0.0) -> list[tuple[float, float, str]]:
    """Runs of True in ``(T, C)`` decisions -> merged ``(onset, offset, label)`` events."""
    a = np.asarray(active, bool)
    pad = np.zeros((1, a.shape[1]), bool)
    d = np.diff(np.concatenate([pad, a, pad]).astype(np.int8), axis=0)
    events = []
    for c, lab in enumerate(classes):
        for s, e in zip(np.flatnonzero(d[:, c] == 1), np.flatnonzero(d[:, c] == -1)):
            events.append((float(timestamps[s]), float(timestamps[e]), lab))
    return merge_events(events, gap_s)


# ---------------------------------------------------------------- HMM decode for one clip

def hmm_decode(scores: np.ndarray, stay_sil: float, stay_ev, cfg: HMMConfig, tau: float = 0.5) -> np.ndarray:
    """HMM decisions ``(T, C)`` for one clip, short events deleted."""
    return delete_short(viterbi(scores, stay_sil, stay_ev, tau), cfg.min_frames)


def hmm_decode_clips(clips: dict[str, tuple[np.ndarray, np.ndarray]], stay_sil: float, stay_ev,
                     cfg: HMMConfig, tau: float = 0.5) -> dict[str, np.ndarray]:
    """:func:`hmm_decode` of many clips ``{id: (scores (T, C), timestamps)}`` in one Viterbi pass per clip length."""
    by_len: dict[int, list[str]] = {}
    for aid, (x, _) in clips.items():
        by_len.setdefault(x.shape[0], []).append(aid)
    out = {}
    for t_len, ids in by_len.items():
        c = clips[ids[0]][0].shape[1]
        cols = np.concatenate([clips[aid][0] for aid in ids], axis=1)  # (T, n * C)
        ev = np.tile(np.broadcast_to(np.asarray(stay_ev, float), (c,)), len(ids))
        act = delete_short(viterbi(cols, stay_sil, ev, tau), cfg.min_frames)
        for k, aid in enumerate(ids):
            out[aid] = act[:, k * c:(k + 1) * c]
    return out


def hmm_scores(scores: np.ndarray, stay_sil: float, stay_ev, cfg: HMMConfig) -> np.ndarray:
    """Threshold-independent scores of HMM output: per frame, the largest ``tau`` of the grid still decoded active."""
    t_len, c = scores.shape
    taus = np.linspace(0.0, 1.0, cfg.n_thresholds + 2)[1:-1]
    post = np.repeat(scores, len(taus), axis=1)  # columns: class-major, tau-minor
    k_tau = np.tile(taus, c)
    k_ev = np.repeat(np.broadcast_to(np.asarray(stay_ev, float), (c,)), len(taus))
    act = delete_short(viterbi(post, stay_sil, k_ev, k_tau), cfg.min_frames).reshape(t_len, c, len(taus))
    return np.where(act, taus[None, None, :], 0.0).max(axis=2)


# ---------------------------------------------------------------- top level

def postprocess(kind: Literal["none", "median", "hmm"], scores: dict[str, pd.DataFrame], classes: list[str],
                cfg: PostprocessConfig, hmm_params: dict | None = None):
    """Apply one kind of post-processing to every clip.

    Returns ``(frames, events)``: post-processed scores (sed_scores_eval frames, for PSDS) and event lists
    ``{audio_id: [(onset, offset, label), ...]}`` at ``cfg.threshold`` (for event/segment F1).
    """
    if kind == "hmm" and hmm_params is None:
        raise SedkitError("hmm post-processing needs tuned transition probabilities (run tune_hmm on validation)")
    frames, events = {}, {}
    for aid in sorted(scores):
        x, ts = frames_to_arrays(scores[aid], classes)
        if kind == "none":
            s, act = x, x >= cfg.threshold
        elif kind == "median":
            s = median_filter(x, cfg.median)
            act = s >= cfg.threshold
        elif kind == "hmm":
            ss, se = hmm_params["stay_silence"], [hmm_params["stay_event"][c] for c in classes]
            s = hmm_scores(x, ss, se, cfg.hmm)
            act = hmm_decode(x, ss, se, cfg.hmm, tau=cfg.threshold)
        else:
            raise SedkitError(f"unknown post-processing {kind!r}; expected none, median or hmm")
        frames[aid] = arrays_to_frames(s, ts, classes)
        events[aid] = active_to_events(act, ts, classes, cfg.hmm.merge_gap_s if kind == "hmm" else 0.0)
    return frames, events


def split_half(ids, seed: int) -> tuple[list[str], list[str]]:
    """Seeded split of clip ids into (tuning half, other half)."""
    ids = sorted(ids)
    perm = np.random.default_rng(seed).permutation(len(ids))
    n = max(len(ids) // 2, 1)
    return sorted(ids[i] for i in perm[:n]), sorted(ids[i] for i in perm[n:])


def _stay_draws(rng: np.random.Generator, n, cfg: HMMConfig) -> np.ndarray:
    lo, hi = np.log10(1 - cfg.stay_max), np.log10(1 - cfg.stay_min)
    return 1 - 10 ** rng.uniform(lo, hi, size=n)


def tune_hmm(scores: dict[str, pd.DataFrame], ground_truth: dict[str, list], classes: list[str], cfg: HMMConfig,
             durations: dict[str, float] | None = None, progress: bool | None = None, tau: float = 0.5) -> dict:
    """Tune the HMM transitions on a seeded half of ``scores`` (validation) for event-based macro F1, decoding
    at the decision threshold ``tau``.

    The search exploits that a class's event F1 depends only on (s, e_c): ``cfg.n_silence`` seeded draws of the
    shared silence self-loop ``s``; for each, ``n_calls // n_silence`` seeded draws of the whole vector ``e``, each
    evaluated with one sed_eval call; per ``s`` every class keeps its best ``e_c``; the ``s`` whose per-class bests
    have the highest mean wins. Returns the parameters, the tuning F1 and the ids of both halves.
    """
    from tqdm import tqdm

    from sedkit.baselines.evaluation.sed import event_segment_f1

    tune_ids, rest_ids = split_half(scores, cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    clips = {aid: frames_to_arrays(scores[aid], classes) for aid in tune_ids}
    gt = {aid: ground_truth.get(aid, []) for aid in tune_ids}
    n_sil = max(1, min(cfg.n_silence, cfg.n_calls))
    n_ev = max(1, cfg.n_calls // n_sil)
    sil_vals = _stay_draws(rng, n_sil, cfg)
    best = (-1.0, None, None)
    bar = tqdm(total=n_sil * n_ev, desc="hmm tuning", disable=None if progress is None else not progress, leave=False)
    for s in sil_vals:
        per_class = np.full(len(classes), -1.0)
        chosen = np.full(len(classes), 0.5)
        for _ in range(n_ev):
            e = _stay_draws(rng, len(classes), cfg)
            act = hmm_decode_clips(clips, s, e, cfg, tau)
            est = {aid: active_to_events(act[aid], ts, classes, cfg.merge_gap_s) for aid, (_, ts) in clips.items()}
            f1 = event_segment_f1(gt, est, classes, durations, segment=False)["event"]["per_class"]
            vals = np.array([f1[c] if np.isfinite(f1[c]) else 0.0 for c in classes])
            better = vals > per_class
            per_class[better], chosen[better] = vals[better], e[better]
            bar.update(1)
        if per_class.mean() > best[0]:
            best = (float(per_class.mean()), float(s), chosen.copy())
    bar.close()
    return {"stay_silence": best[1], "stay_event": {c: float(v) for c, v in zip(classes, best[2])},
            "tuning_event_f1": best[0], "tuning_ids": tune_ids, "held_out_ids": rest_ids,
            "n_calls": n_sil * n_ev, "seed": cfg.seed}


# ---------------------------------------------------------------- the decision threshold, picked on validation

THRESHOLDS = tuple(round(0.05 * k, 2) for k in range(1, 20))  # 0.05 ... 0.95: the candidates of pick_event_threshold


def pick_event_threshold(scores: dict[str, pd.DataFrame], ground_truth: dict[str, list], classes: list[str],
                         cfg: PostprocessConfig, durations: dict[str, float] | None = None,
                         candidates=THRESHOLDS) -> dict:
    """The one decision threshold (every class) whose events after the median filter give the best event-based
    macro F1 on ``scores`` (validation), ties going to the value nearest ``cfg.threshold``; with the F1 of every
    candidate. Classes without reference events on these clips do not count."""
    from sedkit.baselines.evaluation.sed import event_segment_f1

    clips = {}
    for aid in sorted(scores):
        x, ts = frames_to_arrays(scores[aid], classes)
        clips[aid] = (median_filter(x, cfg.median), ts)
    gt = {aid: ground_truth.get(aid, []) for aid in clips}
    labelled = [c for c in classes if any(lab == c for evs in gt.values() for *_, lab in evs)]
    f1s = []
    for t in candidates:
        est = {aid: active_to_events(s >= t, ts, classes) for aid, (s, ts) in clips.items()}
        per_class = event_segment_f1(gt, est, classes, durations, segment=False)["event"]["per_class"]
        vals = [per_class[c] if np.isfinite(per_class[c]) else 0.0 for c in labelled]
        f1s.append(float(np.mean(vals)) if vals else 0.0)
    f1 = np.asarray(f1s)
    best = np.flatnonzero(f1 >= f1.max() - 1e-12)
    pick = float(np.asarray(candidates)[best[np.argmin(np.abs(np.asarray(candidates)[best] - cfg.threshold))]])
    return {"threshold": pick, "event_f1": float(f1.max()), "candidates": [float(t) for t in candidates],
            "candidate_event_f1": f1s, "n_clips": len(clips)}
