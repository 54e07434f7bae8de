"""The effects audiomentations does not have, as small transforms with its interface.

Each class works like an audiomentations waveform transform — ``t(samples, sample_rate)`` draws parameters
(``randomize_parameters``) unless they are frozen, then applies them — except that randomness comes from an explicit
numpy Generator (``rng=``), never from global state. ``draw(rng, n, sr)`` returns a parameter dict (JSON-able) and
``render(samples, sr, **params)`` applies one: the dynamic-mixing plan stores the dicts, and the torch batch path
(:mod:`.gpu`) applies the same dicts with the same formulas.

The signal formulas that both paths share are written once, over an array module ``xp`` (numpy or torch).
"""
from __future__ import annotations

import numpy as np

M32 = 0xFFFFFFFF
BURST_RAMP_S = 0.005


# ---------------------------------------------------------------- formulas shared with the torch path (xp = np | torch)

def _mul32(x, c: int):
    """(x * c) mod 2**32 for non-negative int64 x < 2**32, without int64 overflow."""
    return (x * (c & 0xFFFF) + (((x * (c >> 16)) & 0xFFFF) << 16)) & M32


def hash32(x):
    """A 32-bit integer hash (lowbias32) of int64 arrays: same bits in numpy and torch, on any device."""
    x = x & M32
    x = x ^ (x >> 16)
    x = _mul32(x, 0x7FEB352D)
    x = x ^ (x >> 15)
    x = _mul32(x, 0x846CA68B)
    return x ^ (x >> 16)


def hash_gauss(xp, seed, idx):
    """Standard normal noise at integer positions ``idx`` (int64) for integer ``seed`` (Box–Muller on hashes)."""
    base = hash32(seed) * 2 + 2 * idx
    f64 = (lambda a: a.astype(np.float64)) if xp is np else (lambda a: a.double())
    u1 = (f64(hash32(base)) + 0.5) / 2.0 ** 32
    u2 = (f64(hash32(base + 1)) + 0.5) / 2.0 ** 32
    return xp.sqrt(-2.0 * xp.log(u1)) * xp.cos(2.0 * np.pi * u2)


def burst_envelope(xp, n, length, ramp):
    """Raised-cosine fade in/out over ``ramp`` samples of a burst of ``length`` samples, at positions ``n``."""
    r = xp.maximum(ramp, 1 + 0 * ramp)
    a = xp.minimum((n + 0.5) / r, (length - n - 0.5) / r).clip(0.0, 1.0)
    return 0.5 - 0.5 * xp.cos(np.pi * a)


