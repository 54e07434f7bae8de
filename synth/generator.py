"""Plumbing shared by the generators: job start, item rows, and the one factory of their CLI options.

Each command is ``--out --scale --seed --soundbank --spec --workers --resume`` (:func:`generator_options`) plus its
own flags, which become dotted spec overrides (None = not given, keeps the spec's value).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import click
import pandas as pd
from pydantic import Field

from sedkit import SedkitError
from sedkit.synth.compat import import_scaper
from sedkit.specs import Spec, builtin_spec_path, load_spec, resolved, spec_hash
from sedkit.synth.runner import Job
from sedkit.synth.scene import SceneSpec
from sedkit.synth.workers import workers_option


@dataclass
class SceneCtx:
    """What every scene generator's workers share (strong and semi extend it with their banks and pools)."""

    out: str
    scene: SceneSpec
    sr: int
    seed: int


class SplitCounts(Spec):
    """Clips per split at one scale; subclasses declare the splits as int fields."""

    def nonzero(self) -> dict[str, int]:
        return {k: v for k, v in self.model_dump().items() if v > 0}


class TrainValEvalCounts(SplitCounts):
    """Clips per split of a generator with the soundbank's three splits (waa, 200ms, strong, remix)."""

    train: int = Field(ge=0)
    validation: int = Field(ge=0)
    eval: int = Field(ge=0)


def scaled_sizes(spec, scale: str) -> dict[str, int]:
    """The spec's ``small_counts`` for --scale small, else its ``counts``; splits with 0 clips left out."""
    return (spec.small_counts if scale == "small" else spec.counts).nonzero()


PER_CLIP_OVERHEAD = 20_000  # bytes of JAMS, labels and journal per clip (measured: 6-15 kB)


def check_space(out: Path, clips: int, seconds: float, sr: int, copies: float = 1.0, force: bool = False) -> int:
    """Estimate the bytes a run writes (16-bit mono audio plus per-clip metadata) and refuse, before anything is
    written or any item is listed, when it exceeds the free space where ``out`` lives (``--force`` goes on)."""
    import shutil

    need = int(clips * (seconds * sr * 2 * copies + PER_CLIP_OVERHEAD))
    place = Path(os.path.realpath(out))
    while not place.exists() and place != place.parent:
        place = place.parent
    free = shutil.disk_usage(place).free
    if need > free and not force:
        raise SedkitError(f"{out}: {clips:,} clips need about {need / 1e9:,.1f} GB, {free / 1e9:,.1f} GB free there; "
                          "lower the counts, choose another --out, or pass --force")
    return need


def provenance(bank) -> dict:
    """Where a dataset's sources came from (stored in its manifest): the bank's absolute path, the sha256 of its
    index, and whether it is the built-in bank (rebuilt byte for byte from the sedkit version when it is gone)."""
    from sedkit.synth.builtin import BUILTIN_NAME
    from sedkit.synth.io import sha256_file
    from sedkit.synth.soundbank.index import INDEX_NAME

    root = Path(bank.root).resolve()
    return {"path": str(root), "index_sha256": sha256_file(root / INDEX_NAME),
            "builtin": bool(BUILTIN_NAME.match(root.name))}


def regenerate_command(kind: str, scale: str, seed: int, bank) -> str:
    """The command, run in the dataset folder, that makes the dataset again byte for byte into a new folder:
    its resolved spec (``spec.yaml``), scale, seed and, unless it is the built-in one, its soundbank."""
    src = provenance(bank)
    sb = "" if src["builtin"] else f" --soundbank {src['path']}"
    return f"sedkit synth {kind} --spec spec.yaml --scale {scale} --seed {seed}{sb} --out NEW_FOLDER"


