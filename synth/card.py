"""Dataset cards: README.md with tables and PNG plots beside them.

Generators collect their figures with these helpers and call :func:`write_card`. All writes are atomic.
"""
from __future__ import annotations

import contextlib
import functools
import os
import threading
import traceback
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from sedkit.synth.io import atomic_path, atomic_write_text
from sedkit.synth.workers import keep_freed_memory


TITLE_Y = 1.0  # titles sit on the axes' top edge: where matplotlib's automatic placement puts them when nothing is
# drawn above the axes (true of every card figure), without that placement's extent search (~10 ms a figure)


def figure(nrows: int = 1, ncols: int = 1, *, figsize=None, layout=None, **subplots):
    """``(fig, axes)`` like ``pyplot.subplots``, for figures written to files: the figure is not registered with
    pyplot, so no backend is chosen or changed (nothing global; a notebook's backend stays as it is), nothing needs
    closing, and ``fig.savefig`` renders it with Agg."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout=layout)
    return fig, fig.subplots(nrows, ncols, **subplots)


@functools.lru_cache(maxsize=1)
def blas_controller():
    """threadpoolctl's view of the loaded BLAS libraries, made once (listing them costs ~6 ms a time); None without
    threadpoolctl. :func:`warm_up` makes it while the workers mix, after the imports that load BLAS."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # scikit-learn's dependency; without it, BLAS keeps its threads
        return None
    import scipy.linalg  # noqa: F401  (scipy's own BLAS, which the kernel density uses, is loaded by now)

    return ThreadpoolController()


@contextlib.contextmanager
def one_blas_thread():
    """BLAS on one thread inside the block. scipy's kernel density makes tiny BLAS calls (a triangular solve per
    curve) that cost milliseconds each when OpenBLAS wakes its threads on a busy machine, and microseconds on one
    thread; the numbers are the same (each point is solved on its own)."""
    ctl = blas_controller()
    if ctl is None:
        yield
        return
    with ctl.limit(limits=1, user_api="blas"):
        yield


def warm_up() -> None:
    """Import what the PNGs need (matplotlib's figure, Agg backend and fonts, PIL's PNG writer): a fixed cost of
    about 0.3 s that a generator pays while its workers mix (``Job.run(meanwhile=warm_up)``) instead of after them."""
    try:
        import matplotlib.figure  # noqa: F401
        import PIL.PngImagePlugin  # noqa: F401
        from matplotlib import font_manager
        from matplotlib.backends import backend_agg  # noqa: F401

        font_manager.get_font(font_manager.findfont(font_manager.FontProperties()))
    except ImportError:  # the card reports it when it draws
        pass
    blas_controller()


Calls = list[tuple[Callable, tuple, dict]]  # (function, args, kwargs)


def side_by_side(mine: Calls, theirs: Calls, fork: bool = True) -> None:
    """Run the independent calls ``mine`` here while a forked child runs ``theirs`` (a card's figures and files: the
    child inherits what :func:`warm_up` imported). Without ``fork``, or in a multi-threaded process (which must not
    fork), all of them run here. The bytes written are the same either way; a failure in the child raises here."""
    if not fork or not theirs or not hasattr(os, "fork") or threading.active_count() > 1:
        for f, args, kw in [*mine, *theirs]:
            f(*args, **kw)
        return
    pid = os.fork()
    if pid == 0:  # the child: run its share and exit, never return into the caller
        code = 1
        try:
            keep_freed_memory()
            for f, args, kw in theirs:
                f(*args, **kw)
            code = 0
        except BaseException:  # noqa: BLE001 - reported here, the parent raises
            traceback.print_exc()
        finally:
            os._exit(code)
    try:
        for f, args, kw in mine:
            f(*args, **kw)
    finally:
        _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status):
        raise RuntimeError("the process writing part of the dataset card failed (its error is above)")


