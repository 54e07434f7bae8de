"""``sedkit dataset info DIR``: a dataset's statistics on the terminal, read through the contract.

For every data dir in the folder (the dataset itself, and nested ones such as WAA's ``segments/<length>/`` or
remix's ``snr_<x>/``): clips and hours per split, events or clips per class and split, polyphony (strong
splits), and, where the dataset has them, the SNRs of its JAMS and the label weakness of its segments.
"""
from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np
import pandas as pd

from sedkit import SedkitError


def data_dirs(root: Path) -> list[Path]:
    """The data dirs under ``root`` (folders holding ``metadata/classes.txt``), hidden state left out."""
    found = sorted({p.parent.parent for p in root.rglob("metadata/classes.txt") if ".sedkit" not in p.parts})
    if not found:
        raise SedkitError(f"{root}: no data dir (no metadata/classes.txt) in it")
    return found


def _split_lines(d: Path, root: Path) -> list[str]:
    from sedkit.synth import contract
    from sedkit.synth.polyphony import max_polyphony

    classes = contract.read_classes(contract.classes_path(d))
    rel = d.relative_to(root).as_posix() if d != root else "."
    lines = [f"data dir {rel}: {len(classes)} classes"]
    per_class, total = {}, []
    for tsv in sorted((d / "metadata").glob("*.tsv")):
        split = tsv.stem
        if split.endswith(("_durations", "_strong", "_weakness")):
            continue
        kind, df = contract.read_metadata(tsv)
        durs_p = contract.metadata_path(d, split, "_durations")
        durs = contract.read_durations(durs_p) if durs_p.is_file() else {}
        clips = sorted(set(df.filename))
        hours = sum(durs.get(c, 0.0) for c in clips) / 3600
        text = f"  {split:<12} {kind:<10} {len(clips):>7} clips {hours:>8.2f} h"
        if kind == "strong":
            ev = contract.strong_events(tsv, df)
            poly = [max_polyphony(ev.get(c, [])) for c in clips]
            n_events = df.event_label.fillna("").astype(str).ne("").sum()
            text += f"  {n_events} events, polyphony mean {np.mean(poly):.2f} max {max(poly, default=0)}"
            counts = df[df.event_label.fillna("").astype(str).ne("")].groupby("event_label").size()
        elif kind == "weak":
            counts = pd.Series([lab for labs in contract.weak_labels(df).values() for lab in labs]).value_counts()
        else:
            counts = pd.Series(dtype=int)
        per_class[split] = counts
        total.append(text)
    lines += total
    if any(len(c) for c in per_class.values()):
        table = pd.DataFrame(per_class).reindex(classes).fillna(0).astype(int)
        lines.append("  per class (events in strong splits, clips in weak ones):")
        lines += ["    " + row for row in table.to_string().splitlines()]
    weak = sorted((d / "metadata").glob("*_weakness.tsv"))
    if weak:
        w = pd.concat([pd.read_csv(p, sep="\t") for p in weak])
        lines.append(f"  label weakness (share of the segment the event fills): mean {w.weakness.mean():.3f}, "
                     f"min {w.weakness.min():.3f}")
    return lines


def _snr_line(root: Path) -> str | None:
    snrs = []
    for p in sorted((root / "jams").rglob("*.jams")) if (root / "jams").is_dir() else []:
        doc = json.loads(p.read_text())
        for ann in doc.get("annotations", []):
            if ann.get("namespace") != "scaper":
                continue
            snrs += [float(o["value"]["snr"]) for o in ann.get("data", []) if o["value"].get("role") == "foreground"]
    if not snrs:
        return None
    return (f"SNR of the {len(snrs)} foreground events (JAMS): mean {np.mean(snrs):.1f} dB, min {min(snrs):.1f}, "
            f"max {max(snrs):.1f}")


def dataset_info(root: str | Path) -> str:
    """The statistics of the dataset folder ``root`` as text."""
    root = Path(root)
    if not root.is_dir():
        raise SedkitError(f"{root}: no such directory")
    lines = []
    man = root / "manifest.json"
    if man.is_file():
        m = json.loads(man.read_text())
        bank = (m.get("soundbank") or {}).get("path", "(not recorded)")
        lines.append(f"{root}: sedkit {m.get('kind')} dataset, seed {m.get('seed')}, {len(m.get('files', {}))} files, "
                     f"sedkit {m.get('sedkit_version')}, soundbank {bank}")
    for d in data_dirs(root):
        lines += _split_lines(d, root)
    snr = _snr_line(root)
    if snr:
        lines.append(snr)
    return "\n".join(lines)


@click.command("info", help="A dataset's statistics: clips and hours per split, events per class and split, "
               "polyphony, SNRs and label weakness, for every data dir in it.\n\nExample: sedkit dataset info waa_1s")
@click.argument("root", type=click.Path(path_type=Path))
def info_cmd(root):
    click.echo(dataset_info(root))
