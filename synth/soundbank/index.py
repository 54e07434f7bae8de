"""The soundbank index contract.

A soundbank is any folder of audio plus ``sedkit_index.csv`` in that folder, one row per usable file:

=============  ============================================================
path           file path relative to the bank root (posix separators)
role           ``foreground`` | ``background``
label          event class (foreground) or scene family (background)
split          ``train`` | ``validation`` | ``eval``
duration_s     duration in seconds
sample_rate    native sample rate (Hz)
channels       native channel count
source_group   recordist / recording session; no group appears in two splits
=============  ============================================================

Extra columns are allowed (e.g. DESED's ``n_on``/``n_off`` flags). Files that could not be used are listed in
``sedkit_rejected.csv`` (``path``, ``reason``). Generators read banks only through :func:`load_soundbank`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from sedkit import SedkitError
from sedkit.synth.io import atomic_write_text

INDEX_NAME = "sedkit_index.csv"
REJECTED_NAME = "sedkit_rejected.csv"
COLUMNS = ["path", "role", "label", "split", "duration_s", "sample_rate", "channels", "source_group"]
ROLES = ("foreground", "background")
SPLITS = ("train", "validation", "eval")


@dataclass
class Soundbank:
    root: Path
    index: pd.DataFrame
    rejected: pd.DataFrame
    _memo: dict = field(default_factory=dict, repr=False, compare=False)

    def to_convert(self, sr: int) -> frozenset[str]:
        """Paths whose rate is not ``sr`` or that have several channels (memoised: workers make a view per item)."""
        if sr not in self._memo:
            idx = self.index
            self._memo[sr] = frozenset(idx.path[(idx.sample_rate != sr) | (idx.channels != 1)])
        return self._memo[sr]

    @property
    def labels(self) -> list[str]:
        return sorted(self.index.loc[self.index.role == "foreground", "label"].unique())

    def select(self, role: str, split: str | None = None, label: str | None = None) -> pd.DataFrame:
        df = self.index[self.index.role == role]
        if split is not None:
            df = df[df.split == split]
        if label is not None:
            df = df[df.label == label]
        return df

    def foregrounds(self, split: str | None = None, label: str | None = None) -> pd.DataFrame:
        return self.select("foreground", split, label)

    def backgrounds(self, split: str | None = None) -> pd.DataFrame:
        return self.select("background", split)

    def abspath(self, rel: str) -> Path:
        return self.root / rel


def validate_index(df: pd.DataFrame, where: str) -> pd.DataFrame:
    """Check the contract; return the frame with canonical dtypes and row order (sorted by path)."""
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise SedkitError(f"{where}: index is missing column(s) {', '.join(missing)}")
    if df.empty:
        raise SedkitError(f"{where}: index has no usable files")
    df = df.copy().reset_index(drop=True)
    for c in ("path", "role", "label", "split", "source_group"):
        df[c] = df[c].astype(str)
    for c, integral in (("duration_s", False), ("sample_rate", True), ("channels", True)):
        vals = pd.to_numeric(df[c], errors="coerce").astype(float)
        bad = ~np.isfinite(vals.to_numpy()) | ((vals <= 0).to_numpy() if c != "duration_s" else False)
        if integral:
            bad |= np.isfinite(vals.to_numpy()) & (vals.to_numpy() != np.round(vals.to_numpy()))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise SedkitError(f"{where}: row {i + 2} ({df.path.iloc[i]}): column {c} is {df[c].iloc[i]!r}, "
                              f"not a {'positive whole number' if integral else 'number'}")
        df[c] = vals.astype(int) if integral else vals
    bad_role = sorted(set(df.role) - set(ROLES))
    if bad_role:
        raise SedkitError(f"{where}: unknown role(s) {bad_role}; expected foreground|background")
    bad_split = sorted(set(df.split) - set(SPLITS))
    if bad_split:
        raise SedkitError(f"{where}: unknown split(s) {bad_split}; expected train|validation|eval")
    if (df.duration_s <= 0).any():
        raise SedkitError(f"{where}: non-positive duration for {df.loc[df.duration_s <= 0, 'path'].iloc[0]}")
    if df.path.duplicated().any():
        raise SedkitError(f"{where}: duplicate path {df.loc[df.path.duplicated(), 'path'].iloc[0]}")
    shared = group_split_conflicts(df)
    if shared:
        g, s = next(iter(shared.items()))
        raise SedkitError(f"{where}: source_group {g!r} appears in splits {', '.join(s)}; groups must not cross splits")
    return df.sort_values("path", kind="stable").reset_index(drop=True)


def group_split_conflicts(df: pd.DataFrame) -> dict[str, list[str]]:
    """Groups that appear in more than one split, with their splits (foregrounds and backgrounds separately)."""
    out = {}
    for (role, g), sub in df.groupby(["role", "source_group"]):
        s = sorted(set(sub.split))
        if len(s) > 1:
            out[f"{role}:{g}"] = s
    return out


def write_index(root: str | Path, rows: list[dict] | pd.DataFrame, rejected: list[dict] | None = None) -> Path:
    """Validate and write the index (and the rejected list) atomically into ``root``."""
    root = Path(root)
    df = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
    df = validate_index(df, str(root / INDEX_NAME))
    cols = COLUMNS + sorted(c for c in df.columns if c not in COLUMNS)
    rej = pd.DataFrame(rejected or [], columns=["path", "reason"]).sort_values("path", kind="stable")
    texts = {INDEX_NAME: df[cols].to_csv(index=False, float_format="%.6f"), REJECTED_NAME: rej.to_csv(index=False)}
    for name, text in texts.items():  # both encode before either is written: never one without the other
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise SedkitError(f"{root / name}: a file name is not valid UTF-8; rename it") from None
    for name, text in texts.items():
        atomic_write_text(root / name, text)
    return root / INDEX_NAME


def load_soundbank(root: str | Path, check_files: bool = False) -> Soundbank:
    root = Path(root)
    idx = root / INDEX_NAME
    if not idx.is_file():
        raise SedkitError(f"{root}: not a soundbank (no {INDEX_NAME}); run `sedkit soundbank import KIND {root}`")
    try:
        df = pd.read_csv(idx, dtype={"source_group": str, "label": str, "path": str, "sha256": str})
    except Exception as e:
        raise SedkitError(f"{idx}: unreadable index ({e})") from None
    df = validate_index(df, str(idx))
    confined(root, df.path, str(idx))
    if check_files:
        gone = [p for p in df.path if not (root / p).is_file()]
        if gone:
            raise SedkitError(f"{root / gone[0]}: listed in the index but missing ({len(gone)} missing in all)")
        changed = changed_since_import(root, df)
        if changed:
            raise SedkitError(f"{root / changed[0]}: changed since the import ({len(changed)} file(s) in all); "
                              f"index the bank again: sedkit soundbank import KIND {root} --rehash")
    rej_p = root / REJECTED_NAME
    rejected = pd.read_csv(rej_p) if rej_p.is_file() else pd.DataFrame(columns=["path", "reason"])
    return Soundbank(root=root, index=df, rejected=rejected)


def confined(root: Path, paths, where: str) -> None:
    """Every index path must name a file inside the bank root, symbolic links resolved: an index can never make
    sedkit read outside the bank (absolute paths, ``..``, links that leave the root are one-line errors)."""
    base = os.path.realpath(root)
    for rel in paths:
        p = Path(rel)
        if p.is_absolute() or ".." in p.parts:
            raise SedkitError(f"{where}: path {rel!r} is not a relative path inside the bank")
        real = os.path.realpath(os.path.join(base, rel))
        if real != base and not real.startswith(base + os.sep):
            raise SedkitError(f"{where}: {rel} resolves outside the bank root ({real})")


def changed_since_import(root: Path, df: pd.DataFrame) -> list[str]:
    """Files whose size or content differs from what the import recorded (``bytes``, ``mtime_ns``, ``sha256``
    columns; banks without them, like the built-in one, are not checked). A touched file with the same content is
    fine: the hash decides when only the time changed."""
    if not {"bytes", "mtime_ns", "sha256"} <= set(df.columns):
        return _durations_changed(root, df)
    from sedkit.synth.io import sha256_file

    out = []
    for rel, size, mtime, sha in zip(df.path, df["bytes"], df["mtime_ns"], df["sha256"]):
        st = (root / rel).stat()
        if st.st_size != int(size) or (st.st_mtime_ns != int(mtime) and sha256_file(root / rel) != sha):
            out.append(rel)
    return out


def _durations_changed(root: Path, df: pd.DataFrame) -> list[str]:
    """For banks indexed without sizes and hashes: files whose header no longer gives the indexed duration (an
    emptied or truncated file), read from the header only."""
    import soundfile as sf

    out = []
    for rel, dur in zip(df.path, df.duration_s):
        try:
            info = sf.info(str(root / rel))
            ok = info.samplerate > 0 and abs(info.frames / info.samplerate - float(dur)) <= max(0.01, 0.01 * dur)
        except (RuntimeError, sf.LibsndfileError, OSError):
            ok = False
        if not ok:
            out.append(rel)
    return out


def resolve_bank(soundbank: str | Path | None, scale: str, workers: int, out: str | Path | None = None) -> Soundbank:
    """The soundbank a generator mixes from: ``soundbank`` (a root with an index), or the cached built-in bank of the
    generator's scale (``small`` -> the small bank, anything else -> the paper-scale bank), built on first use."""
    if soundbank is None:
        from sedkit.synth.builtin import default_bank

        soundbank = default_bank(seed=0, scale="small" if scale == "small" else "paper", workers=workers)
    if out is not None:
        o, r = Path(os.path.realpath(out)), Path(os.path.realpath(soundbank))  # realpath: no error on a link loop
        if o == r or r in o.parents:
            raise SedkitError(f"--out {out}: inside the soundbank {soundbank}; write the dataset somewhere else")
    return load_soundbank(soundbank, check_files=True)  # a listed file that is gone: one line, before any mixing
