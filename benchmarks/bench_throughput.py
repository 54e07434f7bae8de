"""Throughput of `sedkit bench run` against the obvious alternative: a shell loop of `sedkit train` + `sedkit eval`.

    python -m sedkit.benchmarks.bench_throughput [--seeds 2] [--workers 2] [--epochs 2]

Both train and evaluate the same models of a tiny suite made here (a small WAA set of the built-in bank cut
in 1 s and 10 s segments, the Turpault classifier with a tiny network, a 2 x 2 train/test grid): the runner with
its process pool (each worker imports torch once and runs many models), the loop with one `sedkit train`
process per model and one `sedkit eval` process per evaluation, one after the other. A second `sedkit bench run`
of the same suite (all cached) is timed too. Prints models per minute of both paths and the ratio.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from sedkit.benchmarks.compare import print_comparison
from sedkit.synth.io import atomic_write_text


def make_suite(folder: Path, seeds: int, epochs: int) -> Path:
    from sedkit.specs import builtin_spec_path, load_spec
    from sedkit.synth.waa import WaaSpec, generate

    spec = load_spec(WaaSpec, builtin_spec_path("waa"), {"segments": ["1s", "10s"], "sr": 16000})
    generate(spec, folder / "waa", seed=0, scale="small", workers=2)
    a, b = folder / "waa" / "segments" / "1s", folder / "waa" / "segments" / "10s"
    spec = {"title": "throughput", "paper": "none", "seeds": seeds,
            "datasets": {"a": {"path": str(a)}, "b": {"path": str(b)}},
            "models": {"clf": {"model": "classifier", "config": {
                "net": {"channels": [8, 16]}, "train": {"epochs": epochs, "patience": None},
                "data": {"batch_size": 4}}}},
            "tables": [{"id": "grid", "title": "grid", "source": "none", "defaults": {"model": "clf",
                                                                                      "metric": "f1_macro"},
                        "rows": [{"id": "a", "label": "a", "train": "a"}, {"id": "b", "label": "b", "train": "b"}],
                        "columns": [{"id": "a", "label": "a", "test": "a"}, {"id": "b", "label": "b", "test": "b"}]}]}
    return atomic_write_text(folder / "suite.yaml", yaml.safe_dump(spec))


def shell_loop(suite: Path, out: Path, threads: int) -> tuple[float, int]:
    """One `sedkit train` per model and one `sedkit eval` per evaluation, sequentially."""
    from sedkit.benchmarks.cache import Cache
    from sedkit.benchmarks.runner import plan_suite, resolve_dataset
    from sedkit.benchmarks.suites import load_suite

    name, spec = load_suite(suite)
    cache = Cache(out / "plan")
    ds = {n: resolve_dataset(n, e, "small", cache, None) for n, e in spec.datasets.items()}
    plan = plan_suite(name, spec, "small", list(range(spec.seeds)), cache, "cpu", threads, ds)
    sedkit = [sys.executable, "-m", "sedkit.cli"]
    env = {"OMP_NUM_THREADS": str(threads)}
    t0 = time.perf_counter()
    for k, job in enumerate(plan.jobs.values()):
        run = out / f"run{k}"
        cfg = atomic_write_text(out / f"run{k}.yaml", yaml.safe_dump(job["overrides"]))
        subprocess.run(sedkit + ["train", job["model"], "--data", job["data"], "--out", str(run), "--config",
                                 str(cfg), "--seed", str(job["seed"]), "--device", "cpu"],
                       check=True, capture_output=True, env=_env(env))
        for ev in job["evals"]:
            subprocess.run(sedkit + ["eval", str(run), "--data", ev["data"], "--split", ev["split"],
                                     "--postprocess", ev["postprocess"], "--device", "cpu"],
                           check=True, capture_output=True, env=_env(env))
    return time.perf_counter() - t0, len(plan.jobs)


def _env(extra: dict) -> dict:
    import os

    return {**os.environ, **extra}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=2)
    a = ap.parse_args(argv)
    from sedkit.benchmarks.runner import run

    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        suite = make_suite(d, a.seeds, a.epochs)
        t0 = time.perf_counter()
        res = run([str(suite)], d / "bench", workers=a.workers, threads=1, echo=lambda s: None)
        t_bench = time.perf_counter() - t0
        n = sum(1 for _ in (d / "bench" / "cache" / "runs").glob("*.done.json"))
        t0 = time.perf_counter()
        run([str(suite)], d / "bench", workers=a.workers, threads=1, echo=lambda s: None)
        t_cached = time.perf_counter() - t0
        t_loop, n_loop = shell_loop(suite, d / "loop", threads=1)
    assert n == n_loop and res
    print(f"{n} models (tiny classifier, {a.epochs} epochs) x 2 evaluations each")
    print(f"sedkit bench run again (all cached): {t_cached:.1f} s")
    return print_comparison("models", ("shell loop of sedkit train + sedkit eval", n, t_loop),
                            (f"sedkit bench run ({a.workers} workers)", n, t_bench), names=("sedkit", "loop"),
                            per_minute=True)


if __name__ == "__main__":
    main()
