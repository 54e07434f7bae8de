"""Scaper's two sox backends compared on sedkit's generators: outputs (sha256 of every file) and time.

    python -m sedkit.benchmarks.sox_backends --with-python A/bin/python --without-python B/bin/python
        [--generators waa,200ms,strong,semi,remix,waa-pitch] [--scale small] [--seed 0] [--workers 1]
        [--repeat 1] [--out DIR]

scaper 1.6.5 does ``import soxbindings as sox`` and falls back to ``import sox`` (pysox, which runs the sox command
line through a subprocess per transform) when soxbindings is missing. One process cannot have both, so this script
takes the Python of two venvs with the same sedkit, one with soxbindings and one without, checks which backend each
one's scaper really imports, and runs ``sedkit synth <generator>`` in each (same spec, seed, scale and workers;
generator order alternates between the two). It then compares the two output trees file by file (the hidden
``.sedkit/`` state aside): differing files are counted and, for audio, the max abs sample difference is printed.
Times are wall seconds of the whole command and CPU seconds of its process tree (sox subprocesses included; less
sensitive to other load on the machine), each the best of ``--repeat``, after the built-in bank is cached.
``strong`` and ``semi`` pitch-shift every event and add reverb through sox by default; ``waa-pitch`` is
``waa --pitch-shift``. Outputs go to ``--out`` (default: a temporary folder, removed at the end).
"""
from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sedkit.benchmarks.compare import cpu_seconds, print_comparison

GENERATORS = {"waa": ["waa"], "200ms": ["200ms"], "strong": ["strong"], "semi": ["semi"], "remix": ["remix"],
              "waa-pitch": ["waa", "--pitch-shift"]}
BACKEND = ("from sedkit.synth.compat import import_scaper; import_scaper(); import scaper.core as c; "
           "print(c.sox.__name__, getattr(c.sox, '__version__', ''))")
WARM = ("import sys; from sedkit.synth.builtin import default_bank; "
        "print(default_bank(seed=int(sys.argv[1]), scale=sys.argv[2]))")


def backend(python: str) -> str:
    return subprocess.run([python, "-c", BACKEND], check=True, capture_output=True, text=True).stdout.strip()


def synth(python: str, gen: str, out: Path, a) -> tuple[float, float]:
    """(wall s, CPU s of the whole process tree) of one ``sedkit synth``."""
    cmd = [python, "-m", "sedkit.cli", "synth", *GENERATORS[gen], "--scale", a.scale, "--seed", str(a.seed),
           "--workers", str(a.workers), "--out", str(out)]
    c0, t0 = cpu_seconds(own=False), time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    dt, dc = time.perf_counter() - t0, cpu_seconds(own=False) - c0
    if r.returncode:
        sys.exit(f"failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr[-2000:]}")
    return dt, dc


def hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*"))
            if p.is_file() and ".sedkit" not in p.relative_to(root).parts}


def compare(a: Path, b: Path) -> tuple[int, str]:
    """(files compared, one line of differences or 'identical')."""
    import numpy as np
    import soundfile as sf

    ha, hb = hashes(a), hashes(b)
    only = sorted(set(ha) ^ set(hb))
    diff = sorted(k for k in set(ha) & set(hb) if ha[k] != hb[k])
    if not only and not diff:
        return len(ha), "identical"
    wavs = [k for k in diff if k.endswith(".wav")]
    worst = max((float(np.max(np.abs(sf.read(a / k, dtype="float64")[0] - sf.read(b / k, dtype="float64")[0])))
                 for k in wavs), default=0.0)
    rest = [k for k in diff if not k.endswith(".wav")]
    return len(set(ha) | set(hb)), (f"DIFFER: {len(only)} files in one tree only, {len(wavs)} wav differ "
                                    f"(max abs sample diff {worst:.3g}), {len(rest)} other differ "
                                    f"({', '.join(rest[:4])}{' ...' if len(rest) > 4 else ''})")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--with-python", required=True, help="python of a venv where soxbindings is installed")
    ap.add_argument("--without-python", required=True, help="python of a venv without soxbindings")
    ap.add_argument("--generators", default=",".join(GENERATORS), help="comma list of " + ", ".join(GENERATORS))
    ap.add_argument("--scale", choices=["small", "paper"], default="small")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=1, help="runs per generator and backend; the best time is kept")
    ap.add_argument("--out", type=Path, default=None, help="keep the outputs in OUT/{with,without}/<generator>")
    a = ap.parse_args(argv)
    gens = [g for g in a.generators.split(",") if g]
    if unknown := set(gens) - set(GENERATORS):
        ap.error(f"unknown generators: {', '.join(sorted(unknown))}")
    pythons = {"with": a.with_python, "without": a.without_python}
    for side, py in pythons.items():
        print(f"{side:<7} soxbindings: {py} -> scaper uses {backend(py)}")
    if backend(a.with_python).split()[0] == backend(a.without_python).split()[0]:
        sys.exit("both pythons give scaper the same sox backend: nothing to compare")
    for py in pythons.values():  # build the bank before timing: the times are of synthesis only
        subprocess.run([py, "-c", WARM, str(a.seed), a.scale], check=True, capture_output=True)
    with tempfile.TemporaryDirectory(prefix="sox_backends_") as tmp:
        root = a.out or Path(tmp)
        ratios = {}
        for i, gen in enumerate(gens):
            secs, cpus = {}, {}
            sides = list(pythons) if i % 2 == 0 else list(pythons)[::-1]
            for _ in range(a.repeat):
                for side in sides:
                    out = root / side / gen
                    shutil.rmtree(out, ignore_errors=True)
                    wall, c = synth(pythons[side], gen, out, a)
                    secs[side], cpus[side] = min(secs.get(side, wall), wall), min(cpus.get(side, c), c)
            n, verdict = compare(root / "with" / gen, root / "without" / gen)
            clips = len(list((root / "with" / gen).rglob("*.jams")))
            print(f"\n{gen}: {n} files, {verdict}")
            ratios[gen] = print_comparison("clips", ("sox CLI (pysox)", clips, secs["without"]),
                                           ("soxbindings", clips, secs["with"]), names=("soxbindings", "sox CLI"),
                                           indent="  ")
            print(f"  CPU s (process tree): sox CLI {cpus['without']:.1f}, soxbindings {cpus['with']:.1f}, "
                  f"ratio {cpus['without'] / cpus['with']:.2f}x")
    print("\nratio soxbindings / sox CLI per generator: " + ", ".join(f"{g} {r:.2f}x" for g, r in ratios.items()))


if __name__ == "__main__":
    main()
