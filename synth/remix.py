"""`sedkit synth remix`: the fixed-SNR remix of Deshmukh et al. (2021), after Kong et al. (2019).

Each 10 s clip is one scene background plus ``len(onsets)`` events (default 3, at 0.5 / 3.0 / 5.5 s, each cut
to at most ``max_event_s`` = 2 s) from the bank's K classes (distinct within a clip when K allows). The background
sits at ``ref_db`` and each event at ``ref_db + snr``. Every draw (background file and start, classes, files,
source times) comes from the item's generator and is shared by all subsets: subset ``snr_<db>/`` differs from the
others only in the events' SNR. Any bank works (e.g. an imported 41-class FSDKaggle2018 bank).

Layout: ``snr_<db>/`` is a data dir per SNR, splits train / validation / eval from the bank's splits, weak labels in
``metadata/<split>.tsv`` (what training uses) and the strong ones in ``metadata/<split>_strong.tsv``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

import click
import pandas as pd
from pydantic import Field, field_validator, model_validator

from sedkit import SedkitError
from sedkit.specs import Dist, Spec, spec_default
from sedkit.synth.generator import (TrainValEvalCounts, check_space, default_workers, generator_options,
                                    load_generator_spec, regenerate_command, run_rows, scaled_sizes, start_job)
from sedkit.synth.rng import item_rng
from sedkit.synth.runner import Item
from sedkit.synth.scaper_mix import ScaperView, add_warnings
from sedkit.synth.scene import render_clip
from sedkit.synth.soundbank.index import Soundbank
from sedkit.synth.strong import write_labels



class RemixSpec(Spec):
    defaults_from: ClassVar[str] = "remix"  # every value: specs/remix.yaml
    sr: int = Field(ge=8000, le=192000)
    duration: float = Field(gt=0)
    ref_db: float
    snrs: list[float]
    onsets: list[float]
    max_event_s: float = Field(gt=0)
    distinct_classes: bool
    classes: list[str] | None
    source_time: Literal["start", "random"]
    pitch_shift: Dist | None
    counts: TrainValEvalCounts
    small_counts: TrainValEvalCounts

    @field_validator("snrs")
    @classmethod
    def _snrs(cls, v):
        if not v:
            raise ValueError("at least one SNR is needed")
        if len({snr_name(x) for x in v}) != len(v):
            raise ValueError(f"SNRs must be distinct, got {v}")
        return v

    @model_validator(mode="after")
    def _check(self):
        if not self.onsets:
            raise ValueError("onsets: at least one event onset is needed")
        bad = [t for t in self.onsets if not 0 <= t < self.duration]
        if bad:
            raise ValueError(f"onsets {bad} lie outside the clip (0, {self.duration})")
        return self


def snr_name(db: float) -> str:
    return f"snr_{float(db):g}"


@dataclass
class Ctx:
    out: str
    spec: RemixSpec
    seed: int
    bank: Soundbank
    view_root: str
    classes: list[str]


def draw(ctx: Ctx, item: Item) -> dict:
    """Background and events of one clip, shared by every SNR subset (the event SNR is left out)."""
    spec, bank = ctx.spec, ctx.bank
    rng = item_rng(ctx.seed, item.split, item.index)
    bgs = bank.backgrounds(item.split)
    bg = bgs.iloc[int(rng.integers(len(bgs)))]
    background = {"path": bg.path, "label": bg.label,
                  "source_time": float(rng.uniform(0, max(0.0, bg.duration_s - spec.duration)))}
    avail = [c for c in ctx.classes if len(bank.foregrounds(item.split, c))]
    n = len(spec.onsets)
    distinct = spec.distinct_classes and len(avail) >= n
    labels = [avail[i] for i in rng.choice(len(avail), size=n, replace=not distinct)]
    events = []
    for label, onset in zip(labels, spec.onsets):
        files = bank.foregrounds(item.split, label)
        row = files.iloc[int(rng.integers(len(files)))]
        dur = min(float(row.duration_s), spec.max_event_s, spec.duration - onset)
        start = float(rng.uniform(0, row.duration_s - dur)) if spec.source_time == "random" else 0.0
        pitch = float(spec.pitch_shift.sample(rng)) if spec.pitch_shift is not None else None
        events.append({"label": label, "path": row.path, "source_time": start, "event_time": float(onset),
                       "event_duration": dur, "pitch_shift": pitch, "time_stretch": None})
    return {"background": background, "events": events}


def make_item(ctx: Ctx, item: Item) -> dict:
    spec = ctx.spec
    d = draw(ctx, item)
    view = ScaperView(ctx.bank, ctx.view_root, build=False, sr=spec.sr)
    name = f"{item.split}_{item.index:05d}"
    files, labels, warned = [], {}, {}
    for snr in spec.snrs:
        sub = snr_name(snr)
        rel = [f"{sub}/audio/{item.split}/{name}.wav", f"{sub}/jams/{item.split}/{name}.jams"]
        events = [{**e, "snr": float(snr)} for e in d["events"]]
        _, lab, w = render_clip(view, ctx.out, rel[0], rel[1], spec.sr, spec.duration, spec.ref_db, d["background"],
                             events, reverb=None)
        files += rel
        labels[sub] = [list(e) for e in lab]
        warned = add_warnings(warned, w)
    return {"files": files, "meta": {"filename": f"{name}.wav", "labels": labels, "background": d["background"],
                                     "sources": [e["path"] for e in d["events"]], "scaper_warnings": warned}}


def generate(spec: RemixSpec, out: str | Path, seed: int = 0, scale: str = "paper", soundbank=None,
             workers: int = 1, resume: bool = False, force: bool = False, executor: str = "local",
             address: str | None = None, shards: Path | None = None, shard_size: str | None = None) -> dict:
    out, sizes = Path(out), scaled_sizes(spec, scale)
    check_space(out, sum(sizes.values()), spec.duration, spec.sr, copies=len(spec.snrs), force=force)
    bank, job = start_job("remix", spec, out, seed, scale, soundbank, workers, resume, spec.classes, executor,
                          address, shards, shard_size)
    classes = spec.classes or bank.labels
    for s in sizes:
        if bank.backgrounds(s).empty or not any(len(bank.foregrounds(s, c)) for c in classes):
            raise SedkitError(f"soundbank {bank.root}: split {s!r} needs backgrounds and foregrounds of {classes}")
    view = ScaperView(bank, out / ".sedkit" / "view", sr=spec.sr)
    ctx = Ctx(str(out), spec, seed, bank, str(view.root), classes)
    items = [Item(s, i) for s, n in sizes.items() for i in range(n)]
    rows = run_rows(job, make_item, ctx, items, "synth remix")
    write_outputs(out, spec, rows, classes, job.spec_sha256, seed, scale, regenerate_command("remix", scale, seed, bank),
                  bank)
    return job.finish()


def write_outputs(out: Path, spec: RemixSpec, rows: pd.DataFrame, classes: list[str], sha: str, seed: int,
                  scale: str, regen: str, bank: Soundbank | None = None) -> None:
    from sedkit.synth.audio import read
    from sedkit.synth.card import spectrogram_png, warnings_section, write_card
    from sedkit.synth.contract import write_classes
    from sedkit.synth.event_card import event_card

    for snr in spec.snrs:
        sub = snr_name(snr)
        write_classes(out / sub / "metadata" / "classes.txt", classes)
        sub_rows = rows.assign(labels=[lab[sub] for lab in rows.labels])
        for split, g in sub_rows.groupby("split", sort=False):
            write_labels(out / sub, split, g, spec.duration, "weak")
    # the card's counts are per subset (identical across subsets); its SNR histogram covers every subset
    sub0 = snr_name(spec.snrs[0])
    card_rows = rows.assign(labels=[lab[sub0] for lab in rows.labels],
                            snrs=[[float(s) for s in spec.snrs for _ in lab[sub0]] for lab in rows.labels])
    first = card_rows.iloc[0]
    sections, images = event_card(out, card_rows, out / sub0 / "audio" / first.split / first.filename, first.labels,
                                  f"Example: {sub0}/{first.split}/{first.filename}")
    for snr in spec.snrs[1:]:
        sub = snr_name(snr)
        x, sr = read(out / sub / "audio" / first.split / first.filename)
        spectrogram_png(out / f"example_{sub}.png", x, sr, [tuple(e) for e in rows.iloc[0].labels[sub]],
                        f"Same clip at {snr:g} dB: {sub}/{first.split}/{first.filename}")
        images.append((f"The same clip at {snr:g} dB", f"example_{sub}.png"))
    subsets = ", ".join(snr_name(s) + "/" for s in spec.snrs)
    intro = (f"{len(rows)} clips per subset, {len(spec.snrs)} subsets ({subsets}), {spec.duration:g} s at "
             f"{spec.sr} Hz (scale {scale}). Each clip: one scene background at ref_db "
             f"{spec.ref_db:g} plus {len(spec.onsets)} events from {len(classes)} classes at onsets "
             f"{', '.join(f'{t:g}' for t in spec.onsets)} s, each cut to at most {spec.max_event_s:g} s, "
             f"{'distinct classes' if spec.distinct_classes else 'classes drawn with replacement'}. The subsets "
             "share every draw (background, files, onsets, labels) and differ only in the events' SNR.\n\n"
             "Each `snr_<db>/` is a data dir: weak labels `metadata/<split>.tsv` (for training), strong labels "
             "`metadata/<split>_strong.tsv`, durations, `classes.txt`, audio and JAMS.")
    write_card(out, "sedkit remix dataset (fixed-SNR subsets)",
               [("Contents", intro)] + sections + [warnings_section(rows)], images, sha, seed,
               regen, bank)


@click.command("remix", help="Fixed-SNR remix (Deshmukh et al. 2021, after Kong et al.): one scene background plus "
                             "3 events per 10 s clip, one data dir per SNR with the same event placement.\n\n"
                             "Example: sedkit synth remix --snr 0,10,20 --scale small --out remix_small")
@generator_options("remix")
@click.option("--snr", "snrs", default=None, help=f"Comma-separated SNRs in dB (default {spec_default('remix', 'snrs')}).")
@click.option("--sr", type=int, default=None, help=f"Sample rate (default {spec_default('remix', 'sr')}).")
@click.option("--classes", default=None, help="Comma-separated subset of the bank's classes (default: all).")
def remix_cmd(out, scale, seed, soundbank, spec_path, workers, force, executor, address, shards, shard_size, resume,
              snrs, sr, classes):
    try:
        snr_list = [float(s) for s in snrs.split(",")] if snrs else None
    except ValueError:
        raise SedkitError(f"--snr {snrs!r}: expected comma-separated numbers, e.g. 0,10,20") from None
    over = {"snrs": snr_list, "sr": sr, "classes": [c.strip() for c in classes.split(",")] if classes else None}
    spec = load_generator_spec(RemixSpec, "remix", spec_path, over,
                               {"snrs": "--snr", "sr": "--sr", "classes": "--classes"})
    man = generate(spec, out, seed, scale, soundbank, default_workers(workers), resume, force, executor, address,
                   shards, shard_size)
    click.echo(f"{out}: {len(man['files'])} files, spec sha256 {man['spec_sha256'][:12]}")
