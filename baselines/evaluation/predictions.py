"""The prediction format every baseline writes and the benchmark runner reads.

Inside a run folder, for each scored split::

    predictions/<split>/clip_scores.tsv        filename<TAB><class 1><TAB>...<class C>   (one row per clip)
    predictions/<split>/frame_scores/<stem>.tsv onset<TAB>offset<TAB><class 1>...<class C>  (one file per clip)
    predictions/<split>/detections_<pp>.tsv     filename onset offset event_label   (SED models; <pp> = none,
                                                median or hmm: the post-processing that made them)

- ``filename`` is the clip's name relative to ``audio/<split>/`` of the data dir (as in the metadata TSVs);
  ``<stem>`` is :func:`audio_id` of it (the name without its extension, sub-folders joined by ``__``), so
  ``frame_scores/`` is sed_scores_eval's score folder (``read_sed_scores`` reads it; audio ids = stems).
- Scores are probabilities in [0, 1] written ``%.6f``; times in seconds ``%.3f``; columns follow the class order
  of the data dir (``metadata/classes.txt``). Frame rows cover ``[k*hop, (k+1)*hop)`` up to the clip duration.
- ``detections_<pp>.tsv`` uses the DESED strong format (header ``filename onset offset event_label``).
Every file is written atomically (temporary name, then rename).
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from sedkit import SedkitError, first_line
from sedkit.synth.io import atomic_write_text, safe_join
from sedkit.baselines.trainer import to_device


def split_dir(run_dir: str | Path, split: str) -> Path:
    return safe_join(run_dir, f"predictions/{split}")


def audio_id(filename: str) -> str:
    """The id of a clip in frame-score folders: its name without extension, sub-folders joined by ``__``."""
    return Path(filename).with_suffix("").as_posix().replace("/", "__")


def write_clip_scores(path: str | Path, filenames: list[str], classes: list[str], scores: np.ndarray) -> Path:
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != (len(filenames), len(classes)):
        raise ValueError(f"clip scores shape {scores.shape} != ({len(filenames)}, {len(classes)})")
    buf = io.StringIO()
    buf.write("\t".join(["filename", *classes]) + "\n")
    for name, row in zip(filenames, scores):
        buf.write(name + "\t" + "\t".join(f"{v:.6f}" for v in row) + "\n")
    return atomic_write_text(path, buf.getvalue())


def read_clip_scores(path: str | Path, classes: list[str] | None = None) -> tuple[list[str], np.ndarray, list[str]]:
    """``(filenames, scores (N, C), classes)``; with ``classes`` the columns are reordered to it."""
    p = Path(path)
    try:
        df = pd.read_csv(p, sep="\t", dtype={"filename": str})
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise SedkitError(f"{p}: cannot read clip scores ({first_line(e)})") from None
    if df.columns[0] != "filename":
        raise SedkitError(f"{p}: first column must be 'filename', got {df.columns[0]!r}")
    cols = list(df.columns[1:])
    if classes is not None:
        missing = [c for c in classes if c not in cols]
        if missing:
            raise SedkitError(f"{p}: no score column for classes {missing}")
        cols = list(classes)
    return list(df["filename"]), df[cols].to_numpy(dtype=np.float64), cols


def write_frame_scores(folder: str | Path, filename: str, scores: np.ndarray, hop_s: float, classes: list[str],
                       duration_s: float | None = None) -> Path:
    """One clip's frame scores ``(T, C)`` in sed_scores_eval's format; rows past ``duration_s`` are dropped."""
    scores = np.asarray(scores, dtype=np.float64)
    n = scores.shape[0]
    if duration_s is not None:
        n = min(n, max(1, int(np.ceil(duration_s / hop_s - 1e-9))))
    onsets = np.arange(n) * hop_s
    offsets = onsets + hop_s
    if duration_s is not None:
        offsets = np.minimum(offsets, duration_s)
    buf = io.StringIO()
    buf.write("\t".join(["onset", "offset", *classes]) + "\n")
    for k in range(n):
        buf.write(f"{onsets[k]:.3f}\t{offsets[k]:.3f}\t" + "\t".join(f"{v:.6f}" for v in scores[k]) + "\n")
    return atomic_write_text(Path(folder) / f"{audio_id(filename)}.tsv", buf.getvalue())


def write_detections(path: str | Path, events: list[tuple[str, float, float, str]]) -> Path:
    """Detected events ``(filename, onset, offset, label)`` in the DESED strong format."""
    buf = io.StringIO()
    buf.write("filename\tonset\toffset\tevent_label\n")
    for name, on, off, lab in sorted(events, key=lambda e: (e[0], e[1], e[3])):
        buf.write(f"{name}\t{on:.3f}\t{off:.3f}\t{lab}\n")
    return atomic_write_text(path, buf.getvalue())


@torch.no_grad()
def collect(strategy, loader, device) -> dict:
    """Run ``strategy.predict`` over a loader (eval mode, no grad).

    Returns ``{"filename": [...], "clip": (N, C) array, "frame": [(T_i, C) arrays] or None,
    "n_samples": (N,) true clip lengths, "index": (N,) dataset indices}``.
    """
    strategy.eval()
    names, clips, frames, lens, index = [], [], [], [], []
    for batch in loader:
        out = strategy.predict(to_device(batch, device))
        names.extend(batch["filename"])
        index.extend(batch["index"].tolist())
        clips.append(out["clip"].float().cpu().numpy())
        n = batch.get("n_samples")
        lens.extend(n.tolist() if n is not None else [0] * len(batch["filename"]))
        if "frame" in out:
            fr = out["frame"].float().cpu().numpy()
            frames.extend(fr[k] for k in range(fr.shape[0]))
    return {"filename": names, "clip": np.concatenate(clips) if clips else np.zeros((0, 0)),
            "frame": frames or None, "n_samples": np.asarray(lens), "index": np.asarray(index, dtype=int)}


def write_split(run_dir: str | Path, split: str, pred: dict, classes: list[str], hop_s: float | None = None,
                sr: int | None = None) -> Path:
    """Write ``clip_scores.tsv`` and (when present) ``frame_scores/`` for one split; returns the split folder."""
    out = split_dir(run_dir, split)
    write_clip_scores(out / "clip_scores.tsv", pred["filename"], classes, pred["clip"])
    if pred.get("frame") is not None and hop_s:
        for k, (name, fr) in enumerate(zip(pred["filename"], pred["frame"])):
            dur = pred["n_samples"][k] / sr if sr and pred["n_samples"][k] else None
            write_frame_scores(out / "frame_scores", name, fr, hop_s, classes, dur)
    return out
