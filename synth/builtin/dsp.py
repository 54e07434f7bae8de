"""Signal building blocks of the built-in soundbank: noise colouring, envelopes, oscillators, filters.

Everything is vectorised numpy on whole signals (float64 inside, float32 out of the public generators); every
random draw comes from the ``rng`` argument.
"""
from __future__ import annotations

import numpy as np
from scipy import fft as sfft
from scipy import signal


def freqs_of(n: int, sr: int) -> np.ndarray:
    return sfft.rfftfreq(n, 1.0 / sr)


def gain_curve(shape_db, n_fft: int, sr: int) -> np.ndarray:
    """Linear gains of a smooth dB curve at the rfft bins of ``n_fft``: evaluated on a dense log grid, interpolated."""
    grid = np.concatenate([[0.0], np.geomspace(5.0, sr / 2, 768)])
    return np.interp(freqs_of(n_fft, sr), grid, 10 ** (shape_db(grid) / 20))


def bumps_db(f: np.ndarray, centres, widths_oct, gains_db) -> np.ndarray:
    """Sum of Gaussian bumps on a log-frequency axis (dB), e.g. formants, resonances, EQ peaks."""
    lf = np.log2(np.maximum(f, 1.0))
    out = np.zeros_like(f)
    for c, w, g in zip(np.atleast_1d(centres), np.atleast_1d(widths_oct), np.atleast_1d(gains_db)):
        out += g * np.exp(-0.5 * ((lf - np.log2(c)) / w) ** 2)
    return out


def band_db(f: np.ndarray, lo: float, hi: float, order: float = 2.0) -> np.ndarray:
    """Butterworth-like band-pass magnitude in dB (lo/hi may be None)."""
    out = np.zeros_like(f)
    fs = np.maximum(f, 1e-3)
    if lo:
        out -= 10 * np.log10(1 + (lo / fs) ** (2 * order))
    if hi:
        out -= 10 * np.log10(1 + (fs / hi) ** (2 * order))
    return out


def power_law_db(f: np.ndarray, alpha: float, ref: float = 1000.0) -> np.ndarray:
    """1/f^alpha power spectrum in dB, 0 dB at ``ref`` (alpha 0 white, 1 pink, 2 brown)."""
    return -10 * alpha * np.log10(np.maximum(f, 20) / ref)


def tilt_db(f: np.ndarray, db_per_oct: float, ref: float = 1000.0) -> np.ndarray:
    return db_per_oct * np.log2(np.maximum(f, 20.0) / ref)


def fast_len(n: int) -> int:
    return sfft.next_fast_len(int(n), real=True)


def noise(rng: np.random.Generator, n: int, sr: int, shape_db=None) -> np.ndarray:
    """White Gaussian noise shaped in the frequency domain by ``shape_db(freqs) -> dB`` (RMS 1)."""
    nf = fast_len(n)
    m = nf // 2 + 1
    spec = rng.standard_normal(m) + 1j * rng.standard_normal(m)
    if shape_db is not None:
        spec *= gain_curve(shape_db, nf, sr)
    spec[0] = 0.0
    return rms_norm(sfft.irfft(spec, nf)[:n])


def eq(x: np.ndarray, sr: int, shape_db, pad: int = 4096) -> np.ndarray:
    """Apply a static zero-phase magnitude curve (dB as a function of frequency) by FFT filtering."""
    n = len(x)
    nf = fast_len(n + pad)
    spec = sfft.rfft(x, nf)
    spec *= gain_curve(shape_db, nf, sr)
    return sfft.irfft(spec, nf)[:n]


def bandpass(x: np.ndarray, sr: int, lo: float | None, hi: float | None, order: int = 2) -> np.ndarray:
    """IIR Butterworth filter (cheap, causal); lo/hi None for low/high-pass."""
    nyq = sr / 2 * 0.98
    if lo and hi:
        lo, hi = min(lo, nyq * 0.9), min(hi, nyq)
        sos = signal.butter(order, [lo, max(hi, lo * 1.05)], btype="band", fs=sr, output="sos")
    elif lo:
        sos = signal.butter(order, min(lo, nyq * 0.9), btype="high", fs=sr, output="sos")
    elif hi:
        sos = signal.butter(order, min(hi, nyq), btype="low", fs=sr, output="sos")
    else:
        return x
    return signal.sosfilt(sos, x)


