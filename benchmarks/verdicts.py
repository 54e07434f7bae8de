"""The statistics of the benchmark report: a bootstrap interval for every cell, a verdict for every finding.

Method (the paired, seed-aware bootstrap of :mod:`sedkit.baselines.evaluation.bootstrap`):

- every cell is a system: its seeds' per-clip predictions (``cells.json`` names each seed's prediction folder);
- cells scored on the same clips share one draw of clips per resample, so comparisons between them are paired;
  each cell's seeds are resampled within it. The same clips: the same split and clip names in one dataset, its
  subsets included, since a subset renders the dataset's clips again (``segments/<L>/``: one segment cut from each
  clip; remix's ``snr_<db>/``: each scene at another SNR), so a comparison across segment lengths or SNRs is paired
  by clip too;
- a finding's statistic is its margin in the paper's direction (``all``: min(better) - max(worse); ``mean``;
  ``pairwise``: the smallest pairwise margin), computed on every resample; its percentile interval gives the
  verdict: **holds** (the interval excludes 0 on the paper's side), **reversed** (excludes 0 on the other side),
  **inconclusive** (contains 0), **degenerate** (every value of every cell at the metric's floor, or every one at
  its ceiling: an ordering of equal nothings is not reported);
- p-values are two-sided bootstrap p-values, Holm-corrected over the suite's findings;
- an inconclusive finding gets its minimum detectable effect (80% power) and, when the paper gives its own margin,
  an extrapolation of how many eval clips or seeds would resolve it (the interval shrinks as 1/sqrt(n));
- a thresholded metric (F-measure) gets a threshold-free companion (mAP; for SED F-measures the clip-level mAP of
  the same model) for the same cells and findings.
"""
from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sedkit import SedkitError, first_line
from sedkit.baselines.evaluation.bootstrap import (CONFIDENCE, POWER, PSDS_RESAMPLES, RESAMPLES, System, clip_weights,
                                                   holm, interval, minimum_detectable_effect, p_values, point_value,
                                                   verdict)
from sedkit.baselines.evaluation.clipdata import THRESHOLD_FREE, clip_data

VERDICTS = ("holds", "reversed", "inconclusive", "degenerate")


@dataclass
class CellStats:
    point: float  # mean over seeds (as the table shows)
    values: np.ndarray  # (R,) resampled values
    ci: tuple[float, float]
    n_clips: int
    n_seeds: int
    seed_values: list[float]


def _config(run: str) -> dict:
    import yaml

    p = Path(run) / "config.yaml"
    return (yaml.safe_load(p.read_text()) or {}) if p.is_file() else {}


def _stable(*parts) -> int:
    return int(hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:8], 16)


def clip_set(src: dict) -> str:
    """What a cell's clips are: its dataset (``clips``, the dataset's hash, shared by its subsets); rows written
    before sources named it fall back to the data dir."""
    return str(src.get("clips") or src["data"])


def run_identity(src: dict) -> list:
    """A seed's source without where the run folder lives (the cache entry's name carries its key), so the same
    models give the same resamples in any output folder."""
    return [Path(src["run"]).name, clip_set(src), Path(src["data"]).name, src["split"], src["postprocess"]]


def code_fingerprint() -> str:
    """sha256 of the sources that turn predictions into resampled values (a memo made by other code is not used)."""
    from sedkit.baselines.evaluation import bootstrap, clipdata, postprocess, sed

    h = hashlib.sha256()
    for mod in (bootstrap, clipdata, postprocess, sed):
        h.update(Path(mod.__file__).read_bytes())
    h.update(Path(__file__).read_bytes())
    return h.hexdigest()


class Memo:
    """Resampled cell values kept beside a suite's results (``bootstrap_memo.json``): a re-rendered report does not
    redo the bootstrap. Entries are keyed by the cell's prediction folders, metric, resamples, seed and the code."""

    def __init__(self, path: Path | None):
        import json

        self.path, self.data, self.dirty = path, {}, False
        if path is not None and path.is_file():
            try:
                self.data = json.loads(path.read_text())
            except ValueError:
                self.data = {}

    @staticmethod
    def key(*parts) -> str:
        import json

        return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:24]

    def get(self, key: str) -> CellStats | None:
        e = self.data.get(key)
        if e is None:
            return None
        vals = np.array([np.nan if v is None else v for v in e["values"]], dtype=float)
        return CellStats(e["point"] if e["point"] is not None else float("nan"), vals,
                         tuple(np.nan if v is None else v for v in e["ci"]), e["n_clips"], e["n_seeds"],
                         [np.nan if v is None else v for v in e["seed_values"]])

    def put(self, key: str, st: CellStats) -> None:
        def f(v):
            return None if not math.isfinite(v) else round(float(v), 7)

        self.data[key] = {"point": f(st.point), "values": [f(v) for v in st.values], "ci": [f(v) for v in st.ci],
                          "n_clips": st.n_clips, "n_seeds": st.n_seeds, "seed_values": [f(v) for v in st.seed_values]}
        self.dirty = True

    def save(self) -> None:
        if self.path is not None and self.dirty:
            from sedkit.synth.io import atomic_write_json

            atomic_write_json(self.path, self.data)


