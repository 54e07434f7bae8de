"""Throughput of the built-in bank, side by side with the obvious alternatives, in one run.

    python -m sedkit.benchmarks.bank_speed [--scale small] [--workers 2] [--channel-files 8]

1. ``make_bank`` (job runner, ``--workers`` processes, index, card, manifest) against a plain sequential loop
   that renders the same files and writes them with soundfile (no pool, no index, no card);
2. ``render_channel`` (RIRs simulated once per process and cached) against simulating a fresh
   pyroomacoustics shoebox for every file.
Throughputs are seconds of audio produced per second of wall-clock time.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from sedkit.benchmarks.compare import cpu_seconds


def plain_loop(out: Path, scale: str, seed: int = 0) -> tuple[float, float]:
    import soundfile as sf

    from sedkit.synth.builtin import backgrounds, events, make
    from sedkit.synth.rng import item_rng

    spec = make.load_bank_spec()
    sr = spec.sr
    total = 0.0
    t0 = time.perf_counter()
    for e in make.plan(spec, scale):
        rng = item_rng(seed, "builtin", e.role, e.label, e.split, e.number)
        n = int(round(make.duration_of(rng, spec, scale, e) * sr))
        fams = events.FAMILIES if e.role == "foreground" else backgrounds.FAMILIES
        x = events.render_file(rng, fams[e.label][1], n, sr, make.group_of(seed, spec, e))
        p = out / e.path
        p.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(p), x, sr, subtype="PCM_16")
        total += n / sr
    return total, time.perf_counter() - t0


def sedkit_bank(out: Path, scale: str, workers: int, seed: int = 0) -> tuple[float, float]:
    from sedkit.synth.builtin import make_bank
    from sedkit.synth.soundbank.index import load_soundbank

    t0 = time.perf_counter()
    make_bank(out, seed=seed, scale=scale, workers=workers)
    dt = time.perf_counter() - t0
    return float(load_soundbank(out).index.duration_s.sum()), dt


def channel_pair(n_files: int, sr: int = 44100, dur_s: float = 3.0) -> tuple[float, float]:
    from scipy import signal

    from sedkit.synth.builtin import channel
    from sedkit.synth.rng import item_rng

    x = np.random.default_rng(0).standard_normal(int(dur_s * sr)).astype(np.float32) * 0.05
    t0 = time.perf_counter()
    for k in range(n_files):
        channel.render_channel(x, sr, item_rng(0, "bench", k), 2.0)
    cached = time.perf_counter() - t0  # includes simulating the cached set once
    t0 = time.perf_counter()
    for k in range(n_files):
        rng = item_rng(0, "bench", k)
        h = channel.simulate_rir(rng, sr, float(rng.uniform(0.2, 0.9)))
        signal.fftconvolve(x, h)[:len(x)]
    fresh = time.perf_counter() - t0
    return n_files * dur_s / cached, n_files * dur_s / fresh


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", default="small")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--channel-files", type=int, default=32)
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        c0 = cpu_seconds()
        audio_s, t_plain = plain_loop(Path(tmp) / "plain", a.scale)
        c1 = cpu_seconds()
        audio_s2, t_sedkit = sedkit_bank(Path(tmp) / "sedkit", a.scale, a.workers)
        c2 = cpu_seconds()
    print(f"bank ({a.scale}, {audio_s / 60:.1f} min of audio); wall time, then CPU time of all processes")
    print(f"  plain sequential loop      : {t_plain:7.1f} s  {audio_s / t_plain:8.1f} audio-s/s   cpu {c1 - c0:6.1f} s")
    print(f"  sedkit make_bank workers={a.workers}: {t_sedkit:7.1f} s  {audio_s2 / t_sedkit:8.1f} audio-s/s"
          f"   cpu {c2 - c1:6.1f} s  (+ index, card, manifest)")
    print(f"  ratio sedkit/plain         : {(audio_s2 / t_sedkit) / (audio_s / t_plain):.2f}x")
    cached, fresh = channel_pair(a.channel_files)
    print(f"render_channel over {a.channel_files} files of 3 s at 44.1 kHz (cached: includes simulating its rooms)")
    print(f"  fresh shoebox per file     : {fresh:8.1f} audio-s/s")
    print(f"  sedkit cached RIR set      : {cached:8.1f} audio-s/s")
    print(f"  ratio cached/fresh         : {cached / fresh:.2f}x")


if __name__ == "__main__":
    main()
