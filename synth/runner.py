"""Running a generator: per-item work in a worker pool, a resume journal, and the final manifest.

A generator describes its work as a list of :class:`Item` (split, index) and a top-level function
``make(ctx, item) -> dict`` that writes the item's files (atomically, under ``ctx.out``) and returns
``{"files": [relative paths], "meta": {...JSON-able...}}``. Everything random in ``make`` comes from
``item_rng(ctx.seed, item.split, item.index)``, so outputs do not depend on ``--workers``.

The :class:`Job` records each finished item in ``.sedkit/journal.jsonl`` with its files' sha256; with
``resume=True`` finished items whose files still match are skipped and their metadata reused.
"""
from __future__ import annotations

import gc
import json
import math
import os
import shutil
import threading
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Callable

import yaml
from tqdm.auto import tqdm

from sedkit import SedkitError
from sedkit.synth.dataset import MANIFEST, STATE_DIR, package_versions, write_manifest
from sedkit.synth.io import atomic_write_json, atomic_write_text, leftover_temps, sha256_file
from sedkit.synth.workers import keep_freed_memory


class _Bar(tqdm):
    monitor_interval = 0  # no monitor thread: the process stays single-threaded, so it may fork after the run


@dataclass(frozen=True, order=True)
class Item:
    split: str
    index: int

    @property
    def key(self) -> str:
        return f"{self.split}/{self.index}"


def _run_chunk(make: Callable, ctx: Any, items: list[Item]) -> list[tuple[str, dict]]:
    out = []
    for it in items:
        res = make(ctx, it)
        files = {rel: sha256_file(Path(ctx.out) / rel) for rel in res.get("files", [])}
        out.append((it.key, {"files": files, "meta": res.get("meta", {})}))
    return out


_WORK: tuple[Callable, Any] | None = None  # (make, ctx) of a pool worker, set once by _init_worker


def _init_worker(make: Callable, ctx: Any) -> None:
    """Pool initializer: a forked worker inherits ``make`` and ``ctx`` as they are (no pickling), once, instead of
    receiving a pickled copy of the context with every chunk."""
    global _WORK
    _WORK = (make, ctx)
    keep_freed_memory()


def _run_chunk_in_worker(items: list[Item]) -> list[tuple[str, dict]]:
    return _run_chunk(*_WORK, items)


def _warm_up(meanwhile: Callable[[], None] | None) -> None:
    package_versions()  # what finish() needs, looked up while the workers mix
    if meanwhile:
        meanwhile()


def chunk_size(n: int, workers: int, most: int) -> int:
    """Items per chunk: at most ``most``, and small enough that every worker gets about 16 chunks (a short job's
    tail is not one worker finishing a long chunk alone). The chunking never changes an item's bytes."""
    return max(1, min(most, math.ceil(n / (16 * workers))))


def _ray_chunks(make: Callable, ctx: Any, chunks: list[list[Item]], address: str | None, workers: int):
    """Run the chunks as Ray tasks (at most ``workers`` at a time on a local instance), yielding their results in
    the order they finish; every item's output depends on its key alone, so the bytes are the local executor's."""
    from sedkit.synth.ray_session import ray_session

    with ray_session(address, workers) as ray:
        task = ray.remote(num_cpus=1, max_retries=0)(_run_chunk)
        ctx_ref = ray.put(ctx)
        refs = [task.remote(make, ctx_ref, c) for c in chunks]
        while refs:
            done, refs = ray.wait(refs, num_returns=1)
            yield ray.get(done[0])


