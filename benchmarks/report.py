"""The benchmark report: ``results.csv``, ``results.json``, ``report.md`` and ``figures/*.png`` from the suites'
``suites/<suite>/{suite,cells,timing}.json`` (``sedkit bench report DIR`` re-renders them at any time).

Each table is laid out like the paper's (its rows and columns): our mean ± std over seeds and its 95% bootstrap
interval beside the paper's figure. Each finding gets one verdict from a paired, seed-aware bootstrap
(:mod:`sedkit.benchmarks.verdicts`): holds, reversed, inconclusive or degenerate, with the effect, its interval,
Holm-corrected p-values, and for inconclusive findings the effect the run could have detected.
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
from sedkit.synth.io import atomic_write_json, atomic_write_text, json_safe

TIE = 1e-9  # margins this small are float noise: equal cells
CSV_COLUMNS = ["suite", "table", "row", "column", "row_label", "column_label", "metric", "model", "train", "test",
               "split", "postprocess", "mean", "std", "ci_low", "ci_high", "n_seeds", "values", "paper", "wall_s",
               "device", "git_commit",
               "status", "error"]


def load(out: Path) -> list[dict]:
    """The suites found under ``out/suites/``: the built-in ones in their order, then the others by name."""
    found = []
    for folder in sorted((out / "suites").glob("*")):
        if not (folder / "cells.json").is_file():
            continue
        info = json.loads((folder / "suite.json").read_text())
        timing = json.loads((folder / "timing.json").read_text())
        found.append({"name": info["name"], "folder": folder, "spec": SuiteSpec.model_validate(info["spec"]),
                      "scale": info["scale"], "soundbank": info.get("soundbank", "the built-in bank"),
                      "seeds": info["seeds"], "datasets": info.get("datasets", {}),
                      "cells": json.loads((folder / "cells.json").read_text()),
                      "timing": timing})
    if not found:
        raise SedkitError(f"{out}: no benchmark results (no suites/<suite>/cells.json); run sedkit bench run first")
    order = suite_names()
    return sorted(found, key=lambda s: (order.index(s["name"]) if s["name"] in order else len(order), s["name"]))


def fmt(v: float | None, digits: int) -> str:
    return "–" if v is None or not math.isfinite(v) else f"{v:.{digits}f}"


def ours_text(c: dict, digits: int, ci: tuple[float, float] | None = None) -> str:
    if c["mean"] is None:
        return {"failed": "failed", "unavailable": "n/a"}.get(c["status"], "–")
    interval = f" [{fmt(ci[0], digits)}, {fmt(ci[1], digits)}]" if ci else ""
    return (f"{fmt(c['mean'], digits)} ± {fmt(c['std'], digits)}{interval}" + ("*" if c["status"] == "partial" else "")
            + ("†" if c.get("stale") else ""))


def digits_of(table, col) -> int:
    return 1 if table.is_percent(col) else 3


# ---------------------------------------------------------------- findings

TAGS = {"holds": "**holds**", "reversed": "**reversed**", "inconclusive": "**inconclusive**",
        "degenerate": "**degenerate**", "unknown": "**cannot tell**"}


def _signed(v: float | None, digits: int) -> str:
    return "–" if v is None or not math.isfinite(v) else f"{v:+.{digits}f}"


def _p(v: float | None) -> str:
    return "–" if v is None or not math.isfinite(v) else (f"{v:.3f}" if v >= 0.001 else "<0.001")


SCALE_TEXT = {  # the report's header, per scale of its suites
    "small": (" **Small scale** (small datasets, small networks, a few epochs on CPU) checks that every suite runs end "
              "to end; its figures are far from the papers', and most findings are expected to be inconclusive. "
              "Deciding them needs `--scale medium` (about an hour on 2 CPU cores) or `--scale paper` (the papers' "
              "sizes, meant for a GPU)."),
    "medium": (" **Medium scale** (datasets and networks sized on CPU so that the headline findings get a verdict: "
               "eval sets of hundreds of clips, training until the validation curves flatten) sits between the smoke "
               "test and the papers' sizes; figures stay below the papers', orderings are what is compared."),
}


FOUND_ON = "(found on the built-in bank) "  # a suite's reasons and caveats come from looking at its built-in-bank run


def reversed_reason(res: dict, scale: str | None, because: dict | None = None) -> str:
    """Why a finding may come out reversed: the reason the suite gives for this scale (``reversed_because``),
    else the evidence at hand, in words."""
    if because and scale in because:
        return f"{FOUND_ON}{because[scale]}"
    comp = res.get("companion") or {}
    if comp.get("verdict") in ("holds", "inconclusive"):
        return (f"the threshold-free {comp['metric']} is {comp['verdict']}: the reversal comes from the decision "
                "threshold, not from the ranking of the scores")
    if scale == "small":
        return ("small scale: tiny networks trained for a few epochs on small synthetic sets, far from the regime "
                "the paper's ordering was measured in")
    return "on this data the ordering is reversed; the cells above show where"


def finding_line(res: dict, digits: int, scale: str | None = None, because: dict | None = None,
                 caveat: dict | None = None) -> str:
    tag = TAGS[res["verdict"]]
    if res["verdict"] == "unknown":
        return f"- {tag} ({res.get('why', 'cells missing')}): {res['claim']}"
    paper = "" if res["paper_margin"] is None else f"; paper {_signed(res['paper_margin'], digits)}"
    parts = [f"ours {_signed(res['effect'], digits)} [{_signed(res['ci'][0], digits)}, "
             f"{_signed(res['ci'][1], digits)}], p {_p(res['p'])}, Holm p {_p(res.get('p_holm'))}{paper}; "
             f"{res['n_seeds']} seed(s) x {res['n_clips']} clips"]
    if res["verdict"] == "degenerate":
        parts.append("every value at the metric's floor or ceiling: no ordering to judge")
    if "mde" in res:
        parts.append(f"could detect about ±{res['mde']:.{digits}f} (80% power)")
        if "needed" in res:
            n = res["needed"]
            parts.append(f"the paper's margin would need ~{n['clips']} eval clips or ~{n['seeds']} seeds "
                         "(extrapolated)")
        elif res.get("paper_margin_detectable"):
            parts.append("the paper's margin was within this run's reach, so its ordering is not reproduced here")
    comp = res.get("companion")
    if comp and comp.get("verdict") != "unknown":
        parts.append(f"threshold-free {comp['metric']}: {comp['verdict']} ({_signed(comp['effect'], 3)} "
                     f"[{_signed(comp['ci'][0], 3)}, {_signed(comp['ci'][1], 3)}])")
    if res["verdict"] == "reversed":
        parts.append("why: " + reversed_reason(res, scale, because))
    if caveat and scale in caveat and not (res["verdict"] == "reversed" and because and caveat[scale] == because.get(scale)):
        parts.append(f"caveat: {FOUND_ON}{caveat[scale]}")
    return f"- {tag} ({'; '.join(parts)}): {res['claim']}"


def verdict_counts(findings: list[dict]) -> dict[str, int]:
    from sedkit.benchmarks.verdicts import VERDICTS

    return {v: sum(f["verdict"] == v for f in findings) for v in (*VERDICTS, "unknown")}


def counts_text(counts: dict[str, int]) -> str:
    text = ", ".join(f"{counts[v]} {v}" for v in ("holds", "reversed", "inconclusive", "degenerate"))
    return text + (f", {counts['unknown']} cannot tell" if counts.get("unknown") else "")


METHOD = ("Verdicts come from a paired, seed-aware bootstrap (1000 resamples; 100 for PSDS): each resample draws the "
          "eval clips with replacement once for every cell scored on them, and each cell's seeds with replacement; "
          "a finding's margin in the paper's direction is recomputed on every resample. **holds**: its 95% interval "
          "excludes 0 on the paper's side; **reversed**: excludes 0 on the other side; **inconclusive**: contains "
          "0 (a result, not a failure: the run cannot tell); **degenerate**: every value at the metric's floor or "
          "ceiling (e.g. F1 = 0 everywhere), never reported as holding or not. p-values are two-sided, Holm-corrected "
          "over each suite's findings. Cells show mean ± std over seeds and the 95% interval in brackets.")


# ---------------------------------------------------------------- tables

def table_md(table, cells: dict[tuple, dict], n_seeds: int, stats: dict | None = None) -> str:
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
            st = (stats or {}).get((table.id, r.id, c.id))
            ours = ours_text(cell, digits_of(table, c), st.ci if st else None) if cell else "–"
            paper = r.paper[k] if r.paper else None
            row.append(ours + (f" ({paper})" if paper is not None else ""))
        lines.append("| " + " | ".join(shown + row) + " |")
    unit = " (%)" if table.percent and all(table.is_percent(c) for c in table.columns) else ""
    most = max([c.get("n_seeds") or 0 for k, c in cells.items() if k[0] == table.id] + [n_seeds])
    over = f"{n_seeds} seeds" + (f" ({most} for the models whose `seeds:` ask for more; each cell's count is n_seeds "
                                  "in results.csv)" if most > n_seeds else "")
    note = (f"\n\nOurs: mean ± std over {over}{unit} [95% bootstrap interval over clips and seeds]; the "
            f"paper's figure in parentheses ({table.source}). `*`: some seeds missing; `n/a`: model not available yet; "
            "`†`: computed by other code than the current one (kept with --reuse-stale).")
    return "\n".join(lines) + note + (f" {table.note}" if table.note else "")


def commits_text(cells: list[dict]) -> str:
    """Which commit computed the cells (each cell's models were trained by the commit in their cache entry)."""
    from collections import Counter

    n = Counter(c["git_commit"] for c in cells if c.get("git_commit"))
    stale = sum(1 for c in cells if c.get("stale"))
    text = "Computed by commit " + ", ".join(f"`{k}` ({v} cell{'s' if v != 1 else ''})" for k, v in n.most_common())
    return text + (f"; **{stale} cell(s) made by other code than the current one** (`†`, kept with --reuse-stale)"
                   if stale else "") + "." if n else "No cell computed yet."


def seeds_text(s: dict) -> str:
    """The suite's seed count, and the most any cell has (models whose ``seeds:`` ask for more)."""
    most = max([c.get("n_seeds") or 0 for c in s["cells"]] + [len(s["seeds"])])
    return f"{len(s['seeds'])}" + (f" (up to {most} for models that ask for more)" if most > len(s["seeds"]) else "")


def dataset_text(name: str, d: dict) -> str:
    what = f"sedkit synth {d['generator']}, scale {d['scale']}" if d["generator"] else "given data dir"
    failed = f", **failed**: {d['error']}" if d["error"] else ""
    return f"`{name}` ({what}, key sha256 {d['sha256'][:12]}{failed}): `{d['dir']}`"


def companion_md(table, cells: dict[tuple, dict], comp: dict) -> str:
    """The threshold-free companion of a thresholded table: the same cells, mean [95% interval]."""
    metrics = {cells[k]["metric"] for k in cells if k[0] == table.id}
    from sedkit.baselines.evaluation.clipdata import THRESHOLD_FREE

    names = sorted({THRESHOLD_FREE[m] for m in metrics if m in THRESHOLD_FREE})
    if not names or not any(k[0] == table.id for k in comp):
        return ""
    head = ["| " + " | ".join([""] + [c.label if isinstance(c.label, str) else " / ".join(c.label)
                                      for c in table.columns]) + " |", "|" + "---|" * (1 + len(table.columns))]
    for r in table.rows:
        row = []
        for c in table.columns:
            st = comp.get((table.id, r.id, c.id))
            row.append(f"{fmt(st.point, 3)} [{fmt(st.ci[0], 3)}, {fmt(st.ci[1], 3)}]" if st else "–")
        lab = r.label if isinstance(r.label, str) else " / ".join(r.label)
        head.append("| " + " | ".join([lab] + row) + " |")
    return (f"Threshold-free companion ({', '.join(names)}; the F-measure above thresholds its scores at the "
            "threshold picked on the model's validation split, this one ranks them): mean over seeds [95% "
            "interval].\n\n" + "\n".join(head))


def suite_md(s: dict, figures: dict[str, str], curves: dict | None = None) -> tuple[str, list[dict]]:
    from sedkit.benchmarks.convergence import convergence_md
    from sedkit.benchmarks.verdicts import suite_verdicts

    spec: SuiteSpec = s["spec"]
    cells = {(c["table"], c["row"], c["column"]): c for c in s["cells"]}
    stats = suite_verdicts(spec, s["cells"], memo_path=s["folder"] / "bootstrap_memo.json" if "folder" in s else None)
    for c in s["cells"]:  # the interval goes into results.json / results.csv too
        st = stats["cells"].get((c["table"], c["row"], c["column"]))
        c["ci"] = list(st.ci) if st else None
        c["ci_low"], c["ci_high"] = (st.ci if st else (None, None))
    runs = s["timing"]["runs"]
    total, cpu = sum(r["wall_s"] for r in runs), sum(r.get("cpu_s", 0.0) for r in runs)
    cut = sum(not r.get("finished", True) for r in runs)
    resumed = f", {cut} of them interrupted and resumed from the cache" if cut else ""
    description = " ".join(t for t in (spec.description, spec.scales.get(s["scale"], "")) if t)
    description = description.replace("{bank}", s.get("soundbank", "the built-in bank"))
    parts = [f"## {s['name']}: {spec.title}", f"Paper: {spec.paper}." + (f" {description}" if description else "")
             + f" Soundbank: {s.get('soundbank', 'the built-in bank')}.",
             f"**Wall time: {total:.1f} s** over {len(runs)} run(s){resumed}; CPU time {cpu:.0f} s. Last run: "
             f"{runs[-1]['wall_s']:.1f} s, {runs[-1]['jobs_run']} models trained, {runs[-1]['jobs_cached']} cached, "
             f"{runs[-1].get('jobs_blocked', 0)} could not run. Scale: {s['scale']}, seeds: {seeds_text(s)}, executor: "
             f"{runs[-1]['executor']} ({runs[-1]['workers']} workers x {runs[-1]['threads']} threads).",
             "Datasets: " + "; ".join(dataset_text(n, d) for n, d in s["datasets"].items()) + ".",
             commits_text(s["cells"])]
    for t in spec.tables:
        parts.append(f"### {t.title}\n\n{table_md(t, cells, len(s['seeds']), stats['cells'])}")
        comp = companion_md(t, cells, stats["companion_cells"])
        if comp:
            parts.append(comp)
        if t.id in figures:
            parts.append(f"![{t.title}]({figures[t.id]})")
    results = [r | {"suite": s["name"]} for r in stats["findings"]]
    if results:
        counts = verdict_counts(results)
        parts.append(f"### Findings ({counts_text(counts)})\n\n"
                     + "\n".join(finding_line(r, digits_of(*spec.cell(f.better[0], f.table)[::2]), s["scale"],
                                               f.reversed_because, f.caveat) for f, r in zip(spec.findings, results)))
    if curves:
        parts.append(convergence_md(curves, figures.get("validation")))
    failed = [c for c in s["cells"] if c["status"] != "ok"]
    if failed:
        reasons = sorted({c["error"] for c in failed if c["error"]})
        parts.append(f"**{len(failed)} cell(s) incomplete** (`failed`: the run failed; `n/a`: the model is not "
                     "available yet; `*`: some seeds missing). Reasons: " + "; ".join(reasons[:5]))
    return "\n\n".join(parts), results


def render(out: str | Path) -> Path:
    """Write results.csv, results.json, report.md and figures/ under ``out``; returns the report path."""
    from sedkit.benchmarks.convergence import curves
    from sedkit.benchmarks.convergence import plot as plot_curves
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
        found = curves(s["cells"])
        if found:
            rel = f"figures/{s['name']}-validation.png"
            plot_curves(out / rel, found, f"{s['name']}: validation curves (mean over seeds; thin: each seed)")
            figures["validation"] = rel
        text, findings = suite_md(s, figures, found)
        sections.append(text)
        all_findings += findings
        all_cells += [{"suite": s["name"], **c} for c in s["cells"]]
        counts = verdict_counts(findings)
        ok = sum(c["status"] == "ok" for c in s["cells"])
        summary.append(f"| {s['name']} | {s['spec'].paper} | {s['scale']} | "
                       f"{sum(r['wall_s'] for r in s['timing']['runs']):.1f} | "
                       f"{ok}/{len(s['cells'])} | " + " | ".join(str(counts[v]) for v in
                                                                ("holds", "reversed", "inconclusive", "degenerate"))
                       + " |")
    commit = git_commit()
    meta = {"created": time.strftime("%Y-%m-%dT%H:%M:%S"), "git_commit": commit,
            "suites": {s["name"]: {"title": s["spec"].title, "paper": s["spec"].paper, "scale": s["scale"],
                                   "seeds": s["seeds"],
                                   "wall_s": round(sum(r["wall_s"] for r in s["timing"]["runs"]), 2),
                                   "cpu_s": round(sum(r.get("cpu_s", 0.0) for r in s["timing"]["runs"]), 1),
                                   "wall_s_last_run": s["timing"]["runs"][-1]["wall_s"],
                                   "runs": s["timing"]["runs"]} for s in suites}}
    atomic_write_json(out / "results.json", json_safe({"meta": meta, "cells": all_cells, "findings": all_findings}))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for c in all_cells:
        w.writerow({**c, "values": ";".join("" if v is None else f"{v:.6g}" for v in c["values"])})
    atomic_write_text(out / "results.csv", buf.getvalue())
    total = verdict_counts(all_findings)
    total_wall = sum(r["wall_s"] for s in suites for r in s["timing"]["runs"])
    head = ["# sedkit benchmark report", f"Generated {meta['created']} from `{out}`, sedkit commit {commit}. "
            "Each table is laid out like the paper's; each finding gets a verdict on whether the paper's ordering "
            f"holds on our cells. **Findings: {counts_text(total)}.**"
            + "".join(SCALE_TEXT[sc] for sc in dict.fromkeys(s["scale"] for s in suites) if sc in SCALE_TEXT),
            METHOD,
            "| suite | paper | scale | wall time (s) | cells complete | holds | reversed | inconclusive | degenerate |\n"
            "|---|---|---|---|---|---|---|---|---|\n" + "\n".join(summary)
            + f"\n| **all** | | | **{total_wall:.1f}** | | **{total['holds']}** | **{total['reversed']}** | "
              f"**{total['inconclusive']}** | **{total['degenerate']}** |"]
    path = out / "report.md"
    atomic_write_text(path, "\n\n".join(head + sections) + "\n")
    return path