def resonator(x: np.ndarray, sr: int, freq: float, q: float) -> np.ndarray:
    """A single resonant band-pass (peak) filter."""
    b, a = signal.iirpeak(min(freq, sr / 2 * 0.95), max(q, 0.5), fs=sr)
    return signal.lfilter(b, a, x)


def rms_norm(x: np.ndarray) -> np.ndarray:
    r = np.sqrt(np.mean(x * x)) if len(x) else 0.0
    return x / r if r > 1e-12 else x


def upsample(coarse: np.ndarray, step: int, n: int) -> np.ndarray:
    """Linear interpolation of values given every ``step`` samples (coarse[k] at sample k*step) to ``n`` samples."""
    frac = np.arange(step) / step
    return (coarse[:-1, None] + np.diff(coarse)[:, None] * frac[None, :]).ravel()[:n]


def smooth(rng: np.random.Generator, n: int, sr: int, rate_hz: float) -> np.ndarray:
    """A smooth random curve in [-1, 1] with about ``rate_hz`` turning points per second."""
    k = max(2, int(np.ceil(n / sr * rate_hz)) + 2)
    pts = rng.uniform(-1, 1, k)
    step = 64
    x = np.arange(n // step + 2) * (step * (k - 1) / max(n - 1, 1))
    i = np.minimum(x.astype(np.int64), k - 2)
    fr = np.clip((1 - np.cos(np.pi * (x - i))) / 2, 0, 1)  # cosine interpolation: smooth, no overshoot
    return upsample(pts[i] * (1 - fr) + pts[i + 1] * fr, step, n)


def lfo(rng: np.random.Generator, n: int, sr: int, rate_hz: float, depth_db: float) -> np.ndarray:
    """A smooth random gain curve (linear scale) within +-depth_db."""
    return 10 ** (smooth(rng, n, sr, rate_hz) * (depth_db / 20))


def track(rng: np.random.Generator, n: int, sr: int, rate_hz: float, spread_oct: float) -> np.ndarray:
    """A smooth random multiplier around 1 (e.g. pitch wobble) within +-spread_oct octaves."""
    return 2 ** (smooth(rng, n, sr, rate_hz) * spread_oct)


def ad_env(n: int, sr: int, attack_s: float, decay_s: float, hold_s: float = 0.0) -> np.ndarray:
    """Attack (raised cosine), optional hold, exponential decay (time constant decay_s)."""
    t = np.arange(n) / sr
    a = max(attack_s, 1e-4)
    env = np.where(t < a, 0.5 - 0.5 * np.cos(np.pi * np.minimum(t / a, 1)), 1.0)
    tail = np.maximum(t - a - hold_s, 0)
    return env * np.exp(-tail / max(decay_s, 1e-4))


def gate(n: int, sr: int, on_s: float, off_s: float, edge_s: float = 0.01, phase_s: float = 0.0) -> np.ndarray:
    """A periodic on/off envelope with smooth edges."""
    t = (np.arange(n) / sr + phase_s) % (on_s + off_s)
    up = np.clip(t / edge_s, 0, 1)
    down = np.clip((on_s - t) / edge_s, 0, 1)
    return np.minimum(up, down)


def fades(x: np.ndarray, sr: int, in_s: float = 0.005, out_s: float = 0.02) -> np.ndarray:
    n = len(x)
    a, b = min(n // 2, int(in_s * sr)), min(n // 2, int(out_s * sr))
    if a:
        x[:a] *= np.linspace(0, 1, a)
    if b:
        x[n - b:] *= np.linspace(1, 0, b)
    return x


def ramp(n: int, sr: int, up_s: float, down_s: float) -> np.ndarray:
    """Motor start/stop: smooth (quarter-sine) rise over up_s and fall over down_s."""
    out = np.ones(n)
    a, b = min(n, max(1, int(up_s * sr))), min(n, max(1, int(down_s * sr)))
    out[:a] = np.sin(np.pi / 2 * np.arange(a) / a)
    out[n - b:] *= np.sin(np.pi / 2 * (np.arange(b, 0, -1) - 1) / b)
    return out


def phase_of(f_track: np.ndarray, sr: int, phase0: float = 0.0) -> np.ndarray:
    """Running phase in cycles of an instantaneous-frequency track (Hz per sample)."""
    return phase0 + np.cumsum(f_track) / sr


def wavetable(phase_cycles: np.ndarray, amps, size: int = 2048, phases=None) -> np.ndarray:
    """A periodic waveform with harmonic amplitudes ``amps`` read at ``phase_cycles`` (linear interpolation)."""
    amps = np.asarray(amps, dtype=float)
    k = np.arange(1, len(amps) + 1)
    ph = np.zeros(len(amps)) if phases is None else np.asarray(phases)
    grid = np.arange(size) / size
    table = (amps[:, None] * np.sin(2 * np.pi * (k[:, None] * grid[None, :] + ph[:, None]))).sum(0)
    table = np.append(table, table[0])
    pos = (phase_cycles % 1.0) * size
    i = pos.astype(np.int64)
    fr = pos - i
    return table[i] * (1 - fr) + table[i + 1] * fr


def harmonic_amps(f0: float, sr: int, rolloff_db_oct: float, fmax: float, shape_db=None) -> np.ndarray:
    """Harmonic amplitudes below min(fmax, Nyquist) for a max fundamental f0: slope + optional curve."""
    n_h = max(1, int(min(fmax, sr / 2 * 0.9) / max(f0, 1.0)))
    h = np.arange(1, n_h + 1)
    db = rolloff_db_oct * np.log2(h)
    if shape_db is not None:
        db = db + shape_db(h * f0)
    return 10 ** (db / 20)


def additive(f0: np.ndarray, sr: int, amp_fn, hop: int = 256, fmax: float = 8000.0,
             rng: np.random.Generator | None = None) -> np.ndarray:
    """Harmonic sum with time-varying amplitudes: ``amp_fn(harmonic_freqs[K, T]) -> amps[K, T]`` at control rate."""
    n = len(f0)
    n_h = max(1, int(min(fmax, sr / 2 * 0.9) / max(float(f0.max()), 1.0)))
    ctrl = np.arange(n // hop + 2) * hop
    f0c = np.interp(ctrl, np.arange(n), f0)
    k = np.arange(1, n_h + 1)[:, None]
    amps = amp_fn(k * f0c[None, :])  # (K, T)
    z = np.exp(2j * np.pi * phase_of(f0, sr))
    zk = np.ones(n, dtype=complex)
    p0 = rng.uniform(0, 2 * np.pi, n_h) if rng is not None else np.zeros(n_h)
    out = np.zeros(n)
    for j in range(n_h):  # sin(k phi + p0) from the powers of exp(i phi): no sin() per harmonic
        zk *= z
        out += upsample(amps[j], hop, n) * (zk.imag * np.cos(p0[j]) + zk.real * np.sin(p0[j]))
    return out


def sparse_clicks(rng: np.random.Generator, n: int, sr: int, rate_hz: float, amp_sigma: float) -> np.ndarray:
    """A Poisson impulse train with log-normal amplitudes (excitation for crackles, droplets, clicks)."""
    k = rng.poisson(rate_hz * n / sr)
    x = np.zeros(n)
    if k:
        pos = rng.integers(0, n, k)
        np.add.at(x, pos, rng.lognormal(0, amp_sigma, k) * rng.choice([-1.0, 1.0], k))
    return x


def modes(n: int, sr: int, freqs, decays_s, amps, rng: np.random.Generator) -> np.ndarray:
    """Sum of exponentially decaying sinusoids (an impact: dish clink, bell strike)."""
    out = np.zeros(n)
    for f, d, a in zip(freqs, decays_s, amps):
        if f < sr / 2 * 0.95:
            # a * r^t sin(w t + p) is the impulse response of a two-pole resonator: filter an impulse
            m = min(n, int(6 * d * sr) + 1)  # each mode only until it has decayed by 52 dB
            r, w, p = np.exp(-1.0 / (d * sr)), 2 * np.pi * f / sr, rng.uniform(0, 2 * np.pi)
            imp = np.zeros(m)
            imp[0] = a
            out[:m] += signal.lfilter([np.sin(p), r * np.sin(w - p)], [1.0, -2 * r * np.cos(w), r * r], imp)
    return out


def add_at(out: np.ndarray, x: np.ndarray, pos: int) -> None:
    """Add ``x`` into ``out`` starting at ``pos`` (clipped to the ends)."""
    if pos >= len(out) or pos + len(x) <= 0:
        return
    a = max(pos, 0)
    b = min(pos + len(x), len(out))
    out[a:b] += x[a - pos:b - pos]


def db(x: float) -> float:
    return 10 ** (x / 20)


def loguniform(rng: np.random.Generator, lo: float, hi: float, size=None):
    return np.exp(rng.uniform(np.log(lo), np.log(hi), size))
