"""`sedkit synth waa` and `sedkit synth 200ms`: the weak-label-controlled sets of Turpault et al. (2020).

WAA: each 10 s clip holds one foreground event over one background, mixed with Scaper (SNR U(6, 30) dB,
ref_db -50). Classes are exactly balanced per split (item i takes class i mod C). Train and validation
foregrounds come from the bank's train and validation splits, which are disjoint by source group; eval uses the
bank's eval split.

Segments: from every clip, one segment of each requested length L is cut around the event (no resynthesis).
Placement rule (deterministic, drawn from the item's RNG stream ``("segment", L)``):

- event duration d <= L: start = onset - u * (L - d), u ~ U(0, 1): the whole event is inside the segment.
  (The authors jitter by U(0, 1) * L, which can cut a short event; we keep the jitter but never cut it.)
- d > L: the segment centre is uniform over the event: start = onset + u * d - L / 2. The event is active in at
  least half of the segment. (The authors' U(-1, 1) * L jitter can leave a segment with no event at all.)
- the start is then clamped to [0, duration - L]; an event inside the clip stays inside the segment.

Each segment gets its weak label, its strong label clipped to the segment and its label weakness: the fraction
of the segment in which the event is active.

200 ms set: the same draws (files, background, onsets, SNRs), with every foreground cut to 0.2 s at
source_time = U(0, 1) * max(d - 0.2, 0); the clip is then re-mixed.
"""
from __future__ import annotations

from typing import ClassVar

import math
import re
from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np
import pandas as pd
from pydantic import Field, field_validator, model_validator

from sedkit import SedkitError
from sedkit.specs import Dist, Spec, builtin_spec_path, load_spec, resolved, spec_default, spec_hash
from sedkit.synth.audio import write as write_audio
from sedkit.synth.compat import import_scaper
from sedkit.synth.rng import item_rng
from sedkit.synth.runner import Item, Job
from sedkit.synth.scaper_mix import ScaperView, save_jams
from sedkit.synth.scene import mix
from sedkit.synth.soundbank.index import SPLITS, Soundbank, resolve_bank
from sedkit.synth.generator import TrainValEvalCounts, provenance, regenerate_command


class WaaSpec(Spec):
    defaults_from: ClassVar[str] = "waa"  # every value: specs/waa.yaml
    sr: int = Field(ge=8000, le=192000)
    duration: float = Field(gt=0)
    ref_db: float
    snr: Dist
    event_time: Dist
    pitch_shift: Dist | None
    long_source_position: tuple[float, float, float]
    counts: TrainValEvalCounts
    small_fraction: float = Field(gt=0, le=1)
    segments: list[str]
    event_duration: float | None = Field(gt=0)  # None: whole source; 0.2 for the 200 ms set

    @field_validator("segments")
    @classmethod
    def _segments(cls, v):
        if not v:
            raise ValueError("at least one segment length is needed")
        for s in v:
            parse_length(s)
        return v

    @model_validator(mode="after")
    def _check(self):
        lo, hi = self.snr.bounds()
        if self.snr.kind not in ("const", "uniform", "truncnorm", "choose"):
            raise ValueError("snr: use a bounded distribution (const, uniform, truncnorm or choose)")
        if any(p < 0 for p in self.long_source_position) or not math.isclose(sum(self.long_source_position), 1):
            raise ValueError("long_source_position: three probabilities summing to 1")
        for s in self.segments:
            if parse_length(s) > self.duration + 1e-9:
                raise ValueError(f"segments: {s} is longer than the clip duration {self.duration} s")
        return self


_LEN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s)\s*$")


def parse_length(s: str) -> float:
    m = _LEN.match(str(s))
    if not m:
        raise ValueError(f"segment length {s!r}: expected e.g. 200ms, 1s, 2.5s")
    v = float(m.group(1)) * (0.001 if m.group(2) == "ms" else 1.0)
    if v <= 0:
        raise ValueError(f"segment length {s!r} must be positive")
    return v


