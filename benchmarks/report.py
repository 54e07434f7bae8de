"""The benchmark report: ``results.csv``, ``results.json``, ``report.md`` and ``figures/*.png`` from the suites'
``suites/<suite>/{suite,cells,timing}.json`` (``sedkit bench report DIR`` re-renders them at any time).

Each table is laid out like the paper's (its rows and columns), our mean ± std over seeds beside the paper's
figure. Each finding gets one line: whether the paper's ordering holds on our cells and by how much (ours and the
paper's margin), flagged when the margin is smaller than the seed-to-seed spread.
"""
from __future__ import annotations

import csv
import io
import json
import math
import time
from pathlib import Path

from sedkit import SedkitError
from sedkit.benchmarks.suites.spec import SuiteSpec, suite_names
from sedkit.synth.io import atomic_write_json, atomic_write_text

TIE = 1e-9  # margins this small are float noise: equal cells
CSV_COLUMNS = ["suite", "table", "row", "column", "row_label", "column_label", "metric", "model", "train", "test",
               "split", "postprocess", "mean", "std", "n_seeds", "values", "paper", "wall_s", "device", "git_commit",
               "status", "error"]


def load(out: Path) -> list[dict]:
    """The suites found under ``out/suites/``: the built-in ones in their order, then the others by name."""
    found = []
    for folder in sorted((out / "suites").glob("*")):
        if not (folder / "cells.json").is_file():
            continue
        info = json.loads((folder / "suite.json").read_text())
        timing = json.loads((folder / "timing.json").read_text())
        found.append({"name": info["name"], "spec": SuiteSpec.model_validate(info["spec"]), "scale": info["scale"],
                      "seeds": info["seeds"], "datasets": info.get("datasets", {}),
                      "cells": json.loads((folder / "cells.json").read_text()),
                      "timing": timing})
    if not found:
        raise SedkitError(f"{out}: no benchmark results (no suites/<suite>/cells.json); run sedkit bench run first")
    order = suite_names()
    return sorted(found, key=lambda s: (order.index(s["name"]) if s["name"] in order else len(order), s["name"]))


def fmt(v: float | None, digits: int) -> str:
    return "–" if v is None or not math.isfinite(v) else f"{v:.{digits}f}"


def ours_text(c: dict, digits: int) -> str:
    if c["mean"] is None:
        return {"failed": "failed", "unavailable": "n/a"}.get(c["status"], "–")
    return f"{fmt(c['mean'], digits)} ± {fmt(c['std'], digits)}" + ("*" if c["status"] == "partial" else "")


def digits_of(table, col) -> int:
    return 1 if table.is_percent(col) else 3


# ---------------------------------------------------------------- findings

def finding_result(spec: SuiteSpec, finding, cells: dict[tuple, dict]) -> dict:
    def pick(refs):
        out = []
        for ref in refs:
            t, r, c = spec.cell(ref, finding.table)
            out.append(cells.get((t.id, r.id, c.id)))
        return out

    better, worse = pick(finding.better), pick(finding.worse)
    ours = _margin([c and c["mean"] for c in better], [c and c["mean"] for c in worse], finding.mode)
    paper = _margin([c and c["paper_value"] for c in better], [c and c["paper_value"] for c in worse], finding.mode)
    stds = [c["std"] for c in better + worse if c and c["std"] is not None]
    spread = max(stds) if stds else None
    n = min((c["n_seeds"] for c in better + worse if c), default=0)
    status = "unknown" if ours is None else ("holds" if ours > TIE else "does not hold")  # a tie does not hold
    return {"claim": finding.claim, "status": status, "ours_margin": ours, "paper_margin": paper, "spread": spread,
            "n_seeds": n, "within_noise": bool(ours is not None and spread is not None and abs(ours) < spread)}


def _margin(b: list, w: list, mode: str) -> float | None:
    if any(x is None or not math.isfinite(x) for x in b + w):
        return None
    if mode == "all":
        return min(b) - max(w)
    if mode == "mean":
        return sum(b) / len(b) - sum(w) / len(w)
    return min(x - y for x, y in zip(b, w))


