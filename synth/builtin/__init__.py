"""The built-in procedural soundbank: 10 DESED-like event classes and 6 background scene families, as code.

- :func:`make_bank` writes it into a folder (``sedkit soundbank make builtin``);
- :func:`default_bank` returns the cached bank that generators use when no ``--soundbank`` is given;
- :func:`sedkit.synth.builtin.channel.render_channel` is the recorded-like channel (the domain-gap dial).
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import tempfile
from pathlib import Path

from sedkit import SedkitError, __version__
from sedkit.synth.dataset import MANIFEST
from sedkit.synth.io import cache_root, honour_umask
from sedkit.synth.soundbank.index import INDEX_NAME

__all__ = ["BUILTIN_NAME", "default_bank", "make_bank"]


def __getattr__(name: str):
    """``make_bank``, imported on first use: the maker's modules take longer to import than a short synthesis
    spends elsewhere before mixing, and a generator given another ``--soundbank`` never needs them."""
    if name == "make_bank":
        from sedkit.synth.builtin.make import make_bank

        return make_bank
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


BUILTIN_NAME = re.compile(r"^builtin-v(?P<version>[^-]+)-s(?P<seed>\d+)-(?P<scale>\w+)$")  # a cached bank's folder


CODE_FILE = ".sedkit_code"  # the fingerprint of the code that built a cached bank


def bank_code() -> str:
    """The code fingerprint of the built-in bank (its maker and everything it imports, with the version)."""
    from sedkit.synth.fingerprint import code_fingerprint

    return code_fingerprint("sedkit.synth.builtin.make")


def _complete(p: Path) -> bool:
    """Built completely, and by the current code (a bank made by older code is never served)."""
    code = p / CODE_FILE
    return ((p / INDEX_NAME).is_file() and (p / MANIFEST).is_file() and code.is_file()
            and code.read_text().strip() == bank_code())


@contextlib.contextmanager
def _locked(path: Path):
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def default_bank(seed: int = 0, scale: str = "paper", workers: int = 1) -> Path:
    """Root of the cached built-in bank for (version, seed, scale), building it first if absent or if it was built
    by other code (its ``.sedkit_code`` fingerprint differs).

    The build goes into a temporary sibling folder renamed into place when complete, under a file lock, so a
    crashed build never looks finished and concurrent callers wait for one build instead of corrupting it.
    """
    from sedkit.synth.builtin.make import load_bank_spec, make_bank

    if not isinstance(seed, int) or seed < 0:
        raise SedkitError(f"builtin bank seed must be a non-negative integer, got {seed!r}")
    scales = load_bank_spec().scales
    if scale not in scales:
        raise SedkitError(f"builtin bank scale {scale!r}: unknown; choose one of {', '.join(sorted(scales))}")
    root = cache_root()
    final = root / f"builtin-v{__version__}-s{seed}-{scale}"
    if _complete(final):
        return final
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SedkitError(f"cannot create the soundbank cache {root} ({e.strerror}); set SEDKIT_CACHE") from None
    with _locked(root / f".{final.name}.lock"):
        if _complete(final):
            return final
        if final.exists():  # not complete, or made by other code: never trust it
            shutil.rmtree(final)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=root))
        honour_umask(tmp, folder=True)
        try:
            make_bank(tmp, seed=seed, scale=scale, workers=workers)
            (tmp / CODE_FILE).write_text(bank_code() + "\n")
            honour_umask(tmp / CODE_FILE)
            os.rename(tmp, final)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return final
