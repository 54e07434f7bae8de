"""Parametric families of the short DESED classes: Alarm_bell_ringing, Dishes, Dog, Cat, Speech.

Each family is a pair ``cluster(rng) -> dict`` (the parameter centre of one recordist group) and
``render(rng, n, sr, c) -> np.ndarray`` (one file of ``n`` samples, jittered around the centre ``c``).
"""
from __future__ import annotations

import numpy as np
from scipy import signal

from sedkit.synth.builtin import dsp

# ---------------------------------------------------------------- Alarm_bell_ringing

ALARM_KINDS = ("beep", "two_tone", "siren", "bell", "ring")


def alarm_cluster(rng):
    return dict(kind=str(rng.choice(ALARM_KINDS)), f0=float(dsp.loguniform(rng, 700, 3200)),
                n_harm=int(rng.integers(1, 7)), roll=float(rng.uniform(-14, -2)),
                period=float(rng.uniform(0.15, 1.0)), duty=float(rng.uniform(0.3, 0.8)))


def alarm(rng, n, sr, c):
    kind = c["kind"] if rng.random() < 0.75 else str(rng.choice(ALARM_KINDS))
    f0 = c["f0"] * 2 ** rng.normal(0, 0.35)
    period = c["period"] * rng.uniform(0.8, 1.25)
    duty = float(np.clip(c["duty"] + rng.normal(0, 0.1), 0.2, 0.9))
    amps = 10 ** (c["roll"] * np.log2(np.arange(1, c["n_harm"] + 1)) / 20)
    t = np.arange(n) / sr
    wob = dsp.track(rng, n, sr, 1.0, 0.01)
    if kind == "beep":
        x = dsp.wavetable(dsp.phase_of(f0 * wob, sr), amps) * dsp.gate(n, sr, period * duty, period * (1 - duty), 0.004)
    elif kind == "two_tone":
        sel = dsp.gate(n, sr, period / 2, period / 2, 0.01)
        f = f0 * (1 + sel * rng.uniform(0.15, 0.6)) * wob
        x = dsp.wavetable(dsp.phase_of(f, sr), amps)
    elif kind == "siren":
        depth = rng.uniform(0.2, 0.9)
        f = f0 * 2 ** (depth * (np.sin(2 * np.pi * t / (period * 3)) - 1) / 2) * wob
        x = dsp.wavetable(dsp.phase_of(f, sr), amps)
    elif kind == "bell":
        rate = rng.uniform(8, 25) if rng.random() < 0.6 else 1 / period
        ratios = np.array([1.0, 2.32, 4.25, 6.63, 9.38]) * rng.uniform(0.97, 1.03, 5)
        kern_n = min(n, int(sr * 0.6))
        kern = dsp.modes(kern_n, sr, f0 * ratios, rng.uniform(0.05, 0.5) * ratios ** -0.7,
                         10 ** (rng.uniform(-20, 0, 5) / 20), rng)
        exc = np.zeros(n)
        hits = np.arange(0, n, max(1, int(sr / rate)))
        exc[hits] = rng.uniform(0.6, 1.0, len(hits))
        x = signal.fftconvolve(exc, kern)[:n]
    else:  # ring: two close tones, warbled at ~20 Hz, in on/off cadence
        f2 = f0 * rng.uniform(1.15, 1.35)
        warble = 0.5 + 0.5 * np.sign(np.sin(2 * np.pi * rng.uniform(12, 25) * t))
        x = (np.sin(2 * np.pi * f0 * t) * warble + np.sin(2 * np.pi * f2 * t) * (1 - warble))
        x *= dsp.gate(n, sr, rng.uniform(0.3, 1.0), rng.uniform(0.2, 1.0), 0.01)
    return x + 0.02 * dsp.noise(rng, n, sr, lambda f: dsp.bumps_db(f, f0, 0.5, 20) - 20)


# ---------------------------------------------------------------- Dishes

