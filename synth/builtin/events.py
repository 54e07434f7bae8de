"""The 10 DESED class families and the recordist groups that colour them.

A recordist group shares a device colouring (an EQ curve and a hiss floor), a level range and a parameter
cluster (the family's ``cluster`` draw). One file = the family's ``render`` around that cluster, coloured by the
group's device, scaled to a level in the group's range.
"""
from __future__ import annotations

import numpy as np

from sedkit.synth.builtin import dsp
from sedkit.synth.builtin import events_long as el
from sedkit.synth.builtin import events_short as es

CLASSES = ("Alarm_bell_ringing", "Blender", "Cat", "Dishes", "Dog", "Electric_shaver_toothbrush", "Frying",
           "Running_water", "Speech", "Vacuum_cleaner")

FAMILIES = {
    "Alarm_bell_ringing": (es.alarm_cluster, es.alarm),
    "Blender": (el.blender_cluster, el.blender),
    "Cat": (es.cat_cluster, es.cat),
    "Dishes": (es.dishes_cluster, es.dishes),
    "Dog": (es.dog_cluster, es.dog),
    "Electric_shaver_toothbrush": (el.electric_shaver_toothbrush_cluster, el.electric_shaver_toothbrush),
    "Frying": (el.frying_cluster, el.frying),
    "Running_water": (el.running_water_cluster, el.running_water),
    "Speech": (es.speech_cluster, es.speech),
    "Vacuum_cleaner": (el.vacuum_cleaner_cluster, el.vacuum_cleaner),
}


def device(rng: np.random.Generator) -> dict:
    """A recording device: band limits, spectral tilt, two resonances/notches, a hiss floor."""
    return dict(lowcut=float(dsp.loguniform(rng, 30, 200)), highcut=float(dsp.loguniform(rng, 7000, 20000)),
                tilt=float(rng.uniform(-1.0, 1.0)),
                peaks=[float(x) for x in dsp.loguniform(rng, 200, 8000, 2)],
                widths=[float(x) for x in rng.uniform(0.2, 0.8, 2)],
                gains=[float(x) for x in rng.uniform(-3.5, 3.5, 2)],
                hiss_db=float(rng.uniform(-75, -50)))


def colour(x: np.ndarray, sr: int, dev: dict, rng: np.random.Generator) -> np.ndarray:
    """Apply a device (with a little per-file jitter of its resonances) to a signal of unit-ish RMS."""
    jit = rng.uniform(0.8, 1.2, 2)

    def shape(f):
        return (dsp.band_db(f, dev["lowcut"], dev["highcut"], 2) + dsp.tilt_db(f, dev["tilt"])
                + dsp.bumps_db(f, dev["peaks"], dev["widths"], np.asarray(dev["gains"]) * jit))

    rms = np.sqrt(np.mean(x * x)) + 1e-12
    x = x + rng.standard_normal(len(x)) * rms * dsp.db(dev["hiss_db"] + 30)  # hiss relative to a -30 dB file
    return dsp.eq(x, sr, shape)


def group_params(rng: np.random.Generator, cluster, level_range: tuple[float, float]) -> dict:
    """The shared parameters of one recordist group: ``cluster`` is the family's cluster function."""
    return dict(cluster=cluster(rng), device=device(rng), level_db=float(rng.uniform(*level_range)))


def finish(x: np.ndarray, sr: int, level_db: float, fade_out_s: float = 0.02) -> np.ndarray:
    """Fades, RMS level (dBFS), peak kept below -1 dBFS; float32."""
    x = dsp.fades(dsp.rms_norm(np.asarray(x, dtype=float)), sr, 0.003, fade_out_s) * dsp.db(level_db)
    peak = np.max(np.abs(x)) if len(x) else 0.0
    if peak > 0.89:
        x *= 0.89 / peak
    return x.astype(np.float32)


def render_file(rng: np.random.Generator, render, n: int, sr: int, group: dict,
                level_jitter_db: float = 3.0) -> np.ndarray:
    """One dry file (no channel) of ``n`` samples from a family's ``render``, coloured by the group's device."""
    x = render(rng, n, sr, group["cluster"])
    x = colour(dsp.rms_norm(x), sr, group["device"], rng)
    return finish(x, sr, group["level_db"] + rng.uniform(-level_jitter_db, level_jitter_db))
