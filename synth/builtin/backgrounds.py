"""Background scene families of the built-in soundbank, each non-stationary and >= 10 s long.

Families: room_tone (domestic room tone with mains hum), hvac, street (rumble and passing vehicles), babble,
rain, coloured_noise. Same ``cluster``/``render`` pairs as the event families; backgrounds are coloured by a
recordist device too (see :mod:`sedkit.synth.builtin.events`).
"""
from __future__ import annotations

import numpy as np

from sedkit.synth.builtin import dsp


def room_tone_cluster(rng):
    return dict(mains=float(rng.choice([50.0, 60.0])), alpha=float(rng.uniform(0.6, 1.6)),
                hum_db=float(rng.uniform(-20, 0)), odd=float(rng.uniform(0.3, 1.0)),
                cut=float(dsp.loguniform(rng, 2000, 9000)))


def room_tone(rng, n, sr, c):
    air = dsp.noise(rng, n, sr, lambda f: dsp.power_law_db(f, c["alpha"], 100) + dsp.band_db(f, 30, c["cut"]))
    amps = 10 ** (rng.uniform(-30, 0, 8) / 20)
    amps[1::2] *= 1 - c["odd"]
    mains = np.full(n, c["mains"]) * dsp.track(rng, n, sr, 0.2, 0.002)
    hum = dsp.rms_norm(dsp.wavetable(dsp.phase_of(mains, sr), amps))
    hum *= dsp.lfo(rng, n, sr, 0.3, 3)
    clicks = dsp.sparse_clicks(rng, n, sr, rng.uniform(0, 1.5), 0.5)
    ticks = dsp.resonator(clicks, sr, dsp.loguniform(rng, 1500, 6000), 8)
    return air * dsp.lfo(rng, n, sr, 0.2, 2) + dsp.db(c["hum_db"]) * hum + 0.3 * ticks


def hvac_cluster(rng):
    return dict(hump=float(dsp.loguniform(rng, 80, 600)), width=float(rng.uniform(0.8, 2.0)),
                blade=float(dsp.loguniform(rng, 25, 140)), blade_db=float(rng.uniform(-25, -5)),
                hiss_db=float(rng.uniform(-25, -8)), cycle=float(rng.uniform(0.03, 0.3)))


def hvac(rng, n, sr, c):
    body = dsp.noise(rng, n, sr, lambda f: dsp.bumps_db(f, c["hump"], c["width"], 20) + dsp.band_db(f, 20, None))
    hiss = dsp.noise(rng, n, sr, lambda f: dsp.band_db(f, 1500, None) + dsp.tilt_db(f, -2))
    blade = dsp.rms_norm(dsp.wavetable(dsp.phase_of(np.full(n, c["blade"]) * dsp.track(rng, n, sr, 0.1, 0.01), sr),
                                       10 ** (rng.uniform(-25, 0, 6) / 20)))
    x = body + dsp.db(c["hiss_db"]) * hiss + dsp.db(c["blade_db"]) * blade * dsp.lfo(rng, n, sr, 0.5, 6)
    return x * dsp.lfo(rng, n, sr, c["cycle"], 4)


def street_cluster(rng):
    return dict(alpha=float(rng.uniform(1.2, 2.0)), cut=float(dsp.loguniform(rng, 250, 1200)),
                cars=float(rng.uniform(0.05, 0.4)), car_db=float(rng.uniform(3, 14)))


def street(rng, n, sr, c):
    rumble = dsp.noise(rng, n, sr, lambda f: dsp.power_law_db(f, c["alpha"], 50)
                       + dsp.band_db(f, 20, c["cut"], 1))
    car = dsp.noise(rng, n, sr, lambda f: dsp.band_db(f, 80, 4000, 1) + dsp.tilt_db(f, -4))
    t = np.arange(n) / sr
    swell = np.zeros(n)
    for _ in range(max(1, rng.poisson(c["cars"] * n / sr))):
        mid, w = rng.uniform(0, n / sr), rng.uniform(0.8, 3.0)
        swell += dsp.db(rng.uniform(-6, 0)) * np.exp(-0.5 * ((t - mid) / w) ** 2)
    return rumble * dsp.lfo(rng, n, sr, 0.5, 3) + car * swell * dsp.db(c["car_db"] - 6)


def babble_cluster(rng):
    return dict(voices=int(rng.integers(4, 14)), peak=float(dsp.loguniform(rng, 300, 900)),
                slope=float(rng.uniform(-9, -4)), rate=float(rng.uniform(3, 6)))


def babble(rng, n, sr, c):
    out = np.zeros(n)
    base = dsp.noise(rng, n, sr, lambda f: dsp.bumps_db(f, c["peak"], 0.8, 10) + dsp.tilt_db(f, c["slope"], c["peak"])
                     + dsp.band_db(f, 100, 8000))
    bands = dsp.loguniform(rng, 250, 3500, 4)
    parts = [dsp.bandpass(base, sr, b / 1.6, b * 1.6) for b in bands]
    for _ in range(c["voices"]):
        syl = np.maximum(dsp.smooth(rng, n, sr, c["rate"] * 2), 0) ** 2 * dsp.lfo(rng, n, sr, 0.3, 6)
        w = rng.dirichlet(np.ones(len(parts)))
        out += syl * sum(wi * p for wi, p in zip(w, parts))
    return out + 0.3 * dsp.rms_norm(out).std() * base


def rain_cluster(rng):
    return dict(rate=float(dsp.loguniform(rng, 150, 2000)), drop=float(dsp.loguniform(rng, 1500, 7000)),
                hiss_db=float(rng.uniform(-10, 6)), alpha=float(rng.uniform(0, 1)), roof=float(rng.uniform(0, 1)))


def rain(rng, n, sr, c):
    hiss = dsp.noise(rng, n, sr, lambda f: dsp.power_law_db(f, c["alpha"]) + dsp.band_db(f, 300, None))
    drops = dsp.resonator(dsp.sparse_clicks(rng, n, sr, c["rate"], 0.7), sr, c["drop"], 2)
    if c["roof"] > 0.5:  # drops on a surface: lower, duller thuds
        drops = drops + dsp.resonator(dsp.sparse_clicks(rng, n, sr, c["rate"] / 4, 0.5), sr, c["drop"] / 5, 3)
    inten = dsp.lfo(rng, n, sr, 0.15, 5)
    return (dsp.rms_norm(drops) + dsp.db(c["hiss_db"]) * hiss) * inten


def coloured_noise_cluster(rng):
    return dict(a0=float(rng.uniform(-0.5, 2.0)), a1=float(rng.uniform(-0.5, 2.0)), drift=float(rng.uniform(0.05, 0.5)))


def coloured_noise(rng, n, sr, c):
    col = lambda a: dsp.noise(rng, n, sr, lambda f: dsp.power_law_db(f, a))  # noqa: E731
    w = 0.5 + 0.5 * dsp.smooth(rng, n, sr, c["drift"])
    return (col(c["a0"]) * w + col(c["a1"]) * (1 - w)) * dsp.lfo(rng, n, sr, c["drift"] * 2, 3)


FAMILIES = {
    "room_tone": (room_tone_cluster, room_tone),
    "hvac": (hvac_cluster, hvac),
    "street": (street_cluster, street),
    "babble": (babble_cluster, babble),
    "rain": (rain_cluster, rain),
    "coloured_noise": (coloured_noise_cluster, coloured_noise),
}
