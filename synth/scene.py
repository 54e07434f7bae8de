"""DESED-style soundscape draws: which events, from which files, where, how loud, with polyphony capped.

Every value of a clip is drawn here with the item's generator and later handed to Scaper as a constant, so a
clip depends only on (seed, split, index). The recipe (DESED 2021, see the ``scene`` section of
``specs/strong.yaml``):

- a main class is chosen with the table's ``prob``; every class listed in its ``cooccur`` row joins it with that
  probability (``cooccur_rest`` spreads an expected number of extra classes over the unlisted ones); the number of
  events of each present class is a truncated normal ``n_events`` rounded to an integer;
- each event takes a file of its class (files of at least ``min_event_s`` preferred), a whole-file duration capped at
  the clip length (longer files are cut around their onset, middle or offset with ``long_source_position``), an onset,
  SNR, pitch shift and optional time stretch; an event that would run past the clip end is moved earlier, as Scaper
  does;
- clean-up merges same-class events closer than ``merge_gap_s`` and drops those under ``min_event_s``;
- a clip whose polyphony (raw or cleaned) exceeds ``polyphony_cap`` is redrawn from the next sub-stream
  ``("draw", k)`` of the item; after ``max_redraws`` the last events drawn are removed until it fits.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from sedkit import SedkitError
from sedkit.specs import Dist, Spec
from sedkit.synth.polyphony import clean_events, max_polyphony


class ClassParams(Spec):
    prob: float = Field(ge=0)
    n_events: Dist
    cooccur: dict[str, float] = {}  # none
    cooccur_rest: float = Field(0.0, ge=0)  # none

    @model_validator(mode="after")
    def _check(self):
        bad = {k: v for k, v in self.cooccur.items() if not 0 <= v <= 1}
        if bad:
            raise ValueError(f"cooccur probabilities must lie in [0, 1], got {bad}")
        lo, _ = self.n_events.bounds()
        if lo < 1:
            raise ValueError(f"n_events must be at least 1, its lower bound is {lo}")
        return self


class SceneSpec(Spec):
    duration: float = Field(gt=0)
    ref_db: float
    event_time: Dist  # onset (s)
    snr: Dist
    pitch_shift: Dist | None
    time_stretch: Dist | None
    reverb: float | None = Field(ge=0, le=1)
    long_source_position: tuple[float, float, float]
    polyphony_cap: int = Field(ge=1)
    max_redraws: int = Field(ge=0)
    min_event_s: float = Field(ge=0)
    merge_gap_s: float = Field(ge=0)
    classes: dict[str, ClassParams]
    default_class: ClassParams

    @model_validator(mode="after")
    def _check(self):
        if self.time_stretch is not None and self.time_stretch.bounds()[0] <= 0:
            raise ValueError(f"time_stretch must stay positive, got {self.time_stretch!r}")
        p = self.long_source_position
        if min(p) < 0 or sum(p) <= 0:
            raise ValueError(f"long_source_position must be 3 non-negative weights, got {list(p)}")
        return self

    def params(self, label: str) -> ClassParams:
        return self.classes.get(label, self.default_class)


@dataclass(frozen=True)
class BackgroundGroups:
    """Background families in ordered groups; each file of group g is drawn with weight ``weights[g]``.

    A draw takes one uniform number for the group (inverse CDF, in group order) and one for the file within it.
    Two pools with the same groups and different weights are thus maximally coupled: with the same random
    stream they pick the same file unless the shifted weights move the draw to another group.
    """

    families: tuple[tuple[str, ...], ...]
    weights: tuple[float, ...]


@dataclass
class Pool:
    """The files a split may draw from: foregrounds per label, backgrounds in weighted groups."""

    fg: dict[str, pd.DataFrame]
    bg: pd.DataFrame
    group_p: np.ndarray               # probability of each background group
    group_rows: list[np.ndarray]      # row numbers of ``bg`` in each group

    @classmethod
    def from_bank(cls, bank, split: str, groups: BackgroundGroups | None = None,
                  labels: list[str] | None = None) -> "Pool":
        labels = labels if labels is not None else bank.labels
        fg = {lab: bank.foregrounds(split, lab)[["path", "duration_s"]].reset_index(drop=True) for lab in labels}
        fg = {k: v for k, v in fg.items() if len(v)}
        bg = bank.backgrounds(split)[["path", "duration_s", "label"]].reset_index(drop=True)
        where = f"{bank.root}: split {split!r}"
        if not fg:
            raise SedkitError(f"{where} has no foreground files")
        if bg.empty:
            raise SedkitError(f"{where} has no background files")
        groups = groups or BackgroundGroups((tuple(sorted(set(bg.label))),), (1.0,))
        rows = [np.flatnonzero(bg.label.isin(fams).values) for fams in groups.families]
        p = np.array([w * len(r) for w, r in zip(groups.weights, rows)], float)
        if p.sum() <= 0:
            raise SedkitError(f"{where}: no background family may be drawn")
        return cls(fg=fg, bg=bg, group_p=p / p.sum(), group_rows=rows)

    @property
    def labels(self) -> list[str]:
        return sorted(self.fg)


def draw_count(dist: Dist, rng: np.random.Generator) -> int:
    lo, hi = dist.bounds()
    n = int(round(dist.sample(rng)))
    return int(min(max(n, max(1, int(np.ceil(lo)))), int(np.floor(hi)) if np.isfinite(hi) else n))


def draw_labels(spec: SceneSpec, labels: list[str], rng: np.random.Generator) -> list[str]:
    """The labels of one clip's events (main class first, then co-occurring classes, in table order)."""
    prob = np.array([spec.params(lab).prob for lab in labels], float)
    if prob.sum() <= 0:
        prob = np.ones(len(labels))
    main = labels[int(rng.choice(len(labels), p=prob / prob.sum()))]
    row = spec.params(main)
    present = [main]
    rest = [lab for lab in labels if lab != main and lab not in row.cooccur]
    p_rest = min(1.0, row.cooccur_rest / len(rest)) if rest else 0.0
    for lab in labels:
        if lab == main:
            continue
        p = row.cooccur.get(lab, p_rest)
        if rng.random() < p:
            present.append(lab)
    out = []
    for lab in present:
        out += [lab] * draw_count(spec.params(lab).n_events, rng)
    return out


