"""Parametric families of the long DESED classes: Blender, Vacuum_cleaner, Electric_shaver_toothbrush (three
motor sounds with overlapping spectra), Frying and Running_water. Same ``cluster``/``render`` pairs as
:mod:`sedkit.synth.builtin.events_short`.
"""
from __future__ import annotations

import numpy as np

from sedkit.synth.builtin import dsp


def _motor(rng, n, sr, f0, roll, shape_db, wobble_oct, spin_up_s, spin_down_s):
    """A harmonic motor tone with spin-up/down pitch ramps and wobble; unit RMS."""
    f = f0 * dsp.track(rng, n, sr, 2.0, wobble_oct) * (0.35 + 0.65 * dsp.ramp(n, sr, spin_up_s, spin_down_s))
    amps = dsp.harmonic_amps(f0 * 2 ** wobble_oct, sr, roll, 9000, shape_db)
    return dsp.rms_norm(dsp.wavetable(dsp.phase_of(f, sr), amps, phases=rng.uniform(0, 1, len(amps))))


def _ends(rng, n, sr, p_start: float):
    """Spin-up/down times: a file starts/ends with the motor switching on/off with probability p_start."""
    up = rng.uniform(0.2, 0.8) if rng.random() < p_start else 0.01
    down = rng.uniform(0.2, 0.8) if rng.random() < p_start else 0.01
    lim = n / sr / 3
    return min(up, lim), min(down, lim)


# ---------------------------------------------------------------- Blender

def blender_cluster(rng):
    return dict(f0=float(dsp.loguniform(rng, 90, 420)), roll=float(rng.uniform(-9, -2)),
                body=float(dsp.loguniform(rng, 300, 2500)), noise=float(rng.uniform(0.25, 0.8)),
                band=float(dsp.loguniform(rng, 600, 3000)), churn=float(rng.uniform(3, 15)),
                churn_db=float(rng.uniform(2, 9)), pulse=float(rng.uniform(0, 0.5)))


def blender(rng, n, sr, c):
    up, down = _ends(rng, n, sr, 0.6)
    body = c["body"] * 2 ** rng.normal(0, 0.3)
    shape = lambda f: dsp.bumps_db(f, body, 0.6, 10)  # noqa: E731
    h = _motor(rng, n, sr, c["f0"] * 2 ** rng.normal(0, 0.25), c["roll"], shape, 0.06, up, down)
    band = c["band"] * 2 ** rng.normal(0, 0.3)
    nz = dsp.noise(rng, n, sr, lambda f: dsp.bumps_db(f, band, 1.0, 15) + dsp.tilt_db(f, -4) + shape(f))
    mix = np.clip(c["noise"] + rng.normal(0, 0.1), 0.1, 0.9)
    x = (h * (1 - mix) + nz * mix) * dsp.lfo(rng, n, sr, c["churn"], c["churn_db"])
    if rng.random() < c["pulse"]:
        x *= 0.1 + 0.9 * dsp.gate(n, sr, rng.uniform(0.6, 2.0), rng.uniform(0.2, 0.8), 0.15)
    return x * dsp.ramp(n, sr, up, down)


# ---------------------------------------------------------------- Vacuum_cleaner

def vacuum_cleaner_cluster(rng):
    return dict(air=float(dsp.loguniform(rng, 700, 3000)), width=float(rng.uniform(1.2, 2.2)),
                tilt=float(rng.uniform(-3, 0)), whine=float(dsp.loguniform(rng, 900, 5000)),
                whine_db=float(rng.uniform(-30, -10)), f0=float(dsp.loguniform(rng, 80, 320)),
                hum_db=float(rng.uniform(-24, -6)), lowcut=float(dsp.loguniform(rng, 60, 300)))


def vacuum_cleaner(rng, n, sr, c):
    up, down = _ends(rng, n, sr, 0.5)
    air_c = c["air"] * 2 ** rng.normal(0, 0.3)
    shape = lambda cen: (lambda f: dsp.bumps_db(f, cen, c["width"], 12) + dsp.tilt_db(f, c["tilt"])  # noqa: E731
                         + dsp.band_db(f, c["lowcut"], None))
    a1 = dsp.noise(rng, n, sr, shape(air_c))
    a2 = dsp.noise(rng, n, sr, shape(air_c * 2 ** rng.uniform(-0.8, 0.8)))  # nozzle moves: band wanders
    w = 0.5 + 0.5 * dsp.smooth(rng, n, sr, rng.uniform(0.3, 1.5))
    air = a1 * w + a2 * (1 - w)
    wf = c["whine"] * 2 ** rng.normal(0, 0.2) * (0.5 + 0.5 * dsp.ramp(n, sr, up, down))
    ph = dsp.phase_of(wf * dsp.track(rng, n, sr, 0.5, 0.01), sr)
    whine = np.sin(2 * np.pi * ph) + 0.3 * np.sin(4 * np.pi * ph)
    hum = _motor(rng, n, sr, c["f0"] * 2 ** rng.normal(0, 0.2), -6, None, 0.02, up, down)
    x = air + dsp.db(c["whine_db"] + rng.normal(0, 3)) * whine * 1.2 + dsp.db(c["hum_db"]) * hum
    return x * dsp.lfo(rng, n, sr, rng.uniform(0.3, 1.0), rng.uniform(1, 4)) * dsp.ramp(n, sr, up, down)


# ---------------------------------------------------------------- Electric_shaver_toothbrush

