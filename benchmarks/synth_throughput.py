"""Throughput of `sedkit synth waa` against a plain sequential loop over `Scaper.generate` and against the I/O floor,
same spec, same run.

    python -m sedkit.benchmarks.synth_throughput [--clips 60 300] [--repeats 3] [--sr 16000] [--workers N]
                                                 [--soundbank DIR]

The plain loop is what one writes by hand: one Scaper object, a one-event spec with Scaper's own distributions
(SNR U(6, 30), onset truncnorm(5, 2, 0.25, 10), random file and background), `generate(audio_path, jams_path)` per
clip. sedkit does the same mixing plus segment cutting, metadata, card and manifest, in `--workers` processes. The
I/O floor (:mod:`sedkit.benchmarks.io_floor`) only reads every source file of each clip sedkit made and writes a
clip-long wav, in as many processes: no mixing at all, so no mixer can beat it.

Each timing runs in a fresh Python process (after its imports), so no contender inherits another's warm state: a
fixed start-up cost counts every time. The contenders alternate, in a rotating order, ``--repeats`` times per size;
the rates printed are the medians. What sedkit keeps between runs is its cache of the bank's sources converted to
the clip rate (:mod:`sedkit.synth.soundbank.converted`), as a user's second run from the same bank would: the sedkit
runs of each size share a cache that starts empty, so the first of them (printed apart, "cold") converts every
source it uses and the others reuse the copies.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

from sedkit.benchmarks.compare import print_comparison

CONTENDERS = ("sedkit", "floor", "plain")  # the order of the first repeat (the floor reads sedkit's clips)


def plain_loop(bank, out: Path, n: int, sr: int, seed: int = 0, events: tuple[int, int] = (1, 1),
               pitch_shift=None, reverb=None) -> float:
    """The hand-written baseline: one Scaper object, Scaper's own distributions, `generate` per clip.

    ``events``: (min, max) events per clip; ``pitch_shift``: a Scaper distribution tuple or None.
    """
    import numpy as np

    from sedkit.synth.compat import import_scaper
    from sedkit.synth.scaper_mix import ScaperView

    scaper = import_scaper()
    view = ScaperView(bank, out / "view")
    sc = scaper.Scaper(10.0, str(view.fg_path), str(view.bg_path), random_state=seed)
    sc.sr, sc.ref_db = sr, -50
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i in range(n):
            sc.reset_bg_event_spec()
            sc.reset_fg_event_spec()
            sc.add_background(label=("choose", []), source_file=("choose", []), source_time=("const", 0))
            for _ in range(int(rng.integers(events[0], events[1] + 1))):
                sc.add_event(label=("choose", []), source_file=("choose", []), source_time=("const", 0),
                             event_time=("truncnorm", 5.0, 2.0, 0.25, 10.0), event_duration=("const", 10.0),
                             snr=("uniform", 6, 30), pitch_shift=pitch_shift, time_stretch=None)
            sc.generate(str(out / f"{i:05d}.wav"), str(out / f"{i:05d}.jams"), fix_clipping=True, reverb=reverb,
                        disable_instantiation_warnings=True)
    return time.perf_counter() - t0


def sedkit_run(bank_root: Path, out: Path, n: int, sr: int, workers: int) -> float:
    from sedkit.specs import builtin_spec_path, load_spec
    from sedkit.synth.waa import WaaSpec, generate

    spec = load_spec(WaaSpec, builtin_spec_path("waa"), {"sr": sr, "segments": ["1s"],
                                                         "counts": {"train": n, "validation": 0, "eval": 0}})
    t0 = time.perf_counter()
    generate(spec, out, seed=0, scale="paper", soundbank=bank_root, workers=workers)
    return time.perf_counter() - t0


def _one(a) -> float:
    """One timing, in this (fresh) process: the contender ``a.contender``."""
    from sedkit.synth.compat import import_scaper

    import_scaper()  # every contender needs Scaper (the floor's clips were made with it): not timed
    if a.contender == "sedkit":
        import sedkit.synth.waa  # noqa: F401  (the program's imports, like the plain loop's)

        return sedkit_run(a.soundbank, a.out, a.n, a.sr, a.workers)
    if a.contender == "plain":
        from sedkit.synth.soundbank.index import load_soundbank

        return plain_loop(load_soundbank(a.soundbank), a.out, a.n, a.sr)
    from sedkit.benchmarks.io_floor import io_floor

    return io_floor(a.floor_of, a.soundbank, a.out, a.workers)


def timed(contender: str, n: int, a, out: Path, floor_of: Path | None = None, cache: Path | None = None) -> float:
    """Seconds of one contender run in a fresh interpreter (the sedkit being benchmarked on its path), with
    ``cache`` as its sedkit cache."""
    import sedkit

    here = str(Path(sedkit.__file__).parent.parent)  # the folder holding this sedkit (a link is not followed)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([here, *filter(None, [os.environ.get("PYTHONPATH")])])}
    if cache is not None:
        env["SEDKIT_CACHE"] = str(cache)
    cmd = [sys.executable, "-m", "sedkit.benchmarks.synth_throughput", "--contender", contender, "--n", str(n),
           "--sr", str(a.sr), "--workers", str(a.workers), "--soundbank", str(a.soundbank), "--out", str(out)]
    if floor_of is not None:
        cmd += ["--floor-of", str(floor_of)]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if res.returncode:
        raise RuntimeError(f"{contender} run failed: {res.stderr.strip().splitlines()[-1:]}")
    return float(json.loads(res.stdout.strip().splitlines()[-1])["seconds"])


def measure(n: int, a, work: Path) -> dict[str, list[float]]:
    """``a.repeats`` timings of each contender at ``n`` clips, interleaved in a rotating order."""
    times: dict[str, list[float]] = {c: [] for c in CONTENDERS}
    ref = work / f"sedkit_{n}_ref"  # the clips whose sources the floor reads (the first sedkit run's)
    cache = work / f"cache_{n}"  # sedkit's cache for this size: empty before its first run
    for r in range(a.repeats):
        order = CONTENDERS[r % 3:] + CONTENDERS[:r % 3]
        for c in order:
            out = ref if (c == "sedkit" and r == 0) else work / f"{c}_{n}_{r}"
            times[c].append(timed(c, n, a, out, ref if c == "floor" else None, cache if c == "sedkit" else None))
            if out != ref:  # not timed; hundreds of MB per run at a few hundred clips
                shutil.rmtree(out, ignore_errors=True)
    return times


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, nargs="+", default=[60], help="sizes to measure (default 60)")
    ap.add_argument("--repeats", type=int, default=3, help="timings of each contender per size (median printed)")
    ap.add_argument("--sr", type=int, default=16000)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--soundbank", type=Path, default=None, help="default: the built-in bank (small scale)")
    for hidden in ("--contender", "--n", "--out", "--floor-of"):  # one timing, in a child process
        ap.add_argument(hidden, default=None, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.contender:
        a.n, a.out, a.floor_of = int(a.n), Path(a.out), a.floor_of and Path(a.floor_of)
        print(json.dumps({"seconds": _one(a)}))
        return None
    from sedkit.synth.soundbank.index import load_soundbank

    if a.soundbank is None:
        from sedkit.synth.builtin import default_bank

        a.soundbank = default_bank(seed=0, scale="small")
    labels = len(load_soundbank(a.soundbank).labels)
    result = {}
    with tempfile.TemporaryDirectory() as d:
        for clips in a.clips:
            n = clips - clips % max(1, labels) or labels
            runs = measure(n, a, Path(d))
            t = {c: statistics.median(v) for c, v in runs.items()}
            print(f"clips: {n} x 10 s at {a.sr} Hz, bank {a.soundbank}; median of {a.repeats} runs per contender, "
                  "each in a fresh process, interleaved")
            print("  runs (s): " + "; ".join(f"{c} " + " ".join(f"{x:.2f}" for x in v) for c, v in runs.items()))
            print(f"  I/O floor ({a.workers} workers, read sources + write clip): {n / t['floor']:7.2f} clips/s "
                  f"({t['floor']:.2f} s)")
            floor_ratio = t["floor"] / t["sedkit"]
            print(f"  ratio sedkit / I/O floor: {floor_ratio:.2f}x")
            ratio = print_comparison("clips", ("plain Scaper.generate loop", n, t["plain"]),
                                     (f"sedkit synth waa ({a.workers} workers)", n, t["sedkit"]), indent="  ",
                                     note="(median, sources converted by an earlier run)" if a.repeats > 2 else "")
            cold = runs["sedkit"][0]
            print(f"  first sedkit run (cold cache: converts every source it uses): {n / cold:7.2f} clips/s "
                  f"({cold:.2f} s), ratio to plain {t['plain'] / cold:.2f}x")
            result = {"ratio": ratio, "cold_ratio": t["plain"] / cold, "floor_ratio": floor_ratio, "clips": n,
                      "seconds": t}
    return result


if __name__ == "__main__":
    main()
