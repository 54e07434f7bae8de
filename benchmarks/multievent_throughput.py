"""Throughput of the multi-event generators against the obvious alternatives, side by side in one run.

    python -m sedkit.benchmarks.multievent_throughput [--clips 40] [--workers N] [--soundbank DIR]

1. `sedkit synth strong` (draws in numpy, Scaper mixes constants; polyphony cap, clean-up, TSVs, card, manifest)
   against a plain sequential loop over `Scaper.generate` with Scaper's own distributions for a DESED-like spec
   (1-4 events of random classes, onset truncnorm(5, 2, 0.25, 10), SNR U(6, 30), pitch U(-3, 3), reverb 0.1);
   the plain loop has no polyphony control and writes only wav + JAMS.
2. The target domain of `sedkit synth semi --gap 2`: sedkit renders every bank file once through the recorded-like
   channel and mixes from that cache; the alternative renders the channel on every source each time a clip uses it
   (same output model). Only the channel work differs, so that is what is timed, for the same clips.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from sedkit.benchmarks.compare import print_comparison
from sedkit.benchmarks.synth_throughput import plain_loop


def plain_scaper_loop(bank, out: Path, n: int, sr: int, seed: int = 0) -> float:
    """1-4 events per clip, pitch U(-3, 3), reverb 0.1: the DESED recipe written by hand."""
    return plain_loop(bank, out, n, sr, seed, events=(1, 4), pitch_shift=("uniform", -3, 3), reverb=0.1)


def sedkit_strong(bank_root: Path, out: Path, n: int, workers: int) -> float:
    from sedkit.specs import builtin_spec_path, load_spec
    from sedkit.synth.strong import StrongSpec, generate

    spec = load_spec(StrongSpec, builtin_spec_path("strong"), {"counts": {"train": n, "validation": 0, "eval": 0}})
    t0 = time.perf_counter()
    generate(spec, out, seed=0, scale="paper", soundbank=bank_root, workers=workers)
    return time.perf_counter() - t0


def channel_cost(bank, n: int, sr: int, gap: float = 2.0, seed: int = 0) -> tuple[float, float, int]:
    """Seconds of channel rendering for n target clips: (cached once per file, per use in every clip, uses)."""
    from sedkit.specs import builtin_spec_path, load_spec
    from sedkit.synth.audio import read
    from sedkit.synth.builtin.channel import render_channel, rir_set
    from sedkit.synth.rng import item_rng, seed_sequence
    from sedkit.synth.scene import Pool, draw_scene
    from sedkit.synth.strong import StrongSpec

    scene = load_spec(StrongSpec, builtin_spec_path("strong")).scene
    pool = Pool.from_bank(bank, "train")
    uses = []
    for i in range(n):
        clip = draw_scene(scene, pool, lambda k: item_rng(seed, "weak", i, "draw", k))
        uses += [clip["background"]["path"]] + [e["path"] for e in clip["events"]]
    rir_set(sr)
    audio = {p: read(bank.abspath(p), sr=sr)[0] for p in sorted(set(bank.index.path))}  # decoding is common

    def render(p):
        render_channel(audio[p], sr, np.random.default_rng(seed_sequence(seed, "channel", p)), gap)

    t0 = time.perf_counter()
    for p in audio:  # sedkit: every bank file once
        render(p)
    t_cache = time.perf_counter() - t0
    t0 = time.perf_counter()
    for p in uses:  # alternative: every use
        render(p)
    return t_cache, time.perf_counter() - t0, len(uses)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=40)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--soundbank", type=Path, default=None, help="default: the built-in bank (small scale)")
    a = ap.parse_args(argv)
    from sedkit.synth.soundbank.index import resolve_bank

    bank = resolve_bank(a.soundbank, "small", a.workers)
    root, n, sr = bank.root, a.clips, 16000
    with tempfile.TemporaryDirectory() as d:
        t_plain = plain_scaper_loop(bank, Path(d) / "plain", n, sr)
        t_sed = sedkit_strong(root, Path(d) / "sedkit", n, a.workers)
    print(f"[strong] {n} clips x 10 s at {sr} Hz, bank {root}")
    strong = print_comparison("clips", ("plain Scaper.generate loop", n, t_plain),
                              (f"sedkit synth strong ({a.workers} workers)", n, t_sed), indent="  ")
    clips = max(n, 200)
    t_cache, t_use, uses = channel_cost(bank, clips, sr)
    print(f"[semi target channel, gap 2] {clips} clips, {uses} source uses, {len(bank.index)} bank files")
    channel = print_comparison("clips", ("channel per use", clips, t_use),
                               ("sedkit cached bank (once per bank file)", clips, t_cache),
                               names=("cached", "per use"), indent="  ", note="(grows with the number of clips)")
    return strong, channel


if __name__ == "__main__":
    main()