def start_job(kind: str, spec, out: Path, seed: int, scale: str, soundbank, workers: int, resume: bool,
              classes: list[str] | None = None, executor: str = "local", address: str | None = None,
              shards: Path | None = None, shard_size: str | None = None):
    """(bank, Job): the soundbank (built-in one by default) and the generator's Job, whose identity (for --resume)
    is the resolved spec, scale, bank name and classes (default: every foreground class of the bank)."""
    from sedkit.synth.soundbank.index import resolve_bank

    bank = resolve_bank(soundbank, scale, workers, out)
    unknown = sorted(set(classes or []) - set(bank.labels))
    if unknown:
        raise SedkitError(f"{kind} spec classes {unknown} are not foreground labels of soundbank {bank.root}")
    doc = {"spec": resolved(spec), "scale": scale, "soundbank": bank.root.name, "classes": classes or bank.labels}
    import_scaper()  # once here, so that forked workers don't each pay for the import
    return bank, Job(out, kind, doc, spec_hash(doc), seed, resume=resume, workers=workers,
                     provenance=provenance(bank), executor=executor, address=address, shards=shards,
                     shard_size=shard_size)


def run_rows(job: Job, make, ctx, items: list, desc: str) -> pd.DataFrame:
    """Run ``make`` over ``items``; one row per item: its split and the metadata ``make`` returned."""
    from sedkit.synth.card import warm_up

    results = job.run(make, ctx, items, desc=desc, meanwhile=warm_up, stream=True)
    return pd.DataFrame([{"split": it.split, **results[it.key]["meta"]} for it in items])


def generator_options(name: str, spec_name: str | None = None, out_help: str | None = None):
    """Decorator adding the options every generator shares; the spec defaults to ``specs/<spec_name or name>.yaml``.
    With ``out_help``, ``--out`` has no default (None: the command derives the folder, as ``out_help`` says)."""
    spec_name = spec_name or name
    out = (click.option("--out", type=click.Path(path_type=Path), default=None, help=out_help) if out_help else
           click.option("--out", type=click.Path(path_type=Path), default=Path(name), show_default=True,
                        help="Output dataset folder."))
    opts = [
        out,
        click.option("--scale", type=click.Choice(["paper", "small"]), default="paper", show_default=True,
                     help="paper: the published sizes; small: tens of clips (tests, smoke runs)."),
        click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Seed of every draw."),
        click.option("--soundbank", type=click.Path(path_type=Path), default=None,
                     help="Soundbank root (default: the built-in bank, built and cached on first use)."),
        click.option("--spec", "spec_path", type=click.Path(path_type=Path), default=None,
                     help=f"YAML spec (default: the built-in specs/{spec_name}.yaml)."),
        workers_option("Worker processes (default: all cores)."),
        click.option("--force", is_flag=True, help="Go on when the estimated output is larger than the free space."),
        click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
                     help="local: a process pool on this machine; ray: one Ray task per chunk of clips (the output "
                          "folder must be shared by the Ray nodes). The bytes are the same either way."),
        click.option("--address", default=None,
                     help="Ray cluster address (auto, ray://host:10001); default: a local Ray instance."),
        click.option("--shards", type=click.Path(path_type=Path), default=None,
                     help="Also stream the clips, as they are made, into WebDataset tar shards in this folder "
                          "(outside --out; one sample a clip: its files and meta.json)."),
        click.option("--shard-size", default=None,
                     help="With --shards: shard size in kB/MB/GB (e.g. 500MB) or clips (e.g. 1000); default 500MB."),
        click.option("--resume", is_flag=True, help="Continue or verify a previous run into --out."),
    ]

    def deco(f):
        for o in reversed(opts):
            f = o(f)
        return f

    return deco


def load_generator_spec(model, name: str, spec_path: Path | None, overrides: dict, flags: dict | None = None):
    """The generator's spec: ``--spec`` (else the built-in one), then the command-line ``overrides``; ``flags``
    maps override keys to the flags that set them (errors name the flag)."""
    return load_spec(model, spec_path or builtin_spec_path(name), overrides, flags=flags)


def default_workers(workers: int | None) -> int:
    return workers or os.cpu_count() or 1
