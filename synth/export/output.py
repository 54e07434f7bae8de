"""The output folder of an export: refused when it holds anything but an earlier export, written in a hidden
staging folder inside it and moved in place at the end, so a failed export leaves it as it was.

``export.json`` records what an export wrote; ``--force`` replaces exactly those entries of an earlier export and
nothing else (a folder without it is never emptied).
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sedkit import SedkitError
from sedkit.synth.io import atomic_write_json, honour_umask

RECORD = "export.json"
STAGING_PREFIX = ".sedkit-export."


def previous_entries(out: Path, force: bool) -> list[str]:
    """The top-level entries of an earlier export in ``out`` that this one replaces (and staging folders a killed
    export left); refuses a folder that holds anything else, or an earlier export without ``force``."""
    if not out.exists():
        return []
    if not out.is_dir():
        raise SedkitError(f"{out}: exists and is not a directory")
    leftovers = sorted(p.name for p in out.iterdir() if p.name.startswith(STAGING_PREFIX))  # of a killed export
    here = sorted(p.name for p in out.iterdir() if p.name not in leftovers)
    if not here:
        return leftovers
    if not force:
        raise SedkitError(f"{out}: not empty; choose an empty --out, or --force to replace an earlier export there")
    rec = out / RECORD
    try:
        entries = json.loads(rec.read_text())["entries"]
    except (OSError, ValueError, KeyError, TypeError):
        raise SedkitError(f"{out}: not empty and holds no sedkit export ({RECORD}); --force only replaces an "
                          "earlier export: choose another --out") from None
    others = sorted(set(here) - set(entries) - {RECORD})
    if others:
        raise SedkitError(f"{out}: holds files that are not from the earlier export ({', '.join(others[:3])}); "
                          "choose another --out")
    return [e for e in entries if (out / e).exists() or (out / e).is_symlink()] + leftovers


@contextmanager
def staged(out: Path, force: bool, record: dict) -> Iterator[Path]:
    """Yield a staging folder inside ``out``; on success move its entries into ``out`` (replacing an earlier
    export's) and write ``export.json``; on error remove it (and ``out`` if this export made it)."""
    old = previous_entries(out, force)
    made = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=out))
    honour_umask(stage, folder=True)
    try:
        yield stage
        entries = sorted(p.name for p in stage.iterdir())
        for e in old:
            p = out / e
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
        for e in entries:
            os.replace(stage / e, out / e)
        atomic_write_json(out / RECORD, {**record, "entries": entries})
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        if made and not any(out.iterdir()):
            out.rmdir()


def check_out(out: Path, root: Path) -> None:
    """Refuse an output folder inside the dataset folder (the export would read what it writes)."""
    o = out.resolve()
    if o == root or root in o.parents:
        raise SedkitError(f"{out}: inside the dataset folder {root}; choose an --out outside it")
