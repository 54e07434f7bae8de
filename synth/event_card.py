"""The plots and tables every multi-event generator (strong, semi, remix) puts in its dataset card.

Input is one row per clip: ``split``, ``filename``, ``labels`` (the final strong labels, ``[onset, offset, label]``)
and ``snrs`` (the SNR of each mixed event). Output is a list of card sections and a list of (caption, PNG name).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sedkit.synth.card import bars_png, hist_png, md_table, spectrogram_png
from sedkit.synth.polyphony import max_polyphony


def clip_stats(rows: pd.DataFrame) -> pd.DataFrame:
    """Per clip: number of events and max polyphony of its labels."""
    return pd.DataFrame({"split": rows.split.values,
                         "events": [len(ls) for ls in rows.labels],
                         "polyphony": [max_polyphony([tuple(e) for e in ls]) for ls in rows.labels]})


def event_table(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per labelled event: split, filename, onset, offset, event_label."""
    recs = [{"split": r.split, "filename": r.filename, "onset": e[0], "offset": e[1], "event_label": e[2]}
            for r in rows.itertuples() for e in r.labels]
    return pd.DataFrame(recs, columns=["split", "filename", "onset", "offset", "event_label"])


def event_card(out: Path, rows: pd.DataFrame, example_audio: Path, example_labels: list, example_title: str,
               prefix: str = "", splits: list[str] | None = None) -> tuple[list, list]:
    """Write the PNGs into ``out`` (names start with ``prefix``); return (sections, images) for write_card."""
    from sedkit.synth.audio import read

    out = Path(out)
    splits = splits or list(dict.fromkeys(rows.split))
    stats = clip_stats(rows)
    ev = event_table(rows)
    groups = lambda col: {s: stats.loc[stats.split == s, col].values for s in splits}  # noqa: E731
    top_n = int(max(stats.events.max(), 1))
    hist_png(out / f"{prefix}events_per_clip.png", None, "Events per clip", "events in the clip",
             bins=np.arange(0.5, top_n + 1.5), groups=groups("events"))
    hist_png(out / f"{prefix}polyphony.png", None, "Max polyphony per clip", "simultaneous events",
             bins=np.arange(-0.5, int(stats.polyphony.max()) + 1.5), groups=groups("polyphony"))
    snrs = np.array([v for s in rows.snrs for v in s], float)
    hist_png(out / f"{prefix}snr.png", snrs, "SNR of the mixed events", "SNR (dB)")
    totals = ev.groupby("event_label").size()
    bars_png(out / f"{prefix}class_totals.png", totals, "Labelled events per class (all splits)")
    x, sr = read(example_audio)
    spectrogram_png(out / f"{prefix}example.png", x, sr, [tuple(e) for e in example_labels], example_title)

    per_split = pd.DataFrame([{
        "split": s, "clips": int((stats.split == s).sum()),
        "events": int(stats.loc[stats.split == s, "events"].sum()),
        "events/clip": float(stats.loc[stats.split == s, "events"].mean()),
        "max polyphony": int(stats.loc[stats.split == s, "polyphony"].max()),
    } for s in splits])
    per_class = ev.groupby(["event_label", "split"]).size().unstack(fill_value=0)
    per_class = per_class.reindex(columns=[s for s in splits if s in per_class.columns])
    per_class["seconds"] = (ev.offset - ev.onset).groupby(ev.event_label).sum().round(1)
    sections = [("Counts per split", md_table(per_split)),
                ("Labelled events per class", md_table(per_class.reset_index()))]
    images = [("Events per clip", f"{prefix}events_per_clip.png"), ("Max polyphony per clip", f"{prefix}polyphony.png"),
              ("SNR of the events", f"{prefix}snr.png"), ("Events per class", f"{prefix}class_totals.png"),
              (example_title, f"{prefix}example.png")]
    return sections, images
