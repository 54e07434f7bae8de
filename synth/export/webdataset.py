"""WebDataset format: tar shards ``shards/shard-NNNNNN.tar`` of about ``--shard-size`` each.

A sample is ``<split>/<stem>.wav`` (the clip's bytes, unchanged) and ``<split>/<stem>.json`` (its record: filename,
split, label kind, events, weak labels, sampling rate, duration, sha256). Dots in a stem become ``_`` in the key
(WebDataset cuts a name at its first dot); the JSON keeps the real file name. Clips are in the dataset's order
(split, then file name): shuffle at load time.
"""
from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

from sedkit import SedkitError
from sedkit.synth.export.shards import ShardWriter

SHARD_DIR = "shards"


def key_of(clip) -> str:
    return f"{clip.split}/{PurePosixPath(clip.filename).with_suffix('').as_posix().replace('.', '_')}"


def check(src) -> None:
    seen: dict[str, str] = {}
    for c in src.clips:
        k = key_of(c)
        if k in seen:
            raise SedkitError(f"{src.data_dir}: clips {seen[k]} and {c.filename} of split {c.split} get the same "
                              f"WebDataset key {k}")
        seen[k] = c.filename


def write(src, stage: Path, shard_bytes: int | None, shard_clips: int | None, progress: bool) -> tuple[list, list]:
    records = []
    with ShardWriter(stage / SHARD_DIR, max_bytes=shard_bytes, max_count=shard_clips) as w:
        for clip, data, rec in src.iter_audio("export webdataset", progress):
            w.add(key_of(clip), {"wav": data, "json": json.dumps(rec, sort_keys=True).encode()})
            records.append(rec)
    return [p.relative_to(stage).as_posix() for p in w.shards], records