def cell_stats(rows: list[dict], percent: dict[tuple, bool], metric_of=lambda row: row["metric"],
               resamples: int = RESAMPLES, confidence: float = CONFIDENCE, seed: int = 0,
               memo: Memo | None = None, workers: int | None = None) -> tuple[dict, dict]:
    """``({cell key: CellStats}, {cell key: why there is none})`` for the cells of one suite. Cells on the same clips
    share one clip draw per resample. Cells whose metric is recomputed per resample (PSDS) run in ``workers``
    processes (default: one per core); the values do not depend on it."""
    memo = memo or Memo(None)
    code = code_fingerprint()
    systems, problems, out, rows_by_key = {}, {}, {}, {}
    for row in rows:
        key = (row["table"], row["row"], row["column"])
        rows_by_key[key] = row
        metric = metric_of(row)
        if metric is None or not row.get("sources"):
            problems[key] = "no scored seeds"
            continue
        mkey = Memo.key(row["sources"], metric, bool(percent.get(key)), resamples, confidence, seed, code)
        cached = memo.get(mkey)
        if cached is not None:
            out[key] = cached
            continue
        try:
            seeds = [clip_data(s["pred"], s["data"], s["split"], metric, s["postprocess"], _config(s["run"]))
                     for s in row["sources"]]
            systems[key] = (System("/".join(key), seeds), metric, row["sources"][0], mkey)
        except (SedkitError, OSError) as e:
            problems[key] = first_line(e)
    draws: dict[tuple, np.ndarray] = {}
    tasks = {}
    for key, (system, metric, src, mkey) in systems.items():
        group = (clip_set(src), src["split"], tuple(sorted(system.ids)))
        if group not in draws:
            draws[group] = clip_weights(len(system.ids), resamples, np.random.default_rng(_stable(seed, *group[:2])))
        n = PSDS_RESAMPLES if metric in ("psds1", "psds2") else resamples
        # the seeds' draw follows the system, not the table: a model shown in two tables gets the same values
        # (as the memo, keyed by the system, would give it on a re-render)
        tasks[key] = (system.aligned(sorted(system.ids)), draws[group][:n],
                      _stable(seed, Memo.key([run_identity(s) for s in rows_by_key[key]["sources"]], metric)))
    slow = [k for k, (system, *_) in tasks.items() if system.seeds[0].kind == "custom"]
    done = _in_processes({k: (systems[k][0].name, rows_by_key[k]["sources"], systems[k][1], sorted(tasks[k][0].ids),
                              tasks[k][1], tasks[k][2]) for k in slow}, workers)
    for key, (system, W, rng_seed) in tasks.items():
        vals, seed_values = done[key] if key in done else system_values(system, W, rng_seed)
        scale = 100.0 if percent.get(key) else 1.0
        vals, seed_values = vals * scale, [v * scale for v in seed_values]
        finite = [v for v in seed_values if math.isfinite(v)]
        out[key] = CellStats(float(np.mean(finite)) if finite else float("nan"), vals, interval(vals, confidence),
                             len(system.ids), len(system.seeds), seed_values)
        memo.put(systems[key][3], out[key])
    return out, problems


def system_values(system: System, W: np.ndarray, rng_seed: int) -> tuple[np.ndarray, list[float]]:
    """A cell's resampled values under clip weights ``W`` and its seeds' values on all clips (unscaled)."""
    return system.values(W, np.random.default_rng(rng_seed)), [point_value(d) for d in system.seeds]


def _custom_cell(task: tuple) -> tuple[np.ndarray, list[float]]:
    """:func:`system_values` of one cell, its clip data read again in this process (what a worker runs)."""
    name, sources, metric, ids, W, rng_seed = task
    seeds = [clip_data(s["pred"], s["data"], s["split"], metric, s["postprocess"], _config(s["run"])) for s in sources]
    return system_values(System(name, seeds).aligned(ids), W, rng_seed)


def _in_processes(tasks: dict, workers: int | None) -> dict:
    """``{key: _custom_cell(task)}``, in a pool of processes when there is more than one task and core."""
    workers = min(workers or os.cpu_count() or 1, len(tasks))
    if workers <= 1:
        return {k: _custom_cell(t) for k, t in tasks.items()}
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as ex:
        return dict(zip(tasks, ex.map(_custom_cell, tasks.values())))


def _margin_samples(b: np.ndarray, w: np.ndarray, mode: str) -> np.ndarray:
    if mode == "all":
        return b.min(axis=0) - w.max(axis=0)
    if mode == "mean":
        return b.mean(axis=0) - w.mean(axis=0)
    return (b - w).min(axis=0)


def _degenerate(stats: list[CellStats], ceiling: float) -> bool:
    vals = [v for s in stats for v in s.seed_values]
    if not vals or not all(math.isfinite(v) for v in vals):
        return False
    return all(abs(v) < 1e-9 for v in vals) or all(abs(v - ceiling) < 1e-9 for v in vals)


