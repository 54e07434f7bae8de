"""A dataset folder's manifest, and `sedkit dataset check`.

Beside the data dirs of the contract (:mod:`sedkit.synth.contract`: ``audio/``, ``metadata/``), a dataset folder
holds::

    jams/<split>/*.jams              as written by Scaper (regenerate any clip from it)
    manifest.json                    versions, resolved spec + sha256, seed, every file's sha256 + size
    README.md                        the dataset card, PNGs beside it
"""
from __future__ import annotations

import functools
import json
import os
from importlib import metadata as importlib_metadata
from pathlib import Path

import click

from sedkit import SedkitError, __version__, first_line
from sedkit.synth.contract import read_metadata
from sedkit.synth.io import atomic_write_json, sha256_file

MANIFEST = "manifest.json"
STATE_DIR = ".sedkit"  # resume journal; not part of the dataset
TRACKED_PACKAGES = ["numpy", "scipy", "soundfile", "scaper", "jams", "librosa", "pyroomacoustics",
                    "audiomentations", "torch", "pandas"]


# ---------------------------------------------------------------- manifest

def package_versions() -> dict[str, str]:
    """The versions of :data:`TRACKED_PACKAGES` installed (looked up once per process: tens of milliseconds)."""
    return dict(_package_versions())


@functools.lru_cache(maxsize=1)
def _package_versions() -> dict[str, str]:
    out = {}
    for p in TRACKED_PACKAGES:
        try:
            out[p] = importlib_metadata.version(p)
        except importlib_metadata.PackageNotFoundError:
            pass
    return out


def list_files(root: Path) -> list[str]:
    """Every dataset file under root (posix relative paths), excluding the manifest and hidden state."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for f in filenames:
            if f.startswith(".") or (Path(dirpath) == root and f == MANIFEST):
                continue
            out.append((Path(dirpath) / f).relative_to(root).as_posix())
    return sorted(out)


def hidden_leftovers(root: Path) -> list[Path]:
    """Hidden files and folders that are not sedkit's state folder, and temporary files anywhere."""
    from sedkit.synth.io import leftover_temps

    out = set(leftover_temps(root))
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        if STATE_DIR in here.relative_to(root).parts:
            continue
        for n in dirnames + filenames:
            if n.startswith(".") and not (here == root and n == STATE_DIR):
                out.add(here / n)
    return sorted(out)


def write_manifest(root: str | os.PathLike, kind: str, spec: dict, spec_sha256: str, seed: int,
                   known: dict[str, str] | None = None, extra: dict | None = None) -> dict:
    """Hash every file under ``root`` (reusing ``known`` sha256s by relative path) and write manifest.json."""
    root = Path(root)
    known = known or {}
    files = {}
    for rel in list_files(root):
        p = root / rel
        files[rel] = {"sha256": known.get(rel) or sha256_file(p), "bytes": p.stat().st_size}
    man = {"sedkit_version": __version__, "kind": kind, "packages": package_versions(), "spec": spec,
           "spec_sha256": spec_sha256, "seed": seed, **(extra or {}), "files": files}
    atomic_write_json(root / MANIFEST, man)
    return man


def read_manifest(root: str | os.PathLike) -> dict:
    p = Path(root) / MANIFEST
    try:
        return json.loads(p.read_text())
    except FileNotFoundError:
        raise SedkitError(f"{root}: no {MANIFEST}; not a sedkit dataset folder") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise SedkitError(f"{p}: corrupt manifest ({e})") from None


# ---------------------------------------------------------------- checking

def _audio_dir_for(meta_dir: Path, stem: str) -> Path | None:
    base = meta_dir.parent / "audio"
    parts = stem.split("_")
    for n in range(len(parts), 0, -1):
        cand = base / "_".join(parts[:n])
        if cand.is_dir():
            return cand
    return None


def check_dataset(root: str | os.PathLike, tol_s: float = 0.002) -> list[str]:
    """All problems found in a dataset folder; empty means it checks out."""
    import soundfile as sf

    root = Path(root)
    problems = []
    man = read_manifest(root)
    listed = man.get("files", {})
    for rel, info in sorted(listed.items()):
        p = root / rel
        if not p.is_file():
            problems.append(f"{rel}: missing (listed in manifest)")
        elif p.stat().st_size != info.get("bytes"):
            problems.append(f"{rel}: size {p.stat().st_size} != manifest {info.get('bytes')}")
        elif sha256_file(p) != info.get("sha256"):
            problems.append(f"{rel}: sha256 differs from manifest")
    for rel in list_files(root):
        if rel not in listed:
            problems.append(f"{rel}: not listed in manifest")
    for p in hidden_leftovers(root):
        problems.append(f"{p.relative_to(root).as_posix()}: hidden leftover (a killed run's temporary file?); "
                        "sedkit synth ... --resume removes it")

    for meta_dir in sorted(p for p in root.rglob("metadata") if p.is_dir() and ".sedkit" not in p.parts):
        durs: dict[tuple[str, str], float] = {}
        for tsv in sorted(meta_dir.glob("*.tsv")):
            rel_tsv = tsv.relative_to(root).as_posix()
            adir = _audio_dir_for(meta_dir, tsv.stem)
            if adir is None:
                problems.append(f"{rel_tsv}: no matching audio/<split>/ folder")
                continue
            try:
                kind, df = read_metadata(tsv)
            except Exception as e:  # noqa: BLE001 - report, don't crash
                problems.append(f"{rel_tsv}: unreadable ({first_line(e)})")
                continue
            for fname in sorted(set(df["filename"])):
                if not (adir / fname).is_file():
                    problems.append(f"{rel_tsv}: {fname} does not exist in {adir.relative_to(root).as_posix()}/")
            if kind != "strong":
                continue
            for r in df.itertuples(index=False):
                f = adir / r.filename
                if not f.is_file():
                    continue
                key = (str(adir), r.filename)
                if key not in durs:
                    try:
                        durs[key] = sf.info(str(f)).duration
                    except Exception:  # noqa: BLE001 - a corrupt file is a finding, not a crash
                        durs[key] = float("nan")
                        problems.append(f"{f.relative_to(root).as_posix()}: unreadable audio")
                if durs[key] != durs[key]:
                    continue
                if not (r.onset >= -tol_s and r.offset <= durs[key] + tol_s and r.onset < r.offset):
                    problems.append(f"{rel_tsv}: event {r.event_label} [{r.onset:.3f}, {r.offset:.3f}] of "
                                    f"{r.filename} lies outside its clip (0, {durs[key]:.3f})")
    return problems


@click.command("check", help="Verify a dataset folder: manifest sha256s, and metadata against the audio.\n\n"
                             "Exit code 0 when everything checks out, 1 with one line per mismatch otherwise.\n\n"
                             "Example: sedkit dataset check ./waa_1s")
@click.argument("root", type=click.Path(file_okay=False, path_type=Path))
def check_cmd(root: Path):
    if not root.is_dir():
        raise SedkitError(f"{root}: no such directory")
    problems = check_dataset(root)
    for p in problems:
        click.echo(p)
    if problems:
        click.echo(f"{root}: {len(problems)} problem(s)", err=True)
        click.get_current_context().exit(1)
    n = len(read_manifest(root).get("files", {}))
    click.echo(f"{root}: OK ({n} files verified)")