def draw_background(spec: SceneSpec, pool: Pool, rng: np.random.Generator) -> dict:
    u_group, u_file = rng.random(2)
    g = min(int(np.searchsorted(np.cumsum(pool.group_p), u_group, side="right")), len(pool.group_p) - 1)
    while not len(pool.group_rows[g]):  # rounding at the very top of the CDF: take the last non-empty group
        g -= 1
    rows = pool.group_rows[g]
    row = pool.bg.iloc[int(rows[min(int(u_file * len(rows)), len(rows) - 1)])]
    start = float(rng.uniform(0, max(0.0, row.duration_s - spec.duration)))
    return {"path": row.path, "source_time": start, "label": row.label}


def draw_event(spec: SceneSpec, pool: Pool, label: str, rng: np.random.Generator) -> dict:
    files = pool.fg[label]
    long_enough = files[files.duration_s >= spec.min_event_s]
    files = long_enough if len(long_enough) else files
    row = files.iloc[int(rng.integers(len(files)))]
    src_dur, D = float(row.duration_s), spec.duration
    stretch = float(spec.time_stretch.sample(rng)) if spec.time_stretch is not None else None
    dur = min(src_dur, D if stretch is None else D / stretch)
    source_time = 0.0
    if src_dur > dur:
        w = np.asarray(spec.long_source_position, float)
        where = int(rng.choice(3, p=w / w.sum()))  # 0: keep its onset, 1: its middle, 2: its offset
        source_time = [0.0, (src_dur - dur) / 2, src_dur - dur][where]
    onset = float(spec.event_time.sample(rng))
    eff = dur * (stretch or 1.0)
    onset = min(max(onset, 0.0), D - eff)
    return {"label": label, "path": row.path, "source_time": float(source_time), "event_time": float(onset),
            "event_duration": float(dur), "snr": float(spec.snr.sample(rng)),
            "pitch_shift": float(spec.pitch_shift.sample(rng)) if spec.pitch_shift is not None else None,
            "time_stretch": stretch}


def annotation(ev: dict) -> tuple[float, float, str]:
    """The (onset, offset, label) Scaper writes for an event drawn by :func:`draw_event`."""
    eff = ev["event_duration"] * (ev["time_stretch"] or 1.0)
    return (ev["event_time"], ev["event_time"] + eff, ev["label"])


def fits(spec: SceneSpec, events: list[dict]) -> tuple[bool, list]:
    raw = [annotation(e) for e in events]
    labels = clean_events(raw, spec.min_event_s, spec.merge_gap_s)
    ok = bool(labels) and max_polyphony(raw) <= spec.polyphony_cap and max_polyphony(labels) <= spec.polyphony_cap
    return ok, labels


def draw_scene(spec: SceneSpec, pool: Pool, rng_for: Callable[[int], np.random.Generator]) -> dict:
    """One clip: {"background", "events", "labels" (cleaned), "redraws"}; ``rng_for(k)`` gives attempt k's rng."""
    for k in range(spec.max_redraws + 1):
        rng = rng_for(k)
        background = draw_background(spec, pool, rng)
        events = [draw_event(spec, pool, lab, rng) for lab in draw_labels(spec, pool.labels, rng)]
        ok, labels = fits(spec, events)
        if ok:
            return {"background": background, "events": events, "labels": labels, "redraws": k}
    while len(events) > 1 and not ok:  # deterministic fallback: drop the last events drawn
        events = events[:-1]
        ok, labels = fits(spec, events)
    if not ok:
        raise SedkitError(f"cannot draw a clip with a label of at least {spec.min_event_s} s: the bank's files "
                          f"are too short (scene.min_event_s)")
    return {"background": background, "events": events, "labels": labels, "redraws": spec.max_redraws + 1}


def mix(view, sr: int, duration: float, ref_db: float, background: dict, events: list[dict],
        reverb: float | None):
    """Mix a drawn clip with Scaper: (audio of exactly ``duration`` s, jams, raw annotations, Scaper's warnings
    counted by kind)."""
    from sedkit.synth.scaper_mix import render

    x, jam, ann, warned = render(view, sr, duration, ref_db, background, events, reverb=reverb)
    n = int(round(duration * sr))
    return np.pad(x, (0, max(0, n - len(x))))[:n], jam, ann, warned


def render_clip(view, out, rel_audio: str, rel_jams: str, sr: int, duration: float, ref_db: float,
                background: dict, events: list[dict], reverb: float | None,
                min_event_s: float = 0.0, merge_gap_s: float = 0.0) -> tuple[np.ndarray, list, dict]:
    """Mix a drawn clip, write its wav and JAMS under ``out``; return (audio, cleaned labels, Scaper's warnings)."""
    from pathlib import Path

    from sedkit.synth.audio import write as write_audio
    from sedkit.synth.scaper_mix import save_jams

    x, jam, ann, warned = mix(view, sr, duration, ref_db, background, events, reverb)
    write_audio(Path(out) / rel_audio, x, sr)
    save_jams(jam, Path(out) / rel_jams, view)
    return x, clean_events(ann, min_event_s, merge_gap_s), warned