def length_name(seconds: float) -> str:
    ms = int(round(seconds * 1000))
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def split_counts(spec: WaaSpec, scale: str, n_classes: int) -> dict[str, int]:
    out = {}
    for s in SPLITS:
        n = getattr(spec.counts, s)
        if scale == "small":
            n = max(n_classes, int(round(n * spec.small_fraction / n_classes)) * n_classes) if n else 0
        out[s] = n
    return out


# ---------------------------------------------------------------- per-item draws and rendering

@dataclass
class Ctx:
    out: str
    spec: WaaSpec
    seed: int
    bank: Soundbank
    view_root: str
    classes: list[str]
    segments: list[float]
    fg_pool: dict  # (split, label) -> records (path, duration_s, source_group), in index order
    bg_pool: dict  # split -> records of backgrounds at least as long as a clip


def pools(bank: Soundbank, duration: float) -> tuple[dict, dict]:
    """({(split, label): foreground records}, {split: records of backgrounds at least ``duration`` long}), keys
    sorted, records in index order (one pass over the index: a pandas group-by per pool costs more than the rest of
    the start-up)."""
    cols = ["path", "label", "duration_s", "source_group"]
    fg: dict = {}
    bg: dict = {}
    for r in bank.index[["role", "split", *cols]].to_dict("records"):
        role, split = r.pop("role"), r.pop("split")
        if role == "foreground":
            fg.setdefault((split, r["label"]), []).append(r)
        elif r["duration_s"] >= duration - 1e-6:
            bg.setdefault(split, []).append(r)
    return dict(sorted(fg.items())), dict(sorted(bg.items()))


def draw(ctx: Ctx, item: Item) -> dict:
    """All random choices of one clip, from its own RNG. The 200 ms set reuses them."""
    spec, bank = ctx.spec, ctx.bank
    rng = item_rng(ctx.seed, item.split, item.index)
    label = ctx.classes[item.index % len(ctx.classes)]
    fgs = ctx.fg_pool.get((item.split, label), [])
    if not fgs:
        raise SedkitError(f"soundbank {bank.root}: class {label!r} has no foreground in split {item.split!r}")
    fg = fgs[int(rng.integers(len(fgs)))]
    bgs = ctx.bg_pool.get(item.split, [])
    if not bgs:
        raise SedkitError(f"soundbank {bank.root}: no background of at least {spec.duration} s in split "
                          f"{item.split!r} (backgrounds are too short)")
    bg = bgs[int(rng.integers(len(bgs)))]
    bg_time = float(rng.uniform(0, bg["duration_s"] - spec.duration))
    src_dur = float(fg["duration_s"])
    if src_dur > spec.duration:
        pos = int(rng.choice(3, p=np.asarray(spec.long_source_position)))
        src_time = [0.0, (src_dur - spec.duration) / 2, src_dur - spec.duration][pos]
        ev_dur = spec.duration
    else:
        src_time, ev_dur = 0.0, src_dur
    onset = float(spec.event_time.sample(rng))
    snr = float(spec.snr.sample(rng))
    pitch = None if spec.pitch_shift is None else float(spec.pitch_shift.sample(rng))
    onset = float(min(max(onset, 0.0), spec.duration - ev_dur))  # WAA's onset: the event ends in the clip
    if spec.event_duration is not None:  # 200 ms set: WAA's onset kept; own stream so WAA's draws are unchanged
        r2 = item_rng(ctx.seed, item.split, item.index, "event_duration")
        src_time = float(r2.uniform(0, 1)) * max(src_dur - spec.event_duration, 0.0)
        ev_dur = min(spec.event_duration, src_dur)
        onset = min(onset, spec.duration - ev_dur)
    return {"label": label, "fg": fg["path"], "fg_group": fg["source_group"], "src_dur": src_dur,
            "bg": bg["path"], "bg_label": bg["label"], "bg_time": bg_time,
            "event": {"label": label, "path": fg["path"], "source_time": src_time, "event_time": onset,
                      "event_duration": ev_dur, "snr": snr, "pitch_shift": pitch}}


def segment_window(onset: float, offset: float, length: float, clip: float, u: float) -> tuple[float, float]:
    """The placement rule of the module docstring; returns (start, end)."""
    d = offset - onset
    if length >= clip:
        return 0.0, clip
    start = onset - u * (length - d) if d <= length else onset + u * d - length / 2
    start = min(max(start, 0.0), clip - length)
    return start, start + length


