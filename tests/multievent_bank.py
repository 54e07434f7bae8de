"""A tiny soundbank in the index contract, for the strong / semi / remix tests (builds in well under a second)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from sedkit.synth.soundbank.index import write_index

CLASSES = {"Alarm_bell_ringing": 880.0, "Dog": 420.0, "Speech": 250.0, "Frying": None}
FAMILIES = {"room_tone": 1.0, "street": 0.0, "rain": -1.0, "hvac": 0.5}  # spectral tilt exponent of the noise
SR = 16000


def _event(rng, freq, dur):
    t = np.arange(int(dur * SR)) / SR
    env = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.02)
    if freq is None:
        x = rng.standard_normal(t.size) * 0.2
    else:
        x = 0.4 * np.sin(2 * np.pi * freq * (1 + 0.02 * rng.standard_normal()) * t)
    return (x * env).astype(np.float32)


def _noise(rng, tilt, dur):
    n = int(dur * SR)
    spec = rng.standard_normal(n // 2 + 1) + 1j * rng.standard_normal(n // 2 + 1)
    f = np.maximum(np.fft.rfftfreq(n, 1 / SR), 20.0)
    x = np.fft.irfft(spec / f ** (tilt / 2), n)
    return (0.1 * x / np.std(x)).astype(np.float32)


def make_bank(root: Path, per_split=(("train", 4), ("validation", 2), ("eval", 2)), seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    rows = []
    for split, n in per_split:
        for lab, freq in CLASSES.items():
            for i in range(n):
                rel = f"foreground/{lab}/{split}_{i}.wav"
                dur = float(rng.uniform(0.4, 3.0)) if i else 11.0 if lab == "Frying" else 0.3
                dur = round(dur * SR) / SR
                _write(root / rel, _event(rng, freq, dur))
                rows.append(_row(rel, "foreground", lab, split, dur, f"{lab}_{split}_{i % 2}"))
        for fam, tilt in FAMILIES.items():
            rel = f"background/{fam}/{split}_0.wav"
            _write(root / rel, _noise(rng, tilt, 10.5))
            rows.append(_row(rel, "background", fam, split, 10.5, f"{fam}_{split}"))
    write_index(root, rows)
    return root


def _write(path: Path, x):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), x, SR)


def _row(path, role, label, split, dur, group):
    return {"path": path, "role": role, "label": label, "split": split, "duration_s": dur, "sample_rate": SR,
            "channels": 1, "source_group": group}
