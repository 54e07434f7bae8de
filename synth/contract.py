"""The dataset-folder contract: the one module that writes and reads a data dir's metadata.

Every generator writes, every reader (the baselines, dynamic mixing, ``sedkit dataset check``) reads and every test
fixture makes a data dir through these functions. A data dir (a dataset folder, or a folder nested in one, e.g.
``segments/1s/`` of a WAA set) holds::

    audio/<split>/*.wav
    metadata/<split>.tsv             DESED formats, told apart by the header:
                                       strong      filename onset offset event_label   (times %.3f)
                                       weak        filename event_labels               (comma-separated)
                                       unlabelled  filename
    metadata/<split>_strong.tsv      optional, beside a weak or unlabelled split: its hidden strong labels
    metadata/<split>_durations.tsv   filename duration
    metadata/classes.txt             one class per line (the class order of every output)

``filename`` is relative to ``audio/<split>/``. A strong row with an empty label lists a clip without events.
Frame targets (strong events on a frame grid) come from :func:`frame_targets`, with one rule for every caller.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from sedkit import SedkitError, first_line
from sedkit.synth.io import atomic_write_text

STRONG_COLS = ["filename", "onset", "offset", "event_label"]
WEAK_COLS = ["filename", "event_labels"]
UNLABELLED_COLS = ["filename"]
DURATION_COLS = ["filename", "duration"]
CLASSES_FILE = "classes.txt"
Event = tuple[float, float, str]


# ---------------------------------------------------------------- paths

def metadata_path(root: str | os.PathLike, split: str, suffix: str = "") -> Path:
    """``<root>/metadata/<split><suffix>.tsv``; suffix ``""``, ``"_strong"`` or ``"_durations"``."""
    return Path(root) / "metadata" / f"{split}{suffix}.tsv"


def classes_path(root: str | os.PathLike) -> Path:
    return Path(root) / "metadata" / CLASSES_FILE


def audio_dir(root: str | os.PathLike, split: str) -> Path:
    return Path(root) / "audio" / split


# ---------------------------------------------------------------- writing

def write_strong_tsv(path: str | os.PathLike, events: list[dict] | pd.DataFrame) -> Path:
    """Rows ``{filename, onset, offset, event_label}``, sorted, times ``%.3f``."""
    df = pd.DataFrame(events, columns=STRONG_COLS) if not isinstance(events, pd.DataFrame) else events[STRONG_COLS]
    df = df.sort_values(["filename", "onset", "offset", "event_label"], kind="stable")
    return atomic_write_text(path, df.to_csv(sep="\t", index=False, float_format="%.3f"))


def write_weak_tsv(path: str | os.PathLike, labels: dict[str, list[str]]) -> Path:
    """``{filename: labels}``; each clip's labels are de-duplicated, sorted and comma-joined."""
    rows = [{"filename": f, "event_labels": ",".join(sorted(set(ls)))} for f, ls in sorted(labels.items())]
    return atomic_write_text(path, pd.DataFrame(rows, columns=WEAK_COLS).to_csv(sep="\t", index=False))


def write_unlabelled_tsv(path: str | os.PathLike, filenames: list[str]) -> Path:
    return atomic_write_text(path, pd.DataFrame({"filename": sorted(filenames)}).to_csv(sep="\t", index=False))


def write_durations_tsv(path: str | os.PathLike, durations: dict[str, float]) -> Path:
    rows = [{"filename": f, "duration": d} for f, d in sorted(durations.items())]
    return atomic_write_text(path, pd.DataFrame(rows, columns=DURATION_COLS)
                             .to_csv(sep="\t", index=False, float_format="%.3f"))


def write_classes(path: str | os.PathLike, classes: list[str]) -> Path:
    return atomic_write_text(path, "".join(f"{c}\n" for c in classes))


# ---------------------------------------------------------------- reading

def _numbers(path: Path, df: pd.DataFrame, cols: list[str], what: str, blank_ok: pd.Series | None = None) -> None:
    """Convert ``cols`` of a string frame to float in place; a cell that is not a number is a one-line error naming
    the file, the line and the column (blank cells are NaN where ``blank_ok``)."""
    for c in cols:
        values = np.full(len(df), np.nan)
        for i, cell in enumerate(df[c]):
            if cell == "" and blank_ok is not None and bool(blank_ok.iloc[i]):
                continue
            try:
                values[i] = float(cell)
            except ValueError:
                values[i] = np.nan
            if not math.isfinite(values[i]):
                row = df.iloc[i]
                raise SedkitError(f"{path}:{i + 2}: {what} are not numbers ({', '.join(repr(row[k]) for k in cols)})")
        df[c] = values


