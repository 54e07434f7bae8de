"""Reading audio defensively: any of wav/flac/ogg, any sample rate, any channel count.

Corrupt, empty, silent-NaN or unreadable files raise SedkitError naming the file. Odd sample rates and channel
counts are converted (mixdown to mono, resampling) instead of failing.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from sedkit import SedkitError

AUDIO_EXTS = (".wav", ".flac", ".ogg")


@dataclass(frozen=True)
class AudioInfo:
    duration_s: float
    sample_rate: int
    channels: int
    frames: int


def probe(path: str | os.PathLike, decode: bool = True) -> AudioInfo:
    """Header info of an audio file; with ``decode`` the samples are read and checked for emptiness and NaN."""
    p = Path(path)
    try:
        info = sf.info(str(p))
    except Exception as e:  # soundfile raises LibsndfileError / RuntimeError with libsndfile's message
        raise SedkitError(f"{p}: unreadable audio ({_short(e)})") from None
    if info.frames <= 0 or info.samplerate <= 0:
        raise SedkitError(f"{p}: empty audio (0 samples)")
    if decode:
        read(p, mono=False)
    return AudioInfo(info.frames / info.samplerate, int(info.samplerate), int(info.channels), int(info.frames))


def read(path: str | os.PathLike, sr: int | None = None, mono: bool = True,
         start_s: float = 0.0, stop_s: float | None = None) -> tuple[np.ndarray, int]:
    """Read float32 samples; shape (n,) when ``mono`` else (n, channels). Resamples to ``sr`` when given."""
    p = Path(path)
    try:
        with sf.SoundFile(str(p)) as f:
            native = f.samplerate
            start = int(round(start_s * native))
            stop = None if stop_s is None else int(round(stop_s * native))
            if start:
                f.seek(min(start, f.frames))
            n = -1 if stop is None else max(0, stop - start)
            x = f.read(frames=n, dtype="float32", always_2d=True)
    except SedkitError:
        raise
    except Exception as e:
        raise SedkitError(f"{p}: unreadable audio ({_short(e)})") from None
    if x.size == 0:
        raise SedkitError(f"{p}: empty audio (0 samples)")
    if not np.all(np.isfinite(x)):
        raise SedkitError(f"{p}: audio contains NaN or infinite samples")
    if mono:
        x = x.mean(axis=1)
    if sr is not None and sr != native:
        x = resample(x, native, sr)
        native = sr
    return np.ascontiguousarray(x, dtype=np.float32), int(native)


def resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """soxr's high-quality resampler (what librosa's ``soxr_hq`` calls), along the first axis."""
    if sr_in == sr_out:
        return x
    import soxr

    return np.asarray(soxr.resample(np.asarray(x, dtype=np.float32), sr_in, sr_out, quality="HQ"), dtype=np.float32)


def log10_mel(x: np.ndarray, sr: int, n_mels: int = 64, n_fft: int = 1024, hop_length: int = 512) -> np.ndarray:
    """``log10(max(mel power, 1e-10))``, (n_mels, frames), with librosa's mel filters (times 10: dB): the one numpy
    log-mel of the synth side (cards and domain statistics; training uses the torch front-ends of
    :mod:`sedkit.baselines.models.frontends`, which match librosa)."""
    import librosa

    m = librosa.feature.melspectrogram(y=np.asarray(x, np.float32), sr=sr, n_fft=n_fft, hop_length=hop_length,
                                       n_mels=n_mels, fmax=sr / 2)
    return np.log10(np.maximum(m, 1e-10))


def write(path: str | os.PathLike, x: np.ndarray, sr: int, subtype: str = "PCM_16") -> None:
    """Write samples atomically (encoded in memory, then a temporary file renamed onto ``path``)."""
    import io

    from sedkit.synth.io import atomic_write_bytes

    fmt = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG"}.get(Path(path).suffix.lower(), "WAV")
    buf = io.BytesIO()
    sf.write(buf, x, sr, subtype=subtype if fmt == "WAV" else None, format=fmt)
    atomic_write_bytes(path, buf.getvalue())


def _short(e: Exception) -> str:
    msg = str(e).strip().splitlines()
    return (msg[-1] if msg else type(e).__name__)[:200]
