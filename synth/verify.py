"""``sedkit dataset verify DIR [--all]``: make clips again from their JAMS and the soundbank, and compare bytes.

For a researcher who received a dataset and holds its soundbank: each clip is mixed again by Scaper from its JAMS
with the bank the manifest names (its recorded path, or the built-in bank rebuilt from the sedkit version), written
the way the generator wrote it, and its sha256 compared with the clip received (and the manifest's). A sample of
clips (``--sample``, seeded) or all of them. Every clip that differs is named; the exit code is 1.

Semi datasets: the target-domain splits pass through the recorded-like channel after mixing, which the JAMS do not
describe, so only their source-domain split (``synthetic``) is regenerated.
"""
from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import click
import numpy as np
from tqdm.auto import tqdm

from sedkit import SedkitError

SEMI_SOURCE_SPLITS = ("synthetic",)


def _bank_of(root: Path, man: dict):
    from sedkit.synth.builtin import BUILTIN_NAME, default_bank
    from sedkit.synth.soundbank.index import load_soundbank

    src = man.get("soundbank") or {}
    path = src.get("path")
    if path and Path(path).is_dir():
        return load_soundbank(path, check_files=True)
    m = BUILTIN_NAME.match(Path(path).name if path else str((man.get("spec") or {}).get("soundbank", "")))
    if m:
        from sedkit import __version__

        if m["version"] != __version__:
            raise SedkitError(f"{root}: made from built-in bank v{m['version']}, not this sedkit's ({__version__})")
        return load_soundbank(default_bank(seed=int(m["seed"]), scale=m["scale"]))
    raise SedkitError(f"{root}: the soundbank it was made from ({path or 'not recorded'}) is not here; "
                      "verify needs it")


def clips_with_jams(root: Path, man: dict) -> list[tuple[str, Path]]:
    """``(audio path relative to root, its JAMS)`` for every clip the manifest lists that has a JAMS."""
    files = man.get("files", {})
    out = []
    for jams in sorted(root.rglob("*.jams")):
        rel = jams.relative_to(root)
        if ".sedkit" in rel.parts or "jams" not in rel.parts:
            continue
        i = rel.parts.index("jams")
        audio = Path(*rel.parts[:i], "audio", *rel.parts[i + 1:]).with_suffix(".wav").as_posix()
        split = rel.parts[i + 1] if len(rel.parts) > i + 2 else ""
        if man.get("kind") == "semi" and split not in SEMI_SOURCE_SPLITS:
            continue
        if audio in files:
            out.append((audio, jams))
    return out


def verify_dataset(root: str | Path, all_clips: bool = False, sample: int = 20, seed: int = 0) -> tuple[int, list]:
    """``(clips checked, [(clip, why)])`` for the clips that differ."""
    from sedkit.synth.dataset import read_manifest
    from sedkit.synth.scaper_mix import ScaperView, regenerate

    root = Path(root)
    man = read_manifest(root)
    clips = clips_with_jams(root, man)
    if not clips:
        raise SedkitError(f"{root}: no clip with a JAMS to regenerate")
    if not all_clips and len(clips) > sample:
        pick = np.random.default_rng(seed).choice(len(clips), size=sample, replace=False)
        clips = [clips[i] for i in sorted(pick)]
    bank = _bank_of(root, man)
    sr = int(((man.get("spec") or {}).get("spec") or {}).get("sr", 0)) or None
    bad = []
    with tempfile.TemporaryDirectory(prefix="sedkit-verify-") as tmp:
        view = ScaperView(bank, Path(tmp) / "view", sr=sr)
        for rel, jams in tqdm(clips, desc="verify", unit="clip", disable=None):
            out = Path(tmp) / "clip.wav"
            regenerate(jams, view, out)
            got = hashlib.sha256(out.read_bytes()).hexdigest()
            here = root / rel
            have = hashlib.sha256(here.read_bytes()).hexdigest() if here.is_file() else None
            if have is None:
                bad.append((rel, "missing"))
            elif got != have:
                bad.append((rel, "the clip differs from the one its JAMS and the soundbank make"))
            elif got != man["files"][rel]["sha256"]:
                bad.append((rel, "the manifest's sha256 differs"))
    return len(clips), bad


@click.command("verify", help="Make clips again from their JAMS with the soundbank the manifest names and compare "
               "their bytes with the clips received: a sample (--sample, seeded) or --all. Names every clip that "
               "differs (exit 1).\n\nExample: sedkit dataset verify strong_small --all")
@click.argument("root", type=click.Path(path_type=Path))
@click.option("--all", "all_clips", is_flag=True, help="Every clip, not a sample.")
@click.option("--sample", default=20, show_default=True, type=click.IntRange(min=1), help="Clips to regenerate.")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0), help="Seed of the sample.")
def verify_cmd(root, all_clips, sample, seed):
    n, bad = verify_dataset(root, all_clips, sample, seed)
    for rel, why in bad:
        click.echo(f"{rel}: {why}")
    click.echo(f"{root}: {n} clip(s) regenerated, " + (f"{len(bad)} differ" if bad else "all identical"))
    if bad:
        raise SystemExit(1)