def finding_stats(better: list[tuple], worse: list[tuple], mode: str, stats: dict, ceiling: float,
                  paper_margin: float | None, confidence: float = CONFIDENCE) -> dict:
    """The bootstrap verdict of one finding over its cells (keys into ``stats``)."""
    missing = [k for k in better + worse if k not in stats]
    if missing:
        return {"verdict": "unknown", "why": f"no per-clip predictions for cell {'/'.join(missing[0])}"}
    sb, sw = [stats[k] for k in better], [stats[k] for k in worse]
    R = min(len(s.values) for s in sb + sw)
    samples = _margin_samples(np.stack([s.values[:R] for s in sb]), np.stack([s.values[:R] for s in sw]), mode)
    point = float(_margin_samples(np.array([[s.point] for s in sb]), np.array([[s.point] for s in sw]), mode)[0])
    lo, hi = interval(samples, confidence)
    degenerate = _degenerate(sb + sw, ceiling)
    v = verdict(lo, hi, degenerate)
    finite = samples[np.isfinite(samples)]
    se = float(np.std(finite, ddof=1)) if len(finite) > 1 else float("nan")
    out = {"verdict": v, "effect": point, "ci": [lo, hi], "p": p_values(samples)["two_sided"],
           "p_one_sided": p_values(samples)["greater"], "se": se, "resamples": int(R),
           "n_clips": min(s.n_clips for s in sb + sw), "n_seeds": min(s.n_seeds for s in sb + sw)}
    if v == "inconclusive" and math.isfinite(se) and se > 0:
        mde = minimum_detectable_effect(se, confidence, POWER)
        out["mde"] = mde
        if paper_margin is not None and abs(paper_margin) > 1e-12:
            factor = (mde / abs(paper_margin)) ** 2
            if factor > 1:  # the paper's margin is below what this run can see: how much bigger a run would
                out["needed"] = {"factor": factor, "clips": math.ceil(out["n_clips"] * factor),
                                 "seeds": math.ceil(out["n_seeds"] * factor)}
            else:  # this run would have seen the paper's margin: the ordering is not reproduced here
                out["paper_margin_detectable"] = True
    return out


def suite_verdicts(spec, rows: list[dict], confidence: float = CONFIDENCE, seed: int = 0,
                   memo_path: Path | None = None) -> dict:
    """Cell intervals and finding verdicts of one suite, and the same for the threshold-free companions.

    Returns ``{"cells": {key: CellStats}, "cell_problems": {...}, "findings": [dict per finding],
    "companion_cells": {...}, "companions": {metric of a table: companion metric}}``.
    """
    percent = {}
    for t in spec.tables:
        for r in t.rows:
            for c in t.columns:
                percent[(t.id, r.id, c.id)] = t.is_percent(c)
    memo = Memo(memo_path)
    stats, problems = cell_stats(rows, percent, confidence=confidence, seed=seed, memo=memo)

    def companion(row):
        return THRESHOLD_FREE.get(row["metric"])

    comp_rows = [r for r in rows if companion(r)]
    comp_stats, _ = (cell_stats(comp_rows, {}, companion, confidence=confidence, seed=seed, memo=memo) if comp_rows
                     else ({}, {}))
    memo.save()
    findings = []
    for f in spec.findings:
        keys = {side: [] for side in ("better", "worse")}
        for side in keys:
            for ref in getattr(f, side):
                t, r, c = spec.cell(ref, f.table)
                keys[side].append((t.id, r.id, c.id))
        t0, _, c0 = spec.cell(f.better[0], f.table)
        ceiling = 100.0 if t0.is_percent(c0) else 1.0
        paper = _paper_margin(rows, keys, f.mode)
        res = finding_stats(keys["better"], keys["worse"], f.mode, stats, ceiling, paper, confidence)
        metric = next((r["metric"] for r in rows if (r["table"], r["row"], r["column"]) == keys["better"][0]), None)
        comp = THRESHOLD_FREE.get(metric)
        if comp:
            res["companion"] = {"metric": comp, **finding_stats(keys["better"], keys["worse"], f.mode, comp_stats,
                                                                1.0, None, confidence)}
        findings.append({"claim": f.claim, "paper_margin": paper, **res})
    adjusted = holm([x.get("p", float("nan")) for x in findings])
    for x, p in zip(findings, adjusted):
        x["p_holm"] = p
    return {"cells": stats, "cell_problems": problems, "findings": findings, "companion_cells": comp_stats}


def _paper_margin(rows: list[dict], keys: dict, mode: str) -> float | None:
    by = {(r["table"], r["row"], r["column"]): r.get("paper_value") for r in rows}
    b, w = [by.get(k) for k in keys["better"]], [by.get(k) for k in keys["worse"]]
    if any(x is None or not math.isfinite(x) for x in b + w):
        return None
    return float(_margin_samples(np.array([[x] for x in b]), np.array([[x] for x in w]), mode)[0])
