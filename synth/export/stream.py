"""Synthesis output streamed into WebDataset shards while the clips are made: ``sedkit synth ... --shards DIR``.

Each clip (a generator's item) becomes one sample, written as soon as it and every clip before it are done, so the
shards hold the clips in the dataset's order whatever the number of workers and are byte-identical between runs.
A sample's key is ``<split>/<index>`` (six digits); its members are every file the generator wrote for the clip,
named by the folders above the file (without the split) and its extension, e.g. ``audio.wav``, ``jams.jams``,
``segments_1s_audio.wav``, plus ``meta.json`` (split, index, each file's path and sha256, and the generator's
metadata of the clip: events, labels, SNR...). On ``--resume`` the shards are written again from the start: clips
already made are read back from the dataset folder.
"""
from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

from sedkit import SedkitError
from sedkit.synth.export.shards import ShardWriter


def member_names(split: str, rels: list[str]) -> dict[str, str]:
    """``{member extension: relative path}`` for the files of one clip (see the module docstring)."""
    out: dict[str, str] = {}
    for rel in sorted(rels):
        p = PurePosixPath(rel)
        folders = [part for part in p.parts[:-1] if part != split]
        ext = "_".join(folders) + p.suffix if folders else p.suffix.lstrip(".") or "file"
        if ext in out or ext == "meta.json":  # two files of the clip in one folder: name them by path
            ext = "_".join(part.replace(".", "_") for part in p.parts)
        out[ext] = rel
    return out


def check_shards_dir(dataset_dir: str | Path, shards_dir: str | Path) -> None:
    """One line (SedkitError) when ``--shards`` cannot hold the shards: inside the dataset folder, or a file."""
    out, here = Path(dataset_dir).resolve(), Path(shards_dir).resolve()
    if here == out or out in here.parents:
        raise SedkitError(f"--shards {shards_dir}: must be outside the dataset folder --out {dataset_dir}")
    if here.exists() and not here.is_dir():
        raise SedkitError(f"--shards {shards_dir}: exists and is not a directory")


class ShardStream:
    """The shards of one synthesis run: :meth:`advance` writes every clip whose predecessors are all done."""

    def __init__(self, dataset_dir: str | Path, shards_dir: str | Path, max_bytes: int | None, max_count: int | None):
        self.dataset_dir, self.dir = Path(dataset_dir), Path(shards_dir)
        check_shards_dir(dataset_dir, shards_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        for old in self.dir.glob("shard-*.tar"):  # a previous run's: written again from the start
            old.unlink()
        self.writer = ShardWriter(self.dir, max_bytes, max_count)
        self.items: list = []
        self.next = 0

    def start(self, items: list) -> None:
        self.items, self.next = list(items), 0

    def advance(self, done: dict[str, dict]) -> None:
        while self.next < len(self.items) and self.items[self.next].key in done:
            it = self.items[self.next]
            rec = done[it.key]
            names = member_names(it.split, list(rec["files"]))
            files = {ext: (self.dataset_dir / rel).read_bytes() for ext, rel in names.items()}
            files["meta.json"] = json.dumps({"split": it.split, "index": it.index, "files": rec["files"],
                                             "meta": rec.get("meta", {})}, sort_keys=True).encode()
            self.writer.add(f"{it.split}/{it.index:06d}", files)
            self.next += 1

    def close(self) -> list[Path]:
        if self.next < len(self.items):
            raise SedkitError(f"--shards {self.dir}: {len(self.items) - self.next} clips were not made")
        return self.writer.close()