def make_item(ctx: Ctx, item: Item) -> dict:
    spec = ctx.spec
    d = draw(ctx, item)
    view = ScaperView(ctx.bank, ctx.view_root, build=False, sr=spec.sr)
    x, jam, events, warned = mix(view, spec.sr, spec.duration, spec.ref_db,
                                 {"path": d["bg"], "label": d["bg_label"], "source_time": d["bg_time"]}, [d["event"]],
                                 reverb=None)
    name = f"{item.split}_{item.index:05d}"
    out = Path(ctx.out)
    files = [f"audio/{item.split}/{name}.wav", f"jams/{item.split}/{name}.jams"]
    write_audio(out / files[0], x, spec.sr)
    save_jams(jam, out / files[1], view)
    on, off, lab = events[0] if events else (d["event"]["event_time"], d["event"]["event_time"], d["label"])
    segs = {}
    for L in ctx.segments:
        u = float(item_rng(ctx.seed, item.split, item.index, "segment", length_name(L)).uniform())
        s, e = segment_window(on, off, L, spec.duration, u)
        a, b = int(round(s * spec.sr)), int(round(s * spec.sr)) + int(round(L * spec.sr))
        rel = f"segments/{length_name(L)}/audio/{item.split}/{name}.wav"
        seg = x[a:b]
        write_audio(out / rel, np.pad(seg, (0, (b - a) - len(seg))), spec.sr)
        files.append(rel)
        c_on, c_off = max(on, s) - s, min(off, e) - s
        segs[length_name(L)] = {"start": s, "onset": c_on, "offset": c_off, "weakness": max(0.0, c_off - c_on) / L}
    meta = {"filename": f"{name}.wav", "label": lab, "onset": on, "offset": off, "snr": d["event"]["snr"],
            "fg": d["fg"], "fg_group": d["fg_group"], "src_dur": d["src_dur"], "bg": d["bg"], "segments": segs,
            "scaper_warnings": warned}
    return {"files": files, "meta": meta}


# ---------------------------------------------------------------- the whole set

def generate(spec: WaaSpec, out: str | Path, seed: int = 0, scale: str = "paper", soundbank=None, workers: int = 1,
             resume: bool = False, kind: str = "waa", force: bool = False, executor: str = "local",
             address: str | None = None, shards: Path | None = None, shard_size: str | None = None) -> dict:
    from sedkit.synth.generator import check_space

    out = Path(out)
    bank = resolve_bank(soundbank, scale, workers, out)
    classes = bank.labels
    if not classes:
        raise SedkitError(f"soundbank {bank.root}: no foreground classes")
    counts = split_counts(spec, scale, len(classes))
    check_space(out, sum(counts.values()), spec.duration + sum(parse_length(s) for s in spec.segments), spec.sr,
                force=force)
    doc = {"spec": resolved(spec), "scale": scale, "soundbank": str(bank.root.name), "classes": classes}
    job = Job(out, kind, doc, spec_hash(doc), seed, resume=resume, workers=workers, provenance=provenance(bank),
              executor=executor, address=address, shards=shards, shard_size=shard_size)
    view = ScaperView(bank, out / ".sedkit" / "view", sr=spec.sr)
    import_scaper()  # import once here, so forked workers don't each pay for it
    ctx = Ctx(str(out), spec, seed, bank, str(view.root), classes, sorted({parse_length(s) for s in spec.segments}),
              *pools(bank, spec.duration))
    items = [Item(s, i) for s in SPLITS for i in range(counts[s])]
    from sedkit.synth.card import warm_up

    results = job.run(make_item, ctx, items, desc=f"synth {kind}", meanwhile=warm_up, stream=True)
    rows = pd.DataFrame([{"split": it.split, **results[it.key]["meta"]} for it in items])
    # the card's figures and the metadata TSVs, side by side in two processes with --workers > 1
    write_waa_card(out, spec, rows, classes, ctx.segments, job.spec_sha256, seed, kind, scale,
                   regenerate_command(kind, scale, seed, bank), short_classes(bank, classes), bank, job.workers)
    return job.finish()