def burst_ramp(length, sr: int):
    return np.minimum(int(BURST_RAMP_S * sr), np.asarray(length) // 2)


def comb_delay(xp, n, sr: int, delay_ms, depth_ms, rate_hz, phase):
    """Delay (samples, fractional) of the time-varying comb at sample positions ``n``."""
    return (delay_ms + depth_ms * xp.sin(2.0 * np.pi * rate_hz * n / sr + phase)) * (sr / 1000.0)


def compressor_gain_db(xp, env_power, peak, threshold_db, ratio):
    """sedkit's one compression curve (gain in dB) for a mean-power envelope: ``ratio``:1 above a threshold in dB
    relative to ``peak`` (the signal's peak for dynamic mixing, 1.0 = full scale for the built-in bank's channel).
    ``xp`` is numpy or torch; levels are floored at -120 dB."""
    env_db = 10.0 * xp.log10(env_power.clip(1e-12, None))
    thr = 20.0 * xp.log10(xp.asarray(peak).clip(1e-12, None)) + threshold_db
    over = (env_db - thr).clip(0.0, None)
    return -over * (1.0 - 1.0 / ratio)


# ---------------------------------------------------------------- transforms

def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0


class Transform:
    """audiomentations-style waveform transform whose draws come from a numpy Generator."""

    def __init__(self, spec, p: float = 1.0, rng: np.random.Generator | None = None):
        self.spec, self.p, self.rng = spec, p, rng
        self.parameters: dict = {"should_apply": None}
        self.are_parameters_frozen = False

    def draw(self, rng: np.random.Generator, n: int, sr: int) -> dict:
        raise NotImplementedError

    @staticmethod
    def render(samples: np.ndarray, sr: int, **params) -> np.ndarray:
        raise NotImplementedError

    def randomize_parameters(self, samples: np.ndarray, sample_rate: int, rng: np.random.Generator | None = None):
        rng = rng if rng is not None else self.rng
        if rng is None:
            raise ValueError(f"{type(self).__name__}: pass rng= (a numpy Generator) or freeze parameters first")
        apply = bool(rng.random() < self.p)
        self.parameters = {"should_apply": apply, **(self.draw(rng, len(samples), sample_rate) if apply else {})}

    def freeze_parameters(self):
        self.are_parameters_frozen = True

    def unfreeze_parameters(self):
        self.are_parameters_frozen = False

    def with_parameters(self, params: dict) -> "Transform":
        """Freeze the given parameters (as drawn by :meth:`draw`) and return self."""
        self.parameters = {"should_apply": True, **params}
        self.are_parameters_frozen = True
        return self

    def apply(self, samples: np.ndarray, sample_rate: int) -> np.ndarray:
        params = {k: v for k, v in self.parameters.items() if k != "should_apply"}
        return self.render(samples, sample_rate, **params)

    def __call__(self, samples: np.ndarray, sample_rate: int) -> np.ndarray:
        if not self.are_parameters_frozen or self.parameters["should_apply"] is None:
            self.randomize_parameters(samples, sample_rate)
        if self.parameters["should_apply"] and len(samples):
            return self.apply(samples, sample_rate)
        return samples


def _bursts(rng: np.random.Generator, spec, n: int, sr: int) -> dict:
    k = int(spec.count.sample(rng))
    length = [max(1, min(n, int(round(spec.duration_s.sample(rng) * sr)))) for _ in range(k)]
    start = [int(rng.integers(0, n - ln + 1)) for ln in length]
    level = [float(spec.level_db.sample(rng)) for _ in range(k)]
    return {"start": start, "length": length, "level_db": level}


class NoiseBursts(Transform):
    """Adds ``count`` bursts of white Gaussian noise, each ``level_db`` relative to the signal RMS, with short fades."""

    def draw(self, rng, n, sr):
        d = _bursts(rng, self.spec, n, sr)
        d["seed"] = [int(rng.integers(0, 2 ** 31)) for _ in d["start"]]
        return d

    @staticmethod
    def render(samples, sr, start, length, level_db, seed):
        x = np.asarray(samples, dtype=np.float64)
        y, ref = x.copy(), _rms(x)
        for s, ln, lv, sd in zip(start, length, level_db, seed):
            n = np.arange(ln, dtype=np.int64)
            env = burst_envelope(np, n, ln, burst_ramp(ln, sr))
            y[s:s + ln] += ref * 10 ** (lv / 20) * env * hash_gauss(np, np.int64(sd), n)
        return y.astype(np.float32)


class SineBursts(Transform):
    """Adds ``count`` sine tones (random frequency and phase), each ``level_db`` relative to the signal RMS."""

    def draw(self, rng, n, sr):
        d = _bursts(rng, self.spec, n, sr)
        d["freq_hz"] = [float(min(self.spec.freq_hz.sample(rng), 0.45 * sr)) for _ in d["start"]]
        d["phase"] = [float(rng.uniform(0, 2 * np.pi)) for _ in d["start"]]
        return d

    @staticmethod
    def render(samples, sr, start, length, level_db, freq_hz, phase):
        x = np.asarray(samples, dtype=np.float64)
        y, ref = x.copy(), _rms(x)
        for s, ln, lv, f, ph in zip(start, length, level_db, freq_hz, phase):
            n = np.arange(ln, dtype=np.float64)
            env = burst_envelope(np, n, ln, burst_ramp(ln, sr))
            # sine of RMS 1 (amplitude sqrt 2) so that level_db is an RMS ratio like the noise bursts
            y[s:s + ln] += ref * 10 ** (lv / 20) * env * np.sqrt(2) * np.sin(2 * np.pi * f * n / sr + ph)
        return y.astype(np.float32)


class TimeVaryingComb(Transform):
    """Feed-forward comb ``y[n] = x[n] + gain * x[n - d(n)]`` whose delay d(n) swings with a sine LFO (flanger)."""

    def draw(self, rng, n, sr):
        s = self.spec
        delay = float(s.delay_ms.sample(rng))
        return {"delay_ms": delay, "depth_ms": float(min(s.depth_ms.sample(rng), 0.9 * delay)),
                "rate_hz": float(s.rate_hz.sample(rng)), "phase": float(rng.uniform(0, 2 * np.pi)),
                "gain": float(s.gain.sample(rng))}

    @staticmethod
    def render(samples, sr, delay_ms, depth_ms, rate_hz, phase, gain):
        x = np.asarray(samples, dtype=np.float64)
        n = np.arange(len(x), dtype=np.float64)
        pos = n - comb_delay(np, n, sr, delay_ms, depth_ms, rate_hz, phase)
        i0 = np.floor(pos)
        frac = pos - i0
        i0 = i0.astype(np.int64)
        ok = i0 >= 0
        a = np.where(ok, x[np.clip(i0, 0, None)], 0.0)
        b = np.where(ok, x[np.clip(i0 + 1, 0, len(x) - 1)], 0.0)
        return (x + gain * ((1 - frac) * a + frac * b)).astype(np.float32)


class Compressor(Transform):
    """Feed-forward compressor: RMS envelope over a causal window, static curve above a threshold (rel. to peak)."""

    def draw(self, rng, n, sr):
        s = self.spec
        return {"threshold_db": float(s.threshold_db.sample(rng)), "ratio": float(max(1.0, s.ratio.sample(rng))),
                "window": max(1, int(round(s.window_ms.sample(rng) * sr / 1000)))}

    @staticmethod
    def render(samples, sr, threshold_db, ratio, window):
        x = np.asarray(samples, dtype=np.float64)
        c = np.concatenate([[0.0], np.cumsum(x * x)])
        n = np.arange(len(x))
        env = (c[n + 1] - c[np.maximum(n + 1 - window, 0)]) / window
        peak = float(np.max(np.abs(x))) if x.size else 0.0
        g = compressor_gain_db(np, env, peak, threshold_db, ratio)
        return (x * 10 ** (g / 20)).astype(np.float32)
