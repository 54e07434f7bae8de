"""``sedkit bench run | report | perf``."""
from __future__ import annotations

import contextlib
import importlib
import io
import re
import sys
import time
from pathlib import Path

import click

from sedkit import SedkitError
from sedkit.benchmarks.suites.spec import SCALES
from sedkit.synth.workers import workers_option


def _pairs(items: tuple[str, ...], flag: str) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise SedkitError(f"{flag} {item!r}: expected NAME=DIR (e.g. {flag} waa=./my_waa)")
        out[name] = path
    return out


@click.command(name="run", help="Run benchmark suites (all of them when none is named): synthesize their datasets, "
               "train and evaluate their models over seeds, and write results.csv, results.json, report.md and "
               "figures/ into --out. Datasets and trained models are cached by spec hash; a killed run started "
               "again only runs the unfinished cells.\n\nSuites: waa, wler, semi, dcase20, remix, or a path to a "
               "suite YAML.\n\nExample: sedkit bench run waa --scale small --seeds 3 --out bench")
@click.argument("suites", nargs=-1)
@click.option("--scale", type=click.Choice(list(SCALES)), default="small", show_default=True,
              help="small: a smoke test on a CPU, small datasets and models (under 30 min for all five suites on 2 "
                   "cores); medium: sized so that the headline findings get a verdict on a CPU (about 80 min on 2 "
                   "cores); paper: the papers' sizes (meant for a GPU).")
@click.option("--seeds", type=click.IntRange(1), default=None,
              help="Training seeds per cell (default: the suite's, 3, and more for models whose `seeds:` ask for "
                   "more where they are cheap).")
@click.option("--device", type=click.Choice(["auto", "cuda", "cpu"]), default="auto", show_default=True)
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local: a process pool; ray: one Ray task per model (pip install -e '.[ray]' in the sedkit checkout).")
@click.option("--address", default=None, help="Ray cluster address (auto, ray://host:10001); default: start a "
              "local Ray instance on this machine.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("bench"), show_default=True)
@workers_option("Parallel models (default: all cores).")
@click.option("--threads", type=click.IntRange(1), default=None, help="Torch threads per model (default: "
              "cores / workers).")
@click.option("--cache", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Cache of datasets and trained models (default: <out>/cache); share it between --out folders.")
@click.option("--data", "data", multiple=True, metavar="NAME=DIR", help="Use an existing data dir for the suite "
              "dataset NAME instead of synthesizing it (your data).")
@click.option("--soundbank", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Soundbank for the synthesized datasets (default: the built-in bank).")
@click.option("--reuse-stale", is_flag=True, help="Keep cached datasets, models and evaluations made by other code "
              "(another code fingerprint) instead of making them again; the report marks their cells.")
def run_cmd(suites, scale, seeds, device, executor, address, out, workers, threads, cache, data, soundbank,
            reuse_stale):
    from sedkit.benchmarks.runner import run

    t0 = time.perf_counter()
    results = run(list(suites), out, scale, seeds, device, executor, address, workers, threads, cache,
                  _pairs(data, "--data"), str(soundbank) if soundbank else None, echo=click.echo,
                  reuse_stale=reuse_stale)
    click.echo("wall time per suite: " + ", ".join(f"{r['name']} {r['wall_s']:.1f} s" for r in results)
               + f"; total {time.perf_counter() - t0:.1f} s")
    click.echo(f"report: {out / 'report.md'}")
    summary = failure_summary([c for r in results for c in r["rows"]])
    if summary:
        click.echo(summary, err=True)
        raise SystemExit(1)


def failure_summary(rows: list[dict]) -> str | None:
    """One line when cells failed (``failed`` or ``partial``; cells of models marked unavailable are not failures):
    how many, and the commonest reasons."""
    from collections import Counter

    bad = [c for c in rows if c["status"] in ("failed", "partial")]
    if not bad:
        return None
    reasons = Counter(c["error"] or "unknown" for c in bad).most_common(3)
    why = "; ".join(f"{n} x {r}" for r, n in reasons)
    return f"sedkit: bench: {len(bad)} of {len(rows)} cells failed or are incomplete ({why}); see report.md"


@click.command(name="report", help="Re-render report.md, results.csv, results.json and figures/ of a benchmark "
               "folder from its recorded cells.\n\nExample: sedkit bench report bench")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
def report_cmd(folder):
    from sedkit.benchmarks.report import render

    click.echo(f"report: {render(folder)}")


def throughput_scripts() -> list[str]:
    """Modules of sedkit.benchmarks whose docstring starts with "Throughput" and that define main(argv)."""
    root = Path(__file__).resolve().parent
    names = []
    for p in sorted(root.glob("*.py")):
        head = p.read_text(encoding="utf-8").lstrip()[:200]
        if re.match(r'^(?:r|u)?"""\s*Throughput', head) and re.search(r"^def main\(", p.read_text(), re.M):
            names.append(p.stem)
    return names


class _Tee(io.TextIOBase):
    def __init__(self, stream):
        self.stream, self.buf = stream, io.StringIO()

    def write(self, s):
        self.stream.write(s)
        self.buf.write(s)
        return len(s)

    def flush(self):
        self.stream.flush()


def ratio_of(result, printed: str) -> float | None:
    """The sedkit / alternative ratio: main's return value (a number, or a dict with "ratio"), else the last
    printed ``ratio ...: X``."""
    if isinstance(result, (int, float)) and not isinstance(result, bool):
        return float(result)
    if isinstance(result, dict) and isinstance(result.get("ratio"), (int, float)):
        return float(result["ratio"])
    found = re.findall(r"ratio[^\n:]*:\s*([0-9]+(?:\.[0-9]+)?)", printed)
    return float(found[-1]) if found else None


@click.command(name="perf", help="Run the throughput benchmarks in sedkit/benchmarks/ (each measures sedkit's path "
               "and the obvious alternative in one run) and print their ratios.\n\n"
               "Example: sedkit bench perf synth_throughput")
@click.argument("names", nargs=-1)
def perf_cmd(names):
    available = throughput_scripts()
    unknown = [n for n in names if n not in available]
    if unknown:
        raise SedkitError(f"unknown throughput benchmark(s) {unknown}; available: {', '.join(available)}")
    rows = []
    for name in names or available:
        click.echo(f"== {name}")
        tee = _Tee(sys.stdout)
        t0 = time.perf_counter()
        try:
            with contextlib.redirect_stdout(tee):
                res = importlib.import_module(f"sedkit.benchmarks.{name}").main([])
            ratio, err = ratio_of(res, tee.buf.getvalue()), None
        except SystemExit as e:  # argparse refused the defaults
            ratio, err = None, f"exited with {e.code}"
        except Exception as e:  # one broken benchmark must not hide the others' ratios
            ratio, err = None, f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
        rows.append((name, ratio, time.perf_counter() - t0, err))
    click.echo("\nbenchmark                 ratio (sedkit / alternative)   wall (s)")
    for name, ratio, wall, err in rows:
        shown = f"{ratio:.2f}x" if ratio is not None else f"n/a ({err or 'no ratio printed'})"
        click.echo(f"{name:<25} {shown:<30} {wall:8.1f}")
