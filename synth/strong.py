"""`sedkit synth strong`: DESED-style strongly labelled 10 s soundscapes (DESED 2021 recipe by default).

The clip recipe (events per class, co-occurrence, onsets, SNR, pitch, stretch, polyphony cap, label clean-up) is
:mod:`sedkit.synth.scene`; this module runs it over the splits and writes the dataset folder::

    audio/<split>/<split>_NNNNN.wav     jams/<split>/...      metadata/<split>.tsv (strong)
    metadata/<split>_durations.tsv      metadata/classes.txt  manifest.json   README.md + PNGs

Split ``train`` draws from the bank's train split, ``validation`` from its validation split (disjoint source groups).
"""
from __future__ import annotations

from typing import ClassVar

from dataclasses import dataclass
from pathlib import Path

import click
import pandas as pd
from pydantic import Field

from sedkit.specs import Spec, spec_default
from sedkit.synth.generator import (SceneCtx, TrainValEvalCounts, check_space, default_workers, generator_options,
                                    load_generator_spec, regenerate_command, run_rows, scaled_sizes, start_job)
from sedkit.synth.rng import item_rng
from sedkit.synth.runner import Item
from sedkit.synth.scaper_mix import ScaperView
from sedkit.synth.scene import Pool, SceneSpec, draw_scene, render_clip
from sedkit.synth.soundbank.index import Soundbank



class StrongSpec(Spec):
    defaults_from: ClassVar[str] = "strong"  # every value: specs/strong.yaml
    sr: int = Field(ge=8000, le=192000)
    counts: TrainValEvalCounts
    small_counts: TrainValEvalCounts
    scene: SceneSpec


@dataclass
class Ctx(SceneCtx):
    view_root: str
    bank: Soundbank
    pools: dict[str, Pool]


def clip_name(item: Item) -> str:
    return f"{item.split}_{item.index:05d}"


def make_item(ctx: Ctx, item: Item) -> dict:
    sc = ctx.scene
    clip = draw_scene(sc, ctx.pools[item.split], lambda k: item_rng(ctx.seed, item.split, item.index, "draw", k))
    name = clip_name(item)
    files = [f"audio/{item.split}/{name}.wav", f"jams/{item.split}/{name}.jams"]
    view = ScaperView(ctx.bank, ctx.view_root, build=False, sr=ctx.sr)
    _, labels, warned = render_clip(view, ctx.out, files[0], files[1], ctx.sr, sc.duration, sc.ref_db, clip["background"],
                            clip["events"], sc.reverb, sc.min_event_s, sc.merge_gap_s)
    meta = {"filename": f"{name}.wav", "labels": [list(e) for e in labels],
            "snrs": [e["snr"] for e in clip["events"]], "redraws": clip["redraws"],
            "background": clip["background"]["label"], "scaper_warnings": warned}
    return {"files": files, "meta": meta}


def write_labels(base: Path, split: str, rows: pd.DataFrame, duration: float, kind: str = "strong") -> None:
    """metadata/<split>.tsv and <split>_durations.tsv under ``base``.

    kind ``strong``: strong labels; ``weak``: weak labels plus the strong ones in <split>_strong.tsv;
    ``unlabelled``: file names only, plus the strong labels in <split>_strong.tsv.
    """
    from sedkit.synth.contract import write_durations_tsv, write_strong_tsv, write_unlabelled_tsv, write_weak_tsv
    from sedkit.synth.event_card import event_table

    ev = event_table(rows)
    meta = base / "metadata"
    if kind == "strong":
        write_strong_tsv(meta / f"{split}.tsv", ev)
    else:
        if kind == "weak":
            write_weak_tsv(meta / f"{split}.tsv", {r.filename: [e[2] for e in r.labels] for r in rows.itertuples()})
        else:
            write_unlabelled_tsv(meta / f"{split}.tsv", list(rows.filename))
        write_strong_tsv(meta / f"{split}_strong.tsv", ev)
    write_durations_tsv(meta / f"{split}_durations.tsv", {f: duration for f in rows.filename})


