"""`sedkit synth semi`: the semi-supervised setting of Park et al. (2019) and Cornell et al. (2020).

One data dir with five splits, every clip drawn with the DESED-style scene recipe (:mod:`sedkit.synth.scene`):

=============  ===========  ==============  ===========  ==========================================
split          labels       domain          bank split   default size (DCASE 2019 task 4 / DESED)
=============  ===========  ==============  ===========  ==========================================
synthetic      strong       source (dry)    train        2045
weak           weak         target          train        1578
unlabel        none         target          train        14412
validation     strong       target          validation   1168
eval           strong       target          eval         692
=============  ===========  ==============  ===========  ==========================================

``--gap`` (0 to 3) is the domain-gap dial (see :mod:`sedkit.synth.domain`): target-domain sources and
backgrounds go through the bank's recorded-like channel of strength ``gap`` and favour other background families.
At gap 0 both domains are identically distributed. The card prints the domain-gap statistic.
``weak_strong.tsv`` and ``unlabel_strong.tsv`` keep the hidden strong labels of W and U for analysis only.
"""
from __future__ import annotations

from typing import ClassVar

from dataclasses import dataclass
from pathlib import Path

import click
import pandas as pd
from pydantic import Field

from sedkit.specs import Spec, spec_default
from sedkit.synth.domain import build_target_bank, family_groups, family_sides, gap_report, mean_logmel, spectra_png
from sedkit.synth.generator import (SceneCtx, SplitCounts, check_space, default_workers, generator_options,
                                    load_generator_spec, regenerate_command, run_rows, scaled_sizes, start_job)
from sedkit.synth.io import atomic_write_json
from sedkit.synth.rng import item_rng
from sedkit.synth.runner import Item
from sedkit.synth.scaper_mix import ScaperView
from sedkit.synth.scene import Pool, SceneSpec, draw_scene, mix, render_clip
from sedkit.synth.soundbank.index import Soundbank
from sedkit.synth.strong import write_labels

SPLITS = ("synthetic", "weak", "unlabel", "validation", "eval")
BANK_SPLIT = {"synthetic": "train", "weak": "train", "unlabel": "train", "validation": "validation",
              "eval": "eval"}
SOURCE, TARGET = ["synthetic"], ["weak", "unlabel", "validation", "eval"]


class Counts(SplitCounts):
    synthetic: int = Field(ge=0)
    weak: int = Field(ge=0)
    unlabel: int = Field(ge=0)
    validation: int = Field(ge=0)
    eval: int = Field(ge=0)
    probes: int = Field(ge=0)  # paired probe clips for the domain-gap statistic (not written)


class SemiSpec(Spec):
    defaults_from: ClassVar[str] = "semi"  # every value: specs/semi.yaml
    sr: int = Field(ge=8000, le=192000)
    gap: float = Field(ge=0, le=3)
    counts: Counts
    small_counts: Counts
    gap_stat_clips: int = Field(ge=1)
    scene: SceneSpec  # specs/semi.yaml: `extends: strong#scene` (the DESED recipe of specs/strong.yaml)


@dataclass
class Ctx(SceneCtx):
    stat_clips: int
    banks: dict[str, Soundbank]     # domain -> bank
    views: dict[str, str]           # domain -> view root
    pools: dict[str, Pool]          # split -> pool; "probe_source" / "probe_target" for the probes


def domain_of(split: str) -> str:
    return "source" if split in SOURCE else "target"


def make_item(ctx: Ctx, item: Item) -> dict:
    sc, dom = ctx.scene, domain_of(item.split)
    clip = draw_scene(sc, ctx.pools[item.split], lambda k: item_rng(ctx.seed, item.split, item.index, "draw", k))
    name = f"{item.split}_{item.index:05d}"
    files = [f"audio/{item.split}/{name}.wav", f"jams/{item.split}/{name}.jams"]
    view = ScaperView(ctx.banks[dom], ctx.views[dom], build=False, sr=ctx.sr)
    x, labels, warned = render_clip(view, ctx.out, files[0], files[1], ctx.sr, sc.duration, sc.ref_db, clip["background"],
                            clip["events"], sc.reverb, sc.min_event_s, sc.merge_gap_s)
    meta = {"filename": f"{name}.wav", "labels": [list(e) for e in labels], "snrs": [e["snr"] for e in clip["events"]],
            "redraws": clip["redraws"], "background": clip["background"]["label"],
            "logmel": mean_logmel(x, ctx.sr) if item.index < ctx.stat_clips else None, "scaper_warnings": warned}
    return {"files": files, "meta": meta}


