"""Random effect chains and the per-clip numpy render (the CPU path).

Effects are drawn per source, 0–2 of them (``effects.count``), without replacement from ``effects.pool``.
audiomentations supplies pitch shift, low-pass and high-pass; :mod:`.transforms` the rest. audiomentations draws
from the global ``random``/``np.random``, so we never let it draw: our parameters come from the item's Generator and
are frozen into the audiomentations instance before it is called.
"""
from __future__ import annotations

import numpy as np
from scipy.signal import butter, fftconvolve

from sedkit.synth.dynamic.spec import DynamicSpec, EffectsSpec
from sedkit.synth.dynamic.transforms import Compressor, NoiseBursts, SineBursts, TimeVaryingComb, Transform


def pitch_shift(x: np.ndarray, sr: int, cents: float, method: str = "signalsmith_stretch") -> np.ndarray:
    """audiomentations' PitchShift by ``cents``, with the shift frozen (no global random draw)."""
    from audiomentations import PitchShift

    t = PitchShift(min_semitones=cents / 100, max_semitones=cents / 100, method=method, p=1.0)
    t.parameters = {"should_apply": True, "num_semitones": cents / 100}
    t.freeze_parameters()
    y = np.asarray(t(np.array(x, dtype=np.float32), sr), dtype=np.float32)  # a writable copy (python-stretch)
    return y[:len(x)] if len(y) >= len(x) else np.concatenate([y, np.zeros(len(x) - len(y), np.float32)])


class PitchShiftFx(Transform):
    def draw(self, rng, n, sr):
        return {"cents": float(self.spec.cents.sample(rng))}

    def render(self, samples, sr, cents):
        return pitch_shift(samples, sr, cents, self.spec.method)


class _Butterworth(Transform):
    """audiomentations' LowPassFilter / HighPassFilter (causal Butterworth, order = rolloff / 6) with frozen draws."""

    btype = "lowpass"

    def draw(self, rng, n, sr):
        rolloff = int(self.spec.rolloff_db.sample(rng))
        return {"cutoff_hz": float(min(self.spec.cutoff_hz.sample(rng), 0.45 * sr)), "rolloff_db": max(6, rolloff // 6 * 6)}

    def render(self, samples, sr, cutoff_hz, rolloff_db):
        from audiomentations import HighPassFilter, LowPassFilter

        cls = LowPassFilter if self.btype == "lowpass" else HighPassFilter
        t = cls(min_cutoff_freq=cutoff_hz, max_cutoff_freq=cutoff_hz, min_rolloff=rolloff_db, max_rolloff=rolloff_db,
                zero_phase=False, p=1.0)
        t.parameters = {"should_apply": True, "cutoff_freq": cutoff_hz, "rolloff": rolloff_db}
        t.freeze_parameters()
        return t(np.ascontiguousarray(samples, dtype=np.float32), sr)

    def sos(self, sr: int, cutoff_hz: float, rolloff_db: int) -> np.ndarray:
        """Second-order sections of the filter audiomentations builds for these parameters (same transfer
        function; sections paired directly from the poles, ~10x faster than scipy's general zpk2sos)."""
        z, p, k = butter(rolloff_db // 6, cutoff_hz, btype=self.btype, fs=sr, output="zpk")
        zero = -1.0 if self.btype == "lowpass" else 1.0          # Butterworth zeros all sit at z = -1 or z = +1
        rows = [[1.0, -2 * zero, 1.0, 1.0, -2 * q.real, abs(q) ** 2] for q in p if q.imag > 1e-12]
        rows += [[1.0, -zero, 0.0, 1.0, -q.real, 0.0] for q in p if abs(q.imag) <= 1e-12]
        sos = np.array(rows, dtype=np.float64)
        sos[0, :3] *= k
        return sos


class LowPass(_Butterworth):
    btype = "lowpass"


class HighPass(_Butterworth):
    btype = "highpass"


TRANSFORMS: dict[str, type[Transform]] = {
    "noise_bursts": NoiseBursts, "sine_bursts": SineBursts, "comb": TimeVaryingComb, "compression": Compressor,
    "pitch_shift": PitchShiftFx, "low_pass": LowPass, "high_pass": HighPass,
}


def make_transform(name: str, spec: EffectsSpec, params: dict | None = None,
                   rng: np.random.Generator | None = None) -> Transform:
    """The transform ``name`` configured from the spec; frozen to ``params`` when given."""
    t = TRANSFORMS[name](getattr(spec, name), p=1.0, rng=rng)
    return t.with_parameters(params) if params is not None else t


def draw_chain(rng: np.random.Generator, spec: EffectsSpec, n: int, sr: int) -> list[tuple[str, dict]]:
    """0..max effects without replacement, each with its parameters for a source of ``n`` samples."""
    k = int(spec.count.sample(rng))
    names = [spec.pool[i] for i in rng.choice(len(spec.pool), size=k, replace=False)] if k else []
    return [(name, make_transform(name, spec).draw(rng, n, sr)) for name in names]


def process_source(x: np.ndarray, sd, spec: DynamicSpec, rirs) -> np.ndarray:
    """RIR (wet/dry), the effect chain and the gain to the drawn level, on one dry excerpt."""
    sr = spec.sr
    y = np.asarray(x, dtype=np.float64)
    if sd.rir is not None:
        y = (1 - sd.wet) * y + sd.wet * fftconvolve(y, rirs.kernels[sd.rir].astype(np.float64))[:len(y)]
    y = y.astype(np.float32)
    for name, params in sd.effects:
        y = make_transform(name, spec.effects, params)(y, sr)
    y = np.asarray(y, dtype=np.float64)
    rms = np.sqrt(np.mean(y * y))
    return y * (10 ** (sd.level_db / 20) / max(rms, 1e-8))


def render_item(draw, arrays: list[np.ndarray], spec: DynamicSpec, rirs=None) -> np.ndarray:
    """The mixture of one :class:`~.plan.ItemDraw` (float32, peak-normalised when ``spec.peak_db`` is set)."""
    mix = np.zeros(draw.n_samples, dtype=np.float64)
    for sd, x in zip(draw.sources, arrays):
        mix[sd.onset:sd.onset + sd.length] += process_source(x, sd, spec, rirs)
    return normalize_peak(mix, spec.peak_db).astype(np.float32)


def normalize_peak(mix: np.ndarray, peak_db: float | None) -> np.ndarray:
    if peak_db is None:
        return mix
    peak = np.max(np.abs(mix))
    return mix * (10 ** (peak_db / 20) / peak) if peak > 0 else mix