def save_fig(fig, path: str | os.PathLike) -> Path:
    """Save a figure atomically. Metadata is stripped so that PNGs are byte-reproducible; fast compression."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, bbox_inches="tight", metadata={"Software": None},
                    pil_kwargs={"compress_level": 1})  # ~1.15x the bytes of the default level 6, under half its time
    return Path(path)


def bin_edges(values, bins=30) -> np.ndarray:
    """Common histogram edges for ``values``; a (near-)constant sample gets a small range around its value.

    ``bins`` is a number of bins, or explicit edges (returned as they are).
    """
    if np.ndim(bins) > 0:
        return np.asarray(bins, dtype=float)
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return np.linspace(0.0, 1.0, bins + 1)
    lo, hi = float(v.min()), float(v.max())
    if hi - lo <= 1e-6 * max(1.0, abs(hi)):
        pad = max(abs(hi) * 0.05, 0.05)
        lo, hi = lo - pad, hi + pad
    return np.linspace(lo, hi, bins + 1)


def hist_png(path, values, title: str, xlabel: str, bins=30, groups: dict[str, np.ndarray] | None = None) -> Path:
    """A histogram of ``values``, or one outline histogram per entry of ``groups`` (shared bin edges)."""
    fig, ax = figure(figsize=(6, 3.5))
    if groups:
        edges = bin_edges(np.concatenate([np.asarray(v, dtype=float).ravel() for v in groups.values()]), bins)
        for name, v in groups.items():
            ax.hist(np.asarray(v, dtype=float), bins=edges, histtype="step", linewidth=1.5, label=str(name))
        ax.legend(fontsize=8)
    else:
        ax.hist(np.asarray(values, dtype=float), bins=bin_edges(values, bins), color="tab:blue", edgecolor="white")
    ax.set_title(title, y=TITLE_Y)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("count")
    return save_fig(fig, path)


def bars_png(path, counts: pd.Series | dict, title: str, ylabel: str = "count") -> Path:
    s = pd.Series(counts)
    fig, ax = figure(figsize=(max(6, 0.5 * len(s)), 3.5))
    ax.bar(range(len(s)), s.values, color="tab:blue")
    ax.set_xticks(range(len(s)), [str(i) for i in s.index], rotation=45, ha="right", fontsize=8)
    ax.set_title(title, y=TITLE_Y)
    ax.set_ylabel(ylabel)
    return save_fig(fig, path)


def density_png(path, samples: dict[str, np.ndarray], title: str, xlabel: str, styles: dict[str, str] | None = None,
                xmax: float | None = None) -> Path:
    """Gaussian-kernel density curves, one per key (like Fig. 1 of Turpault et al.)."""
    from scipy.stats import gaussian_kde

    fig, ax = figure(figsize=(7, 4))
    allv = np.concatenate([np.asarray(v, float) for v in samples.values() if len(v)]) if samples else np.zeros(1)
    grid = np.linspace(0, xmax or float(allv.max()) * 1.05 + 1e-6, 400)
    with one_blas_thread():
        curves = {name: gaussian_kde(v)(grid) for name, v in ((n, np.asarray(v, float)) for n, v in samples.items())
                  if len(v) >= 2 and np.ptp(v) != 0}
    for name, y in curves.items():
        ax.plot(grid, y, (styles or {}).get(name, "-"), label=name)
    ax.set_title(title, y=TITLE_Y)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density")
    ax.legend(fontsize=7, ncol=2, loc="upper right")  # where the curves' long tails run low; "best" costs ~13 ms
    return save_fig(fig, path)


def spectrogram_png(path, x: np.ndarray, sr: int, events: list[tuple[float, float, str]], title: str,
                    n_mels: int = 64) -> Path:
    """Log-mel spectrogram of ``x`` with the (onset, offset, label) events drawn over it."""
    import librosa

    hop = max(1, sr // 100)
    m = librosa.feature.melspectrogram(y=np.asarray(x, np.float32), sr=sr, n_fft=2048 if sr > 22050 else 1024,
                                       hop_length=hop, n_mels=n_mels)
    db = librosa.power_to_db(m + 1e-10, ref=np.max)
    dur = len(x) / sr
    fig, ax = figure(figsize=(9, 3.5))
    ax.imshow(db, origin="lower", aspect="auto", extent=(0, dur, 0, n_mels), cmap="magma")
    labels = sorted({e[2] for e in events})
    from matplotlib import colormaps

    colours = colormaps["tab10"](np.linspace(0, 1, max(1, len(labels))))
    for on, off, lab in events:
        k = labels.index(lab)
        y = n_mels * (0.05 + 0.9 * k / max(1, len(labels)))
        ax.plot([on, off], [y, y], color=colours[k], linewidth=4, solid_capstyle="butt")
        ax.axvspan(on, off, color=colours[k], alpha=0.15)
        ax.text(on, y + 1.2, lab, color="white", fontsize=8)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("mel band")
    ax.set_title(title, y=TITLE_Y)
    return save_fig(fig, path)


def md_table(df: pd.DataFrame, float_fmt: str = "{:.3f}") -> str:
    cols = [str(c) for c in df.columns]
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in df.itertuples(index=False):
        out.append("| " + " | ".join(float_fmt.format(v) if isinstance(v, float) else str(v) for v in row) + " |")
    return "\n".join(out)


def sources_used(out: Path) -> set[str]:
    """The soundbank paths (relative to the bank) that a dataset's JAMS mix from."""
    import json

    from sedkit.synth.scaper_mix import unflat

    used = set()
    for p in Path(out).rglob("*.jams"):
        if ".sedkit" in p.relative_to(out).parts:
            continue
        for ann in json.loads(p.read_text()).get("annotations", []):
            if ann.get("namespace") == "scaper":
                for obs in ann.get("data", []):
                    role, label, flat = obs["value"]["source_file"].split("/", 2)
                    used.add(unflat(flat))
    return used


