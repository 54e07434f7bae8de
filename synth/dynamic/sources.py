"""Where dynamic mixtures take their sources from, and the per-process cache of decoded audio.

A :class:`SourcePool` lists foregrounds (with labels) and backgrounds of one split, from a soundbank
(:func:`sedkit.synth.soundbank.index.load_soundbank`) and/or the isolated events of a strong data dir (each row of
``metadata/<split>.tsv`` or ``<split>_strong.tsv`` cut out of its clip). :class:`AudioCache` decodes, resamples and
removes the DC offset of a source once, and keeps pitch-shifted versions too, within a byte budget (LRU).
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sedkit import SedkitError
from sedkit.synth import audio


@dataclass(frozen=True)
class SourceRef:
    key: str
    path: Path
    label: str
    duration_s: float
    start_s: float = 0.0
    stop_s: float | None = None


class SourcePool:
    def __init__(self, fg: list[SourceRef], bg: list[SourceRef]):
        self.fg = sorted(fg, key=lambda r: r.key)
        self.bg = sorted(bg, key=lambda r: r.key)
        self.by_key = {r.key: r for r in self.fg + self.bg}
        if len(self.by_key) != len(self.fg) + len(self.bg):
            raise SedkitError("source pool: the same source key appears twice (merged pools overlap)")
        self.labels = sorted({r.label for r in self.fg})
        self.by_label = {c: [r for r in self.fg if r.label == c] for c in self.labels}

    def __add__(self, other: "SourcePool") -> "SourcePool":
        return SourcePool(self.fg + other.fg, self.bg + other.bg)

    def pick_foreground(self, rng: np.random.Generator, class_balanced: bool) -> SourceRef:
        if not self.fg:
            raise SedkitError("source pool has no foreground sounds for this split")
        if class_balanced:
            refs = self.by_label[self.labels[int(rng.integers(len(self.labels)))]]
        else:
            refs = self.fg
        return refs[int(rng.integers(len(refs)))]

    @classmethod
    def from_soundbank(cls, root: str | Path, split: str) -> "SourcePool":
        from sedkit.synth.soundbank.index import load_soundbank

        bank = load_soundbank(root)

        def refs(df):
            return [SourceRef(f"bank:{r.path}", bank.abspath(r.path), r.label, float(r.duration_s))
                    for r in df.itertuples()]

        pool = cls(refs(bank.foregrounds(split)), refs(bank.backgrounds(split)))
        if not pool.fg:
            raise SedkitError(f"{root}: soundbank has no foregrounds in split {split!r}")
        return pool

    @classmethod
    def from_strong_dir(cls, root: str | Path, split: str, min_event_s: float = 0.05) -> "SourcePool":
        """The events of a strong data dir, each cut out of its clip (no backgrounds)."""
        from sedkit.synth.contract import read_metadata

        root = Path(root)
        meta = root / "metadata"
        for name in (f"{split}_strong.tsv", f"{split}.tsv"):
            if (meta / name).is_file():
                kind, df = read_metadata(meta / name)
                if kind == "strong":
                    break
        else:
            raise SedkitError(f"{root}: no strong metadata for split {split!r} "
                              f"(looked for metadata/{split}_strong.tsv and metadata/{split}.tsv)")
        df = df.dropna(subset=["onset", "offset"])
        fg = []
        for r in df.itertuples():
            if float(r.offset) - float(r.onset) < min_event_s:
                continue
            key = f"strong:{split}/{r.filename}@{float(r.onset):.3f}-{float(r.offset):.3f}:{r.event_label}"
            fg.append(SourceRef(key, root / "audio" / split / r.filename, str(r.event_label),
                                float(r.offset) - float(r.onset), float(r.onset), float(r.offset)))
        fg = list({r.key: r for r in fg}.values())
        if not fg:
            raise SedkitError(f"{meta}: no events of at least {min_event_s} s in split {split!r}")
        return cls(fg, [])


class AudioCache:
    """Decoded sources at one sample rate (DC removed), plus pitch-shifted variants; least recently used go first."""

    def __init__(self, sr: int, max_bytes: int, pitch_method: str = "signalsmith_stretch"):
        self.sr, self.max_bytes, self.pitch_method = sr, max_bytes, pitch_method
        self._data: OrderedDict = OrderedDict()
        self._bytes = 0
        self.hits = self.misses = 0

    def get(self, ref: SourceRef, cents: float | None = None) -> np.ndarray:
        key = (ref.key, float(cents or 0.0))
        if key in self._data:
            self.hits += 1
            self._data.move_to_end(key)
            return self._data[key]
        self.misses += 1
        if cents:
            from sedkit.synth.dynamic.chain import pitch_shift

            y = pitch_shift(self.get(ref), self.sr, float(cents), self.pitch_method)
        else:
            y, _ = audio.read(ref.path, sr=self.sr, start_s=ref.start_s, stop_s=ref.stop_s)
            y = y - np.float32(y.mean())
        y = np.ascontiguousarray(y, dtype=np.float32)
        y.flags.writeable = False
        self._data[key] = y
        self._bytes += y.nbytes
        while self._bytes > self.max_bytes and len(self._data) > 1:
            _, old = self._data.popitem(last=False)
            self._bytes -= old.nbytes
        return y


def excerpt(x: np.ndarray, start: int, length: int, loop: bool) -> np.ndarray:
    """``length`` samples of ``x`` from ``start``; looping (backgrounds) or zero-padded past the end."""
    if loop:
        reps = -(-(start + length) // len(x))
        return np.tile(x, reps)[start:start + length]
    out = x[start:start + length]
    if len(out) < length:
        out = np.concatenate([out, np.zeros(length - len(out), np.float32)])
    return out


def load_sources(draw, pool: SourcePool, cache: AudioCache) -> list[np.ndarray]:
    """The dry, pitch-shifted excerpts of every source of an :class:`~.plan.ItemDraw`, in order."""
    out = []
    for sd in draw.sources:
        x = cache.get(pool.by_key[sd.key], sd.pitch_cents)
        out.append(excerpt(x, sd.start, sd.length, sd.loop))
    return out