def make_probe(ctx: Ctx, item: Item) -> dict:
    """Probe clip i drawn from one random stream in both domains; only its mean log-mel spectra are kept."""
    sc, meta = ctx.scene, {}
    for dom in ("source", "target"):
        clip = draw_scene(sc, ctx.pools[f"probe_{dom}"], lambda k: item_rng(ctx.seed, "probe", item.index, "draw", k))
        view = ScaperView(ctx.banks[dom], ctx.views[dom], build=False, sr=ctx.sr)
        x, *_ = mix(view, ctx.sr, sc.duration, sc.ref_db, clip["background"], clip["events"], sc.reverb)
        meta[dom] = mean_logmel(x, ctx.sr)
    return {"files": [], "meta": meta}


def generate(spec: SemiSpec, out: str | Path, seed: int = 0, scale: str = "paper", soundbank=None,
             workers: int = 1, resume: bool = False, force: bool = False, executor: str = "local",
             address: str | None = None, shards: Path | None = None, shard_size: str | None = None) -> dict:
    out, sizes = Path(out), scaled_sizes(spec, scale)  # + "probes"
    check_space(out, sum(n for s, n in sizes.items() if s != "probes"), spec.scene.duration, spec.sr, force=force)
    bank, job = start_job("semi", spec, out, seed, scale, soundbank, workers, resume, executor=executor,
                          address=address, shards=shards, shard_size=shard_size)
    banks = {"source": bank, "target": bank}
    if spec.gap > 0:
        banks["target"] = build_target_bank(job, bank, out, spec.sr, spec.gap, seed)
    views = {d: str(ScaperView(b, out / ".sedkit" / f"view_{d}", sr=spec.sr).root) for d, b in banks.items()}
    sides = family_sides(list(bank.backgrounds().label))
    n_probes = sizes.pop("probes", 0)
    pools = {s: Pool.from_bank(banks[domain_of(s)], BANK_SPLIT[s], family_groups(domain_of(s), spec.gap, sides),
                               labels=bank.labels) for s in sizes}
    for dom in ("source", "target"):
        pools[f"probe_{dom}"] = Pool.from_bank(banks[dom], "train", family_groups(dom, spec.gap, sides),
                                               labels=bank.labels)
    ctx = Ctx(str(out), spec.scene, spec.sr, seed, spec.gap_stat_clips, banks, views, pools)
    items = [Item(s, i) for s, n in sizes.items() for i in range(n)]
    rows = run_rows(job, make_item, ctx, items, "synth semi")
    probe_items = [Item("probe", i) for i in range(n_probes)]
    probes = job.run(make_probe, ctx, probe_items, desc="gap probes")
    probes = pd.DataFrame([probes[it.key]["meta"] for it in probe_items], columns=["source", "target"])
    gap = write_outputs(out, spec, rows, probes, bank, sides, job.spec_sha256, seed, scale)
    man = job.finish()
    man["domain_gap"] = gap
    return man


