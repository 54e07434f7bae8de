"""`sedkit soundbank make builtin`."""
from __future__ import annotations

import time
from pathlib import Path

import click

from sedkit.synth.workers import workers_option


@click.command("make", help="Make a procedural soundbank in the soundbank index contract: 10 DESED-like event "
                            "classes and 6 background scene families, split by recordist group, with a card "
                            "(README.md, spectrograms.png, durations.png). KIND: builtin.\n\n"
                            "Example: sedkit soundbank make builtin --out bank --scale small --workers 2")
@click.argument("kind", type=click.Choice(["builtin"]))
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Output folder (new or empty).")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0), help="Seed of the whole bank.")
@click.option("--scale", default="paper", show_default=True,
              help="paper (Turpault et al. Table 1 counts) | small (tests) | tiny (quick checks).")
@workers_option("Worker processes.", default=1)
@click.option("--resume", is_flag=True, help="Finish an interrupted build in --out (same seed and scale).")
def make_cmd(kind, out, seed, scale, workers, resume):
    from sedkit.synth.builtin.make import make_bank
    from sedkit.synth.soundbank.index import load_soundbank

    t0 = time.perf_counter()
    make_bank(out, seed=seed, scale=scale, workers=workers, resume=resume)
    df = load_soundbank(out).index
    click.echo(f"{out}: {int((df.role == 'foreground').sum())} foregrounds, {int((df.role == 'background').sum())} "
               f"backgrounds, {df.duration_s.sum() / 60:.1f} min of audio in {time.perf_counter() - t0:.1f} s")
