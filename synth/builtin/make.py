"""Writing the built-in soundbank: the plan (which file, which group, which split), the per-file worker, the index.

Every file's content depends only on (seed, its label, split and number) and its group's parameters, which
depend only on (seed, label, group number): the bank is byte-identical whatever the worker count.
"""
from __future__ import annotations

from typing import ClassVar

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sedkit import SedkitError
from sedkit.specs import Spec, builtin_spec_path, load_spec, resolved, spec_hash
from sedkit.synth import audio
from sedkit.synth.builtin import backgrounds, events
from sedkit.synth.io import safe_join
from sedkit.synth.rng import item_rng
from sedkit.synth.runner import Item, Job
from sedkit.synth.soundbank.index import SPLITS, write_index

KIND = "builtin-soundbank"
Triple = tuple[int, int, int]


class ScaleSpec(Spec):
    foregrounds: dict[str, Triple]
    groups: Triple
    backgrounds: Triple
    background_groups: Triple
    max_duration_s: float


class BankSpec(Spec):
    defaults_from: ClassVar[str] = "builtin"  # every value: specs/builtin.yaml
    sr: int
    level_db: tuple[float, float]
    level_jitter_db: float
    background_level_db: tuple[float, float]
    background_s: tuple[float, float]
    durations: dict[str, tuple[float, float, float, float]]
    scales: dict[str, ScaleSpec]


def load_bank_spec(path: str | Path | None = None) -> BankSpec:
    spec = load_spec(BankSpec, path or builtin_spec_path("builtin"))
    where = path or "specs/builtin.yaml"
    for name, sc in spec.scales.items():
        unknown = sorted(set(sc.foregrounds) - set(events.CLASSES))
        if unknown:
            raise SedkitError(f"{where}: scales.{name}.foregrounds: unknown class(es) {unknown}")
        for i, s in enumerate(SPLITS):
            if any(c[i] > 0 for c in sc.foregrounds.values()) and sc.groups[i] < 1:
                raise SedkitError(f"{where}: scales.{name}.groups: {s} has files but no group")
    missing = sorted(set(events.CLASSES) - set(spec.durations))
    if missing:
        raise SedkitError(f"{where}: durations: missing class(es) {missing}")
    return spec


@dataclass(frozen=True)
class Entry:
    """One planned file."""
    path: str
    role: str
    label: str
    split: str
    group: int  # group number within the label
    number: int  # file number within (label, split)


def _assign(counts: Triple, groups: Triple) -> list[tuple[str, int, int]]:
    """(split, group number, file number) for each file; groups are numbered train first, then validation, eval."""
    out = []
    first = 0
    for split, n, g in zip(SPLITS, counts, groups):
        for k in range(n):
            out.append((split, first + k % g, k))
        first += g
    return out


def plan(spec: BankSpec, scale: str) -> list[Entry]:
    if scale not in spec.scales:
        raise SedkitError(f"--scale {scale!r}: unknown scale; choose one of {', '.join(sorted(spec.scales))}")
    sc = spec.scales[scale]
    out = []
    for label in events.CLASSES:
        for split, g, k in _assign(sc.foregrounds.get(label, (0, 0, 0)), sc.groups):
            path = f"{split}/foreground/{label}/{label}_g{g:02d}_{k:04d}.wav"
            out.append(Entry(path, "foreground", label, split, g, k))
    for fam in backgrounds.FAMILIES:
        for split, g, k in _assign(sc.backgrounds, sc.background_groups):
            out.append(Entry(f"{split}/background/{fam}/{fam}_g{g:02d}_{k:04d}.wav", "background", fam, split, g, k))
    return out


def group_of(seed: int, spec: BankSpec, e: Entry) -> dict:
    fams = events.FAMILIES if e.role == "foreground" else backgrounds.FAMILIES
    levels = spec.level_db if e.role == "foreground" else spec.background_level_db
    return events.group_params(item_rng(seed, "builtin", "group", e.role, e.label, e.group), fams[e.label][0], levels)


def duration_of(rng: np.random.Generator, spec: BankSpec, scale: str, e: Entry) -> float:
    if e.role == "background":
        return float(rng.uniform(*spec.background_s))
    med, sigma, lo, hi = spec.durations[e.label]
    hi = min(hi, spec.scales[scale].max_duration_s)
    for _ in range(100):
        d = float(med * np.exp(sigma * rng.standard_normal()))
        if lo <= d <= hi:
            return d
    return float(np.clip(med, lo, hi))


@dataclass(frozen=True)
class Context:
    out: Path
    seed: int
    scale: str
    spec: BankSpec
    entries: tuple[Entry, ...]


def make_item(ctx: Context, item: Item) -> dict:
    """Render and write one planned file; returns its index row as metadata."""
    e = ctx.entries[item.index]
    sr = ctx.spec.sr
    rng = item_rng(ctx.seed, "builtin", e.role, e.label, e.split, e.number)
    n = int(round(duration_of(rng, ctx.spec, ctx.scale, e) * sr))
    fams = events.FAMILIES if e.role == "foreground" else backgrounds.FAMILIES
    x = events.render_file(rng, fams[e.label][1], n, sr, group_of(ctx.seed, ctx.spec, e), ctx.spec.level_jitter_db)
    audio.write(safe_join(ctx.out, e.path), x, sr)
    row = dict(path=e.path, role=e.role, label=e.label, split=e.split, duration_s=n / sr, sample_rate=sr,
               channels=1, source_group=f"{e.label}_g{e.group:02d}")
    return {"files": [e.path], "meta": row}


def make_bank(out: str | Path, seed: int = 0, scale: str = "paper", workers: int = 1, resume: bool = False,
              spec_path: str | Path | None = None) -> Path:
    """Write the built-in bank into ``out`` (files, index, card, manifest); returns ``out``."""
    from sedkit.synth.builtin.card import write_card

    out = Path(out)
    spec = load_bank_spec(spec_path)
    entries = plan(spec, scale)
    res = resolved(spec)
    res["scale"] = scale
    job = Job(out, KIND, res, spec_hash(res), seed, resume=resume, workers=workers)
    items = [Item(e.split, i) for i, e in enumerate(entries)]
    ctx = Context(out, seed, scale, spec, tuple(entries))
    done = job.run(make_item, ctx, items, desc=f"builtin bank ({scale})", chunk=4)
    rows = [done[it.key]["meta"] for it in items]
    write_index(out, rows)
    write_card(out, seed, scale)
    job.finish()
    return out

