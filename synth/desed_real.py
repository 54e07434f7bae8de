"""DESED's real (and synthetic) sets as one sedkit data dir: ``sedkit dataset import-desed DESED_ROOT --out DIR``.

DESED (Turpault et al. 2019; the DCASE task 4 data) ships audio and DESED-format TSVs; the layout below is the one
DESED_task's download scripts make. Each set found becomes one split of a data dir of the contract
(:mod:`sedkit.synth.contract`), so ``sedkit train`` and ``sedkit bench run semi --data semi=DIR`` use the real
recordings:

==============  ==============================================  =================================================
split           audio                                           labels
==============  ==============================================  =================================================
``synthetic``   ``audio/train/synthetic21_train/soundscapes``   ``metadata/train/synthetic21_train/soundscapes.tsv``
                (or ``synthetic20`` / ``synthetic``)             strong
``weak``        ``audio/train/weak``                            ``metadata/train/weak.tsv`` (weak)
``unlabel``     ``audio/train/unlabel_in_domain``               ``metadata/train/unlabel_in_domain.tsv``
``validation``  ``audio/validation/validation``                 ``metadata/validation/validation.tsv`` (strong)
``eval``        ``audio/eval/public``                           ``metadata/eval/public.tsv`` (strong)
==============  ==============================================  =================================================

The audio is not copied: ``DIR/audio/<split>/<file>`` are symbolic links to the originals (a data dir stays a few
MB). Durations come from the audio headers; the classes are those the labels use.
"""
from __future__ import annotations

import os
from pathlib import Path

import click
from tqdm.auto import tqdm

from sedkit import SedkitError

# split -> (audio folder candidates, metadata file candidates), relative to the DESED root
LAYOUT = {
    "synthetic": (["audio/train/synthetic21_train/soundscapes", "audio/train/synthetic20/soundscapes",
                   "audio/train/synthetic/soundscapes"],
                  ["metadata/train/synthetic21_train/soundscapes.tsv", "metadata/train/synthetic20/soundscapes.tsv",
                   "metadata/train/synthetic/soundscapes.tsv"]),
    "weak": (["audio/train/weak"], ["metadata/train/weak.tsv"]),
    "unlabel": (["audio/train/unlabel_in_domain"], ["metadata/train/unlabel_in_domain.tsv"]),
    "validation": (["audio/validation/validation", "audio/validation"], ["metadata/validation/validation.tsv"]),
    "eval": (["audio/eval/public", "audio/eval"], ["metadata/eval/public.tsv"]),
}


def _first(root: Path, candidates: list[str], want_dir: bool) -> Path | None:
    for c in candidates:
        p = root / c
        if (p.is_dir() if want_dir else p.is_file()):
            return p
    return None


def import_desed_real(root: str | Path, out: str | Path) -> dict[str, int]:
    """Write the data dir ``out`` from the DESED tree ``root``; returns ``{split: clips}``."""
    import soundfile as sf

    from sedkit.synth import contract

    root, out = Path(root), Path(out)
    if not root.is_dir():
        raise SedkitError(f"{root}: no such directory")
    if out.exists() and any(out.iterdir()):
        raise SedkitError(f"--out {out}: directory is not empty")
    found = {}
    for split, (audio_c, meta_c) in LAYOUT.items():
        audio, meta = _first(root, audio_c, True), _first(root, meta_c, False)
        if audio is not None and meta is not None:
            found[split] = (audio, meta)
    if not found:
        raise SedkitError(f"{root}: no DESED set found (expected e.g. audio/train/weak and metadata/train/weak.tsv)")
    tables, classes = {}, set()
    for split, (audio, meta) in found.items():
        kind, df = contract.read_metadata(meta)
        missing = sorted(set(df.filename) - {p.name for p in audio.iterdir()})
        if missing:  # DESED downloads often lack a few clips (removed from YouTube): keep what is there
            df = df[~df.filename.isin(missing)]
        tables[split] = (kind, df, audio, len(missing))
        if kind == "strong":
            classes |= set(df.event_label.dropna()) - {""}
        elif kind == "weak":
            classes |= {c for labels in df.event_labels for c in str(labels).split(",") if c}
    counts = {}
    for split, (kind, df, audio, n_missing) in tables.items():
        names = sorted(set(df.filename))
        durations = {}
        dest = contract.audio_dir(out, split)
        dest.mkdir(parents=True, exist_ok=True)
        for name in tqdm(names, desc=f"desed {split}", unit="clip", disable=None):
            src = (audio / name).resolve()
            info = sf.info(str(src))
            durations[name] = info.frames / info.samplerate
            os.symlink(src, dest / name)
        path = contract.metadata_path(out, split)
        if kind == "strong":
            contract.write_strong_tsv(path, df)
        elif kind == "weak":
            contract.write_weak_tsv(path, {n: str(lab).split(",") for n, lab in zip(df.filename, df.event_labels)})
        else:
            contract.write_unlabelled_tsv(path, names)
        contract.write_durations_tsv(contract.metadata_path(out, split, "_durations"), durations)
        counts[split] = len(names)
        if n_missing:
            click.echo(f"sedkit: warning: {split}: {n_missing} clip(s) listed in the metadata have no audio; left out",
                       err=True)
    contract.write_classes(contract.classes_path(out), sorted(classes))
    return counts


@click.command("import-desed", help="Make a data dir of DESED's real (and synthetic) sets: weak, unlabel, "
               "validation, public eval and the synthetic soundscapes, whichever the DESED tree holds. The audio is "
               "linked, not copied.\n\nExample: sedkit dataset import-desed ./DESED --out desed_real")
@click.argument("root", type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path))
def import_desed_cmd(root, out):
    counts = import_desed_real(root, out)
    click.echo(f"{out}: " + ", ".join(f"{s} {n}" for s, n in counts.items()) + " clips")
