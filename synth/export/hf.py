"""Hugging Face ``datasets`` format: a DatasetDict saved with ``save_to_disk`` (``load_from_disk(OUT)``), one
datasets split per dataset split, and the same rows as Parquet files in ``parquet/`` (``load_dataset("parquet",
data_files=...)``, or upload them to the Hub as they are).

A row is a clip: ``audio`` (datasets' Audio feature: the WAV bytes as they are, decoded on access when torchcodec
is installed), ``filename``, ``split``, ``label_kind``, ``events`` (a list of ``{onset, offset, label}``; empty for a
weak split without hidden strong labels, and for an unlabelled one), ``weak_labels`` (class names),
``sampling_rate``, ``duration`` and ``sha256``.
"""
from __future__ import annotations

import math
import re
import shutil
from pathlib import Path

from sedkit import SedkitError

NEEDS = ("datasets",)  # packages the format needs (checked before anything is written)
PARQUET_DIR = "parquet"
SPLIT_NAME = re.compile(r"^\w+(\.\w+)*$")  # what datasets accepts as a split name


def features():
    from datasets import Audio, Features, List, Value

    return Features({
        "audio": Audio(), "filename": Value("string"), "split": Value("string"), "label_kind": Value("string"),
        "events": List({"onset": Value("float64"), "offset": Value("float64"), "label": Value("string")}),
        "weak_labels": List(Value("string")), "sampling_rate": Value("int32"), "duration": Value("float64"),
        "sha256": Value("string"),
    })


def n_shards(n_rows: int, n_bytes: int, shard_bytes: int | None, shard_clips: int | None) -> int:
    n = math.ceil(n_rows / shard_clips) if shard_clips else math.ceil(n_bytes / (shard_bytes or n_bytes or 1))
    return max(1, min(n_rows, n))


def check(src) -> None:
    bad = [s for s in src.splits if not SPLIT_NAME.match(s)]
    if bad:
        raise SedkitError(f"{src.data_dir}: split name {bad[0]!r} is not one datasets accepts (letters, digits, _)")


def write(src, stage: Path, shard_bytes: int | None, shard_clips: int | None, progress: bool) -> tuple[list, list]:
    """Write the export into ``stage``; ``(data files relative to it, clip records)``."""
    import datasets
    from datasets import Dataset, DatasetDict
    from datasets.arrow_writer import ArrowWriter

    work = stage / ".work"
    work.mkdir()
    feats = features()
    writers, sizes, records = {}, {}, []
    try:
        for clip, data, rec in src.iter_audio("export hf", progress):
            if clip.split not in writers:
                writers[clip.split] = ArrowWriter(features=feats, path=str(work / f"{clip.split}.arrow"))
            writers[clip.split].write({**rec, "audio": {"bytes": data, "path": clip.filename}})
            sizes[clip.split] = sizes.get(clip.split, 0) + len(data)
            records.append(rec)
    finally:
        for w in writers.values():
            w.finalize()
            w.close()
    bars_were_on = not datasets.are_progress_bars_disabled()  # datasets' own bars: ours counts the clips
    if bars_were_on:
        datasets.disable_progress_bars()
    try:
        splits = {s: Dataset.from_file(str(work / f"{s}.arrow")) for s in src.splits}
        files = []
        for s, ds in splits.items():
            n = n_shards(len(ds), sizes[s], shard_bytes, shard_clips)
            for i in range(n):
                rel = f"{PARQUET_DIR}/{s}-{i:05d}-of-{n:05d}.parquet"
                (stage / PARQUET_DIR).mkdir(exist_ok=True)
                ds.shard(n, i, contiguous=True).to_parquet(str(stage / rel))
                files.append(rel)
        DatasetDict(splits).save_to_disk(
            str(stage), num_shards={s: n_shards(len(ds), sizes[s], shard_bytes, shard_clips) for s, ds in splits.items()})
        del splits
    finally:
        if bars_were_on:
            datasets.enable_progress_bars()
        shutil.rmtree(work)
    arrow = sorted(p.relative_to(stage).as_posix() for s in src.splits for p in (stage / s).glob("*.arrow"))
    return sorted(files) + arrow, records
