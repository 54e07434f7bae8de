"""Tiny synthetic data dirs for the tests (not a dataset generator).

Each clip is low-level noise plus, for each of its classes, a tone burst at that class's frequency, written through
the dataset-folder contract (:mod:`sedkit.synth.contract`): ``audio/<split>/*.wav``, ``metadata/<split>.tsv`` (strong
or weak), ``metadata/<split>_strong.tsv`` beside weak ones, ``<split>_durations.tsv`` and ``classes.txt``.
Everything is drawn from ``item_rng(seed, split, index)``, so the same arguments give the same files.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from sedkit.synth import audio as audio_io
from sedkit.synth import contract
from sedkit.synth.rng import item_rng


def make_toy_datadir(root: str | Path, classes=("a", "b", "c"), per_class: dict | None = None, sr: int = 8000,
                     duration_s: float | tuple[float, float] = 1.0, labels: str = "weak", events_per_clip: int = 1,
                     event_s: tuple[float, float] = (0.3, 0.6), seed: int = 0, snr_db: float = 20.0) -> Path:
    """Write a data dir; ``per_class`` maps split -> clips per class (default train 4, validation 2, eval 2).

    ``duration_s`` may be a (min, max) range for variable-length clips; ``labels`` is "weak" or "strong";
    with ``events_per_clip > 1`` clip k holds classes k, k+1, ... (multi-label).
    """
    root = Path(root)
    per_class = per_class or {"train": 4, "validation": 2, "eval": 2}
    classes = list(classes)
    freqs = {c: 300.0 * (k + 1) * 1.5 ** k for k, c in enumerate(classes)}
    contract.write_classes(contract.classes_path(root), classes)
    for split, n in per_class.items():
        strong, weak, durs = [], [], []
        for i in range(n * len(classes)):
            rng = item_rng(seed, split, i)
            dur = duration_s if np.isscalar(duration_s) else float(rng.uniform(*duration_s))
            dur = round(float(dur), 3)
            t = np.arange(int(round(dur * sr))) / sr
            x = rng.standard_normal(len(t)).astype(np.float32) * 10 ** (-snr_db / 20) * 0.3
            name = f"{split}_{i:04d}.wav"
            labs = [classes[(i + j) % len(classes)] for j in range(events_per_clip)]
            for lab in labs:
                length = min(float(rng.uniform(*event_s)), dur)
                on = float(rng.uniform(0, dur - length))
                m = (t >= on) & (t < on + length)
                x[m] += 0.3 * np.sin(2 * np.pi * freqs[lab] * t[m]).astype(np.float32)
                strong.append((name, on, on + length, lab))
            audio_io.write(root / "audio" / split / name, x, sr)
            weak.append((name, ",".join(sorted(set(labs)))))
            durs.append((name, dur))
        strong_rows = [{"filename": n, "onset": a, "offset": b, "event_label": lab} for n, a, b, lab in strong]
        if labels == "strong":
            contract.write_strong_tsv(contract.metadata_path(root, split), strong_rows)
        else:
            contract.write_weak_tsv(contract.metadata_path(root, split), {n: lab.split(",") for n, lab in weak})
            contract.write_strong_tsv(contract.metadata_path(root, split, "_strong"), strong_rows)
        contract.write_durations_tsv(contract.metadata_path(root, split, "_durations"), dict(durs))
    return root