def electric_shaver_toothbrush_cluster(rng):
    brush = rng.random() < 0.5
    return dict(f0=float(dsp.loguniform(rng, 190, 330) if brush else dsp.loguniform(rng, 70, 190)),
                odd=float(rng.uniform(0.2, 1.0)), roll=float(rng.uniform(-8, -2)),
                body=float(dsp.loguniform(rng, 900, 5000)), body_db=float(rng.uniform(4, 14)),
                contact=float(rng.uniform(0.1, 0.6)), stroke=float(rng.uniform(0.8, 4)),
                stroke_db=float(rng.uniform(2, 10)))


def electric_shaver_toothbrush(rng, n, sr, c):
    up, down = _ends(rng, n, sr, 0.4)
    f0 = c["f0"] * 2 ** rng.normal(0, 0.1)
    body = c["body"] * 2 ** rng.normal(0, 0.3)
    amps = dsp.harmonic_amps(f0 * 1.05, sr, c["roll"], 12000, lambda f: dsp.bumps_db(f, body, 0.5, c["body_db"]))
    amps[1::2] *= 1 - c["odd"]  # square-ish buzz: even harmonics weakened
    f = f0 * dsp.track(rng, n, sr, 1.5, 0.03) * (0.6 + 0.4 * dsp.ramp(n, sr, up, down))
    buzz = dsp.rms_norm(dsp.wavetable(dsp.phase_of(f, sr), amps, phases=rng.uniform(0, 1, len(amps))))
    buzz *= 1 + 0.3 * np.sin(2 * np.pi * dsp.phase_of(f / 2, sr))  # rattle at half the motor rate
    nz = dsp.noise(rng, n, sr, lambda fr: dsp.bumps_db(fr, body * 1.5, 1.0, 10) + dsp.band_db(fr, 800, None))
    strokes = dsp.lfo(rng, n, sr, c["stroke"], c["stroke_db"])
    x = buzz * (1 - c["contact"]) * strokes + nz * c["contact"] * strokes ** 2
    return x * dsp.ramp(n, sr, up, down)


# ---------------------------------------------------------------- Frying

def frying_cluster(rng):
    return dict(hiss=float(dsp.loguniform(rng, 2500, 9000)), hiss_w=float(rng.uniform(0.6, 1.8)),
                hiss_db=float(rng.uniform(-6, 4)), rate=float(dsp.loguniform(rng, 80, 600)),
                lo=float(dsp.loguniform(rng, 700, 4000)), pops=float(rng.uniform(0.3, 4)),
                pop_f=float(dsp.loguniform(rng, 400, 2500)), sway=float(rng.uniform(0.1, 1.0)))


def frying(rng, n, sr, c):
    hc = c["hiss"] * 2 ** rng.normal(0, 0.3)
    hiss = dsp.noise(rng, n, sr, lambda f: dsp.bumps_db(f, hc, c["hiss_w"], 18) + dsp.band_db(f, 600, None))
    lo = c["lo"] * 2 ** rng.normal(0, 0.3)
    crack = dsp.bandpass(dsp.sparse_clicks(rng, n, sr, c["rate"] * rng.uniform(0.6, 1.6), 0.8), sr, lo, lo * 6)
    crack = dsp.rms_norm(crack)
    pops = dsp.resonator(dsp.sparse_clicks(rng, n, sr, c["pops"], 0.5), sr, c["pop_f"] * 2 ** rng.normal(0, 0.3), 6)
    x = crack + dsp.db(c["hiss_db"] + rng.normal(0, 3)) * hiss + 2.0 * dsp.rms_norm(pops) * min(1.0, c["pops"] / 2)
    return x * dsp.lfo(rng, n, sr, c["sway"], 4)


# ---------------------------------------------------------------- Running_water

def running_water_cluster(rng):
    return dict(lo=float(dsp.loguniform(rng, 150, 500)), hi=float(dsp.loguniform(rng, 1500, 5000)),
                tilt=float(rng.uniform(-6, -2)), rate=float(dsp.loguniform(rng, 40, 250)),
                bubble=float(dsp.loguniform(rng, 400, 2000)), spread=float(rng.uniform(0.2, 0.6)),
                bubble_db=float(rng.uniform(-4, 8)), gurgle=float(rng.uniform(1, 8)))


def running_water(rng, n, sr, c):
    lo, hi = c["lo"] * 2 ** rng.normal(0, 0.3), c["hi"] * 2 ** rng.normal(0, 0.3)
    flow = dsp.noise(rng, n, sr, lambda f: dsp.band_db(f, lo, hi, 1.5) + dsp.tilt_db(f, c["tilt"]))
    flow *= dsp.lfo(rng, n, sr, c["gurgle"], 5)
    bub = np.zeros(n)
    k = min(600, rng.poisson(c["rate"] * n / sr))
    fb = c["bubble"] * 2 ** rng.normal(0, 0.3)
    for s, f, a in zip(rng.integers(0, n, k), rng.lognormal(np.log(fb), c["spread"], k), rng.lognormal(0, 0.7, k)):
        tau = min(0.04, 0.003 + 6.0 / f)
        L = int(4 * tau * sr)
        t = np.arange(L) / sr
        rise = rng.uniform(0.1, 1.5)
        dsp.add_at(bub, a * np.exp(-t / tau) * np.sin(2 * np.pi * f * (t + rise * t * t / (2 * tau))), int(s))
    return flow + dsp.db(c["bubble_db"]) * dsp.rms_norm(bub)
