"""Mixing with the real Scaper, from any soundbank, deterministically.

Scaper wants ``fg_path/<label>/<file>`` and ``bg_path/<label>/<file>`` folders. :class:`ScaperView` builds that
layout as symbolic links into a folder of the output's hidden state (never touching the corpus). File names in the
view encode the bank-relative path, so the JAMS that :func:`save_jams` writes hold bank-relative paths only and any
clip can be regenerated from its JAMS with :func:`regenerate` given the bank.

Every value (files, times, SNRs, pitch) is drawn by the generator with the item's own RNG and passed to Scaper as
a ``const`` distribution: the clip depends only on (spec, seed, split, index).
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from sedkit import SedkitError
from sedkit.synth.compat import import_scaper
from sedkit.synth.io import atomic_path, safe_join
from sedkit.synth.soundbank.index import Soundbank

SEP = "~"  # separator replacing "/" in view file names


def _flat(rel: str) -> str:
    return rel.replace("/", SEP)


def unflat(name: str) -> str:
    return name.replace(SEP, "/")


class ScaperView:
    """View of ``bank`` under ``root``: ``root/{foreground,background}/<label>/<flattened path>``.

    Files are symbolic links into the bank. With ``sr``, files at another rate or with several channels are
    instead converted on first use to mono float WAVs at ``sr`` (soxr, deterministic): Scaper then mixes without
    resampling every source for every clip, which halves its mixing time. The converted copies live in the sedkit
    cache (:mod:`sedkit.synth.soundbank.converted`), shared by every later run at that rate, and the view links to
    them; where the cache cannot be written, the view holds its own copies.
    """

    def __init__(self, bank: Soundbank, root: str | os.PathLike, build: bool = True, sr: int | None = None):
        self.bank = bank
        self.root = Path(root)
        self.sr = sr
        self.fg_path = self.root / "foreground"
        self.bg_path = self.root / "background"
        self._convert = frozenset() if sr is None else bank.to_convert(sr)
        self._cache = None
        if self._convert:
            import soxr  # noqa: F401  (imported once here: forked workers inherit it for the resampling)

            from sedkit.synth.soundbank.converted import cache_folder

            self._cache = cache_folder(sr)
        folders: set[tuple[str, str]] = set()
        for r in (bank.index.itertuples(index=False) if build else ()):
            if (r.role, r.label) not in folders:  # every label folder, for Scaper, even if all its files convert
                safe_join(self.root, f"{r.role}/{r.label}/x").parent.mkdir(parents=True, exist_ok=True)
                folders.add((r.role, r.label))
            if r.path in self._convert:  # materialized on first use (path())
                continue
            link = safe_join(self.root, f"{r.role}/{r.label}/{_flat(r.path)}")
            if link.is_symlink():
                continue
            try:
                os.symlink(bank.abspath(r.path).resolve(), link)
            except FileExistsError:  # another worker made it
                pass

    def path(self, role: str, label: str, rel: str) -> str:
        p = self.root / role / label / _flat(rel)
        if rel in self._convert and not p.is_file():
            from sedkit.synth.soundbank.converted import convert, converted

            if p.is_symlink():  # its cached copy was removed meanwhile
                p.unlink(missing_ok=True)
            if self._cache is None:
                convert(self.bank.abspath(rel), p, self.sr)
            else:
                try:
                    os.symlink(converted(self.bank.abspath(rel), self.sr, self._cache), p)
                except FileExistsError:  # another worker linked it
                    pass
        return str(p)


WARNING_KINDS = {  # kind -> what the card says
    "clipping": "clips that clipped and were peak-normalised (event SNRs and ref_db shift with the scale factor)",
    "duration": "events whose duration, source time or event time Scaper changed to fit the source or the clip",
    "other": "other Scaper warnings",
}


def warning_kind(message: str) -> str:
    """The kind of a Scaper warning (a key of :data:`WARNING_KINDS`), from its message."""
    m = message.lower()
    if "clipping" in m or "peak normalization" in m:
        return "clipping"
    if "duration" in m or "source time" in m or "event time" in m:
        return "duration"
    return "other"


def add_warnings(total: dict[str, int], more: dict[str, int]) -> dict[str, int]:
    """``total`` + ``more``, kind by kind."""
    return {k: total.get(k, 0) + more.get(k, 0) for k in {*total, *more}}


def render(view: ScaperView, sr: int, duration: float, ref_db: float, background: dict | None, events: list[dict],
           reverb: float | None = None, fix_clipping: bool = True):
    """Mix one clip with Scaper. Returns (mono float32 audio, jams, [(onset, offset, label), ...], warnings) where
    warnings counts Scaper's warnings about this clip by kind (:func:`warning_kind`); other warnings are ignored.

    background: dict(path, label, source_time); events: dicts with label, path (bank-relative), source_time,
    event_time, event_duration, snr, and optional pitch_shift / time_stretch (None = off).
    """
    scaper = import_scaper()
    sc = scaper.Scaper(duration, str(view.fg_path), str(view.bg_path), random_state=0)
    sc.sr = sr
    sc.ref_db = ref_db
    sc.n_channels = 1
    if background is not None:
        sc.add_background(label=("const", background["label"]),
                          source_file=("const", view.path("background", background["label"], background["path"])),
                          source_time=("const", float(background["source_time"])))
    for e in events:
        sc.add_event(label=("const", e["label"]),
                     source_file=("const", view.path("foreground", e["label"], e["path"])),
                     source_time=("const", float(e["source_time"])),
                     event_time=("const", float(e["event_time"])),
                     event_duration=("const", float(e["event_duration"])),
                     snr=("const", float(e["snr"])),
                     pitch_shift=None if e.get("pitch_shift") is None else ("const", float(e["pitch_shift"])),
                     time_stretch=None if e.get("time_stretch") is None else ("const", float(e["time_stretch"])))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            audio, jam, ann_list, _ = sc.generate(audio_path=None, jams_path=None, fix_clipping=fix_clipping,
                                                  reverb=reverb, disable_instantiation_warnings=False)
        except Exception as ex:  # ScaperError and sox errors: name the sources involved
            srcs = ", ".join(e["path"] for e in events)
            raise SedkitError(f"scaper could not mix [{srcs}] over {background and background['path']}: {ex}") \
                from None
    x = np.asarray(audio, dtype=np.float32).reshape(len(audio), -1).mean(axis=1)
    if not np.all(np.isfinite(x)):
        raise SedkitError(f"mix of [{', '.join(e['path'] for e in events)}] produced NaN samples")
    labels = [(float(on), float(off), str(lab)) for on, off, lab in ann_list]
    warned: dict[str, int] = {}
    for w in caught:
        if type(w.message).__name__ == "ScaperWarning":
            kind = warning_kind(str(w.message))
            warned[kind] = warned.get(kind, 0) + 1
    return x, jam, labels, warned


def save_jams(jam, path: str | os.PathLike, view: ScaperView) -> None:
    """Write the JAMS atomically with view-relative paths (``foreground/<label>/<flattened bank path>``).

    Absolute paths of the view (in the sandbox, the event values and the specs) are stripped, so the JAMS is the
    same whatever the output folder; :func:`regenerate` re-roots them onto a view of the bank.
    """
    import json

    text = jam.dumps(indent=2)
    prefix = json.dumps(str(view.root) + os.sep)[1:-1]
    text = text.replace(prefix, "")
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)


def regenerate(jams_path: str | os.PathLike, view: ScaperView, out_audio: str | os.PathLike) -> np.ndarray:
    """Re-mix a clip from its JAMS with the sources of ``view``; writes ``out_audio`` and returns the samples.

    Use a view made like the generator's (same ``sr`` argument) to get the clip back sample for sample.
    """
    import jams

    scaper = import_scaper()
    ann = jams.load(str(jams_path)).annotations.search(namespace="scaper")[0]
    for obs in ann.data:  # materialize resampled sources the clip uses
        role, label, flat = obs.value["source_file"].split("/", 2)
        view.path(role, label, unflat(flat))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        audio, *_ = scaper.generate_from_jams(str(jams_path), None, fg_path=str(view.fg_path),
                                              bg_path=str(view.bg_path))
    x = np.asarray(audio, dtype=np.float32).reshape(len(audio), -1).mean(axis=1)
    from sedkit.synth.audio import write

    write(out_audio, x, int(_jams_sr(jams_path)))
    return x


def _jams_sr(jams_path) -> int:
    import jams

    jam = jams.load(str(jams_path))
    return int(jam.annotations.search(namespace="scaper")[0].sandbox.scaper["sr"])