def generate(spec: StrongSpec, out: str | Path, seed: int = 0, scale: str = "paper", soundbank=None,
             workers: int = 1, resume: bool = False, force: bool = False, executor: str = "local",
             address: str | None = None, shards: Path | None = None, shard_size: str | None = None) -> dict:
    from sedkit.synth.card import warnings_section, write_card
    from sedkit.synth.contract import write_classes
    from sedkit.synth.event_card import event_card

    out, sizes = Path(out), scaled_sizes(spec, scale)
    check_space(out, sum(sizes.values()), spec.scene.duration, spec.sr, force=force)
    bank, job = start_job("strong", spec, out, seed, scale, soundbank, workers, resume, executor=executor,
                          address=address, shards=shards, shard_size=shard_size)
    view = ScaperView(bank, out / ".sedkit" / "view", sr=spec.sr)
    pools = {s: Pool.from_bank(bank, s) for s in sizes}
    ctx = Ctx(str(out), spec.scene, spec.sr, seed, str(view.root), bank, pools)
    items = [Item(s, i) for s, n in sizes.items() for i in range(n)]
    rows = run_rows(job, make_item, ctx, items, "synth strong")
    write_classes(out / "metadata" / "classes.txt", bank.labels)
    for split, g in rows.groupby("split", sort=False):
        write_labels(out, split, g, spec.scene.duration)
    first = rows.iloc[0]
    sections, images = event_card(out, rows, out / "audio" / first.split / first.filename, first.labels,
                                  f"Example: {first.split}/{first.filename}")
    sections.insert(0, ("Contents", recipe_text(spec.scene, spec.sr, scale, rows)))
    sections.append(warnings_section(rows))
    write_card(out, "sedkit strong dataset (DESED-style soundscapes)", sections, images, job.spec_sha256, seed,
               regenerate_command("strong", scale, seed, bank), bank)
    return job.finish()


def recipe_text(sc: SceneSpec, sr: int, scale: str, rows: pd.DataFrame) -> str:
    redrawn = int((rows.redraws > 0).sum())
    return (f"{len(rows)} clips of {sc.duration:g} s at {sr} Hz (scale {scale}), mixed with Scaper: ref_db "
            f"{sc.ref_db:g}, onset {sc.event_time!r}, SNR {sc.snr!r} dB, pitch shift {sc.pitch_shift!r}, time stretch "
            f"{sc.time_stretch!r}, reverb {sc.reverb}. Events per class from the spec's truncated normals and "
            f"co-occurrence table. Polyphony cap {sc.polyphony_cap}: {redrawn} clip(s) were redrawn "
            f"(max {int(rows.redraws.max())} redraws). Labels cleaned: same-class events less than "
            f"{sc.merge_gap_s * 1000:g} ms apart merged, events under {sc.min_event_s * 1000:g} ms dropped.\n\n"
            "Strong labels `metadata/<split>.tsv`, durations `metadata/<split>_durations.tsv`, JAMS `jams/<split>/`.")


@click.command("strong", help="DESED-style strongly labelled 10 s soundscapes (DESED 2021 recipe): events per class "
                              "from truncated normals, class co-occurrence, polyphony cap, label clean-up.\n\n"
                              "Example: sedkit synth strong --scale small --out strong_small")
@generator_options("strong")
@click.option("--sr", type=int, default=None, help=f"Sample rate (default {spec_default('strong', 'sr')}).")
@click.option("--train", "n_train", type=int, default=None,
              help=f"Train clips (default {spec_default('strong', 'counts.train')}; "
                   f"small {spec_default('strong', 'small_counts.train')}).")
@click.option("--validation", "n_validation", type=int, default=None,
              help=f"Validation clips (default {spec_default('strong', 'counts.validation')}; "
                   f"small {spec_default('strong', 'small_counts.validation')}).")
@click.option("--polyphony-cap", type=int, default=None,
              help=f"Max simultaneous events (default {spec_default('strong', 'scene.polyphony_cap')}).")
@click.option("--time-stretch", is_flag=True, help="Time stretch U(0.9, 1.1) (default "
                                                   f"{spec_default('strong', 'scene.time_stretch')}).")
@click.option("--no-reverb", is_flag=True,
              help=f"No Scaper reverb (default {spec_default('strong', 'scene.reverb')}).")
def strong_cmd(out, scale, seed, soundbank, spec_path, workers, force, executor, address, shards, shard_size, resume,
               sr, n_train, n_validation,
               polyphony_cap,
               time_stretch, no_reverb):
    counts = "small_counts" if scale == "small" else "counts"
    over = {"sr": sr, f"{counts}.train": n_train, f"{counts}.validation": n_validation,
            "scene.polyphony_cap": polyphony_cap, "scene.time_stretch": ["uniform", 0.9, 1.1] if time_stretch else None}
    spec = load_generator_spec(StrongSpec, "strong", spec_path, over, {
        "sr": "--sr", f"{counts}.train": "--train", f"{counts}.validation": "--validation",
        "scene.polyphony_cap": "--polyphony-cap"})
    if no_reverb:
        spec.scene.reverb = None
    man = generate(spec, out, seed, scale, soundbank, default_workers(workers), resume, force, executor, address,
                   shards, shard_size)
    click.echo(f"{out}: {len(man['files'])} files, spec sha256 {man['spec_sha256'][:12]}")
