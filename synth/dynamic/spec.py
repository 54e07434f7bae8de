"""The dynamic-mixing spec (``specs/dynamic.yaml``): every number the mixer draws from lives here."""
from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from pydantic import field_validator, model_validator

from sedkit.specs import Dist, Spec, builtin_spec_path, load_spec

EFFECTS = ("noise_bursts", "sine_bursts", "comb", "compression", "pitch_shift", "low_pass", "high_pass")


class LevelDists(Spec):
    fg_db: Dist
    bg_db: Dist


class LevelsSpec(Spec):
    """Foreground level = clip(fg_db, *fg_clip_db); background = clip(bg_db, bg_floor_db, min_fg + bg_max_above_min_fg_db).

    Levels are RMS dBFS of each processed source before the mixture is peak-normalised.
    """

    variant: Literal["paper", "authors"]
    paper: LevelDists
    authors: LevelDists
    fg_clip_db: tuple[float, float]
    bg_floor_db: float
    bg_max_above_min_fg_db: float

    @property
    def dists(self) -> LevelDists:
        return self.paper if self.variant == "paper" else self.authors


class RirSpec(Spec):
    p: float                 # probability that a source is convolved with a RIR (when a bank is given)
    wet: Dist   # kernel = (1 - wet) * dirac + wet * rir
    max_s: float             # RIRs are cut to this length (after trimming the pre-delay)

    @field_validator("p")
    @classmethod
    def _p(cls, v):
        if not 0 <= v <= 1:
            raise ValueError("must be in [0, 1]")
        return v


class NoiseBurstsSpec(Spec):
    count: Dist
    duration_s: Dist
    level_db: Dist                 # burst RMS relative to the source RMS


class SineBurstsSpec(NoiseBurstsSpec):
    freq_hz: Dist


class CombSpec(Spec):
    delay_ms: Dist                 # mean delay of the time-varying feed-forward comb
    depth_ms: Dist                 # LFO swing of the delay (kept below delay_ms)
    rate_hz: Dist                  # LFO rate
    gain: Dist                     # gain of the delayed path


class CompressionSpec(Spec):
    threshold_db: Dist             # relative to the source peak
    ratio: Dist
    window_ms: Dist                # RMS envelope window


class PitchSpec(Spec):
    cents: Dist                    # a discrete set lets shifted sources be cached
    method: Literal["signalsmith_stretch", "librosa_phase_vocoder"]


class FilterSpec(Spec):
    cutoff_hz: Dist
    rolloff_db: Dist               # multiple of 6 (Butterworth order = rolloff / 6)


class EffectsSpec(Spec):
    count: Dist                    # chain length, drawn per source; effects are drawn without replacement
    pool: list[str]
    filter_ir_s: float       # the device path applies filters as their impulse response cut to this length
    noise_bursts: NoiseBurstsSpec
    sine_bursts: SineBurstsSpec
    comb: CombSpec
    compression: CompressionSpec
    pitch_shift: PitchSpec
    low_pass: FilterSpec
    high_pass: FilterSpec

    @model_validator(mode="after")
    def _check(self):
        bad = [e for e in self.pool if e not in EFFECTS]
        if bad:
            raise ValueError(f"pool: unknown effect(s) {bad}; known: {', '.join(EFFECTS)}")
        lo, hi = self.count.bounds()
        if lo < 0 or hi > len(self.pool):
            raise ValueError(f"count: chain length must lie in [0, {len(self.pool)}] (the pool size), got {self.count!r}")
        return self

    @property
    def max_count(self) -> int:
        return int(self.count.bounds()[1])


class FeatureAugSpec(Spec):
    p_noise: float
    snr_db: Dist                   # Gaussian noise added to the features at this SNR
    time_masks: int
    time_mask_max: int        # frames
    freq_masks: int
    freq_mask_max: int         # bins

    @field_validator("snr_db")
    @classmethod
    def _uniform(cls, v):
        if v.kind not in ("uniform", "const"):
            raise ValueError(f"must be [uniform, lo, hi] or a constant (drawn on the device), got {v!r}")
        return v


class ExtraBackgroundSpec(Spec):
    p: float
    level_db: Dist                 # extra background RMS relative to the clip RMS


class DynamicSpec(Spec):
    defaults_from: ClassVar[str] = "dynamic"  # every value: specs/dynamic.yaml
    sr: int
    clip_s: float
    frame_rate: float       # frames per second of the target matrix (16 kHz / hop 256)
    split: Literal["train", "validation", "eval"]
    n_events: tuple[int, int]   # foregrounds per clip, uniform integers in [min, max]
    class_balanced: bool    # draw a class first, then a file of that class
    max_event_s: float      # longer foregrounds are cut to a random excerpt of this length
    items_per_epoch: int
    peak_db: float | None   # peak-normalise each mixture to this level (null: leave levels as drawn)
    cache_mb: int           # per process, for resampled (and pitch-shifted) sources
    levels: LevelsSpec
    rir: RirSpec
    effects: EffectsSpec
    features: FeatureAugSpec
    extra_background: ExtraBackgroundSpec

    @field_validator("n_events")
    @classmethod
    def _n(cls, v):
        if v[0] < 1 or v[0] > v[1]:
            raise ValueError(f"expected 1 <= min <= max, got {list(v)}")
        return v

    @model_validator(mode="after")
    def _check(self):
        if self.sr <= 0 or self.clip_s <= 0 or self.frame_rate <= 0 or self.max_event_s <= 0:
            raise ValueError("sr, clip_s, frame_rate and max_event_s must be positive")
        return self

    @property
    def n_samples(self) -> int:
        return int(round(self.clip_s * self.sr))

    @property
    def n_frames(self) -> int:
        return int(round(self.clip_s * self.frame_rate))


def load_dynamic_spec(path: str | Path | None = None, overrides: dict | None = None) -> DynamicSpec:
    """The built-in ``specs/dynamic.yaml`` (or ``path``) with dotted ``overrides`` applied."""
    return load_spec(DynamicSpec, path or builtin_spec_path("dynamic"), overrides)
