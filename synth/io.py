"""File-system primitives shared by every writer in sedkit.

- every file is written to a temporary name in its final folder, then renamed (atomic on POSIX), with the
  permissions the umask gives a new file (created with mode 0666, which the kernel masks; ``mkstemp`` would
  leave it readable by its owner only);
- every path a command writes is resolved against its output root and refused if it escapes it;
- sha256 of files, streamed.
"""
from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import math
import os
import re
from pathlib import Path
from typing import Iterator

from sedkit import SedkitError


def cache_root() -> Path:
    """The sedkit cache: ``$SEDKIT_CACHE`` if set, else ``~/.cache/sedkit``."""
    env = os.environ.get("SEDKIT_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "sedkit"


def safe_join(root: str | os.PathLike, rel: str | os.PathLike) -> Path:
    """Join ``rel`` under ``root``; refuse absolute paths, ``..`` and folders that link outside ``root``.

    The last component is not resolved, so an existing symbolic link *named* by ``rel`` (e.g. in a Scaper view)
    is fine; writing goes to the link's own place in ``root``.
    """
    root_p = Path(root).resolve()
    rel_p = Path(rel)
    if rel_p.is_absolute() or ".." in rel_p.parts or not rel_p.parts:
        raise SedkitError(f"refusing to write {rel}: expected a relative path inside {root_p}")
    parent = (root_p / rel_p).parent.resolve()
    if parent != root_p and root_p not in parent.parents:
        raise SedkitError(f"refusing to write {rel}: it resolves outside the output directory {root_p}")
    return parent / rel_p.name


def current_umask() -> int:
    """The process umask, read without changing it (``/proc/self/status``), else by setting and restoring it."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def honour_umask(path: str | os.PathLike, folder: bool = False) -> None:
    """Give ``path`` (made by mkstemp / mkdtemp, mode 0600 / 0700) the mode a plain new file / folder would get."""
    os.chmod(path, (0o777 if folder else 0o666) & ~current_umask())


_TEMP_SERIAL = itertools.count()  # per process; the pid in the name keeps forked workers apart


def _new_temp(path: Path) -> Path:
    """A new empty file beside ``path``, ``.<stem>.<pid>-<n>.tmp<suffix>``, created exclusively with mode 0666: the
    kernel applies the umask, as to any new file (no umask lookup, no chmod). A name left by a killed process
    whose pid came back is skipped. The folder is made on first need."""
    while True:
        tmp = path.with_name(f".{path.stem}.{os.getpid()}-{next(_TEMP_SERIAL)}.tmp{path.suffix}")
        try:
            os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            return tmp
        except FileExistsError:
            continue
        except FileNotFoundError:
            path.parent.mkdir(parents=True, exist_ok=True)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (an empty file, readable as the umask allows); on success rename it
    onto ``path``, on error delete it.

    Use it with writers that want a file name (soundfile, scaper, matplotlib).
    The temporary name keeps the suffix so that format detection by extension still works.
    """
    tmp_p = _new_temp(Path(path))
    try:
        yield tmp_p
        os.replace(tmp_p, path)
    finally:
        if tmp_p.exists():
            tmp_p.unlink()


TEMP_NAME = re.compile(r"^\..+\.tmp(\.[A-Za-z0-9]+)?$")  # what atomic_path names its temporary files


def leftover_temps(root: str | os.PathLike) -> list[Path]:
    """Temporary files a killed writer left under ``root`` (hidden folders included)."""
    return sorted(Path(d) / f for d, _, files in os.walk(root) for f in files if TEMP_NAME.match(f))


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:  # no fsync: resume re-verifies every file's sha256 instead
            f.write(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def json_safe(x):
    """JSON-safe values (metrics, results): NaN and infinities become None (null), containers recursively."""
    if isinstance(x, dict):
        return {k: json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_safe(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def atomic_write_json(path: str | os.PathLike, obj) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
