"""Export a dataset folder for other researchers: ``hf`` (Hugging Face datasets), ``webdataset`` (tar shards) or
``zenodo`` (one deterministic tar.gz), each with Croissant metadata.

:func:`export_dataset` is the API (``sedkit dataset export`` calls it). Each format is a module here with
``check(src)`` (refuse what it cannot export, before anything is written) and ``write(src, stage, ...)`` (write
into the staging folder; returns the data files it wrote and one record per clip). Every export also writes
``clips.csv`` and ``croissant.json`` (:mod:`.croissant`), ``CITATION.cff`` and ``LICENSES.md`` (:mod:`.credits`);
``hf`` and ``webdataset`` copy the dataset's card, ATTRIBUTION.md, plots and spec beside their data.
"""
from __future__ import annotations

import importlib
import importlib.util
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from sedkit import SedkitError, __version__

FORMATS = {"hf": "sedkit.synth.export.hf", "webdataset": "sedkit.synth.export.webdataset",
           "zenodo": "sedkit.synth.export.zenodo"}
SHARDED = ("hf", "webdataset")
DEFAULT_SHARD = "500MB"
DATASET_VERSION = "1.0.0"  # Croissant's version of an export (semantic); the spec's sha256 is in its description
UNITS = {"kb": 10 ** 3, "mb": 10 ** 6, "gb": 10 ** 9}
SHARD_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(kb|mb|gb|clips?)?\s*$", re.IGNORECASE)


@dataclass
class ExportResult:
    format: str
    out: Path
    data_dir: Path
    clips: int
    files: list[str]  # every file written, relative to out
    bytes: int
    seconds: float
    croissant: tuple[str, str]  # (passed | failed | skipped, detail)
    splits: dict[str, int] = field(default_factory=dict)


def parse_shard_size(text: str) -> tuple[int | None, int | None]:
    """``"500MB"`` / ``"1.5GB"`` / ``"200kB"`` -> (bytes, None); ``"1000"`` / ``"1000clips"`` -> (None, clips)."""
    m = SHARD_SIZE.match(str(text))
    if not m or float(m[1]) <= 0:
        raise SedkitError(f"--shard-size {text!r}: expected a size such as 500MB, 1GB or a number of clips (1000)")
    unit = (m[2] or "clips").lower()
    if unit.startswith("clip"):
        if not float(m[1]).is_integer():
            raise SedkitError(f"--shard-size {text!r}: a number of clips is a whole number")
        return None, int(float(m[1]))
    return max(1, int(float(m[1]) * UNITS[unit])), None


def _copy_docs(src, stage: Path, authors: list[str] | None) -> None:
    from sedkit.synth.export import credits
    from sedkit.synth.io import atomic_write_text

    for rel in src.root_files():
        shutil.copyfile(src.root / rel, stage / rel)
    atomic_write_text(stage / credits.CITATION_FILE, credits.citation_cff(src, authors))
    atomic_write_text(stage / credits.LICENCE_FILE, credits.licence_text(src))


def export_dataset(path: str | Path, fmt: str, out: str | Path, shard_size: str | None = None, force: bool = False,
                   name: str | None = None, authors: list[str] | None = None, progress: bool = True) -> ExportResult:
    """Export the dataset folder or data dir ``path`` in format ``fmt`` to the folder ``out``.

    Bad input (no dataset, a clip that differs from the manifest, a non-empty ``out`` ...) raises
    :class:`SedkitError` before ``out`` changes. ``out`` must be empty, or hold an earlier export and ``force``.
    ``shard_size`` (hf, webdataset): see :func:`parse_shard_size`; ``name`` (zenodo): the archive's name
    (default: the dataset folder's); ``authors``: CITATION.cff's (default: a placeholder to fill in).
    """
    from sedkit.synth.export import credits, croissant
    from sedkit.synth.export.output import check_out, staged
    from sedkit.synth.export.source import read_source

    t0 = time.perf_counter()
    if fmt not in FORMATS:
        raise SedkitError(f"unknown export format {fmt!r}; one of {', '.join(FORMATS)}")
    if shard_size is not None and fmt not in SHARDED:
        raise SedkitError(f"--shard-size applies to {' and '.join(SHARDED)}, not {fmt}")
    shard_bytes, shard_clips = parse_shard_size(shard_size or DEFAULT_SHARD)
    out = Path(out)
    src = read_source(path)
    check_out(out, src.root)
    name = name or src.root.name
    if fmt == "zenodo" and not re.match(r"^[\w][\w.-]*$", name):
        raise SedkitError(f"--name {name!r}: letters, digits, '.', '-' and '_' only")
    module = importlib.import_module(FORMATS[fmt])
    missing = [m for m in getattr(module, "NEEDS", ()) if importlib.util.find_spec(m) is None]
    if missing:
        raise SedkitError(f"--format {fmt} needs {', '.join(missing)}: pip install 'sedkit-weak-sed[export]'")
    module.check(src)
    record = {"sedkit_version": __version__, "format": fmt, "source": src.root.name,
              "data_dir": src.data_dir.relative_to(src.root).as_posix()}
    with staged(out, force, record) as stage:
        if fmt == "zenodo":
            data_files, records = module.write(src, stage, name, authors, progress)
        else:
            data_files, records = module.write(src, stage, shard_bytes, shard_clips, progress)
            _copy_docs(src, stage, authors)
        path_ld = croissant.write(stage, records, data_files, name=name, description=credits.description(src),
                                  licence=credits.licence_field(src), cite_as=credits.bibtex(src, authors),
                                  version=DATASET_VERSION)
        status = croissant.validate(path_ld)
        if status[0] == "failed":
            raise SedkitError(f"{out / croissant.CROISSANT_FILE}: mlcroissant rejects it: {status[1]}")
        files = sorted(p.relative_to(stage).as_posix() for p in stage.rglob("*") if p.is_file())
        size = sum((stage / f).stat().st_size for f in files)
    splits = {s: sum(c.split == s for c in src.clips) for s in src.splits}
    return ExportResult(fmt, out, src.data_dir, len(src.clips), files, size, time.perf_counter() - t0, status, splits)