def finding_line(res: dict, digits: int) -> str:
    tag = {"holds": "**holds**", "does not hold": "**does not hold**", "unknown": "**cannot tell**"}[res["status"]]
    ours = "ours: no value (cells missing)" if res["ours_margin"] is None else \
        f"ours {res['ours_margin']:+.{digits}f}"
    paper = "" if res["paper_margin"] is None else f", paper {res['paper_margin']:+.{digits}f}"
    noise = ""
    if res["within_noise"]:
        noise = f"; within seed noise (largest std {res['spread']:.{digits}f})"
    return f"- {tag} ({ours}{paper}; {res['n_seeds']} seeds{noise}): {res['claim']}"


def noise_note(findings: list[dict]) -> str:
    """How many judged findings (holding or not) have a margin within seed noise."""
    judged = [f for f in findings if f["status"] != "unknown"]
    noisy = sum(1 for f in judged if f["within_noise"])
    return f"{noisy} of the {len(judged)} judged findings are within seed noise"


# ---------------------------------------------------------------- tables

def table_md(table, cells: dict[tuple, dict], n_seeds: int) -> str:
    labels = [r.label if isinstance(r.label, list) else [r.label] for r in table.rows]
    depth = max(len(lab) for lab in labels)
    header = (table.row_header + [""] * depth)[:depth]
    col_labels = [" / ".join(c.label) if isinstance(c.label, list) else c.label for c in table.columns]
    lines = ["| " + " | ".join(header + col_labels) + " |",
             "|" + "---|" * (depth + len(col_labels))]
    prev: list[str] = []
    for r, lab in zip(table.rows, labels):
        lab = (lab + [""] * depth)[:depth]
        shown = [x if i >= len(prev) or prev[:i + 1] != lab[:i + 1] else "" for i, x in enumerate(lab)]
        prev = lab
        row = []
        for k, c in enumerate(table.columns):
            cell = cells.get((table.id, r.id, c.id))
            ours = ours_text(cell, digits_of(table, c)) if cell else "–"
            paper = r.paper[k] if r.paper else None
            row.append(ours + (f" ({paper})" if paper is not None else ""))
        lines.append("| " + " | ".join(shown + row) + " |")
    unit = " (%)" if table.percent and all(table.is_percent(c) for c in table.columns) else ""
    note = (f"\n\nOurs: mean ± std over {n_seeds} seeds{unit}; the paper's figure in parentheses ({table.source}). "
            "`*`: some seeds missing; `n/a`: model not available yet.")
    return "\n".join(lines) + note + (f" {table.note}" if table.note else "")


def dataset_text(name: str, d: dict) -> str:
    what = f"sedkit synth {d['generator']}, scale {d['scale']}" if d["generator"] else "given data dir"
    failed = f", **failed**: {d['error']}" if d["error"] else ""
    return f"`{name}` ({what}, key sha256 {d['sha256'][:12]}{failed}): `{d['dir']}`"


def suite_md(s: dict, figures: dict[str, str]) -> tuple[str, list[dict]]:
    spec: SuiteSpec = s["spec"]
    cells = {(c["table"], c["row"], c["column"]): c for c in s["cells"]}
    runs = s["timing"]["runs"]
    total, cpu = sum(r["wall_s"] for r in runs), sum(r.get("cpu_s", 0.0) for r in runs)
    cut = sum(not r.get("finished", True) for r in runs)
    resumed = f", {cut} of them interrupted and resumed from the cache" if cut else ""
    parts = [f"## {s['name']}: {spec.title}", f"Paper: {spec.paper}." + (f" {spec.description}" if spec.description
                                                                          else ""),
             f"**Wall time: {total:.1f} s** over {len(runs)} run(s){resumed}; CPU time {cpu:.0f} s. Last run: "
             f"{runs[-1]['wall_s']:.1f} s, {runs[-1]['jobs_run']} models trained, {runs[-1]['jobs_cached']} cached, "
             f"{runs[-1].get('jobs_blocked', 0)} could not run. Scale: {s['scale']}, seeds: {len(s['seeds'])}, executor: "
             f"{runs[-1]['executor']} ({runs[-1]['workers']} workers x {runs[-1]['threads']} threads).",
             "Datasets: " + "; ".join(dataset_text(n, d) for n, d in s["datasets"].items()) + "."]
    for t in spec.tables:
        parts.append(f"### {t.title}\n\n{table_md(t, cells, len(s['seeds']))}")
        if t.id in figures:
            parts.append(f"![{t.title}]({figures[t.id]})")
    results = [finding_result(spec, f, cells) | {"suite": s["name"]} for f in spec.findings]
    if results:
        parts.append("### Findings\n\n" + "\n".join(finding_line(r, digits_of(*spec.cell(f.better[0], f.table)[::2]))
                                                   for f, r in zip(spec.findings, results)))
    failed = [c for c in s["cells"] if c["status"] != "ok"]
    if failed:
        reasons = sorted({c["error"] for c in failed if c["error"]})
        parts.append(f"**{len(failed)} cell(s) incomplete** (`failed`: the run failed; `n/a`: the model is not "
                     "available yet; `*`: some seeds missing). Reasons: " + "; ".join(reasons[:5]))
    return "\n\n".join(parts), results