MATERIALS = {"ceramic": (900, 6000, 0.02, 0.12), "glass": (1800, 9000, 0.04, 0.3),
             "metal": (2500, 12000, 0.08, 0.6), "plastic": (500, 3500, 0.008, 0.04)}


def dishes_cluster(rng):
    m = str(rng.choice(list(MATERIALS)))
    return dict(material=m, rate=float(rng.uniform(6, 20)), scrape=float(rng.uniform(0, 0.5)),
                thud=float(rng.uniform(0, 0.6)),
                shift=float(rng.uniform(-0.5, 0.5)))


def dishes(rng, n, sr, c):
    m = c["material"] if rng.random() < 0.7 else str(rng.choice(list(MATERIALS)))
    flo, fhi, dlo, dhi = MATERIALS[m]
    sh = 2 ** (c["shift"] + rng.normal(0, 0.2))
    out = np.zeros(n)
    k = max(1, rng.poisson(c["rate"] * n / sr))
    starts = np.sort(np.concatenate([[int(0.005 * sr)], rng.integers(0, max(1, n - int(0.05 * sr)), k - 1)]))
    for s in starts:
        p = int(rng.integers(5, 13))
        dec = dsp.loguniform(rng, dlo, dhi, p)
        L = min(n - s, int(sr * 4 * dec.max()) + 1)
        hit = dsp.modes(L, sr, dsp.loguniform(rng, flo * sh, fhi * sh, p), dec, rng.uniform(0.2, 1, p), rng)
        cl = min(L, int(0.004 * sr))
        hit[:cl] += dsp.bandpass(rng.standard_normal(cl), sr, 1500, None) * np.linspace(1, 0, cl) * 1.5
        if rng.random() < c["thud"]:  # the plate or pan hits the table: a short low knock
            hit[:min(L, int(0.03 * sr))] += dsp.modes(min(L, int(0.03 * sr)), sr, [rng.uniform(120, 400)], [0.008],
                                                      [1.0], rng)
        dsp.add_at(out, hit * rng.lognormal(0, 0.6), s)
    if rng.random() < c["scrape"]:
        scr = dsp.noise(rng, n, sr, lambda f: dsp.band_db(f, 1500 * sh, 7000 * sh))
        out += 0.08 * scr * dsp.lfo(rng, n, sr, 12, 12)
    return out


# ---------------------------------------------------------------- voices (Dog, Cat, Speech)

def formant_amps(hf, centres, bws, gains, tilt_oct=-6.0):
    """Harmonic amplitudes from resonance curves: hf (K, T); centres/bws (J, T) or (J,); gains (J,)."""
    out = np.zeros_like(hf)
    for cen, bw, g in zip(centres, bws, gains):
        out += g / (1 + ((hf - cen) / (bw / 2)) ** 2)
    return out * (np.maximum(hf, 50) / 100.0) ** (tilt_oct / 6.02)


def dog_cluster(rng):
    size = rng.uniform(0, 1)  # 0 small ... 1 large
    return dict(f0=float(800 * 2 ** (-1.7 * size)), formant=float(1500 * 2 ** (-1.4 * size)),
                noise=float(rng.uniform(0.3, 0.7)), bark=float(rng.uniform(0.1, 0.28)),
                gap=float(rng.uniform(0.15, 0.6)), growl=float(rng.uniform(0, 0.3)))


