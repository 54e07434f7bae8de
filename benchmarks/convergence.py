"""Did the suite's models converge? Their validation curves, and whether each is flat at its end.

Every training logs, per epoch, the validation metric that selects its checkpoint (``select_metric`` in the run's
``log.csv``: the macro F-measure, mAP or micro-AP of a tagging model, the validation F-measure of a SED model). For
each model and training set of a suite, the curves of its seeds are averaged epoch by epoch and drawn together
(``figures/<suite>-validation.png``), and the report's table gives, per curve: the epochs, the best epoch (mean
over seeds), the mean metric over the last quarter of the epochs and how much it still rose across that quarter
(a least-squares line through it, at least 3 epochs), and its end: "still rising" (that rise exceeds :data:`FLAT`
of the curve's range and :data:`NOISE` of the metric: the model was stopped while learning, and more epochs would
change its cells), "flat", or "no gain over epoch 0" (the last quarter is no better than the first epoch: the model
did not learn what the metric measures). A curve that rose and then levelled off within the last quarter's span is
flat: the question is whether it was still rising when training stopped.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

FLAT = 0.1  # the largest rise across the last quarter, as a fraction of the curve's range
NOISE = 0.01  # ... and in the metric's units (a rise this small is epoch-to-epoch noise, whatever the range)
COLUMN = "select_metric"


def read_curve(run: str | Path) -> np.ndarray | None:
    """The validation metric per epoch of a run's final training stage (its top ``log.csv``), or None."""
    path = Path(run) / "log.csv"
    if not path.is_file():
        return None
    with open(path, newline="") as f:
        vals = [float(r[COLUMN]) if r.get(COLUMN) not in (None, "") else math.nan for r in csv.DictReader(f)]
    return np.asarray(vals, dtype=float) if vals else None


def curves(cells: list[dict]) -> dict[str, list[np.ndarray]]:
    """``{"<model> on <training set>": [one curve per seed]}`` over a suite's cells (each run read once)."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for c in cells:
        for src in c.get("sources") or []:
            label = f"{c['model']} on {c['train']}"
            runs = out.setdefault(label, {})
            if src["run"] not in runs:
                curve = read_curve(src["run"])
                if curve is not None:
                    runs[src["run"]] = curve
    return {label: list(runs.values()) for label, runs in out.items() if runs}


def mean_curve(seeds: list[np.ndarray]) -> np.ndarray:
    """Epoch-by-epoch mean over the seeds (as long as the shortest: early stopping ends seeds apart); NaN at an
    epoch no seed has a value for."""
    n = min(len(c) for c in seeds)
    if not n:
        return np.zeros(0)
    x = np.stack([c[:n] for c in seeds])
    ok = np.isfinite(x)
    return np.where(ok.any(0), np.where(ok, x, 0.0).sum(0) / np.maximum(ok.sum(0), 1), np.nan)


def end_state(seeds: list[np.ndarray]) -> dict:
    """Epochs, best epoch, last-quarter mean and its change from the quarter before, and the verdict."""
    m = mean_curve(seeds)
    n = len(m)
    best = float(np.mean([int(np.nanargmax(c)) if np.isfinite(c).any() else 0 for c in seeds]))
    q = max(3, n // 4)
    tail = m[-q:]
    ok = np.isfinite(tail)
    if n < q + 1 or ok.sum() < 2:
        return {"epochs": n, "best_epoch": best, "last": float(np.nanmean(m)) if np.isfinite(m).any() else math.nan,
                "change": math.nan, "state": "too short to tell"}
    last = float(np.nanmean(tail))
    x = np.arange(q, dtype=float)[ok]
    change = float(np.polyfit(x, tail[ok], 1)[0] * (q - 1))  # the rise across the last quarter
    span = float(np.nanmax(m) - np.nanmin(m))
    first = m[np.isfinite(m)][0]  # epoch 0, or the first scored epoch (tri-training scores none in its phase 1)
    if not last > first:
        state = "no gain over epoch 0"
    else:
        state = "flat" if change <= max(FLAT * span, NOISE) else "still rising"
    return {"epochs": n, "best_epoch": best, "last": last, "change": change, "state": state}


def plot(path: str | Path, found: dict[str, list[np.ndarray]], title: str) -> Path:
    """One panel per model: the mean validation curve of each training set (thin: each seed)."""
    import matplotlib

    from sedkit.synth.card import TITLE_Y, figure, save_fig

    panels: dict[str, list[str]] = {}
    for label in sorted(found):
        panels.setdefault(label.split(" on ")[0], []).append(label)
    ncol = min(3, len(panels))
    nrow = -(-len(panels) // ncol)
    fig, axes = figure(nrow, ncol, figsize=(4.6 * ncol, 3.2 * nrow), squeeze=False, layout="constrained")
    colors = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, (model, labels) in zip(axes.flat, panels.items()):
        for i, label in enumerate(labels):
            color = colors[i % len(colors)]
            for c in found[label]:
                ax.plot(np.arange(len(c)), c, color=color, alpha=0.25, linewidth=0.8)
            m = mean_curve(found[label])
            ax.plot(np.arange(len(m)), m, color=color, linewidth=1.8, label=label.split(" on ", 1)[1])
        ax.set_title(model, y=TITLE_Y, fontsize=10)
        ax.set_xlabel("epoch")
        ax.set_ylabel("validation metric")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6, loc="lower right")
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize=10)
    return save_fig(fig, path)


def convergence_md(found: dict[str, list[np.ndarray]], figure_rel: str | None) -> str:
    """The report's section: the table of end states and the figure."""
    rows = ["| model on training set | seeds | epochs | best epoch (mean) | last quarter (mean) | rise across the "
            "last quarter | end |", "|---|---|---|---|---|---|---|"]
    states = {}
    for label, seeds in sorted(found.items()):
        e = end_state(seeds)
        states[label] = e["state"]
        rows.append(f"| {label} | {len(seeds)} | {e['epochs']} | {e['best_epoch']:.1f} | {_f(e['last'])} | "
                    f"{_f(e['change'], signed=True)} | {e['state']} |")
    tally = ", ".join(f"{n} {state}" for state in ("flat", "still rising", "no gain over epoch 0", "too short to tell")
                      if (n := sum(v == state for v in states.values())))
    head = (f"### Validation curves ({tally})\n\n"
            "The validation metric that selects each checkpoint, per epoch, mean over seeds. \"still rising\": "
            "across the last quarter of the epochs (a least-squares line through them) the curve still rose by more "
            f"than {FLAT:.0%} of its range and {NOISE:g} of the metric, so the model was stopped while learning and "
            "more epochs would change its cells; \"no gain over epoch "
            "0\": the last quarter is no better than the first epoch, so the model did not learn what the metric "
            "measures.")
    parts = [head, "\n".join(rows)]
    if figure_rel:
        parts.append(f"![Validation curves]({figure_rel})")
    return "\n\n".join(parts)


def _f(v: float, signed: bool = False) -> str:
    if v is None or not math.isfinite(v):
        return "–"
    return f"{v:+.3f}" if signed else f"{v:.3f}"