def write_metadata(out: Path, spec: WaaSpec, rows: pd.DataFrame, classes: list[str], segments: list[float]) -> None:
    from sedkit.synth.contract import write_classes, write_durations_tsv, write_strong_tsv, write_weak_tsv
    from sedkit.synth.io import atomic_write_text

    write_classes(out / "metadata" / "classes.txt", classes)
    for split, g in rows.groupby("split", sort=False):
        write_strong_tsv(out / "metadata" / f"{split}.tsv",
                         [{"filename": r.filename, "onset": r.onset, "offset": r.offset, "event_label": r.label}
                          for r in g.itertuples()])
        write_durations_tsv(out / "metadata" / f"{split}_durations.tsv", {f: spec.duration for f in g.filename})
        for L in segments:
            name = length_name(L)
            base = out / "segments" / name / "metadata"
            write_classes(base / "classes.txt", classes)
            write_weak_tsv(base / f"{split}.tsv", {r.filename: [r.label] for r in g.itertuples()})
            write_strong_tsv(base / f"{split}_strong.tsv",
                             [{"filename": r.filename, "onset": r.segments[name]["onset"],
                               "offset": r.segments[name]["offset"], "event_label": r.label} for r in g.itertuples()])
            write_durations_tsv(base / f"{split}_durations.tsv", {f: L for f in g.filename})
            wk = pd.DataFrame({"filename": g.filename.values,
                               "segment_start": [r.segments[name]["start"] for r in g.itertuples()],
                               "weakness": [r.segments[name]["weakness"] for r in g.itertuples()]})
            atomic_write_text(base / f"{split}_weakness.tsv",
                              wk.sort_values("filename").to_csv(sep="\t", index=False, float_format="%.4f"))


SHORT_EVENT_S = 2.5  # a class whose median event is shorter than this is a "short" class on the card


def short_classes(bank: Soundbank, classes) -> set[str]:
    """The classes whose sources in the bank last under :data:`SHORT_EVENT_S` (median): from the bank's own
    durations, whatever the bank (on the built-in bank: Alarm_bell_ringing, Cat, Dishes, Dog and Speech, as in
    DESED). The sources, not the dataset's events: the 200 ms set cuts every event to 0.2 s."""
    fg = bank.foregrounds()
    dur = fg.groupby("label").duration_s.median()
    return {c for c in classes if c in dur.index and dur[c] < SHORT_EVENT_S}


def write_waa_card(out: Path, spec: WaaSpec, rows: pd.DataFrame, classes, segments, sha, seed, kind, scale,
                   regen: str, short_set: set[str], bank: Soundbank | None = None, workers: int = 1):
    from sedkit.synth.card import (bars_png, density_png, hist_png, md_table, side_by_side, warnings_section,
                                   write_card)

    dur = rows.offset - rows.onset
    counts = rows.groupby(["label", "split"]).size().unstack(fill_value=0).reindex(columns=list(SPLITS),
                                                                                  fill_value=0)
    side_by_side([  # the two heaviest here, the rest in a forked child (with --workers > 1)
        (density_png, (out / "event_durations.png", {c: dur[rows.label == c].values for c in classes},
                       "Event duration per class", "event duration (s)"),
         {"styles": {c: ("-" if c in short_set else "--") for c in classes}, "xmax": spec.duration}),
        (hist_png, (out / "snr.png", rows.snr.values, "SNR of the foreground events", "SNR (dB)"), {}),
    ], [
        (hist_png, (out / "label_weakness.png", None, "Label weakness per segment length (fraction of segment active)",
                    "fraction of the segment in which the event is active"),
         {"bins": 20, "groups": {length_name(L): [s[length_name(L)]["weakness"] for s in rows.segments]
                                 for L in segments}}),
        (bars_png, (out / "counts.png", counts.sum(axis=1), "Clips per class (all splits)"), {}),
        (write_metadata, (out, spec, rows, classes, segments), {}),
    ], fork=workers > 1)
    short = rows[dur < 0.2 - 1e-6]
    short_by = short.groupby("label").size().to_dict()
    weak = pd.DataFrame([{"segment": length_name(L),
                          "mean weakness": float(np.mean([s[length_name(L)]["weakness"] for s in rows.segments])),
                          "min weakness": float(np.min([s[length_name(L)]["weakness"] for s in rows.segments]))}
                         for L in segments])
    sections = [
        ("Contents", f"{len(rows)} clips of {spec.duration:g} s at {spec.sr} Hz, one foreground event over one "
                     f"background each, mixed with Scaper (ref_db {spec.ref_db:g}, SNR {spec.snr!r} dB, pitch shift "
                     f"{'off' if spec.pitch_shift is None else repr(spec.pitch_shift)}). Scale: {scale}.\n\n"
                     "Clips: `audio/<split>/`, strong labels `metadata/<split>.tsv`, JAMS `jams/<split>/`. "
                     "Segments: `segments/<length>/` (weak `<split>.tsv`, clipped strong `<split>_strong.tsv`, "
                     "label weakness `<split>_weakness.tsv`)."),
        ("Counts per class and split", md_table(counts.reset_index())),
        ("Segments and label weakness", md_table(weak)),
        ("Events shorter than 200 ms", f"{len(short)} of {len(rows)} clips (paper: 122 of 3750). By class: "
                                       f"{short_by or 'none'}."),
        ("Segment placement rule", (__doc__ or "").split("Segments:")[1].split("200 ms set:")[0].strip()),
        warnings_section(rows),
    ]
    images = [("Event durations per class (solid: short classes, dashed: long classes)", "event_durations.png"),
              ("Label weakness per segment length", "label_weakness.png"), ("SNR", "snr.png"),
              ("Clips per class", "counts.png")]
    write_card(out, f"sedkit {kind} dataset", sections, images, sha, seed, regen, bank,
               sources={*rows.fg, *rows.bg})  # what the JAMS name: each clip's foreground and background


