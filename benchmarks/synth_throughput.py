"""Throughput of `sedkit synth waa` against a plain sequential loop over `Scaper.generate`, same spec, same run.

    python -m sedkit.benchmarks.synth_throughput [--clips 60] [--sr 16000] [--workers N] [--soundbank DIR]

The plain loop is what one writes by hand: one Scaper object, a one-event spec with Scaper's own distributions
(SNR U(6, 30), onset truncnorm(5, 2, 0.25, 10), random file and background), `generate(audio_path, jams_path)` per
clip. sedkit does the same mixing plus segment cutting, metadata, card and manifest, in `--workers` processes.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings
from pathlib import Path

from sedkit.benchmarks.compare import print_comparison


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


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=60)
    ap.add_argument("--sr", type=int, default=16000)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--soundbank", type=Path, default=None, help="default: the built-in bank (small scale)")
    a = ap.parse_args(argv)
    from sedkit.synth.soundbank.index import load_soundbank

    root = a.soundbank
    if root is None:
        from sedkit.synth.builtin import default_bank

        root = default_bank(seed=0, scale="small")
    bank = load_soundbank(root)
    n = a.clips - a.clips % max(1, len(bank.labels)) or len(bank.labels)
    with tempfile.TemporaryDirectory() as d:
        t_plain = plain_loop(bank, Path(d) / "plain", n, a.sr)
        t_sed = sedkit_run(root, Path(d) / "sedkit", n, a.sr, a.workers)
    print(f"clips: {n} x 10 s at {a.sr} Hz, bank {root}")
    return print_comparison("clips", ("plain Scaper.generate loop", n, t_plain),
                            (f"sedkit synth waa ({a.workers} workers)", n, t_sed))


if __name__ == "__main__":
    main()