def dog(rng, n, sr, c):
    out = np.zeros(n)
    pos = int(rng.uniform(0.0, 0.03) * sr)
    while pos < n - int(0.05 * sr):
        if rng.random() < c["growl"]:
            L = min(n - pos, int(rng.uniform(0.4, 1.2) * sr))
            f0 = np.full(L, c["f0"] * rng.uniform(0.15, 0.3))
            v = dsp.additive(f0, sr, lambda hf: formant_amps(hf, [c["formant"] * 0.5], [600], [1.0]), fmax=4000,
                             rng=rng)
            v *= 1 + 0.8 * np.sin(2 * np.pi * rng.uniform(25, 45) * np.arange(L) / sr)
            env = dsp.ad_env(L, sr, 0.05, L / sr / 2, L / sr / 3)
        else:
            L = min(n - pos, int(c["bark"] * rng.uniform(0.7, 1.4) * sr))
            t = np.linspace(0, 1, L)
            f0 = c["f0"] * 2 ** rng.normal(0, 0.25) * (1 + 0.25 * np.sin(np.pi * np.minimum(t * 2, 1))) * (1 - 0.3 * t)
            fc = c["formant"] * 2 ** rng.normal(0, 0.2)
            v = dsp.additive(f0, sr, lambda hf: formant_amps(hf, [fc, fc * 2.3], [fc * 0.8, fc], [1.0, 0.5]),
                             fmax=7000, rng=rng)
            env = dsp.ad_env(L, sr, 0.008, L / sr / 3, L / sr * 0.3)
        nz = dsp.bandpass(rng.standard_normal(L), sr, c["formant"] * 0.4, c["formant"] * 3)
        x = (dsp.rms_norm(v) * (1 - c["noise"]) + dsp.rms_norm(nz) * c["noise"]) * env
        dsp.add_at(out, x * rng.uniform(0.5, 1.0), pos)
        pos += L + int(c["gap"] * rng.uniform(0.5, 1.8) * sr)
    return out


def cat_cluster(rng):
    return dict(f0=float(dsp.loguniform(rng, 450, 1100)), formant=float(dsp.loguniform(rng, 1000, 3000)),
                meow=float(rng.uniform(0.4, 1.3)), purr=float(rng.uniform(0, 0.2)), nasal=float(rng.uniform(0, 1)))


