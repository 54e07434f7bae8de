"""The card of the built-in bank: README.md, spectrograms.png (one log-mel per class), durations.png."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from sedkit import __version__
from sedkit.synth import audio
from sedkit.synth.builtin import backgrounds, events
from sedkit.synth.io import atomic_path, atomic_write_text
from sedkit.synth.soundbank.index import SPLITS, load_soundbank

PNG_META = {"Software": None}  # no version string in the PNG: byte-identical across machines


def _example(bank, label: str) -> str:
    """The train file of ``label`` whose duration is closest to the class median (deterministic)."""
    df = bank.foregrounds("train", label)
    if df.empty:
        df = bank.foregrounds(None, label)
    d = (df.duration_s - df.duration_s.median()).abs()
    return df.loc[d.sort_values(kind="stable").index[0], "path"]


def plot_spectrograms(bank, path: Path) -> None:
    from sedkit.synth.card import figure

    labels = bank.labels
    fig, axes = figure(2, (len(labels) + 1) // 2, figsize=(18, 6.5), squeeze=False)
    for ax, label in zip(axes.flat, labels):
        x, sr = audio.read(bank.abspath(_example(bank, label)))
        S = 10 * audio.log10_mel(x, sr, n_mels=64, n_fft=1 << (int(0.025 * sr) - 1).bit_length(), hop_length=sr // 100)
        ax.imshow(S, origin="lower", aspect="auto", cmap="magma", vmin=S.max() - 80, vmax=S.max(),
                  extent=(0, len(x) / sr, 0, S.shape[0]))
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("s", fontsize=8)
        ax.set_ylabel("mel band", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(labels):]:
        ax.axis("off")
    fig.suptitle("Built-in soundbank: one log-mel spectrogram per class (train file of median duration)")
    fig.subplots_adjust(left=0.04, right=0.99, top=0.9, bottom=0.08, wspace=0.25, hspace=0.45)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=80, metadata=PNG_META)


def plot_durations(bank, path: Path) -> None:
    from sedkit.synth.card import figure

    labels = bank.labels
    df = bank.index[bank.index.role == "foreground"]
    bins = np.linspace(-1, np.log10(12), 25)  # log10 seconds: 0.1 s .. 12 s
    ticks = [0.1, 0.3, 1, 3, 10]
    fig, axes = figure(2, (len(labels) + 1) // 2, figsize=(18, 6), squeeze=False)
    for ax, label in zip(axes.flat, labels):
        d = df[df.label == label]
        ax.hist([np.log10(d[d.split == s].duration_s) for s in SPLITS], bins=bins, stacked=True, label=list(SPLITS))
        ax.set_xticks(np.log10(ticks), [f"{t:g}" for t in ticks])
        ax.set_title(f"{label} (median {d.duration_s.median():.1f} s)", fontsize=9)
        ax.set_xlabel("duration (s)", fontsize=8)
        ax.tick_params(labelsize=7)
    axes.flat[0].legend(fontsize=7)
    fig.suptitle("Built-in soundbank: foreground durations per class")
    fig.subplots_adjust(left=0.04, right=0.99, top=0.9, bottom=0.08, wspace=0.25, hspace=0.45)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=80, metadata=PNG_META)


def readme(bank, seed: int, scale: str) -> str:
    df = bank.index
    fg, bg = df[df.role == "foreground"], df[df.role == "background"]
    lines = [f"# sedkit built-in soundbank (seed {seed}, scale {scale})", "",
             f"Procedural, DESED-like: {len(fg)} foregrounds in {fg.label.nunique()} classes and {len(bg)} "
             f"backgrounds in {bg.label.nunique()} scene families, {df.duration_s.sum() / 60:.1f} min of mono "
             f"{int(df.sample_rate.iloc[0])} Hz audio. Made by sedkit {__version__} "
             f"(`sedkit soundbank make builtin --seed {seed} --scale {scale}`); the index is `sedkit_index.csv`.",
             "", "Every file belongs to a recordist group (`source_group`): the group shares a device colouring, "
             "a level range and a cluster of the family's parameters. Splits are disjoint by group. Files are dry "
             "(the synthetic domain); `sedkit.synth.builtin.channel.render_channel` gives the recorded-like version.",
             "", "| label | role | train | validation | eval | groups | median s | min s | max s |",
             "|---|---|---|---|---|---|---|---|---|"]
    groups = sorted(df.groupby(["role", "label"]), key=lambda kv: (kv[0][0] != "foreground", kv[0][1]))
    for (role, label), d in groups:
        n = [int((d.split == s).sum()) for s in SPLITS]
        lines.append(f"| {label} | {role} | {n[0]} | {n[1]} | {n[2]} | {d.source_group.nunique()} | "
                     f"{d.duration_s.median():.2f} | {d.duration_s.min():.2f} | {d.duration_s.max():.2f} |")
    lines += ["", "Event families: " + ", ".join(events.CLASSES) + ".",
              "Scene families: " + ", ".join(backgrounds.FAMILIES) + ".", "",
              "Realism check (a logistic regression on clip-mean log-mels, train groups -> eval groups; the bank "
              "is well posed at accuracy 0.60-0.95): `python -m sedkit.benchmarks.bank_realism --bank . --out DIR`.",
              "",
              "![one log-mel spectrogram per class](spectrograms.png)", "",
              "![duration histograms per class](durations.png)", ""]
    return "\n".join(lines)


def write_card(root: Path, seed: int, scale: str) -> None:
    bank = load_soundbank(root)
    plot_spectrograms(bank, root / "spectrograms.png")
    plot_durations(bank, root / "durations.png")
    atomic_write_text(root / "README.md", readme(bank, seed, scale))
