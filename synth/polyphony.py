"""Strong-label clean-up and polyphony, on plain ``(onset, offset, label)`` event lists.

Clean-up follows the DESED recipe: events of the same class whose gap is shorter than ``merge_gap_s``
(overlaps included) are merged into one, then events shorter than ``min_dur_s`` are dropped. Merging first
means two short, nearly touching pieces of one sound survive as one event.

Polyphony is the largest number of events active at the same instant; an event ending exactly where another
starts does not overlap it.
"""
from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd

Event = tuple[float, float, str]


def clean_events(events: list[Event], min_dur_s: float = 0.25, merge_gap_s: float = 0.15) -> list[Event]:
    """Merge same-class events less than ``merge_gap_s`` apart, then drop those shorter than ``min_dur_s``.

    Returns the events sorted by (onset, offset, label).
    """
    merged: list[Event] = []
    for label in sorted({e[2] for e in events}):
        cur = None
        for on, off, _ in sorted((float(e[0]), float(e[1]), e[2]) for e in events if e[2] == label):
            if cur is not None and on - cur[1] < merge_gap_s:
                cur = (cur[0], max(cur[1], off), label)
                continue
            if cur is not None:
                merged.append(cur)
            cur = (on, off, label)
        if cur is not None:
            merged.append(cur)
    kept = [e for e in merged if e[1] - e[0] >= min_dur_s - 1e-9]
    return sorted(kept)


def max_polyphony(events: list[Event]) -> int:
    """The largest number of simultaneously active events (0 for an empty list)."""
    # at equal times, an end (-1) sorts before a start (+1): touching events do not overlap
    points = sorted([(float(on), 1) for on, off, _ in events if off > on] +
                    [(float(off), -1) for on, off, _ in events if off > on])
    best = cur = 0
    for _, step in points:
        cur += step
        best = max(best, cur)
    return best


def polyphony_time(events: list[Event], duration: float) -> dict[int, float]:
    """Seconds of the clip spent at each polyphony level 0, 1, 2, ... (sums to ``duration``)."""
    points = sorted([(min(max(float(on), 0.0), duration), 1) for on, off, _ in events if off > on] +
                    [(min(max(float(off), 0.0), duration), -1) for on, off, _ in events if off > on])
    out: Counter = Counter()
    t, cur = 0.0, 0
    for time, step in points:
        out[cur] += time - t
        t, cur = time, cur + step
    out[cur] += duration - t
    return {k: v for k, v in sorted(out.items()) if v > 0}


def tsv_polyphony(df: pd.DataFrame) -> pd.Series:
    """Max polyphony per file of a strong-label frame (columns filename, onset, offset, event_label)."""
    return df.groupby("filename").apply(
        lambda g: max_polyphony(list(zip(g.onset, g.offset, g.event_label))), include_groups=False)


def events_per_clip(events_by_file: dict[str, list[Event]]) -> np.ndarray:
    return np.array([len(v) for _, v in sorted(events_by_file.items())], dtype=int)
