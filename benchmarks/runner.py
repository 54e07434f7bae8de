"""``sedkit bench run``: plan a suite into datasets, jobs and cells, run what is not cached, collect the cells.

- **datasets**: each suite dataset is generated (the generator's ``generate`` function, ``resume=True``) into the
  cache entry of its key: generator, resolved spec (built-in spec + suite overrides + scale overrides), scale,
  seed, soundbank. ``path:`` datasets (or ``--data NAME=DIR``) are used in place; their key hashes the metadata.
- **jobs**: one per (model, merged config, training data, seed) with the evaluations its cells need; run by an
  executor (:mod:`sedkit.benchmarks.executors`); finished ones are skipped (the cache says which).
- **cells**: table x row x column; each seed's value is read back from its evaluation's ``metrics.json``, so a
  resumed run reports cells computed by earlier runs too.

Outputs under ``--out``: ``cache/`` (unless ``--cache``), ``suites/<suite>/{suite,cells,timing}.json`` and the
report files written by :mod:`sedkit.benchmarks.report`.
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from sedkit import SedkitError, __version__
from sedkit.benchmarks.cache import Cache, short_hash
from sedkit.benchmarks.compare import cpu_seconds
from sedkit.benchmarks.executors import execute
from sedkit.benchmarks.suites import SuiteSpec, data_ref, load_suite, scale_overrides
from sedkit.specs import builtin_spec_path, deep_merge, expand, load_spec, read_yaml, resolved, spec_hash
from sedkit.synth.fingerprint import code_fingerprint
from sedkit.synth.io import atomic_write_json, safe_join, sha256_file
from sedkit.synth.registry import GENERATORS

# generator -> (module, spec class, built-in spec, spec overrides, extra generate() keywords)
# bench scale -> generator scale (one vocabulary). The medium scale generates at the generators' paper scale (the
# paper-scale built-in bank, whose eval sources are many) with the clip counts its suites set.
GEN_SCALE = {"small": "small", "medium": "paper", "paper": "paper"}


def git_commit() -> str:
    root = Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if sha.returncode != 0:
        return "unknown"
    return sha.stdout.strip()[:12] + ("+dirty" if dirty.stdout.strip() else "")


# ---------------------------------------------------------------- datasets

@dataclass
class Dataset:
    name: str
    key: dict
    dir: Path
    generator: str | None = None
    spec: object = None
    seed: int = 0
    gen_scale: str = "small"
    soundbank: str | None = None
    error: str | None = None
    code: str | None = None  # the generator's code fingerprint (None for a given data dir)
    check: str | None = None  # the fingerprint a cached copy must have (None: any, --reuse-stale)

    @property
    def hash(self) -> str:
        return short_hash(self.key)

    def data_dir(self, sub: str) -> Path:
        return safe_join(self.dir, sub) if sub else self.dir


def metadata_key(path: Path) -> dict:
    meta = path / "metadata"
    if not meta.is_dir():
        raise SedkitError(f"{path}: not a data dir (no metadata/ folder)")
    files = sorted(p for p in meta.rglob("*") if p.is_file())
    man = path / "manifest.json"
    return {"path": str(path.resolve()), "metadata": {str(p.relative_to(path)): sha256_file(p) for p in files},
            "manifest": sha256_file(man) if man.is_file() else None}


def resolve_dataset(name: str, entry, scale: str, cache: Cache, soundbank: str | None,
                    reuse_stale: bool = False) -> Dataset:
    if entry.path is not None:
        path = Path(entry.path)
        return Dataset(name, metadata_key(path), path)
    gen = GENERATORS[entry.generator]
    try:
        model = gen.spec_model()
    except (ImportError, AttributeError) as e:
        key = {"generator": entry.generator, "missing": True}
        return Dataset(name, key, Path(), entry.generator, error=f"generator {entry.generator!r} is not available "
                                                                  f"({type(e).__name__}: {e})")
    # over specs/<builtin_spec>.yaml (the model's defaults)
    raw = deep_merge(gen.fixed, entry.spec, scale_overrides(entry, scale))
    spec = load_spec(model, data=raw)
    gen_scale = GEN_SCALE[scale]
    bank = ({"path": str(Path(soundbank).resolve()), "index": _index_sha(Path(soundbank))} if soundbank
            else {"builtin": __version__, "seed": 0, "scale": gen_scale})
    key = {"generator": entry.generator, "spec": resolved(spec), "scale": gen_scale, "seed": entry.seed,
           "soundbank": bank}
    code = code_fingerprint(gen.module)
    return Dataset(name, key, cache.entry("datasets", entry.generator, key), entry.generator, spec, entry.seed,
                   gen_scale, soundbank, code=code, check=None if reuse_stale else code)


def _index_sha(root: Path) -> str:
    from sedkit.synth.soundbank.index import INDEX_NAME

    if not (root / INDEX_NAME).is_file():
        raise SedkitError(f"--soundbank {root}: no {INDEX_NAME} (index it with sedkit soundbank import)")
    return sha256_file(root / INDEX_NAME)


def build_dataset(ds: Dataset, workers: int) -> None:
    """Generate the dataset into its cache entry unless it is done (or is a path dataset)."""
    if ds.error or ds.generator is None or Cache.is_done(ds.dir, ds.check):
        return
    if Cache.is_stale(ds.dir, ds.check):  # made by other code: made again, from scratch
        Cache.clear(ds.dir)
    Cache.start(ds.dir, {**ds.key, "code": ds.code})
    t0 = time.perf_counter()
    try:
        GENERATORS[ds.generator].generate(ds.spec, ds.dir, seed=ds.seed, scale=ds.gen_scale, soundbank=ds.soundbank,
                                          workers=workers, resume=True)
    except Exception as e:  # a generator that fails leaves its cells failed, not the whole benchmark
        ds.error = f"generating dataset {ds.name}: {type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}"
        ds.dir.mkdir(parents=True, exist_ok=True)
        with open(Cache.marker(ds.dir, "error").with_suffix(".log"), "w") as f:
            f.write(traceback.format_exc())
        return
    Cache.finish(ds.dir, {"generate_s": time.perf_counter() - t0, "key": ds.key, "code": ds.code,
                          "git_commit": git_commit()})


# ---------------------------------------------------------------- models, jobs and cells

def model_key(model: str, overrides: dict) -> dict:
    """What a trained model's config depends on: its built-in spec with the overrides, every ``extends:`` resolved
    (so a change to a model it extends, or to its front end's file, makes a new key)."""
    try:
        config = expand(deep_merge(read_yaml(builtin_spec_path(f"models/{model}")), overrides))
    except SedkitError:  # an unknown model fails when its cell runs, with the model's own error
        config = overrides
    return {"model": model, "config": config}


@dataclass
class Plan:
    datasets: dict[str, Dataset]
    jobs: dict[str, dict] = field(default_factory=dict)
    cells: list[dict] = field(default_factory=list)


def bank_words(soundbank: str | None, scale: str) -> str:
    """How the report names the soundbank of a run (suite descriptions say ``{bank}``)."""
    if soundbank is None:
        return {"small": "the small built-in bank"}.get(GEN_SCALE[scale], "the paper-scale built-in bank")
    from sedkit.synth.soundbank.index import load_soundbank

    try:
        n = len(load_soundbank(soundbank).labels)
    except SedkitError:
        n = None
    return f"the soundbank `{soundbank}`" + (f" ({n} classes)" if n is not None else "")


def dataset_classes(datasets: dict[str, Dataset], ref: str) -> list[str]:
    """The classes of a suite dataset reference (``waa/segments/10s``), or [] when the dataset could not be made."""
    from sedkit.synth.contract import classes_path, read_classes

    name, sub = data_ref(ref)
    ds = datasets.get(name)
    if ds is None or ds.error:
        return []
    try:
        return list(read_classes(classes_path(ds.data_dir(sub))))
    except (SedkitError, OSError):
        return []


def model_code(model: str) -> str:
    """The code fingerprint of a model's cells: its builder module and the training API, transitively."""
    from sedkit.baselines.registry import MODELS

    return code_fingerprint(MODELS[model].split(":")[0], "sedkit.baselines.api") if model in MODELS else "unknown"


def plan_suite(name: str, suite: SuiteSpec, scale: str, seeds: list[int], cache: Cache, device: str, threads: int,
               datasets: dict[str, Dataset], reuse_stale: bool = False, model_seeds: bool = True) -> Plan:
    """The jobs (one per model, training set and seed) and cells of a suite. ``model_seeds``: a model's own
    ``seeds:`` (more where it is cheap) extend ``seeds``; off when the run sets ``--seeds``."""
    plan = Plan(datasets)
    commit = git_commit()
    for t in suite.tables:
        for r in t.rows:
            for c in t.columns:
                f = t.cell_fields(r, c)
                ref = suite.models[f["model"]]
                ov = ref.overrides(scale, f["train"])
                (tr_name, tr_sub), (te_name, te_sub) = data_ref(f["train"]), data_ref(f["test"])
                tr, te = datasets[tr_name], datasets[te_name]
                more = (ref.n_seeds(scale, f["train"], len(seeds)) if model_seeds else len(seeds)) - len(seeds)
                nxt = max(seeds, default=-1) + 1
                for seed in [*seeds, *range(nxt, nxt + more)]:
                    if ref.unavailable:  # reported, never trained (not even when another ref has the same key)
                        plan.cells.append({"table": t.id, "row": r.id, "column": c.id, "seed": seed, "fields": f,
                                           "metric": f["metric"], "job": None, "eval": None,
                                           "blocked": f"model {f['model']} not available: {ref.unavailable}"})
                        continue
                    rkey = {"model": model_key(ref.model, ov), "data": [tr.hash, tr_sub], "seed": seed}
                    rid = short_hash(rkey)
                    job = plan.jobs.get(rid)
                    if job is None:
                        job = plan.jobs[rid] = {
                            "id": rid, "key": rkey, "model": ref.model, "overrides": ov, "seed": seed,
                            "run_dir": str(cache.entry("runs", f"{ref.model}-s{seed}", rkey)),
                            "data": str(tr.data_dir(tr_sub)), "device": device, "threads": threads,
                            "git_commit": commit, "evals": [], "error": tr.error, "code": model_code(ref.model),
                            "reuse_stale": reuse_stale,
                            "label": f"{name}: {f['model']} on {f['train']} seed {seed}"}
                    ekey = {"run": rid, "data": [te.hash, te_sub], "split": f["split"],
                            "postprocess": f["postprocess"]}
                    eid = short_hash(ekey)
                    if all(e["id"] != eid for e in job["evals"]):
                        job["evals"].append({"id": eid, "key": ekey, "data": str(te.data_dir(te_sub)),
                                             "split": f["split"], "postprocess": f["postprocess"],
                                             "dir": str(cache.entry("evals", f"{f['split']}-{f['postprocess']}",
                                                                    ekey))})
                    if te.error and not job["error"]:
                        job["error"] = te.error
                    plan.cells.append({"table": t.id, "row": r.id, "column": c.id, "seed": seed, "job": rid,
                                       "eval": eid, "metric": f["metric"], "fields": f})
    return plan


def pending(job: dict) -> bool:
    check = None if job.get("reuse_stale") else job.get("code")
    return not (Cache.is_done(Path(job["run_dir"]), check)
                and all(Cache.is_done(Path(e["dir"]), check) for e in job["evals"]))


def metric_value(metrics: dict, dotted: str) -> float:
    cur = metrics
    for k in dotted.split("."):
        if not isinstance(cur, dict) or k not in cur:
            raise KeyError(dotted)
        cur = cur[k]
    return float("nan") if cur is None else float(cur)


def collect(suite: SuiteSpec, plan: Plan, errors: dict[str, str]) -> list[dict]:
    """One row per table cell: the seeds' values, mean, std, wall time, device, commit, status."""
    evals = {e["id"]: (job, e) for job in plan.jobs.values() for e in job["evals"]}
    groups: dict[tuple, list[dict]] = {}
    for c in plan.cells:
        groups.setdefault((c["table"], c["row"], c["column"]), []).append(c)
    rows = []
    for (tid, rid, cid), cells in groups.items():
        t, r, col = suite.cell(f"{tid}/{rid}:{cid}")
        vals, wall, devices, commits, problems, sources, stale = [], 0.0, set(), set(), [], [], 0
        for c in cells:
            if c.get("blocked"):
                problems.append(c["blocked"])
                continue
            job, ev = evals[c["eval"]]
            run, folder = Path(job["run_dir"]), Path(ev["dir"])
            check = None if job.get("reuse_stale") else job.get("code")
            if not (Cache.is_done(run, check) and Cache.is_done(folder, check)):
                problems.append(errors.get(job["id"]) or job.get("error") or "not run yet")
                continue
            info = Cache.read_done(run)
            metrics = json.loads((folder / "metrics.json").read_text())
            try:
                v = metric_value(metrics, c["metric"])
            except KeyError:
                problems.append(f"metric {c['metric']!r} not in the evaluation's metrics")
                continue
            vals.append(v * 100 if t.is_percent(col) else v)
            pred = folder / "predictions" / ev["split"]  # the training's own evaluation lives in the run folder
            sources.append({"seed": c["seed"], "run": str(run), "data": ev["data"], "split": ev["split"],
                            "clips": ev["key"]["data"][0], "postprocess": ev["postprocess"],
                            "pred": str(pred if pred.is_dir() else run / "predictions" / ev["split"])})
            wall += info.get("train_s", 0.0) + Cache.read_done(folder).get("eval_s", 0.0)
            devices.add(str(info.get("device")))
            commits.add(str(info.get("git_commit")))
            stale += Cache.is_stale(run, job.get("code")) or Cache.is_stale(folder, job.get("code"))
        finite = [v for v in vals if math.isfinite(v)]
        k = list(t.columns).index(col)
        paper = r.paper[k] if r.paper else None
        rows.append({
            "table": tid, "row": rid, "column": cid, "row_label": _label(r.label), "column_label": _label(col.label),
            "metric": cells[0]["metric"], **{k2: cells[0]["fields"][k2] for k2 in ("model", "train", "test", "split",
                                                                                 "postprocess")},
            "values": [None if not math.isfinite(v) else round(v, 6) for v in vals],
            "mean": float(np.mean(finite)) if finite else None,
            "std": float(np.std(finite, ddof=1)) if len(finite) > 1 else (0.0 if finite else None),
            "n_seeds": len(finite), "paper": paper, "paper_value": paper_number(paper), "wall_s": round(wall, 2),
            "device": ",".join(sorted(devices)) or None, "git_commit": ",".join(sorted(commits)) or None,
            "status": "ok" if not problems else ("partial" if vals else
                                                 "unavailable" if all(c.get("blocked") for c in cells) else "failed"),
            "error": problems[0] if problems else None,
            "sources": sources,  # per seed: where its per-clip predictions are (the report's bootstrap reads them)
            "stale": stale,  # seeds computed by other code, kept with --reuse-stale
        })
    return rows


def _label(label) -> str:
    return " / ".join(label) if isinstance(label, list) else str(label)


def paper_number(v) -> float | None:
    """``45.8`` or ``"45.8±2.9"`` or ``"30.65%"`` -> 45.8 / 30.65; None when absent."""
    if v is None:
        return None
    if isinstance(v, (int, float)):
        return float(v)
    head = str(v).replace("%", "").split("±")[0].strip()
    try:
        return float(head)
    except ValueError:
        return None


# ---------------------------------------------------------------- running

class Timing:
    """``suites/<suite>/timing.json``: one entry per run of the suite, rewritten as its models finish, so a killed
    run keeps the time it spent (``finished: false``). Entries of another scale or seed count are dropped. CPU time
    counts this process and the workers it has joined (pool workers at the end of the run; not Ray's)."""

    def __init__(self, path: Path, **info):
        self.path = path
        self.data = json.loads(path.read_text()) if path.is_file() else {"runs": []}
        runs = self.data["runs"]
        if runs and (runs[-1].get("scale"), runs[-1].get("seeds")) != (info["scale"], info["seeds"]):
            self.data = {"runs": []}
        self.t0, self.cpu0 = time.perf_counter(), cpu_seconds()
        self.entry = {**info, "started_at": time.strftime("%Y-%m-%dT%H:%M:%S"), "finished": False, "jobs_run": 0,
                      "jobs_cached": 0, "jobs_blocked": 0}
        self.data["runs"].append(self.entry)
        self.update()

    def update(self, **fields) -> None:
        self.entry.update(fields, wall_s=round(time.perf_counter() - self.t0, 2),
                          cpu_s=round(cpu_seconds() - self.cpu0, 1), updated_at=time.strftime("%Y-%m-%dT%H:%M:%S"))
        atomic_write_json(self.path, self.data)


def run_suite(name: str, suite: SuiteSpec, out: Path, cache: Cache, scale: str, seeds: list[int], device: str,
              executor: str, workers: int, threads: int, address: str | None = None,
              data: dict[str, str] | None = None, soundbank: str | None = None, echo=print,
              reuse_stale: bool = False, model_seeds: bool = True) -> dict:
    folder = safe_join(out, f"suites/{name}")
    folder.mkdir(parents=True, exist_ok=True)
    timing = Timing(folder / "timing.json", scale=scale, seeds=len(seeds), executor=executor, workers=workers,
                    threads=threads)
    datasets = {}
    for ds_name, entry in suite.datasets.items():
        if data and ds_name in data:
            entry = entry.model_copy(update={"generator": None, "path": data[ds_name]})
        datasets[ds_name] = resolve_dataset(ds_name, entry, scale, cache, soundbank, reuse_stale)
    needed = {data_ref(t.cell_fields(r, c)[k])[0] for t in suite.tables for r in t.rows for c in t.columns
              for k in ("train", "test")}
    needed |= {data_ref(t.defaults.test or t.defaults.train)[0] for t in suite.tables if t.class_rows}
    for ds_name in sorted(needed):
        ds = datasets[ds_name]
        state = ("cached" if ds.generator is None or Cache.is_done(ds.dir, ds.check) else
                 "made by other code: generating again" if Cache.is_stale(ds.dir, ds.check) else "generating")
        echo(f"[{name}] dataset {ds_name}: {state}")
        build_dataset(datasets[ds_name], workers)
        if datasets[ds_name].error:
            echo(f"[{name}] dataset {ds_name}: {datasets[ds_name].error}")
    suite = suite.with_classes(lambda ref: dataset_classes(datasets, ref))  # class rows from the data
    atomic_write_json(folder / "suite.json", {
        "name": name, "spec": resolved(suite), "scale": scale, "seeds": seeds, "soundbank": bank_words(soundbank, scale),
        "datasets": {n: {"dir": str(d.dir), "generator": d.generator, "scale": d.gen_scale if d.generator else None,
                         "sha256": spec_hash(d.key), "error": d.error} for n, d in datasets.items() if n in needed}})
    plan = plan_suite(name, suite, scale, seeds, cache, device, threads, datasets, reuse_stale, model_seeds)
    todo = [j for j in plan.jobs.values() if pending(j) and not j["error"]]
    for job in todo:
        if not Cache.is_done(Path(job["run_dir"])):
            Cache.start(Path(job["run_dir"]), {**job["key"], "code": job["code"]})
    blocked = sum(1 for j in plan.jobs.values() if j["error"])
    unavailable = sum(1 for c in plan.cells if c.get("blocked"))
    echo(f"[{name}] {len(plan.jobs)} models to train and evaluate: {len(todo)} to run ({executor}, {workers} "
         f"workers x {threads} threads), {len(plan.jobs) - len(todo) - blocked} cached, {blocked} cannot run"
         + (f"; {unavailable} cell values need models that are not available yet" if unavailable else ""))
    errors = {j["id"]: j["error"] for j in plan.jobs.values() if j["error"]}
    timing.update(jobs_cached=len(plan.jobs) - len(todo) - blocked, jobs_blocked=blocked)
    bar = tqdm(total=len(todo), desc=f"bench {name}", unit="model", disable=None)
    done = 0
    for job, res in execute(todo, executor, workers, address, device):
        bar.update(1)
        done += 1
        timing.update(jobs_run=done)
        if res["error"]:
            errors[job["id"]] = res["error"]
            echo(f"[{name}] failed: {job['label']}: {res['error']}")
    bar.close()
    rows = collect(suite, plan, errors)
    atomic_write_json(folder / "cells.json", rows)
    timing.update(finished=True)
    run_info = timing.entry
    echo(f"[{name}] wall time {run_info['wall_s']:.1f} s, CPU time {run_info['cpu_s']:.0f} s ({done} models run, "
         f"{sum(r['status'] == 'ok' for r in rows)}/{len(rows)} cells complete)")
    return {"name": name, "wall_s": run_info["wall_s"], "rows": rows}


def default_workers(executor: str, workers: int | None, threads: int | None) -> tuple[int, int]:
    cores = os.cpu_count() or 1
    w = workers or (cores if executor == "local" else 1)
    return w, threads or max(1, cores // w)


def run(suites: list[str], out: Path, scale: str = "small", seeds: int | None = None, device: str = "auto",
        executor: str = "local", address: str | None = None, workers: int | None = None,
        threads: int | None = None, cache: Path | None = None, data: dict[str, str] | None = None,
        soundbank: str | None = None, echo=print, reuse_stale: bool = False) -> list[dict]:
    """Run suites into ``out``. Cached datasets, models and evaluations made by other code (another code
    fingerprint) are made again, unless ``reuse_stale`` (the report then marks their cells)."""
    from sedkit.benchmarks.report import render
    from sedkit.benchmarks.suites import suite_names

    if executor == "local" and device == "cuda":
        from sedkit.synth.devices import resolve_device

        resolve_device("cuda")  # one-line error when there is none
    loaded = [load_suite(s) for s in (suites or suite_names())]
    known = {n for _, suite in loaded for n in suite.datasets}
    unknown = sorted(set(data or {}) - known)
    if unknown:
        raise SedkitError(f"--data {unknown[0]}=...: no suite being run has a dataset named {unknown[0]!r} "
                          f"(their datasets: {', '.join(sorted(known))})")
    w, th = default_workers(executor, workers, threads)
    store = Cache(cache or safe_join(out, "cache"))
    results = []
    for name, suite in loaded:
        n = seeds or suite.seeds
        results.append(run_suite(name, suite, out, store, scale, list(range(n)), device, executor, w, th, address,
                                 data, soundbank, echo, reuse_stale, model_seeds=seeds is None))
        render(out)  # the report grows suite by suite
    return results