def write_outputs(out: Path, spec: SemiSpec, rows: pd.DataFrame, probes: pd.DataFrame, bank: Soundbank, sides,
                  sha: str, seed: int, scale: str) -> dict:
    from sedkit.synth.card import md_table, warnings_section, write_card
    from sedkit.synth.contract import write_classes
    from sedkit.synth.event_card import event_card

    write_classes(out / "metadata" / "classes.txt", bank.labels)
    for split, g in rows.groupby("split", sort=False):
        kind = {"weak": "weak", "unlabel": "unlabelled"}.get(split, "strong")
        write_labels(out, split, g, spec.scene.duration, kind)
    report = gap_report(rows, probes, SOURCE, [s for s in TARGET if s in set(rows.split)])
    headline = float(report.iloc[0]["mean log-mel distance (dB)"]) if len(report) else float("nan")
    gap = {"gap": spec.gap, "statistic": "mean log-mel distance (dB), source vs target",
           "compared": str(report.iloc[0]["compared"]) if len(report) else "-",
           "value": round(headline, 4), "rows": report.round(4).to_dict(orient="records")}
    atomic_write_json(out / "domain_gap.json", gap)
    spectra_png(out / "domain_spectra.png", rows, SOURCE, TARGET, f"Mean log-mel spectra, gap {spec.gap:g}")
    ex = rows[rows.split == "synthetic"].iloc[0] if (rows.split == "synthetic").any() else rows.iloc[0]
    sections, images = event_card(out, rows, out / "audio" / ex.split / ex.filename, ex.labels,
                                  f"Example: {ex.split}/{ex.filename}", splits=[s for s in SPLITS
                                                                               if s in set(rows.split)])
    fam_s, fam_t = sides
    intro = (f"{len(rows)} clips of {spec.scene.duration:g} s at {spec.sr} Hz (scale {scale}) in five splits "
             "(table below), DESED-style scenes (the `scene` recipe of `specs/strong.yaml` unless the spec sets "
             "one).\n\n"
             "| split | labels | domain | bank split |\n|---|---|---|---|\n"
             "| synthetic | strong | source (dry) | train |\n| weak | weak | target | train |\n"
             "| unlabel | none | target | train |\n| validation | strong | target | validation |\n"
             "| eval | strong | target | eval |\n\n"
             f"**Domain gap {spec.gap:g}** (0 = none, 3 = strong): target-domain sources and backgrounds are "
             f"rendered through the bank's recorded-like channel (RIR, mic EQ, compression, noise floor) with "
             f"strength {spec.gap:g}; background families favoured by the source domain: {', '.join(fam_s) or '-'}, "
             f"by the target domain: {', '.join(fam_t) or '-'} (weights 1 ± {min(spec.gap / 3, 1):.2f}).\n\n"
             "`metadata/weak_strong.tsv` and `metadata/unlabel_strong.tsv` hold the hidden strong labels of the weak "
             "and unlabelled splits, for analysis only.")
    stat = (f"**{headline:.3f} dB** at gap {spec.gap:g} ({gap['compared']}): distance between the mean log-mel "
            "spectra (64 bands) of the source and the target domain. Paired probe clips are drawn once per domain "
            "from one random stream (same events, times and levels), so only the domain differs and the value is 0 "
            "at gap 0. The other rows compare the dataset's source clips (synthetic) with each target split (first "
            f"{spec.gap_stat_clips} clips per split); they include sampling noise.\n\n" + md_table(report))
    sections = [("Contents", intro), ("Domain-gap statistic", stat)] + sections + [warnings_section(rows)]
    images = [("Mean log-mel spectra of the two domains", "domain_spectra.png")] + images
    write_card(out, "sedkit semi-supervised dataset (source/target domains)", sections, images, sha, seed,
               regenerate_command("semi", scale, seed, bank), bank)
    return gap


@click.command("semi", help="Semi-supervised set: strong synthetic S (dry source domain), weak W and unlabelled U, "
                            "validation and eval in a target domain whose distance is set by --gap (0 none .. 3 "
                            "strong).\n\nExample: sedkit synth semi --gap 2 --scale small --out semi_gap2")
@generator_options("semi")
@click.option("--gap", type=float, default=None,
              help=f"Domain gap 0 (identical domains) .. 3 (strong); default {spec_default('semi', 'gap')}.")
@click.option("--sr", type=int, default=None, help=f"Sample rate (default {spec_default('semi', 'sr')}).")
def semi_cmd(out, scale, seed, soundbank, spec_path, workers, force, executor, address, shards, shard_size, resume, gap, sr):
    spec = load_generator_spec(SemiSpec, "semi", spec_path, {"gap": gap, "sr": sr}, {"gap": "--gap", "sr": "--sr"})
    man = generate(spec, out, seed, scale, soundbank, default_workers(workers), resume, force, executor, address,
                   shards, shard_size)
    g = man["domain_gap"]
    click.echo(f"{out}: {len(man['files'])} files, spec sha256 {man['spec_sha256'][:12]}, domain gap {g['gap']:g}: "
               f"{g['statistic']} = {g['value']:.3f}")
