"""The I/O floor of synthesis: per clip, read every source file it mixes and write a clip-long wav, nothing else.

It runs over the clips of a dataset sedkit made (their JAMS name the sources), in as many forked processes as the
synthesis had, so it does the same file work as synthesis minus all mixing: no synthesizer can beat its rate.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from sedkit.synth.scaper_mix import unflat


def clip_sources(dataset: Path, bank_root: Path) -> list[tuple[list[str], float, int]]:
    """Per clip of ``dataset`` (its JAMS, in name order): (absolute source paths in the bank, duration, rate)."""
    out = []
    for p in sorted(Path(dataset).glob("jams/*/*.jams")):
        doc = json.loads(p.read_text())
        ann = next(a for a in doc["annotations"] if a["namespace"] == "scaper")
        srcs = [str(Path(bank_root) / unflat(o["value"]["source_file"].split("/", 2)[2])) for o in ann["data"]]
        out.append((srcs, float(ann["sandbox"]["scaper"]["duration"]), int(ann["sandbox"]["scaper"]["sr"])))
    return out


def _clips(jobs: list[tuple[int, list[str], float, int]], out: str) -> None:
    for i, srcs, duration, sr in jobs:
        for s in srcs:
            sf.read(s, dtype="float32")
        sf.write(f"{out}/{i:05d}.wav", np.zeros(int(round(duration * sr)), np.float32), sr, subtype="PCM_16")


def io_floor(dataset: Path, bank_root: Path, out: Path, workers: int) -> float:
    """Seconds to read the sources and write the clips of ``dataset`` into ``out`` (listing them is not timed)."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    jobs = [(i, *c) for i, c in enumerate(clip_sources(dataset, bank_root))]
    out.mkdir(parents=True, exist_ok=True)
    chunks = [jobs[i:i + 4] for i in range(0, len(jobs), 4)]
    t0 = time.perf_counter()
    if workers == 1:
        for c in chunks:
            _clips(c, str(out))
    else:
        with ProcessPoolExecutor(workers, mp_context=get_context("fork")) as ex:
            list(ex.map(_clips, chunks, [str(out)] * len(chunks)))
    return time.perf_counter() - t0
