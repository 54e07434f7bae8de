"""Zenodo format: ``<name>.tar.gz`` of the whole dataset folder, ready to upload as one record.

The archive holds ``<name>/`` with every file the manifest lists (checked against its sha256 while packing),
``manifest.json``, and three files made for it: ``CITATION.cff`` (the dataset, crediting sedkit and Scaper),
``LICENSES.md`` (the sources' licences, from ATTRIBUTION.md) and ``SHA256SUMS`` (``sha256sum -c`` in ``<name>/``
checks every file). Members are sorted, with mtime 0, uid/gid 0 and mode 0644, and the gzip header carries no
time or name: the same folder gives a byte-identical archive. ``CITATION.cff`` is also written beside the archive
(for the record's metadata).
"""
from __future__ import annotations

import gzip
import tarfile
from pathlib import Path

from sedkit import SedkitError
from sedkit.synth.dataset import MANIFEST
from sedkit.synth.export import credits
from sedkit.synth.export.shards import add_bytes
from sedkit.synth.io import atomic_path, atomic_write_text, sha256_bytes

SUMS_FILE = "SHA256SUMS"
MADE = (credits.CITATION_FILE, credits.LICENCE_FILE, SUMS_FILE)


def check(src) -> None:
    clash = sorted(set(MADE) & set(src.manifest.get("files", {})))
    if clash:
        raise SedkitError(f"{src.root}: already holds {clash[0]}, which the zenodo export writes")
    for rel in src.manifest.get("files", {}):
        if not (src.root / rel).is_file():
            raise SedkitError(f"{src.root / rel}: missing (listed in {src.root / MANIFEST})")


def members(src, authors: list[str] | None) -> list[tuple[str, bytes | None]]:
    """``(path in the folder, bytes made for the archive or None to read the file)``, sorted, SHA256SUMS last."""
    made = {credits.CITATION_FILE: credits.citation_cff(src, authors).encode(),
            credits.LICENCE_FILE: credits.licence_text(src).encode()}
    names = sorted({*src.manifest.get("files", {}), MANIFEST, *made})
    return [(n, made.get(n)) for n in names]


def write(src, stage: Path, name: str, authors: list[str] | None, progress: bool) -> tuple[list, list]:
    from tqdm.auto import tqdm

    listed = src.manifest.get("files", {})
    clips = {c.rel: c for c in src.clips}
    records, sums = {}, []
    archive = f"{name}.tar.gz"
    with atomic_path(stage / archive) as tmp, open(tmp, "wb") as raw, \
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for rel, data in tqdm(members(src, authors), desc="export zenodo", unit="file",
                              disable=None if progress else True):
            if rel in clips:
                data, sr, duration = src.read_audio(clips[rel])
                records[rel] = clips[rel].record(sr, duration)
            elif data is None:
                data = (src.root / rel).read_bytes()
                if rel in listed and sha256_bytes(data) != listed[rel]["sha256"]:
                    raise SedkitError(f"{src.root / rel}: sha256 differs from {src.root / MANIFEST}; "
                                      "run sedkit dataset check")
            sums.append(f"{sha256_bytes(data)}  {rel}\n")
            add_bytes(tar, f"{name}/{rel}", data)
        add_bytes(tar, f"{name}/{SUMS_FILE}", "".join(sums).encode())
    atomic_write_text(stage / credits.CITATION_FILE, credits.citation_cff(src, authors))
    return [archive], [records[c.rel] for c in src.clips]
