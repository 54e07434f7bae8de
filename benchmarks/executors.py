"""Where benchmark jobs run, and what one job does.

A *job* is one trained model (model x config x training data x seed) and the evaluations the suite asks of it
(test data x split x post-processing). :func:`run_job` trains it with :func:`sedkit.baselines.api.train` (resuming
from ``last.pt`` after a crash), then evaluates it with :func:`sedkit.baselines.api.evaluate` into one cache folder per
evaluation.
Its results live in the content-addressed cache (:mod:`sedkit.benchmarks.cache`), so a job whose folders are done
is never run again. Executors only decide where jobs run:

- ``local``: a process pool (``spawn``), or in-process with one worker;
- ``ray``: one Ray task per job, asking for a GPU when the device is cuda (``pip install -e '.[ray]'`` in the sedkit checkout).
A job's result depends only on the job (its seed, its torch thread count), not on the executor.
"""
from __future__ import annotations

import contextlib
import json
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path
from typing import Iterator

from sedkit import SedkitError
from sedkit.benchmarks.cache import Cache
from sedkit.synth.io import atomic_write_json


def _train(job: dict, log) -> None:
    """Train one job's model with :func:`sedkit.baselines.api.train`, continuing a crashed run from ``last.pt``."""
    from sedkit.baselines import api

    run = Path(job["run_dir"])
    resume = (run / "config.yaml").is_file() and (run / "run.json").is_file()
    with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        api.train(job["model"], job["data"], run, config=None if resume else job["overrides"],
                  seed=None if resume else job["seed"], device=job["device"], threads=job["threads"],
                  resume=resume, echo=lambda line: print(line, file=log))


def _evaluate(job: dict, ev: dict, log) -> dict:
    """One evaluation of a job's run, its predictions in the evaluation's own folder."""
    from sedkit.baselines import api

    run = Path(job["run_dir"])
    metrics = json.loads((run / "metrics.json").read_text()) if (run / "metrics.json").is_file() else {}
    if ev["data"] == job["data"] and ev["postprocess"] == "none" and ev["split"] in metrics:
        return metrics[ev["split"]]  # training already evaluated this split of its own data
    with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        return api.evaluate(run, ev["data"], ev["split"], postprocess=ev["postprocess"], device=job["device"],
                            out=ev["dir"])


def run_job(job: dict) -> dict:
    """Train (unless done) and evaluate (unless done) one job; returns ``{"id", "error"}`` (error None if fine)."""
    import torch

    from sedkit.baselines.api import json_safe  # NaN/inf -> null, as sedkit train writes metrics

    torch.set_num_threads(job["threads"])
    run = Path(job["run_dir"])
    code = job.get("code")
    check = None if job.get("reuse_stale") else code  # None: any finished entry will do
    try:
        if Cache.is_stale(run, check):  # trained by other code: train again from scratch, not from its last.pt
            Cache.clear(run)
            for ev in job["evals"]:
                Cache.clear(Path(ev["dir"]))
            Cache.start(run, {**job["key"], "code": code})
        run.mkdir(parents=True, exist_ok=True)
        with open(run / "bench.log", "a") as log:
            if not Cache.is_done(run, check):
                t0 = time.perf_counter()
                _train(job, log)
                info = json.loads((run / "run.json").read_text())
                Cache.finish(run, {"train_s": time.perf_counter() - t0, "device": info.get("device"),
                                   "git_commit": job["git_commit"], "model": job["model"], "seed": job["seed"],
                                   "code": code})
            for ev in job["evals"]:
                folder = Path(ev["dir"])
                if Cache.is_done(folder, check):
                    continue
                Cache.clear(folder)
                Cache.start(folder, {**ev["key"], "code": code})
                t0 = time.perf_counter()
                metrics = _evaluate(job, ev, log)
                atomic_write_json(folder / "metrics.json", json_safe(metrics))
                Cache.finish(folder, {"eval_s": time.perf_counter() - t0, "code": code,
                                      "git_commit": job["git_commit"]})
        return {"id": job["id"], "error": None}
    except (Exception, SystemExit) as e:  # one failed job must not stop the suite; the report shows why
        msg = str(e).splitlines()[0][:300] if str(e) else type(e).__name__
        with open(run / "bench.log", "a") as log:
            log.write(traceback.format_exc())
        return {"id": job["id"], "error": f"{type(e).__name__}: {msg}" if not isinstance(e, SedkitError) else msg}


def run_local(jobs: list[dict], workers: int) -> Iterator[tuple[dict, dict]]:
    """Yield ``(job, result)`` as jobs finish, in a spawn process pool (in-process when ``workers`` is 1)."""
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            yield job, run_job(job)
        return
    with ProcessPoolExecutor(min(workers, len(jobs)), mp_context=get_context("spawn")) as ex:
        futures = {ex.submit(run_job, job): job for job in jobs}
        for fut in as_completed(futures):
            job = futures[fut]
            try:
                res = fut.result()
            except Exception as e:  # the worker process died (killed, out of memory)
                res = {"id": job["id"], "error": f"worker died: {type(e).__name__}: {e}"}
            yield job, res


def run_ray(jobs: list[dict], address: str | None, device: str) -> Iterator[tuple[dict, dict]]:
    """Yield ``(job, result)`` as Ray tasks finish. ``address``: a cluster (``auto``, ``ray://host:port``), or None
    to start a local Ray instance on this machine (Ray's local mode). Each task asks for one GPU when ``device`` is
    cuda (an error if the cluster has none), or is auto and the cluster has GPUs."""
    from sedkit.synth.ray_session import ray_session

    with ray_session(address) as ray:
        has_gpu = ray.cluster_resources().get("GPU", 0) >= 1
        gpu = 1 if device in ("cuda", "auto") and has_gpu else 0
        if device == "cuda" and not gpu:
            raise SedkitError("--device cuda with --executor ray: the Ray cluster has no GPU")
        task = ray.remote(run_job)
        refs = {task.options(num_cpus=job["threads"], num_gpus=gpu, max_retries=0).remote(job): job for job in jobs}
        while refs:
            done, _ = ray.wait(list(refs), num_returns=1)
            job = refs.pop(done[0])
            try:
                res = ray.get(done[0])
            except Exception as e:  # the task's worker died
                res = {"id": job["id"], "error": f"ray task failed: {type(e).__name__}: {str(e)[:300]}"}
            yield job, res


def execute(jobs: list[dict], executor: str, workers: int, address: str | None = None,
            device: str = "auto") -> Iterator[tuple[dict, dict]]:
    if executor == "local":
        return run_local(jobs, workers)
    if executor == "ray":
        return run_ray(jobs, address, device)
    raise SedkitError(f"unknown executor {executor!r}; expected local or ray")
