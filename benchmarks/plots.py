"""Figures of the benchmark report, one per table that asks for one (``plot:`` in the suite spec).

- ``heatmap``: one panel per group of rows (the first part of a row label, e.g. the model); cells coloured by our
  mean, annotated with ours and the paper's figure (the WAA train-segment x test-segment grids);
- ``bars``: one panel per column (or per ``panel`` of the columns); a bar per row with the seeds' std as error
  bar, the paper's figure as a black tick (ablations);
- ``lines``: one panel per column ``panel`` (e.g. the metric), x = the column's ``x`` (e.g. the SNR), one line
  per row with error bars, the paper's figures dashed (the remix SNR curves).
"""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib
import numpy as np

from sedkit.synth.card import figure, save_fig


def _label(label) -> str:
    return " / ".join(label) if isinstance(label, list) else str(label)


def _num(v) -> float:
    return float("nan") if v is None else float(v)


def plot_table(path: Path, table, cells: dict[tuple, dict]) -> None:

    path.parent.mkdir(parents=True, exist_ok=True)
    save_fig({"heatmap": heatmap, "bars": bars, "lines": lines}[table.plot](table, cells), path)


def _cell(cells, table, r, c) -> dict:
    return cells.get((table.id, r.id, c.id)) or {"mean": None, "std": None, "paper_value": None}


def heatmap(table, cells):
    groups: dict[str, list] = {}
    for r in table.rows:
        head = r.label[0] if isinstance(r.label, list) else ""
        groups.setdefault(head, []).append(r)
    fig, axes = figure(1, len(groups), figsize=(3.6 * len(groups) + 0.8, 3.6), squeeze=False,
                             layout="constrained")
    vmax = max([_num(c["mean"]) for c in cells.values() if c["table"] == table.id and c["mean"] is not None]
               + [1e-9])
    for ax, (head, rows) in zip(axes[0], groups.items()):
        m = np.array([[_num(_cell(cells, table, r, c)["mean"]) for c in table.columns] for r in rows])
        im = ax.imshow(np.ma.masked_invalid(m), vmin=0, vmax=vmax, cmap="viridis", aspect="auto")
        for i, r in enumerate(rows):
            for j, c in enumerate(table.columns):
                cell = _cell(cells, table, r, c)
                txt = "–" if math.isnan(m[i, j]) else f"{m[i, j]:.1f}"
                if cell["paper_value"] is not None:
                    txt += f"\n({cell['paper_value']:g})"
                ax.text(j, i, txt, ha="center", va="center", fontsize=8,
                        color="white" if not math.isnan(m[i, j]) and m[i, j] < 0.6 * vmax else "black")
        ax.set_xticks(range(len(table.columns)), [_label(c.label) for c in table.columns])
        ax.set_yticks(range(len(rows)), [_label(r.label[1:] if isinstance(r.label, list) else r.label) for r in rows])
        ax.set_title(head or table.id, fontsize=10)
        ax.set_xlabel("test")
        ax.set_ylabel("train")
    fig.colorbar(im, ax=list(axes[0]), shrink=0.8)
    fig.suptitle(f"{table.title}\nours (paper)", fontsize=10)
    return fig


def bars(table, cells):
    panels: dict[str, list] = {}
    for c in table.columns:
        panels.setdefault(c.panel or _label(c.label), []).append(c)
    n = len(panels)
    fig_w = max(4.5, 0.55 * len(table.rows) * max(map(len, panels.values())) + 1.5)
    fig, axes = figure(1, n, figsize=(fig_w * n, 3.8), squeeze=False, layout="constrained")
    x = np.arange(len(table.rows))
    for ax, (name, cols) in zip(axes[0], panels.items()):
        width = 0.8 / len(cols)
        for k, c in enumerate(cols):
            cs = [_cell(cells, table, r, c) for r in table.rows]
            pos = x + (k - (len(cols) - 1) / 2) * width
            ax.bar(pos, [_num(v["mean"]) for v in cs], width, yerr=[_num(v["std"]) for v in cs], capsize=3,
                   label=_label(c.label) if len(cols) > 1 else "ours")
            paper = [_num(v["paper_value"]) for v in cs]
            if not all(math.isnan(p) for p in paper):
                ax.scatter(pos, paper, marker="_", s=300, color="black", zorder=3,
                           label="paper" if k == 0 else None)
        ax.set_xticks(x, [_label(r.label) for r in table.rows], rotation=35, ha="right", fontsize=8)
        ax.set_title(name, fontsize=10)
        ax.legend(fontsize=7)
    fig.suptitle(table.title, fontsize=10)
    return fig


def lines(table, cells):
    panels: dict[str, list] = {}
    for c in table.columns:
        panels.setdefault(c.panel or "value", []).append(c)
    fig, axes = figure(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False, layout="constrained")
    colors = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, (name, cols) in zip(axes[0], panels.items()):
        cols = sorted(cols, key=lambda c: _num(c.x))
        xs = [_num(c.x) for c in cols]
        for i, r in enumerate(table.rows):
            cs = [_cell(cells, table, r, c) for c in cols]
            color = colors[i % len(colors)]
            ax.errorbar(xs, [_num(v["mean"]) for v in cs], yerr=[_num(v["std"]) for v in cs], marker="o",
                        capsize=3, color=color, label=_label(r.label))
            paper = [_num(v["paper_value"]) for v in cs]
            if not all(math.isnan(p) for p in paper):
                ax.plot(xs, paper, linestyle="--", color=color, alpha=0.6)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel(table.x_label or "x")
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=7, loc="best")
    fig.suptitle(f"{table.title}\nsolid: ours (± std over seeds), dashed: paper", fontsize=10)
    return fig
