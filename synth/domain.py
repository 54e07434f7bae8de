"""The source / target domains of `sedkit synth semi` and the domain-gap statistic.

- Background families: the bank's families (sorted) are dealt alternately to the source side (A) and the target
  side (B). With ``s = gap / 3``, a source-domain clip draws a background file of A with weight ``1 + s`` and of B
  with ``1 - s``; the target domain the other way round. Gap 0: both draw uniformly from every file (identical
  distributions); gap 3: disjoint families. The draw is coupled (:class:`sedkit.synth.scene.BackgroundGroups`).
- Recorded-like channel: every bank file is rendered once through
  :func:`sedkit.synth.builtin.channel.render_channel` with strength ``gap`` (its rng keyed by seed and bank path),
  resampled to the dataset rate, into a cached target-domain bank under ``out/.sedkit/target/`` in the index
  contract. Target-domain clips are mixed from it with Scaper as usual; at gap 0 the dry bank itself is used.
- Statistic: the distance between the mean log-mel spectra (64 bands, dB) of source- and target-domain clips,
  ``sqrt(mean_band((mu_S - mu_T)^2))``. The headline value is measured on paired probe clips: probe i is drawn
  twice from the same random stream, once per domain (same events, times and levels; the background draw is
  coupled, so it changes only where the family weights differ), so sampling noise cancels: exactly 0 at gap 0.
  The card also gives the (noisier) distance between the dataset's own source and target splits.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sedkit.synth.rng import seed_sequence
from sedkit.synth.runner import Item
from sedkit.synth.scene import BackgroundGroups

TARGET_DIR = ".sedkit/target"
N_MELS = 64


def family_sides(families: list[str]) -> tuple[list[str], list[str]]:
    fams = sorted(set(families))
    return fams[0::2], fams[1::2]


def family_groups(domain: str, gap: float, sides: tuple[list[str], list[str]]) -> BackgroundGroups:
    """Background groups (A, B) of ``domain`` (source|target) at ``gap``: weights 1 ± gap/3."""
    s = min(max(gap / 3.0, 0.0), 1.0)
    a, b = tuple(sides[0]), tuple(sides[1])
    if not a or not b:  # a single family: nothing to shift
        return BackgroundGroups((a + b,), (1.0,))
    return BackgroundGroups((a, b), (1.0 + s, 1.0 - s) if domain == "source" else (1.0 - s, 1.0 + s))


@dataclass
class ChannelCtx:
    out: str
    bank_root: str
    paths: list[str]
    sr: int
    gap: float
    seed: int


def target_rel(path: str) -> str:
    """Where a bank file's target-domain rendering lives (always wav) relative to the target bank root."""
    return path if path.lower().endswith(".wav") else path + ".wav"


def make_channel_item(ctx: ChannelCtx, item: Item) -> dict:
    from sedkit.synth.audio import read, write
    from sedkit.synth.builtin.channel import render_channel

    path = ctx.paths[item.index]
    x, _ = read(Path(ctx.bank_root) / path, sr=ctx.sr)
    rng = np.random.default_rng(seed_sequence(ctx.seed, "channel", path))
    y = render_channel(x, ctx.sr, rng, ctx.gap)
    rel = f"{TARGET_DIR}/{target_rel(path)}"
    write(Path(ctx.out) / rel, y, ctx.sr)
    return {"files": [rel], "meta": {"path": path, "frames": int(len(y))}}


def build_target_bank(job, bank, out: Path, sr: int, gap: float, seed: int):
    """Render the bank through the channel (resumable through ``job``); returns the target bank."""
    from sedkit.synth.builtin.channel import rir_set
    from sedkit.synth.soundbank.index import load_soundbank, write_index

    rir_set(sr)  # simulate the rooms once, before the workers fork
    paths = list(bank.index.path)
    ctx = ChannelCtx(str(out), str(bank.root), paths, sr, gap, seed)
    res = job.run(make_channel_item, ctx, [Item("channel", i) for i in range(len(paths))], desc="target channel")
    frames = {rec["meta"]["path"]: rec["meta"]["frames"] for rec in res.values()}
    idx = bank.index.copy()
    idx["path"] = [target_rel(p) for p in idx.path]
    idx["duration_s"] = [frames[p] / sr for p in bank.index.path]
    idx["sample_rate"] = sr
    idx["channels"] = 1
    write_index(out / TARGET_DIR, idx)
    return load_soundbank(out / TARGET_DIR)


def mean_logmel(x: np.ndarray, sr: int) -> list[float]:
    """Clip-mean log-mel spectrum (dB, 64 bands), rounded to 0.01 dB so it is stable in JSON."""
    from sedkit.synth.audio import log10_mel

    db = 10 * log10_mel(x, sr, N_MELS, n_fft=1024, hop_length=512).mean(axis=1)
    return [round(float(v), 2) for v in db]


def gap_distance(source: np.ndarray, target: np.ndarray) -> float:
    """RMS over bands of the difference of the two domains' mean log-mel spectra (dB)."""
    mu_s, mu_t = np.asarray(source, float).mean(axis=0), np.asarray(target, float).mean(axis=0)
    return float(np.sqrt(np.mean((mu_s - mu_t) ** 2)))


def gap_report(rows: pd.DataFrame, probes: pd.DataFrame, source_splits: list[str],
               target_splits: list[str]) -> pd.DataFrame:
    """The paired-probe distance (first row), then each target split's distance to the source-domain clips."""
    recs = []
    if len(probes):
        recs.append({"compared": "paired probe clips", "target clips": len(probes), "source clips": len(probes),
                     "mean log-mel distance (dB)": gap_distance(np.stack(probes.source.values),
                                                                np.stack(probes.target.values))})
    have = rows[rows.logmel.map(lambda v: v is not None)]
    src = have[have.split.isin(source_splits)]
    groups = [("+".join(target_splits[:2]), target_splits[:2])] + [(s, [s]) for s in target_splits]
    for name, splits in groups:
        tgt = have[have.split.isin(splits)]
        if len(tgt) and len(src):
            recs.append({"compared": f"{name} clips", "target clips": len(tgt), "source clips": len(src),
                         "mean log-mel distance (dB)": gap_distance(np.stack(src.logmel.values),
                                                                    np.stack(tgt.logmel.values))})
    return pd.DataFrame(recs)


def spectra_png(path: Path, rows: pd.DataFrame, source_splits: list[str], target_splits: list[str], title: str):
    from sedkit.synth.card import TITLE_Y, figure, save_fig

    have = rows[rows.logmel.map(lambda v: v is not None)]
    fig, ax = figure(figsize=(7, 3.5))
    for name, splits, style in (("source (" + ", ".join(source_splits) + ")", source_splits, "-"),
                                ("target (" + ", ".join(target_splits) + ")", target_splits, "--")):
        v = have[have.split.isin(splits)].logmel.values
        if len(v):
            ax.plot(np.stack(v).mean(axis=0), style, label=name)
    ax.set_xlabel("mel band")
    ax.set_ylabel("mean log-mel (dB)")
    ax.set_title(title, y=TITLE_Y)
    ax.legend(fontsize=8)
    return save_fig(fig, path)
