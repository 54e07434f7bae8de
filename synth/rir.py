"""Banks of room impulse responses: `sedkit rir make` (simulated) and `sedkit rir import` (any folder of wavs).

A RIR bank is a folder of wav files plus ``rir_index.csv`` (path relative to the bank, sample_rate, channels,
duration_s, rt60_s, and for simulated rooms the room size and source-microphone distance). Both commands are
deterministic: the same spec and seed give byte-identical files.
"""
from __future__ import annotations

from typing import ClassVar

import warnings
from dataclasses import dataclass
from pathlib import Path

import click
import numpy as np
import pandas as pd
from tqdm import tqdm

from sedkit import SedkitError
from sedkit.specs import Dist, Spec, builtin_spec_path, load_spec, resolved, spec_hash
from sedkit.synth import audio
from sedkit.synth.io import atomic_write_json, atomic_write_text, safe_join
from sedkit.synth.rng import item_rng

INDEX_NAME = "rir_index.csv"
REJECTED_NAME = "rir_rejected.csv"


class RoomSpec(Spec):
    x: Dist
    y: Dist
    z: Dist


class RirMakeSpec(Spec):
    defaults_from: ClassVar[str] = "rir"  # every value: specs/rir.yaml
    sr: int
    room_m: RoomSpec
    rt60_s: Dist
    distance_m: Dist
    margin_m: float
    max_order: int | None


def _place(rng: np.random.Generator, dims: np.ndarray, dist: float, margin: float) -> tuple[np.ndarray, np.ndarray]:
    """A microphone and a source ``dist`` apart, both at least ``margin`` from every wall (distance shrunk if needed)."""
    lo, hi = np.full(3, margin), dims - margin
    mic = rng.uniform(lo, hi)
    for _ in range(100):
        v = rng.normal(size=3)
        src = mic + dist * v / np.linalg.norm(v)
        if np.all(src >= lo) and np.all(src <= hi):
            return mic, src
    # no direction fits: take the farthest corner direction, clipped into the room
    src = np.clip(mic + dist * np.sign(dims / 2 - mic) / np.sqrt(3), lo, hi)
    return mic, src


def shoebox_rir(sr: int, dims, rt60: float, src, mic, max_order: int | None = None, what: str = "rir") -> np.ndarray:
    """The one room simulation of sedkit: a pyroomacoustics shoebox of ``dims`` metres whose walls give ``rt60``
    seconds (inverse Sabine), one source and one microphone; the raw RIR (float64). Its image-source order is the one
    Sabine asks for, capped at ``max_order``. An impossible RT60 for the room is a one-line error naming ``what``."""
    import pyroomacoustics as pra

    dims = np.asarray(dims, dtype=float)
    try:
        e_abs, order = pra.inverse_sabine(rt60, dims)
    except ValueError as e:
        raise SedkitError(f"{what}: rt60 {rt60:.2f} s is impossible in a {dims.round(2).tolist()} m room ({e})") \
            from None
    if max_order is not None:
        order = min(order, max_order)
    room = pra.ShoeBox(dims.tolist(), fs=sr, materials=pra.Material(e_abs), max_order=int(order))
    room.add_source(np.asarray(src, dtype=float).tolist())
    room.add_microphone(np.asarray(mic, dtype=float).tolist())
    room.compute_rir()
    return np.asarray(room.rir[0][0], dtype=np.float64)


def simulate_rir(spec: RirMakeSpec, seed: int, index: int) -> tuple[np.ndarray, dict]:
    """One RIR from its own generator (seed, index): the same pair always gives the same samples."""
    rng = item_rng(seed, "rir", index)
    dims = np.array([spec.room_m.x.sample(rng), spec.room_m.y.sample(rng), spec.room_m.z.sample(rng)], float)
    dims = np.maximum(dims, 2 * spec.margin_m + 0.1)
    rt60 = float(spec.rt60_s.sample(rng))
    dist = float(spec.distance_m.sample(rng))
    mic, src = _place(rng, dims, dist, spec.margin_m)
    h = shoebox_rir(spec.sr, dims, rt60, src, mic, spec.max_order, what=f"rir {index}")
    h = (h / np.max(np.abs(h))).astype(np.float32)
    meta = dict(room_x_m=dims[0], room_y_m=dims[1], room_z_m=dims[2], target_rt60_s=rt60,
                distance_m=float(np.linalg.norm(src - mic)))
    return h, meta


def _rt60(h: np.ndarray, sr: int) -> float:
    """Measured RT60 (T30 extrapolated) or NaN when the decay is too short to fit."""
    from pyroomacoustics.experimental.rt60 import measure_rt60

    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            v = float(measure_rt60(h.astype(np.float64), fs=sr, decay_db=30))
    except Exception:  # a decay that never reaches -35 dB: unmeasurable, not an error
        return float("nan")
    return v if np.isfinite(v) and v > 0 else float("nan")


def _write_index(root: Path, rows: list[dict], rejected: list[dict]) -> Path:
    df = pd.DataFrame(rows).sort_values("path", kind="stable")
    atomic_write_text(root / INDEX_NAME, df.to_csv(index=False, float_format="%.6f"))
    atomic_write_text(root / REJECTED_NAME, pd.DataFrame(rejected, columns=["path", "reason"]).to_csv(index=False))
    return root / INDEX_NAME


