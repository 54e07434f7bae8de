"""POSIX tar shards that WebDataset reads, written one sample at a time.

:class:`ShardWriter` is the whole interface::

    with ShardWriter(out_dir, max_bytes=500_000_000) as w:     # or max_count=1000, or both
        w.add("train/train_00000", {"wav": wav_bytes, "json": json_bytes})
    w.shards                                                   # the shard paths written, in order

A sample is its key plus ``{extension: bytes}``; its members are ``<key>.<extension>``, sorted, so WebDataset groups
them back into one sample. A shard closes before a sample that would take it past ``max_bytes`` (or past
``max_count`` samples) and the next one opens: ``shard-000000.tar``, ``shard-000001.tar``, ... A shard may pass
``max_bytes`` by the tar's end blocks (at most 10 KiB); a sample larger than ``max_bytes`` gets a shard of its own.
Each shard is written under a temporary name in ``out_dir`` and renamed when it closes; leaving the ``with`` block
on an error removes the open shard's temporary file (closed shards stay). Members carry fixed metadata (mtime 0,
uid/gid 0, mode 0644), so the same samples give byte-identical shards.
"""
from __future__ import annotations

import io
import os
import re
import tarfile
from contextlib import ExitStack
from pathlib import Path

from sedkit import SedkitError
from sedkit.synth.io import atomic_path

KEY = re.compile(r"^[^.]+$")  # WebDataset splits a member name at the first dot of its base name


def tar_member(name: str, size: int, mode: int = 0o644) -> tarfile.TarInfo:
    """A tar header with fixed owner, time and mode: archives depend on their contents only."""
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, mode, 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    tar.addfile(tar_member(name, len(data)), io.BytesIO(data))


def tar_size(names_sizes: list[tuple[str, int]]) -> int:
    """Bytes that members of these sizes take in a tar (a 512-byte header each, data padded to 512; long names
    take a PAX header more, counted as two blocks)."""
    return sum(512 * (1 + (size + 511) // 512 + (2 if len(name) > 100 else 0)) for name, size in names_sizes)


class ShardWriter:
    """Write samples into tar shards that roll over at ``max_bytes`` and/or ``max_count`` (see the module doc)."""

    def __init__(self, out_dir: str | os.PathLike, max_bytes: int | None = None, max_count: int | None = None,
                 pattern: str = "shard-{:06d}.tar"):
        if max_bytes is None and max_count is None:
            raise ValueError("ShardWriter needs max_bytes or max_count")
        self.out_dir = Path(out_dir)
        self.max_bytes, self.max_count, self.pattern = max_bytes, max_count, pattern
        self.shards: list[Path] = []
        self._stack: ExitStack | None = None
        self._tar: tarfile.TarFile | None = None
        self._bytes = self._count = 0
        self._keys: set[str] = set()

    def add(self, key: str, files: dict[str, bytes]) -> None:
        if not KEY.match(key) or key in self._keys:
            raise SedkitError(f"shard sample key {key!r}: " + ("used twice" if key in self._keys else
                                                               "must not contain a dot"))
        self._keys.add(key)
        members = [(f"{key}.{ext}", files[ext]) for ext in sorted(files)]
        size = tar_size([(n, len(d)) for n, d in members])
        full = self._tar is not None and (
            (self.max_bytes is not None and self._bytes + size > self.max_bytes)
            or (self.max_count is not None and self._count >= self.max_count))
        if full:
            self._close_shard()
        if self._tar is None:
            self._open_shard()
        for name, data in members:
            add_bytes(self._tar, name, data)
        self._bytes += size
        self._count += 1

    def _open_shard(self) -> None:
        path = self.out_dir / self.pattern.format(len(self.shards))
        self._stack = ExitStack()
        tmp = self._stack.enter_context(atomic_path(path))
        self._tar = self._stack.enter_context(tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT))
        self.shards.append(path)
        self._bytes = self._count = 0

    def _close_shard(self, exc_info=(None, None, None)) -> None:
        stack, self._stack, self._tar = self._stack, None, None
        if stack is None:
            return
        stack.__exit__(*exc_info)  # closes the tar, then renames the temporary file (or removes it on error)
        if exc_info[0] is not None:
            self.shards.pop()

    def close(self) -> list[Path]:
        self._close_shard()
        return self.shards

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, *exc_info) -> None:
        self._close_shard(exc_info if exc_info[0] is not None else (None, None, None))