def render(out: str | Path) -> Path:
    """Write results.csv, results.json, report.md and figures/ under ``out``; returns the report path."""
    from sedkit.benchmarks.plots import plot_table
    from sedkit.benchmarks.runner import git_commit

    out = Path(out)
    suites = load(out)
    all_cells, all_findings, sections, summary = [], [], [], []
    for s in suites:
        figures = {}
        cells = {(c["table"], c["row"], c["column"]): c for c in s["cells"]}
        for t in s["spec"].tables:
            if t.plot != "none":
                rel = f"figures/{s['name']}-{t.id}.png"
                plot_table(out / rel, t, cells)
                figures[t.id] = rel
        text, findings = suite_md(s, figures)
        sections.append(text)
        all_findings += findings
        all_cells += [{"suite": s["name"], **c} for c in s["cells"]]
        holds = sum(f["status"] == "holds" for f in findings)
        ok = sum(c["status"] == "ok" for c in s["cells"])
        summary.append(f"| {s['name']} | {s['spec'].paper} | {sum(r['wall_s'] for r in s['timing']['runs']):.1f} | "
                       f"{ok}/{len(s['cells'])} | {holds}/{len(findings)} |")
    commit = git_commit()
    meta = {"created": time.strftime("%Y-%m-%dT%H:%M:%S"), "git_commit": commit,
            "suites": {s["name"]: {"title": s["spec"].title, "paper": s["spec"].paper, "scale": s["scale"],
                                   "seeds": s["seeds"],
                                   "wall_s": round(sum(r["wall_s"] for r in s["timing"]["runs"]), 2),
                                   "cpu_s": round(sum(r.get("cpu_s", 0.0) for r in s["timing"]["runs"]), 1),
                                   "wall_s_last_run": s["timing"]["runs"][-1]["wall_s"],
                                   "runs": s["timing"]["runs"]} for s in suites}}
    atomic_write_json(out / "results.json", {"meta": meta, "cells": all_cells, "findings": all_findings})
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for c in all_cells:
        w.writerow({**c, "values": ";".join("" if v is None else f"{v:.6g}" for v in c["values"])})
    atomic_write_text(out / "results.csv", buf.getvalue())
    head = ["# sedkit benchmark report", f"Generated {meta['created']} from `{out}`, sedkit commit {commit}. "
            "Each table is laid out like the paper's; each finding says whether the paper's ordering holds on "
            "our cells, with our margin and the paper's (in the table's unit)."
            + (" **Small scale** (small datasets, small networks, a few epochs on CPU) checks that every suite runs "
               f"end to end; its figures are far from the papers' ({noise_note(all_findings)}). "
               "Replicating needs `--scale paper` (the papers' sizes, meant for a GPU)."
               if any(s["scale"] == "small" for s in suites) else ""),
            "| suite | paper | wall time (s) | cells complete | findings that hold |\n|---|---|---|---|---|\n"
            + "\n".join(summary)]
    path = out / "report.md"
    atomic_write_text(path, "\n\n".join(head + sections) + "\n")
    return path