# ---------------------------------------------------------------- commands

def _waa_options(kind: str):
    """The shared generator options (:func:`sedkit.synth.generator.generator_options`) plus WAA's own."""
    from sedkit.synth.generator import generator_options

    shared = generator_options(kind, spec_name="waa", out_help="Output dataset folder (default: ./<kind>_<segments>).")
    own = [click.option("--segment", default=None, help="Segment length(s): 200ms, 1s, 10s or a comma list."),
           click.option("--sr", type=int, default=None, help=f"Sample rate (default {spec_default('waa', 'sr')})."),
           click.option("--pitch-shift", is_flag=True, help="Pitch shift U(-3, 3) semitones, as in the authors' code.")]

    def deco(f):
        for o in reversed(own):
            f = o(f)
        return shared(f)

    return deco


def _run(kind, out, segment, sr, scale, seed, soundbank, spec_path, pitch_shift, workers, resume, event_duration,
         force=False, executor="local", address=None, shards=None, shard_size=None):
    from sedkit.synth.generator import default_workers

    segs = [s.strip() for s in segment.split(",")] if segment is not None else None
    over = {"segments": segs, "sr": sr, "pitch_shift": ["uniform", -3, 3] if pitch_shift else None,
            "event_duration": event_duration}
    spec = load_spec(WaaSpec, spec_path or builtin_spec_path("waa"), over,
                     flags={"segments": "--segment", "sr": "--sr", "pitch_shift": "--pitch-shift"})
    out = out or Path(f"{kind}_{'_'.join(length_name(parse_length(s)) for s in spec.segments)}")
    man = generate(spec, out, seed, scale, soundbank, default_workers(workers), resume, kind, force, executor, address,
                   shards, shard_size)
    click.echo(f"{out}: {len(man['files'])} files, spec sha256 {man['spec_sha256'][:12]}")


@click.command("waa", help="WAA set: one event over one background per 10 s clip, with segments cut around the "
                           "event (Turpault et al. 2020).\n\nExample: sedkit synth waa --segment 1s")
@_waa_options("waa")
def waa_cmd(**kw):
    _run("waa", event_duration=None, **kw)


@click.command("200ms", help="200 ms set: WAA's draws with every foreground cut to 200 ms, re-mixed.\n\n"
                             "Example: sedkit synth 200ms --segment 200ms,1s,10s --out ms200")
@_waa_options("200ms")
def ms200_cmd(**kw):
    _run("200ms", event_duration=0.2, **kw)