def cat(rng, n, sr, c):
    if rng.random() < c["purr"]:
        t = np.arange(n) / sr
        pulses = np.maximum(np.sin(2 * np.pi * rng.uniform(22, 30) * t), 0) ** 4
        breath = 0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(0.5, 0.9) * t)
        return dsp.bandpass(rng.standard_normal(n), sr, 80, rng.uniform(600, 1500)) * pulses * breath
    out = np.zeros(n)
    pos = 0
    while pos < n - int(0.1 * sr):
        L = min(n - pos, int(c["meow"] * rng.uniform(0.6, 1.5) * sr))
        t = np.linspace(0, 1, L)
        arch = np.sin(np.pi * np.minimum(t ** rng.uniform(0.5, 1.2), 1))
        f0 = c["f0"] * 2 ** rng.normal(0, 0.2) * (0.65 + 0.35 * arch) * dsp.track(rng, L, sr, 6, 0.02)
        hop = 256
        mouth = 0.55 + 0.6 * np.sin(np.pi * np.linspace(0, 1, L // hop + 2))  # opens then closes: "me-ow"
        fc = (c["formant"] * 2 ** rng.normal(0, 0.15) * mouth)[None, :]

        def amps(hf, fc=fc):
            f1 = fc[:, :hf.shape[1]]
            return formant_amps(hf, [f1, f1 * 2.5], [700, 1200], [1.0, 0.3 + 0.5 * c["nasal"]])

        v = dsp.additive(f0, sr, amps, hop=hop, fmax=9000, rng=rng)
        v = dsp.rms_norm(v) + 0.03 * dsp.bandpass(rng.standard_normal(L), sr, 2000, None)
        dsp.add_at(out, v * dsp.ad_env(L, sr, 0.06, 0.12, max(0.0, L / sr - 0.25)), pos)
        pos += L + int(rng.uniform(0.1, 0.8) * sr)
    return out


VOWELS = np.array([[730, 1090, 2440], [530, 1840, 2480], [270, 2290, 3010], [570, 840, 2410],
                   [300, 870, 2240], [660, 1720, 2410], [490, 1350, 1690]], dtype=float)


def speech_cluster(rng):
    voice = rng.uniform(0, 1)  # 0 adult male ... 1 child
    return dict(f0=float(95 * 2 ** (1.6 * voice + rng.normal(0, 0.15))), scale=float(0.88 + 0.3 * voice),
                rate=float(rng.uniform(3.0, 6.0)), breath=float(rng.uniform(0.02, 0.2)),
                range=float(rng.uniform(0.1, 0.4)), fric=float(rng.uniform(0.2, 0.7)))


def speech(rng, n, sr, c):
    hop = 256
    T = n // hop + 2
    F = np.zeros((3, T))
    voiced, fric, plos = np.zeros(T), np.zeros(T), np.zeros(T)
    acc = np.zeros(T)
    fr = sr / hop  # control frames per second
    i = int(rng.uniform(0, 0.02) * fr)
    vowel = VOWELS[rng.integers(len(VOWELS))]
    F[:, :] = vowel[:, None]
    cons_w = np.array([c["fric"] * 0.6, 0.3, 0.7 - c["fric"] * 0.6, 0.3])
    cons_p = cons_w / np.sum(cons_w)
    while i < T:
        cons = rng.choice(["fric", "plos", "none", "nasal"], p=cons_p)
        cl = int(rng.uniform(0.03, 0.1) * fr)
        if cons == "fric":
            fric[i:i + cl] = 1
        elif cons == "plos":
            plos[i + cl - 2:i + cl] = 1
        elif cons == "nasal":
            voiced[i:i + cl] = 0.3
        i += cl
        vl = max(2, int(rng.uniform(0.5, 1.1) / c["rate"] * fr))
        vowel = VOWELS[rng.integers(len(VOWELS))] * c["scale"] * 2 ** rng.normal(0, 0.05, 3)
        F[:, i:] = vowel[:, None]
        voiced[i:i + vl] = np.sin(np.pi * np.linspace(0.1, 0.9, len(voiced[i:i + vl]))) ** 0.5
        acc[i:i + vl] = rng.normal(0, 1)
        i += vl
        if rng.random() < 0.2:  # word / phrase pause
            i += int(rng.uniform(0.05, 0.35) * fr)
    k = np.ones(7) / 7
    F = np.stack([np.convolve(np.pad(f, 3, mode="edge"), k, "valid") for f in F])
    acc = np.convolve(np.pad(acc, 10, mode="edge"), np.ones(21) / 21, "valid")
    voiced = np.convolve(np.pad(voiced, 2, mode="edge"), np.ones(5) / 5, "valid")
    decl = np.linspace(0.1, -0.1, T) * c["range"]
    f0c = c["f0"] * 2 ** rng.normal(0, 0.1) * 2 ** (decl + acc * c["range"] * 0.5)
    f0 = np.interp(np.arange(n) / hop, np.arange(T), f0c)
    bw = np.array([90, 120, 180])[:, None] * np.ones((1, T))
    v = dsp.additive(f0, sr, lambda hf: formant_amps(hf, F[:, None, :hf.shape[1]], bw[:, None, :hf.shape[1]],
                                                     [1.0, 0.6, 0.3], tilt_oct=-4)
                     * voiced[None, :hf.shape[1]], hop=hop, fmax=6000, rng=rng)
    v = dsp.rms_norm(v)
    up = np.arange(n) / hop
    fr_env = np.interp(up, np.arange(T), np.convolve(fric, np.ones(3) / 3, "same"))
    pl_env = np.interp(up, np.arange(T), plos)
    hiss = dsp.bandpass(rng.standard_normal(n), sr, 2500 * c["scale"], 9000)
    burst = dsp.bandpass(rng.standard_normal(n), sr, 500, 5000)
    vz = np.interp(up, np.arange(T), voiced)
    return v + hiss * (0.5 * fr_env + c["breath"] * vz) + burst * pl_env