class Job:
    """One generator run into ``out``; see the module docstring."""

    def __init__(self, out: str | os.PathLike, kind: str, spec: dict, spec_sha256: str, seed: int,
                 resume: bool = False, workers: int = 1, provenance: dict | None = None, executor: str = "local",
                 address: str | None = None, shards: str | os.PathLike | None = None, shard_size: str | None = None):
        self.out = Path(out)
        self.kind, self.spec, self.spec_sha256, self.seed = kind, spec, spec_sha256, seed
        self.workers = max(1, int(workers))
        self.provenance = provenance  # the soundbank a generator mixed from (path, index sha256), for the manifest
        if executor not in ("local", "ray"):
            raise SedkitError(f"unknown executor {executor!r}; expected local or ray")
        self.executor, self.address = executor, address
        self.shards, self.shard_size = shards, shard_size  # stream the clips into WebDataset shards (synth/export/stream.py)
        if shards is not None:  # a bad --shards / --shard-size is refused before anything is written
            from sedkit.synth.export import DEFAULT_SHARD, parse_shard_size
            from sedkit.synth.export.stream import check_shards_dir

            check_shards_dir(self.out, shards)
            parse_shard_size(shard_size or DEFAULT_SHARD)
        self.state = self.out / STATE_DIR
        self.journal_path = self.state / "journal.jsonl"
        self.done: dict[str, dict] = {}
        self._prepare(resume)

    def _prepare(self, resume: bool) -> None:
        if self.out.exists() and not self.out.is_dir():
            raise SedkitError(f"--out {self.out}: exists and is not a directory")
        job_file = self.state / "job.json"
        if self.out.is_dir() and any(self.out.iterdir()):
            if not resume:
                raise SedkitError(f"--out {self.out}: directory is not empty; pass --resume to continue or "
                                  f"complete it, or choose another --out")
            if not job_file.is_file():
                raise SedkitError(f"--out {self.out}: not a sedkit {self.kind} run (no {STATE_DIR}/job.json); "
                                  f"refusing to write into it")
            prev = json.loads(job_file.read_text())
            if prev.get("kind") != self.kind or prev.get("spec_sha256") != self.spec_sha256 \
                    or prev.get("seed") != self.seed:
                raise SedkitError(f"--out {self.out}: holds a {prev.get('kind')} run with another spec or seed "
                                  f"(spec sha256 {str(prev.get('spec_sha256'))[:12]}…); cannot resume it with this one")
            for tmp in leftover_temps(self.out):  # half-written files of a killed run: never outputs
                tmp.unlink()
            self.done = self._read_journal()
        self.state.mkdir(parents=True, exist_ok=True)
        atomic_write_json(job_file, {"kind": self.kind, "spec_sha256": self.spec_sha256, "seed": self.seed})

    def _read_journal(self) -> dict[str, dict]:
        done = {}
        if not self.journal_path.is_file():
            return done
        for line in self.journal_path.read_text().splitlines():
            try:
                key, rec = json.loads(line)
            except (json.JSONDecodeError, ValueError):
                continue  # a line cut short by a crash
            if all((self.out / rel).is_file() and sha256_file(self.out / rel) == sha
                   for rel, sha in rec["files"].items()):
                done[key] = rec
        return done

    def _stream(self, items: list[Item]):
        """The shard stream of the dataset's clips (``--shards``), or None."""
        if self.shards is None:
            return None
        from sedkit.synth.export import DEFAULT_SHARD, parse_shard_size
        from sedkit.synth.export.stream import ShardStream

        stream = ShardStream(self.out, self.shards, *parse_shard_size(self.shard_size or DEFAULT_SHARD))
        stream.start(items)
        stream.advance(self.done)
        return stream

    def run(self, make: Callable, ctx: Any, items: list[Item], desc: str = "items", chunk: int = 4,
            meanwhile: Callable[[], None] | None = None, stream: bool = False) -> dict[str, dict]:
        """Make every item not already done; returns {item.key: {"files": {rel: sha}, "meta": ...}}.

        ``meanwhile``: work of this process with no data dependency on the items (e.g. importing what the card
        needs), run in a thread while the pool works (started after the workers are forked, joined before the
        return), after the manifest's package versions; without a local pool it is not run. ``stream``: these are
        the dataset's clips, streamed into the job's shards (if it has ``shards``) as they are made."""
        shard_stream = self._stream(items) if stream else None
        try:
            out = self._run(make, ctx, items, desc, chunk, meanwhile, shard_stream)
        except BaseException as e:
            if shard_stream is not None:
                shard_stream.writer.__exit__(type(e), e, e.__traceback__)  # no half-written shard left
            raise
        if shard_stream is not None:
            shard_stream.close()
        return out

    def _run(self, make: Callable, ctx: Any, items: list[Item], desc: str, chunk: int,
             meanwhile: Callable[[], None] | None, shard_stream) -> dict[str, dict]:
        todo = [it for it in items if it.key not in self.done]
        chunk = chunk_size(len(todo), self.workers, chunk)
        chunks = [todo[i:i + chunk] for i in range(0, len(todo), chunk)]
        with open(self.journal_path, "a") as journal, \
                _Bar(total=len(items), initial=len(items) - len(todo), desc=desc, unit="item",
                     disable=None, dynamic_ncols=True) as bar:
            def record(results):
                for key, rec in results:
                    self.done[key] = rec
                    journal.write(json.dumps([key, rec], sort_keys=True) + "\n")
                journal.flush()
                bar.update(len(results))
                if shard_stream is not None:
                    shard_stream.advance(self.done)

            if self.executor == "ray" and chunks:
                for res in _ray_chunks(make, ctx, chunks, self.address, self.workers):
                    record(res)
            elif self.workers == 1 or len(chunks) <= 1:
                for c in chunks:
                    record(_run_chunk(make, ctx, c))
            else:
                self._pool(make, ctx, chunks, record, meanwhile)
        return {it.key: self.done[it.key] for it in items}

    def _pool(self, make: Callable, ctx: Any, chunks: list[list[Item]], record: Callable,
              meanwhile: Callable[[], None] | None) -> None:
        """The chunks in forked workers, and :func:`_warm_up` in a thread of this process while they mix. The heap
        so far stays frozen meanwhile: the workers' collector never touches it (no copy-on-write), and the full
        collections that the side work's imports trigger here skip it."""
        freeze = gc.get_freeze_count() == 0  # a caller's own freeze is left alone
        with ProcessPoolExecutor(min(self.workers, len(chunks)), mp_context=get_context("fork"),
                                 initializer=_init_worker, initargs=(make, ctx)) as ex:
            if freeze:
                gc.freeze()
            try:
                results = ex.map(_run_chunk_in_worker, chunks)  # every worker is forked by now
                side = threading.Thread(target=_warm_up, args=(meanwhile,), daemon=True)
                side.start()
                try:
                    for res in results:
                        record(res)
                finally:
                    side.join()
            finally:
                if freeze:
                    gc.unfreeze()

    def finish(self) -> dict:
        """Write manifest.json over every file in ``out`` and rewrite the journal in a canonical order. The
        views of the bank the run mixed from (``.sedkit/view*``, ``.sedkit/target``: links and converted copies) are removed
        (``SEDKIT_KEEP_VIEW=1`` keeps them; a later ``--resume`` rebuilds them when it needs them)."""
        if not os.environ.get("SEDKIT_KEEP_VIEW"):
            for d in [*self.state.glob("view*"), self.state / "target"]:
                if d.is_dir():
                    shutil.rmtree(d)
        known = {rel: sha for rec in self.done.values() for rel, sha in rec["files"].items()}
        if isinstance(self.spec, dict) and "spec" in self.spec:  # a generator's: its resolved spec, for --spec
            atomic_write_text(self.out / "spec.yaml", yaml.safe_dump(self.spec["spec"], sort_keys=False))
        man = write_manifest(self.out, self.kind, self.spec, self.spec_sha256, self.seed, known,
                             extra={"soundbank": self.provenance} if self.provenance else None)
        atomic_write_text(self.journal_path, "".join(json.dumps([k, self.done[k]], sort_keys=True) + "\n"
                                                     for k in sorted(self.done)))
        return man


def manifest_exists(out: str | os.PathLike) -> bool:
    return (Path(out) / MANIFEST).is_file()