def make_bank(out: str | Path, n: int, seed: int = 0, spec: RirMakeSpec | None = None) -> Path:
    """Simulate ``n`` RIRs into ``out`` (24-bit wav, peak 1) and write the index; returns the index path."""
    if n < 1:
        raise SedkitError(f"--n must be at least 1, got {n}")
    spec = spec or load_spec(RirMakeSpec, builtin_spec_path("rir"))
    out = Path(out)
    rows = []
    for i in tqdm(range(n), desc="rir make", unit="rir", disable=None):
        h, meta = simulate_rir(spec, seed, i)
        rel = f"rir_{i:05d}.wav"
        audio.write(safe_join(out, rel), h, spec.sr, subtype="PCM_24")  # float WAV has a dated PEAK chunk
        rows.append(dict(path=rel, sample_rate=spec.sr, channels=1, duration_s=len(h) / spec.sr,
                         rt60_s=_rt60(h, spec.sr), **meta))
    atomic_write_json(safe_join(out, "rir_spec.json"),
                      {"spec": resolved(spec), "spec_sha256": spec_hash(spec), "seed": seed, "n": n})
    return _write_index(out, rows, [])


def import_bank(root: str | Path) -> Path:
    """Index every wav/flac/ogg under ``root`` (recursively); unreadable files go to ``rir_rejected.csv``."""
    root = Path(root)
    if not root.is_dir():
        raise SedkitError(f"{root}: not a folder")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in audio.AUDIO_EXTS and p.is_file()
                   and not p.name.startswith("."))
    rows, rejected = [], []
    for p in tqdm(files, desc="rir import", unit="rir", disable=None):
        rel = p.relative_to(root).as_posix()
        try:
            info = audio.probe(p, decode=False)
            h, sr = audio.read(p, mono=False)
        except SedkitError as e:
            rejected.append({"path": rel, "reason": str(e)})
            continue
        h0 = h[:, 0]
        if not np.any(h0):
            rejected.append({"path": rel, "reason": "silent"})
            continue
        rows.append(dict(path=rel, sample_rate=sr, channels=info.channels, duration_s=info.duration_s,
                         rt60_s=_rt60(h0, sr)))
    if not rows:
        raise SedkitError(f"{root}: no readable RIR audio files (wav/flac/ogg) found")
    return _write_index(root, rows, rejected)


@dataclass
class RirBank:
    """RIRs of a bank at one sample rate: pre-delay trimmed (direct path at sample 0), cut, peak 1."""

    root: Path
    names: list[str]
    kernels: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.kernels)

    @property
    def max_len(self) -> int:
        return max(len(k) for k in self.kernels)

    @classmethod
    def load(cls, root: str | Path, sr: int, max_s: float = 1.0) -> "RirBank":
        root = Path(root)
        idx = root / INDEX_NAME
        if not idx.is_file():
            raise SedkitError(f"{root}: not a RIR bank (no {INDEX_NAME}); run `sedkit rir import {root}`")
        df = pd.read_csv(idx, dtype={"path": str})
        if "path" not in df.columns or df.empty:
            raise SedkitError(f"{idx}: no RIRs listed (expected a 'path' column)")
        kernels = []
        for rel in df.path:
            h, _ = audio.read(root / rel, sr=sr, mono=False)
            kernels.append(trim_rir(h[:, 0], int(round(max_s * sr))))
        return cls(root=root, names=list(df.path), kernels=kernels)


def trim_rir(h: np.ndarray, max_len: int) -> np.ndarray:
    """Start at the direct path (largest sample), cut to ``max_len`` samples, scale the direct path to 1."""
    h = np.asarray(h, dtype=np.float32)
    k = int(np.argmax(np.abs(h)))
    out = h[k:k + max(1, max_len)]
    return (out / out[0]).astype(np.float32)


@click.command("make", help="Simulate a bank of RIRs in random shoebox rooms (pyroomacoustics).\n\n"
                            "Example: sedkit rir make --out rirs --n 50")
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Output folder.")
@click.option("--n", "n", default=50, show_default=True, type=int, help="Number of RIRs.")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0))
@click.option("--spec", "spec_path", type=click.Path(dir_okay=False, path_type=Path),
              help="YAML spec (default: the built-in specs/rir.yaml).")
@click.option("--sr", type=int, help="Sample rate (overrides the spec).")
def make_cmd(out, n, seed, spec_path, sr):
    spec = load_spec(RirMakeSpec, spec_path or builtin_spec_path("rir"), {"sr": sr})
    idx = make_bank(out, n, seed, spec)
    click.echo(f"wrote {n} RIRs and {idx}")


@click.command("import", help="Index a folder of RIR audio files (e.g. FUSS's RIRs) as a RIR bank.\n\n"
                              "Example: sedkit rir import ./fuss_rirs")
@click.argument("root", type=click.Path(file_okay=False, path_type=Path))
def import_cmd(root):
    idx = import_bank(root)
    n = len(pd.read_csv(idx))
    rejected = pd.read_csv(idx.parent / REJECTED_NAME)
    click.echo(f"indexed {n} RIRs in {idx}" + (f", {len(rejected)} rejected" if len(rejected) else ""))
    if len(rejected):
        why = rejected.reason.astype(str).str.split(": ").str[-1].value_counts()
        click.echo(f"sedkit: warning: {len(rejected)} file(s) rejected ({', '.join(f'{v} {k}' for k, v in why.items())}); "
                   f"see {idx.parent / REJECTED_NAME}", err=True)
