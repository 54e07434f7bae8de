"""Shared fixtures: small corpora the tests generate themselves."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

os.environ.setdefault("MPLBACKEND", "Agg")
# the sedkit cache (built-in banks, feature cache) of this test session: never the user's
os.environ["SEDKIT_CACHE"] = tempfile.mkdtemp(prefix="sedkit-test-cache-")


def tone(sr: int, dur: float, freq: float, channels: int = 1, seed: int = 0) -> np.ndarray:
    t = np.arange(int(sr * dur)) / sr
    rng = np.random.default_rng(seed)
    x = 0.3 * np.sin(2 * np.pi * freq * t) + 0.01 * rng.standard_normal(t.size)
    x = x.astype(np.float32)
    return np.stack([x] * channels, axis=1) if channels > 1 else x


def write(path: Path, x: np.ndarray, sr: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), x, sr)
    return path


@pytest.fixture
def folder_corpus(tmp_path) -> Path:
    """A labelled folder: 3 classes in wav/flac/ogg, mono/stereo, 8-48 kHz, a corrupt file, an empty class."""
    root = tmp_path / "corpus"
    specs = [  # (label, name, ext, sr, channels)
        ("dog", "alice__d1", "wav", 8000, 1), ("dog", "alice__d2", "flac", 16000, 2),
        ("dog", "bob__d3", "ogg", 22050, 1), ("dog", "carol__d4", "wav", 48000, 2),
        ("cat", "alice__c1", "wav", 44100, 1), ("cat", "dave__c2", "flac", 32000, 1),
        ("cat", "erin__c3", "ogg", 48000, 2),
        ("bell", "frank__b1", "wav", 16000, 1), ("bell", "gina__b2", "wav", 16000, 1),
    ]
    for i, (label, name, ext, sr, ch) in enumerate(specs):
        write(root / "foreground" / label / f"{name}.{ext}", tone(sr, 0.5 + 0.1 * i, 300 + 50 * i, ch, i), sr)
    for i in range(3):
        write(root / "background" / "room" / f"room{i}__bg.wav", tone(16000, 3.0, 60, 1, 10 + i), 16000)
    (root / "foreground" / "dog" / "broken__x.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk")
    (root / "foreground" / "empty_class").mkdir(parents=True)
    return root


def make_tiny_bank(root: Path, sr: int = 16000, classes=("bell", "dog", "hum"), per_split: int = 2) -> Path:
    """A soundbank in the index contract: per class and split `per_split` foregrounds (groups distinct),
    and 2 backgrounds of 12 s per split. Durations span short (0.15 s) to long (12 s) events."""
    from sedkit.synth.soundbank.index import write_index

    rows = []
    durs = [0.15, 0.8, 2.5, 12.0]
    for s_i, split in enumerate(("train", "validation", "eval")):
        for c_i, c in enumerate(classes):
            for k in range(per_split):
                rel = f"fg/{c}/{split}_{k}.wav"
                d = durs[(k + c_i + s_i) % len(durs)]
                write(root / rel, tone(sr, d, 300 * (c_i + 1) + 20 * k, seed=k), sr)
                rows.append(dict(path=rel, role="foreground", label=c, split=split, duration_s=d, sample_rate=sr,
                                 channels=1, source_group=f"{c}_{split}_{k}"))
        for k in range(2):
            rel = f"bg/room/{split}_{k}.wav"
            rng = np.random.default_rng(100 + 10 * s_i + k)
            write(root / rel, (0.05 * rng.standard_normal(int(sr * 12))).astype(np.float32), sr)
            rows.append(dict(path=rel, role="background", label="room", split=split, duration_s=12.0,
                             sample_rate=sr, channels=1, source_group=f"room_{split}_{k}"))
    write_index(root, rows)
    return root


@pytest.fixture
def tiny_bank(tmp_path) -> Path:
    return make_tiny_bank(tmp_path / "bank")