def read_metadata(path: str | os.PathLike) -> tuple[str, pd.DataFrame]:
    """Read a metadata TSV: ``(kind, frame)`` with kind ``strong``, ``weak``, ``unlabelled`` or ``durations``
    (from the header), or ``table`` for another per-file side table (first column ``filename``, e.g. the WAA
    segments' ``<split>_weakness.tsv``; :func:`split_kind` refuses it as a split's metadata). Text cells stay
    text (a label ``NA`` stays ``"NA"``); onset/offset and duration are floats, NaN where a strong row without a
    label leaves them blank. Unreadable files, unknown headers and cells that are not numbers are one-line errors
    naming the file (and line)."""
    path = Path(path)
    try:
        df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise SedkitError(f"{path}: cannot read TSV ({first_line(e)})") from None
    cols = list(df.columns)
    if cols[:4] == STRONG_COLS:
        _numbers(path, df, ["onset", "offset"], "onset/offset", blank_ok=df["event_label"] == "")
        return "strong", df
    if cols[:2] == WEAK_COLS:
        return "weak", df
    if cols[:2] == DURATION_COLS:
        _numbers(path, df, ["duration"], "durations")
        return "durations", df
    if cols == UNLABELLED_COLS:
        return "unlabelled", df
    if cols[:1] == UNLABELLED_COLS:
        return "table", df
    raise _unknown_header(path, cols)


def _unknown_header(path, cols: list[str]) -> SedkitError:
    return SedkitError(f"{path}: unknown TSV header {cols}; expected {STRONG_COLS}, {WEAK_COLS} or {UNLABELLED_COLS}")


def split_kind(path: str | os.PathLike, kind: str, df: pd.DataFrame) -> str:
    """The kind of a split's own metadata (``metadata/<split>.tsv``): strong, weak or unlabelled (a file list with
    durations is unlabelled); a side table's header is a one-line error."""
    if kind == "table":
        raise _unknown_header(path, list(df.columns))
    return "unlabelled" if kind == "durations" else kind


def strong_events(path: str | os.PathLike, df: pd.DataFrame) -> dict[str, list[Event]]:
    """filename -> events of a strong frame from :func:`read_metadata`; a row with an empty label lists a file
    without events."""
    out: dict[str, list[Event]] = {}
    for i, row in enumerate(df.itertuples(index=False), start=2):
        evs = out.setdefault(row.filename, [])
        if not row.event_label:
            continue
        on, off = float(row.onset), float(row.offset)
        if not (0 <= on <= off):
            raise SedkitError(f"{path}:{i}: bad event times onset={on} offset={off}")
        evs.append((on, off, row.event_label))
    return out


def weak_labels(df: pd.DataFrame) -> dict[str, list[str]]:
    """filename -> sorted labels of a weak frame (a file listed twice gets the union)."""
    out: dict[str, set[str]] = {}
    for n, labs in zip(df["filename"], df["event_labels"]):
        out.setdefault(n, set()).update(x.strip() for x in labs.split(",") if x.strip())
    return {n: sorted(v) for n, v in out.items()}


def read_durations(path: str | os.PathLike) -> dict[str, float]:
    kind, df = read_metadata(path)
    if kind != "durations":
        raise SedkitError(f"{path}: expected header {DURATION_COLS}, got {list(df.columns)}")
    return {n: float(d) for n, d in zip(df["filename"], df["duration"])}


def read_classes(path: str | os.PathLike) -> list[str]:
    """The class list of ``metadata/classes.txt``: one per line, no duplicates, at least one."""
    p = Path(path)
    classes = [ln.strip() for ln in p.read_text(encoding="utf-8").splitlines() if ln.strip()]
    if len(set(classes)) != len(classes):
        raise SedkitError(f"{p}: duplicate class names")
    if not classes:
        raise SedkitError(f"{p}: no classes listed")
    return classes


# ---------------------------------------------------------------- labels on a frame grid

def frame_targets(events, classes: list[str], n_frames: int, hop_s: float) -> np.ndarray:
    """Strong events -> ``(n_frames, C)`` float32 0/1 targets. Frame ``t`` covers ``[t, t + 1) * hop_s`` and is on
    when an event overlaps it; an event shorter than a frame still marks the frame it starts in. Events past the
    grid are cut; a label outside ``classes`` is a one-line error."""
    idx = {c: k for k, c in enumerate(classes)}
    y = np.zeros((n_frames, len(classes)), dtype=np.float32)
    for on, off, lab in events:
        if lab not in idx:
            raise SedkitError(f"event label {lab!r} is not in the class list {classes}")
        a = max(0, int(math.floor(on / hop_s + 1e-9)))
        b = min(n_frames, int(math.ceil(off / hop_s - 1e-9)))
        if a < n_frames:
            y[a:max(b, a + 1), idx[lab]] = 1.0
    return y
