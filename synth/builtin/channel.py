"""The recorded-like channel: room (pyroomacoustics RIR), microphone EQ, compression and a noise floor.

``render_channel(x, sr, rng, strength)``: strength 0 returns the input unchanged (the dry, synthetic domain);
1, 2, 3 are increasingly strong channels (more reverb, stronger EQ and compression, a higher noise floor).
The output has the input's length and RMS. Shoebox simulations are costly (~0.3 s each), so a fixed set of
rooms is simulated once per (sample rate, set seed) and cached in the process; ``rng`` picks among them.
"""
from __future__ import annotations

import functools

import numpy as np
from scipy import signal

from sedkit import SedkitError
from sedkit.synth.builtin import dsp
from sedkit.synth.dynamic.transforms import compressor_gain_db
from sedkit.synth.rng import item_rng

N_ROOMS = 8


def simulate_rir(rng: np.random.Generator, sr: int, rt60: float) -> np.ndarray:
    """One shoebox RIR (random room size and positions, :func:`sedkit.synth.rir.shoebox_rir`), direct path moved
    to sample 0 and scaled to 1."""
    from sedkit.synth.rir import shoebox_rir

    dims = np.array([rng.uniform(3, 8), rng.uniform(3, 7), rng.uniform(2.4, 3.5)])
    margin = 0.5
    src = rng.uniform(margin, dims - margin)
    mic = rng.uniform(margin, dims - margin)
    h = shoebox_rir(sr, dims, rt60, src, mic, max_order=40, what="built-in channel room")
    start = int(np.argmax(np.abs(h) > 0.5 * np.abs(h).max()))
    h = h[max(0, start - 8):max(0, start - 8) + int(sr * min(1.2, rt60 * 1.5))]
    return h / np.abs(h).max()


@functools.lru_cache(maxsize=4)
def rir_set(sr: int, set_seed: int = 0) -> tuple[np.ndarray, ...]:
    """The cached rooms for ``sr``: RT60 from 0.2 s to 0.9 s in increasing order."""
    rt60s = np.linspace(0.2, 0.9, N_ROOMS)
    return tuple(simulate_rir(item_rng(set_seed, "channel", k, "room"), sr, float(t)) for k, t in enumerate(rt60s))


def compress(x: np.ndarray, sr: int, threshold_db: float, ratio: float, attack_s: float = 0.005,
             release_s: float = 0.08) -> np.ndarray:
    """Feed-forward compressor: a one-pole smoothed power envelope (the recorded-like channel's detector) through
    sedkit's one compression curve (:func:`~sedkit.synth.dynamic.transforms.compressor_gain_db`), threshold
    relative to full scale."""
    a = np.exp(-1.0 / (sr * (attack_s + release_s) / 2))
    env_power = signal.lfilter([1 - a], [1, -a], x * x)
    return x * 10 ** (compressor_gain_db(np, env_power, 1.0, threshold_db, ratio) / 20)


def render_channel(x: np.ndarray, sr: int, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Pass ``x`` (mono) through a random recorded-like channel of the given strength; float32, same length."""
    if strength < 0:
        raise SedkitError(f"channel strength must be >= 0, got {strength}")
    x = np.asarray(x)
    if x.ndim != 1:
        raise SedkitError(f"render_channel expects mono audio (1-D), got shape {x.shape}")
    if strength == 0 or len(x) == 0:
        return x.astype(np.float32, copy=True)
    s = float(strength)
    y = x.astype(float)
    rms_in = np.sqrt(np.mean(y * y))
    if rms_in < 1e-9:
        return x.astype(np.float32, copy=True)
    # room: a cached RIR, the larger rooms more likely as strength grows; wet/dry mix grows with strength
    rooms = rir_set(sr)
    k = int(min(len(rooms) - 1, rng.integers(0, min(len(rooms), 2 + 2 * s))))
    wet = min(1.0, 0.35 * s)
    y = (1 - wet) * y + wet * signal.fftconvolve(y, rooms[k])[:len(y)]
    # microphone: band limits, presence peak, random tilt
    lo = dsp.loguniform(rng, 40, 120) * (1 + 0.5 * s)
    hi = dsp.loguniform(rng, 9000, 18000) / (1 + 0.4 * s)
    pk, pk_db, tilt = dsp.loguniform(rng, 1500, 7000), rng.uniform(1, 4) * s, rng.uniform(-1, 1) * s
    y = dsp.eq(y, sr, lambda f: dsp.band_db(f, lo, hi, 2) + dsp.bumps_db(f, pk, 0.5, pk_db) + dsp.tilt_db(f, tilt))
    # compression: threshold a few dB around the signal's RMS, harder with strength
    r = np.sqrt(np.mean(y * y)) + 1e-12
    y = compress(y, sr, 20 * np.log10(r) + rng.uniform(0, 6) - 2 * s, 1 + 1.5 * s)
    # noise floor: pinkish, 46 dB below the signal at strength 1, 30 dB at strength 3
    floor = dsp.noise(rng, len(y), sr, lambda f: dsp.power_law_db(f, 1.0))
    y = dsp.rms_norm(y) + floor * dsp.db(-(54 - 8 * s) + rng.uniform(-3, 3))
    y *= rms_in
    peak = np.max(np.abs(y))
    if peak > 0.99:
        y *= 0.99 / peak
    return y.astype(np.float32)
