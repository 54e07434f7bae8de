"""The draws of one dynamic mixture, keyed by (seed, epoch, index) and nothing else.

:func:`draw_item` decides everything random about an item — files, excerpts, onsets, RIRs, effect chains with their
parameters, levels — from one numpy Generator, without touching audio. Both renders (numpy per clip in
:mod:`.chain`, torch per batch in :mod:`.gpu`) consume the same :class:`ItemDraw`, so they agree by construction on
what to do; the labels and frame targets come from the draw alone.

Per source the processing order is: resample (cached) -> pitch shift, if drawn, on the whole dry file (cached) ->
excerpt (backgrounds shorter than the clip loop) -> RIR with probability p -> the rest of the chain in drawn order
-> gain to the drawn RMS level -> placement at the onset. Every step keeps the source's length, so an event spans
exactly [onset, onset + length) samples.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from sedkit.synth.dynamic.chain import draw_chain
from sedkit.synth.dynamic.sources import SourcePool
from sedkit.synth.dynamic.spec import DynamicSpec
from sedkit.synth.rng import seed_sequence


@dataclass
class SourceDraw:
    role: str                    # foreground | background
    key: str                     # SourcePool key
    label: str
    start: int                   # first sample of the excerpt in the (resampled, pitch-shifted) source
    length: int                  # samples in the clip
    onset: int                   # first sample in the clip
    loop: bool = False           # background shorter than the clip: repeat it
    pitch_cents: float | None = None
    rir: int | None = None       # index into the RIR bank
    wet: float = 1.0
    effects: list = field(default_factory=list)   # [(name, params)] after the RIR, in order
    level_db: float = 0.0        # RMS dBFS after processing


@dataclass
class ItemDraw:
    seed: int
    epoch: int
    index: int
    sample_rate: int
    n_samples: int
    sources: list[SourceDraw]

    def events(self) -> list[tuple[float, float, str]]:
        """Foreground events (onset_s, offset_s, label), sorted."""
        sr = self.sample_rate
        return sorted((s.onset / sr, (s.onset + s.length) / sr, s.label) for s in self.sources if s.role == "foreground")

    def to_dict(self) -> dict:
        return asdict(self)


def source_length(duration_s: float, sr: int) -> int:
    """Samples of a source at ``sr``, from its indexed duration (never longer than what decoding gives)."""
    return max(1, int(np.floor(duration_s * sr + 1e-6)))


def item_generator(seed: int, split: str, epoch: int, index: int) -> np.random.Generator:
    return np.random.default_rng(seed_sequence(seed, "dynamic", split, epoch, index))


def _levels(spec: DynamicSpec, rng: np.random.Generator, n_fg: int) -> tuple[list[float], float]:
    lv = spec.levels
    d = lv.dists
    fg = [float(np.clip(d.fg_db.sample(rng), *lv.fg_clip_db)) for _ in range(n_fg)]
    cap = (min(fg) if fg else lv.fg_clip_db[1]) + lv.bg_max_above_min_fg_db
    bg = float(min(max(d.bg_db.sample(rng), lv.bg_floor_db), cap))
    return fg, bg


def _process(spec: DynamicSpec, rng: np.random.Generator, sd: SourceDraw, n_rirs: int) -> None:
    if n_rirs and rng.random() < spec.rir.p:
        sd.rir = int(rng.integers(n_rirs))
        sd.wet = float(np.clip(spec.rir.wet.sample(rng), 0.0, 1.0))
    chain = draw_chain(rng, spec.effects, sd.length, spec.sr)
    sd.pitch_cents = next((p["cents"] for name, p in chain if name == "pitch_shift"), None)
    sd.effects = [(name, p) for name, p in chain if name != "pitch_shift"]


def draw_item(spec: DynamicSpec, pool: SourcePool, n_rirs: int, seed: int, epoch: int, index: int) -> ItemDraw:
    rng = item_generator(seed, spec.split, epoch, index)
    sr, n_clip = spec.sr, spec.n_samples
    max_ev = min(n_clip, int(round(spec.max_event_s * sr)))
    sources = []
    n_fg = int(rng.integers(spec.n_events[0], spec.n_events[1] + 1))
    for _ in range(n_fg):
        ref = pool.pick_foreground(rng, spec.class_balanced)
        full = source_length(ref.duration_s, sr)
        length = min(full, max_ev)
        start = int(rng.integers(0, full - length + 1))
        onset = int(rng.integers(0, n_clip - length + 1))
        sources.append(SourceDraw("foreground", ref.key, ref.label, start, length, onset))
    if pool.bg:
        ref = pool.bg[int(rng.integers(len(pool.bg)))]
        full = source_length(ref.duration_s, sr)
        loop = full < n_clip
        start = int(rng.integers(0, full if loop else full - n_clip + 1))
        sources.append(SourceDraw("background", ref.key, ref.label, start, n_clip, 0, loop))
    for sd in sources:
        _process(spec, rng, sd, n_rirs)
    fg_levels, bg_level = _levels(spec, rng, n_fg)
    for sd, lv in zip(sources, fg_levels + [bg_level]):
        sd.level_db = lv
    return ItemDraw(seed, epoch, index, sr, n_clip, sources)