ATTRIBUTION_FILE = "ATTRIBUTION.md"
UNKNOWN_LICENCE = "unknown (not in the soundbank index)"


def read_attribution(out: str | os.PathLike) -> dict[str, str]:
    """source path -> licence, as :func:`licences_section` lists them in ``ATTRIBUTION.md`` (empty without it)."""
    p = Path(out) / ATTRIBUTION_FILE
    if not p.is_file():
        return {}
    found = {}
    for line in p.read_text(encoding="utf-8").splitlines():
        if line.startswith("- `") and "`: " in line:
            path, rest = line[3:].split("`: ", 1)
            found[path] = rest.split("; ", 1)[0]
    return found


def licences_section(out: Path, bank, sources: set[str] | None = None) -> tuple[str, str]:
    """The card section on the sources' licences, and writes ``ATTRIBUTION.md`` crediting every source used (from
    the bank index's optional ``license`` and ``attribution`` columns). ``sources``: the bank paths mixed, when the
    generator knows them (default: read from the dataset's JAMS, :func:`sources_used`)."""
    idx = bank.index.set_index("path")
    used = sorted(p for p in (sources_used(out) if sources is None else sources) if p in idx.index)
    rows = idx.loc[used]
    lic = rows["license"].fillna("").astype(str) if "license" in rows else pd.Series("", index=rows.index)
    att = rows["attribution"].fillna("").astype(str) if "attribution" in rows else pd.Series("", index=rows.index)
    lic = lic.replace("", UNKNOWN_LICENCE)
    counts = lic.value_counts()
    table = pd.DataFrame({"licence": counts.index, "sources": counts.values})
    lines = ["# Sources of this dataset and their licences", "",
             f"{len(used)} source files of the soundbank `{bank.root.name}` are mixed into it.", ""]
    lines += [f"- `{p}`: {lic[p]}" + (f"; {att[p]}" if att[p] else "") for p in used]
    atomic_write_text(Path(out) / ATTRIBUTION_FILE, "\n".join(lines) + "\n")
    text = (f"{len(used)} source files of the soundbank, by licence (each one credited in `ATTRIBUTION.md`; "
            "attribution licences such as CC-BY require it to travel with the data):\n\n" + md_table(table))
    return "Sources and licences", text


def write_card(out: str | os.PathLike, title: str, sections: list[tuple[str, str]], images: list[tuple[str, str]],
               spec_sha256: str, seed: int, regenerate: str, bank=None, sources: set[str] | None = None) -> Path:
    """README.md: a title, how to regenerate it, sections (heading, markdown) and images (caption, file name). With
    the soundbank (``bank``), a section on the sources' licences and ``ATTRIBUTION.md`` crediting them (``sources``:
    see :func:`licences_section`)."""
    if bank is not None:
        sections = [*sections, licences_section(Path(out), bank, sources)]
    lines = [f"# {title}", "", f"- spec sha256: `{spec_sha256}`", f"- seed: {seed}",
             f"- regenerate: `{regenerate}`", "- verify: `sedkit dataset check .`", ""]
    for head, body in sections:
        lines += [f"## {head}", "", body.rstrip(), ""]
    if images:
        lines += ["## Plots", ""]
        for cap, fname in images:
            lines += [f"### {cap}", "", f"![{cap}]({fname})", ""]
    return atomic_write_text(Path(out) / "README.md", "\n".join(lines))


CLIPPING_WARN = 0.10  # warn when more than this share of a dataset's clips was peak-normalised (the default
# recipes clip a few percent at small scale: waa 5 %, strong 9 %; remix 43 %)


def warnings_section(rows: pd.DataFrame) -> tuple[str, str]:
    """The card section that counts Scaper's warnings over a dataset's clips (the ``scaper_warnings`` of each row:
    ``{kind: count}``, see :func:`sedkit.synth.scaper_mix.warning_kind`)."""
    from sedkit.synth.scaper_mix import WARNING_KINDS

    per_clip = [w if isinstance(w, dict) else {} for w in rows.get("scaper_warnings", pd.Series([], dtype=object))]
    table = pd.DataFrame([{"kind": k, "warnings": sum(w.get(k, 0) for w in per_clip),
                           "clips": sum(1 for w in per_clip if w.get(k, 0)), "what": what}
                          for k, what in WARNING_KINDS.items()])
    text = (f"Scaper's warnings while mixing the {len(per_clip)} clips (counted, not shown one by one):\n\n"
            + md_table(table))
    clipped = int(table.loc[table.kind == "clipping", "clips"].iloc[0]) if per_clip else 0
    if per_clip and clipped / len(per_clip) > CLIPPING_WARN:
        line = (f"{clipped} of {len(per_clip)} clips clipped and were peak-normalised, so their levels and SNRs are "
                "not the spec's; lower ref_db or the SNRs")
        text += f"\n\n**Warning: {line}.**"
        import sys

        print(f"sedkit: warning: {line}", file=sys.stderr)
    return "Scaper warnings", text
