"""Code fingerprints: what a cache entry's producer was made of, so that no cache serves results of older code.

:func:`code_fingerprint` hashes the source of a sedkit module and of every sedkit module it imports, transitively
(import statements anywhere in a file count, lazy ones inside functions included), with the sedkit version. A change
to a model's module therefore changes the fingerprint of that model's cells only; a change to code every model
shares (the trainer) changes them all. The files are found by reading the sources (no import runs).
"""
from __future__ import annotations

import ast
import functools
import hashlib
from pathlib import Path

from sedkit import __version__

ROOT = Path(__file__).resolve().parent.parent  # the folder the `sedkit` package maps to


def _file_of(module: str) -> Path | None:
    """The source file of ``sedkit.a.b`` (``a/b.py`` or ``a/b/__init__.py``), or None if it is not sedkit's."""
    if module != "sedkit" and not module.startswith("sedkit."):
        return None
    parts = module.split(".")[1:]
    base = ROOT.joinpath(*parts)
    for p in (base.with_suffix(".py"), base / "__init__.py"):
        if p.is_file():
            return p
    return None


def source_bytes(path: Path) -> bytes:
    """The bytes hashed for one file (a seam for tests)."""
    return path.read_bytes()


def _imports(path: Path) -> set[str]:
    tree = ast.parse(source_bytes(path), filename=str(path))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)  # `from pkg import submodule`
    return out


def module_files(module: str) -> list[Path]:
    """``module``'s file and those of every sedkit module it imports, transitively (sorted)."""
    seen: dict[Path, None] = {}
    todo = [module]
    while todo:
        m = todo.pop()
        f = _file_of(m)
        if f is None or f in seen:
            continue
        seen[f] = None
        parent = m.rpartition(".")[0]
        if parent and _file_of(parent):
            todo.append(parent)  # importing a.b runs a/__init__.py
        todo.extend(_imports(f))
    return sorted(seen)


@functools.lru_cache(maxsize=None)
def _cached(modules: tuple[str, ...]) -> str:
    h = hashlib.sha256(f"sedkit {__version__}\n".encode())
    for f in sorted({f for m in modules for f in module_files(m)}):
        h.update(f.relative_to(ROOT).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(source_bytes(f)).digest())
    return h.hexdigest()


def code_fingerprint(*modules: str) -> str:
    """sha256 of the sedkit version and the sources ``modules`` run (transitively); cached per process."""
    return _cached(tuple(sorted(modules)))


def clear() -> None:
    """Forget the cached fingerprints (after the sources changed, e.g. in a test)."""
    _cached.cache_clear()
