"""Soundbank sources converted to one rate, mono, kept in the sedkit cache for every later run.

A Scaper view at a rate other than a source's (or of a source with several channels) mixes from a converted copy:
read, soxr, float WAV (:class:`sedkit.synth.scaper_mix.ScaperView`). The conversion gives the same bytes every time,
so its result is kept under ``<sedkit cache>/converted/<sr>/``, named by a key of the source (resolved path, size,
modification time) and of the code that converts it: the next run from the same bank at the same rate links to the
copy instead of converting again. Nothing stale is served: an edited source or changed conversion code gets a new
key. ``rm -rf ~/.cache/sedkit/converted`` reclaims the space; the next run converts again.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path

FOLDER = "converted"


@functools.lru_cache(maxsize=1)
def conversion_code() -> str:
    """The fingerprint of this module and of everything it imports (the reader, the resampler, the writer)."""
    from sedkit.synth.fingerprint import code_fingerprint

    return code_fingerprint(__name__)


def cache_folder(sr: int) -> Path | None:
    """``<sedkit cache>/converted/<sr>``, made if needed; None where it cannot be made (the view then keeps its
    own copies). Memoised per process, with :func:`conversion_code`: a view made before the workers fork hands
    both to them."""
    from sedkit.synth.io import cache_root

    return _folder(str(cache_root() / FOLDER / str(int(sr))))


@functools.lru_cache(maxsize=None)
def _folder(path: str) -> Path | None:
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    conversion_code()
    return folder


def convert(src: str | os.PathLike, dst: str | os.PathLike, sr: int) -> Path:
    """Write ``src`` as mono float samples at ``sr`` to ``dst`` (atomically)."""
    from sedkit.synth.audio import read, write

    x, _ = read(src, sr=sr, mono=True)
    write(dst, x, sr, subtype="FLOAT")
    return Path(dst)


def converted(src: str | os.PathLike, sr: int, folder: Path) -> Path:
    """The cached copy of ``src`` at ``sr`` in ``folder`` (from :func:`cache_folder`), converted if missing."""
    src = Path(src).resolve()
    st = src.stat()
    key = json.dumps([str(src), st.st_size, st.st_mtime_ns, int(sr), conversion_code()])
    out = folder / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.wav"
    return out if out.is_file() else convert(src, out, sr)
