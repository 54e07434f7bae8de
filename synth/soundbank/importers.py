"""Importers: build a soundbank index in place for common corpora. They never copy or modify the corpus.

Each importer lists candidate files as rows (path, role, label, split or None, source_group, extra columns);
:func:`finish_import` then probes every file (decodes it: corrupt, empty or NaN files are rejected with a reason),
assigns splits by group where the corpus has none, and writes ``sedkit_index.csv`` + ``sedkit_rejected.csv``.
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from sedkit import SedkitError
from sedkit.synth.audio import AUDIO_EXTS, probe, read
from sedkit.synth.rng import seed_sequence
from sedkit.synth.io import sha256_file
from sedkit.synth.soundbank.index import SPLITS, write_index

DESED_FLAGS = ("_nOn_nOff", "_nOn", "_nOff")


def _audio_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTS)


def _rel(root: Path, p: Path) -> str:
    return p.relative_to(root).as_posix()


def _split_of(parts: tuple[str, ...]) -> str | None:
    for s in parts:
        if s in SPLITS:
            return s
        if s in ("val", "valid"):
            return "validation"
        if s == "test":
            return "eval"
    return None


# ---------------------------------------------------------------- listers

def list_folder(root: Path) -> tuple[list[dict], list[dict]]:
    """``[<split>/]foreground/<label>/*`` and ``[<split>/]background/<scene>/*``.

    The source group is the part of the file name before ``__`` when present (``alice__dog1.wav`` -> ``alice``),
    otherwise the file itself (every file its own group).
    """
    rows, rejected = [], []
    roles = sorted(p for p in root.rglob("*") if p.is_dir() and p.name in ("foreground", "background"))
    if not roles:
        raise SedkitError(f"{root}: no foreground/ or background/ folder found (expected "
                          f"[<split>/]foreground/<label>/*)")
    for role_dir in roles:
        split = _split_of(role_dir.relative_to(root).parts[:-1])
        for label_dir in sorted(d for d in role_dir.iterdir() if d.is_dir()):
            files = _audio_files(label_dir)
            if not files:
                rejected.append({"path": _rel(root, label_dir) + "/", "reason": "empty class folder (no audio files)"})
            for f in files:
                if "__" in f.stem:
                    group = f.stem.split("__", 1)[0]
                else:  # every file its own group; a name repeated in two split folders is two files, two groups
                    group = "/".join(x for x in (split, label_dir.name, f.stem) if x)
                rows.append({"path": _rel(root, f), "role": role_dir.name, "label": label_dir.name,
                             "split": split, "source_group": group})
    return rows, rejected


def list_desed(root: Path) -> tuple[list[dict], list[dict]]:
    """DESED soundbank: ``.../{train,validation,eval}/soundbank/{foreground,background}/<label>/<id>[_k].wav``."""
    rows, rejected = [], []
    role_dirs = sorted(p for p in root.rglob("*") if p.is_dir() and p.name in ("foreground", "background"))
    if not role_dirs:
        raise SedkitError(f"{root}: no DESED soundbank found (expected audio/<split>/soundbank/foreground/<label>/)")
    for role_dir in role_dirs:
        split = _split_of(role_dir.relative_to(root).parts)
        for label_dir in sorted(d for d in role_dir.iterdir() if d.is_dir()):
            label, n_on, n_off = label_dir.name, False, False
            for suf in DESED_FLAGS:
                if label.endswith(suf):
                    n_on, n_off = "nOn" in suf, "nOff" in suf
                    label = label[: -len(suf)]
                    break
            files = _audio_files(label_dir)
            if not files:
                rejected.append({"path": _rel(root, label_dir) + "/", "reason": "empty class folder (no audio files)"})
            for f in files:
                fs_id = re.split(r"_\d+$", f.stem)[0]
                rows.append({"path": _rel(root, f), "role": role_dir.name, "label": label, "split": split,
                             "source_group": fs_id, "n_on": n_on, "n_off": n_off})
    return rows, rejected


def _read_csv(path: Path, what: str) -> pd.DataFrame:
    if not path.is_file():
        raise SedkitError(f"{path}: {what} metadata CSV not found")
    try:
        return pd.read_csv(path, dtype=str)
    except Exception as e:
        raise SedkitError(f"{path}: unreadable metadata CSV ({e})") from None


def _need(df: pd.DataFrame, cols: list[str], path: Path) -> None:
    miss = [c for c in cols if c not in df.columns]
    if miss:
        raise SedkitError(f"{path}: missing column(s) {', '.join(miss)}")


def list_esc50(root: Path) -> tuple[list[dict], list[dict]]:
    """ESC-50: ``meta/esc50.csv`` (filename, fold, target, category, src_file, ...) and ``audio/``.

    The group is ``src_file`` (the Freesound clip the 5 s excerpts were cut from). ESC-50 has folds, no splits.
    """
    meta = root / "meta" / "esc50.csv"
    df = _read_csv(meta, "ESC-50")
    _need(df, ["filename", "category", "src_file"], meta)
    rows = [{"path": f"audio/{r.filename}", "role": "foreground", "label": r.category, "split": None,
             "source_group": f"esc50_{r.src_file}", "fold": getattr(r, "fold", ""),
             "license": "CC BY-NC 3.0 (ESC-50's licence; per clip in its LICENSE file)",
             "attribution": f"ESC-50 (Piczak 2015), Freesound clip {r.src_file}"} for r in df.itertuples()]
    return rows, []


def list_urbansound8k(root: Path) -> tuple[list[dict], list[dict]]:
    """UrbanSound8K: ``metadata/UrbanSound8K.csv`` (slice_file_name, fsID, fold, class, ...), ``audio/fold<k>/``.

    The group is ``fsID`` (the Freesound recording the slices were cut from).
    """
    meta = root / "metadata" / "UrbanSound8K.csv"
    df = _read_csv(meta, "UrbanSound8K")
    _need(df, ["slice_file_name", "fsID", "fold", "class"], meta)
    rows = [{"path": f"audio/fold{r['fold']}/{r['slice_file_name']}", "role": "foreground", "label": r["class"],
             "split": None, "source_group": f"fs{r['fsID']}", "fold": r["fold"]} for r in df.to_dict("records")]
    return rows, []


def list_fsd50k(root: Path) -> tuple[list[dict], list[dict]]:
    """FSD50K: ``FSD50K.ground_truth/{dev,eval}.csv``, audio in ``FSD50K.{dev,eval}_audio/``.

    dev's ``split`` column gives train/validation, eval.csv gives eval. The label is the first (most specific)
    label of the clip; all labels are kept in ``labels_all``. The group is the uploader when
    ``FSD50K.metadata/{dev,eval}_clips_info_FSD50K.json`` is present, otherwise the clip id.
    """
    gt = root / "FSD50K.ground_truth"
    rows = []
    for part in ("dev", "eval"):
        meta = gt / f"{part}.csv"
        if part == "eval" and not meta.is_file():
            continue
        df = _read_csv(meta, "FSD50K")
        _need(df, ["fname", "labels"], meta)
        info_p = root / "FSD50K.metadata" / f"{part}_clips_info_FSD50K.json"
        info = json.loads(info_p.read_text()) if info_p.is_file() else {}
        for r in df.itertuples():
            split = "eval" if part == "eval" else {"train": "train", "val": "validation"}.get(
                getattr(r, "split", "train"), "train")
            clip = info.get(str(r.fname), {})
            up = clip.get("uploader")
            rows.append({"path": f"FSD50K.{part}_audio/{r.fname}.wav", "role": "foreground",
                         "label": r.labels.split(",")[0], "split": split,
                         "source_group": f"user_{up}" if up else f"clip_{r.fname}", "labels_all": r.labels,
                         "license": clip.get("license", ""),
                         "attribution": f"{up}, freesound.org/s/{r.fname}" if up else f"freesound.org/s/{r.fname}"})
    return rows, []


def list_fsdkaggle2018(root: Path) -> tuple[list[dict], list[dict]]:
    """FSDKaggle2018 (Deshmukh et al.'s 41 classes): ``FSDKaggle2018.meta/train_post_competition.csv`` (fname,
    label, manually_verified, freesound_id) and ``test_post_competition_scoring_clips.csv``; audio in
    ``FSDKaggle2018.audio_{train,test}/``. The test clips are the eval split; train clips are dealt to train and
    validation. The group is the Freesound clip (``freesound_id``) the excerpt was cut from."""
    meta = root / "FSDKaggle2018.meta"
    rows = []
    for part, csv, split in (("train", "train_post_competition.csv", None),
                             ("test", "test_post_competition_scoring_clips.csv", "eval")):
        path = meta / csv
        if part == "test" and not path.is_file():
            continue
        df = _read_csv(path, "FSDKaggle2018")
        _need(df, ["fname", "label"], path)
        for r in df.to_dict("records"):
            fsid = r.get("freesound_id")
            rows.append({"path": f"FSDKaggle2018.audio_{part}/{r['fname']}", "role": "foreground", "label": r["label"],
                         "split": split, "source_group": f"fs{fsid}" if fsid == fsid and fsid is not None
                         else f"clip_{r['fname']}", "manually_verified": r.get("manually_verified", ""),
                         "license": r.get("license", ""),
                         "attribution": f"freesound.org/s/{int(fsid)}" if fsid == fsid and fsid is not None else ""})
    return rows, []


def list_tut_scenes(root: Path) -> tuple[list[dict], list[dict]]:
    """TUT / DCASE acoustic scenes (e.g. TUT Acoustic Scenes 2017 development) as backgrounds: ``meta.txt`` rows
    ``audio/<file>.wav<TAB><scene>[<TAB><recording id>]``. The group is the recording (the 10 s segments of one
    recording stay in one split); without an id, the file name before its first ``_``."""
    meta = root / "meta.txt"
    if not meta.is_file():
        raise SedkitError(f"{root}: no meta.txt (expected a TUT / DCASE acoustic scenes development set)")
    rows = []
    for n, line in enumerate(meta.read_text(encoding="utf-8").splitlines(), start=1):
        parts = line.strip().split("\t")
        if not parts or not parts[0]:
            continue
        if len(parts) < 2:
            raise SedkitError(f"{meta}:{n}: expected <file><TAB><scene>[<TAB><recording>]")
        rec = parts[2] if len(parts) > 2 and parts[2] else Path(parts[0]).stem.split("_")[0]
        rows.append({"path": parts[0], "role": "background", "label": parts[1], "split": None,
                     "source_group": f"rec_{rec}"})
    return rows, []


IMPORTERS = {"folder": list_folder, "desed": list_desed, "esc50": list_esc50,
             "urbansound8k": list_urbansound8k, "fsd50k": list_fsd50k, "fsdkaggle2018": list_fsdkaggle2018,
             "tut-scenes": list_tut_scenes}
# importers whose corpus fixes the eval split: the other files are dealt to train and validation only
FIXED_EVAL = {"fsdkaggle2018", "fsd50k", "desed"}


# ---------------------------------------------------------------- splits by group

SMALL_CLASSES = ("drop", "train-only", "error")


def assign_splits(rows: list[dict], ratios: tuple[float, float, float], seed: int,
                  small_classes: str = "drop") -> dict[str, int]:
    """Give every row without a split one, by source group (groups never cross splits), stratified by class.

    Rows that already have a split keep it, except that a group found in several splits is moved whole to the
    split holding most of its files (ties: train < validation < eval). The other groups are dealt class by class,
    scarcest class first: a class's groups first fill the splits (of non-zero ratio) where the class has no file
    yet, then go where the class is furthest below its share of files. A group holding several classes goes where
    its first-dealt class sends it. Backgrounds are dealt the same way, by scene.

    A foreground class with fewer groups than splits cannot be in every split without cutting a source: with
    ``small_classes`` ``drop`` its rows are removed from ``rows``, with ``train-only`` its groups go to train, with
    ``error`` the import stops. Returns ``{class: number of groups}`` of those classes.
    """
    if small_classes not in SMALL_CLASSES:
        raise SedkitError(f"--small-classes {small_classes!r}: expected one of {', '.join(SMALL_CLASSES)}")
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(f"{r['role']}:{r['source_group']}", []).append(r)
    for g, rs in groups.items():
        given = [r["split"] for r in rs if r["split"]]
        if given and (len(set(given)) > 1 or len(given) < len(rs)):  # the whole group goes where most of it is
            best = max(SPLITS, key=lambda s: (given.count(s), -SPLITS.index(s)))
            for r in rs:
                r["split"] = best
    free = {g for g, rs in groups.items() if not any(r["split"] for r in rs)}
    if not free:
        return {}
    ratios_a = np.asarray(ratios, dtype=float)
    if len(ratios_a) != 3 or (ratios_a < 0).any() or ratios_a.sum() <= 0:
        raise SedkitError(f"--ratios {','.join(map(str, ratios))}: need three non-negative numbers, not all zero")
    ratios_a = ratios_a / ratios_a.sum()
    open_splits = [k for k in range(3) if ratios_a[k] > 0]
    label_groups: dict[tuple[str, str], list[str]] = {}
    for g in sorted(free):
        for r in groups[g]:
            label_groups.setdefault((r["role"], r["label"]), [])
            if g not in label_groups[(r["role"], r["label"])]:
                label_groups[(r["role"], r["label"])].append(g)
    small = {lab: len(gs) for (role, lab), gs in label_groups.items()
             if role == "foreground" and len(gs) < len(open_splits)}
    if small and small_classes == "error":
        raise SedkitError("classes with fewer source groups than splits (a class needs one group per split): "
                          + ", ".join(f"{lab} ({n})" for lab, n in sorted(small.items()))
                          + "; choose --small-classes drop or train-only")
    if small and small_classes == "drop":
        rows[:] = [r for r in rows if not (r["role"] == "foreground" and r["label"] in small and not r["split"])]
        for key in [k for k in label_groups if k[0] == "foreground" and k[1] in small]:
            del label_groups[key]
    rng = np.random.default_rng(seed_sequence(seed, "assign_splits"))
    split_of: dict[str, int] = {}
    if small and small_classes == "train-only":
        for lab in small:
            for g in label_groups.pop(("foreground", lab)):
                split_of[g] = 0
    order = sorted(label_groups, key=lambda k: (k[0] != "foreground", len(label_groups[k]), k[1]))
    for key in order:
        role, lab = key
        gs = label_groups[key]
        have = np.zeros(3)  # this class's files per split so far
        for g in gs:
            if g in split_of:
                have[split_of[g]] += sum(r["label"] == lab for r in groups[g])
        for r in (r for r in rows if r["role"] == role and r["label"] == lab and r["split"]):
            have[SPLITS.index(r["split"])] += 1
        todo = [gs[i] for i in rng.permutation(len(gs)) if gs[i] not in split_of]
        for g in todo:
            n = sum(r["label"] == lab for r in groups[g])
            empty = [k for k in open_splits if have[k] == 0]
            if empty:
                k = max(empty, key=lambda k: (ratios_a[k], -k))
            else:
                deficit = ratios_a * (have.sum() + n) - have
                k = int(np.argmax(deficit))
            split_of[g] = k
            have[k] += n
    for g, k in split_of.items():
        for r in groups[g]:
            r["split"] = SPLITS[k]
    return small


# ---------------------------------------------------------------- the import

def utf8_name(path: str) -> bool:
    """False for a name that came from the file system with bytes that are not UTF-8 (Python keeps them as
    surrogates: such a name cannot be written into the UTF-8 index)."""
    try:
        str(path).encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def printable(path: str) -> str:
    """The name with its undecodable bytes shown as backslash escapes."""
    return str(path).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def regroup(rows: list[dict], root: Path, group_by: str, metadata: Path | None = None) -> None:
    """Set each row's source group by ``group_by``: ``auto`` (the importer's own rule: ESC-50's source clip,
    UrbanSound8K's fsID, FSD50K's uploader, the folder kind's ``<source>__`` prefix), ``prefix`` (the file name
    before ``__``, else the file), ``folder`` (the file's folder), ``none`` (every file its own group), or
    ``column:NAME`` (column NAME of the ``metadata`` CSV, matched on its ``path`` column)."""
    if group_by == "auto":
        return
    if group_by.startswith("column:"):
        name = group_by.split(":", 1)[1]
        if metadata is None:
            raise SedkitError(f"--group-by {group_by}: needs --metadata CSV with columns path and {name}")
        df = _read_csv(metadata, "group metadata")
        _need(df, ["path", name], metadata)
        by_path = dict(zip(df["path"].astype(str), df[name].astype(str)))
        missing = [r["path"] for r in rows if r["path"] not in by_path]
        if missing:
            raise SedkitError(f"{metadata}: no row for {missing[0]} ({len(missing)} file(s) in all)")
        for r in rows:
            r["source_group"] = f"{name}_{by_path[r['path']]}"
        return
    for r in rows:
        p = Path(r["path"])
        if group_by == "prefix":
            r["source_group"] = p.stem.split("__", 1)[0] if "__" in p.stem else r["path"]
        elif group_by == "folder":
            r["source_group"] = p.parent.as_posix()
        elif group_by == "none":
            r["source_group"] = r["path"]
        else:
            raise SedkitError(f"--group-by {group_by!r}: expected auto, prefix, folder, none or column:NAME")


SILENCE_DB = -70.0  # RMS (dBFS) below which a file is silent
MIN_DURATION_S = 0.05
DC_OFFSET = 0.05  # |mean| above this: a warning
CLIPPED_SHARE = 0.001  # share of samples at full scale above this: a warning


def audit(x: np.ndarray, duration_s: float, min_duration: float = MIN_DURATION_S,
          silence_db: float = SILENCE_DB) -> tuple[str | None, list[str]]:
    """``(reason to reject or None, warnings)`` for one file's samples ``(n, channels)``."""
    if duration_s < min_duration:
        return f"shorter than {min_duration:g} s ({duration_s:.3f} s)", []
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
    level = 20 * np.log10(rms) if rms > 0 else float("-inf")
    if level < silence_db:
        return f"silent (RMS {level:.1f} dBFS, under {silence_db:g})", []
    notes = []
    dc = float(np.abs(x.mean(axis=0)).max())
    if dc > DC_OFFSET:
        notes.append(f"DC offset {dc:.3f}")
    clipped = float(np.mean(np.abs(x) >= 0.999))
    if clipped > CLIPPED_SHARE:
        notes.append(f"clipped ({100 * clipped:.2f} % of samples at full scale)")
    return None, notes


def import_soundbank(kind: str, root: str | Path, ratios=(0.7, 0.1, 0.2), seed: int = 0,
                     background_labels: tuple[str, ...] = (), small_classes: str = "drop", group_by: str = "auto",
                     metadata: str | Path | None = None, min_duration: float = MIN_DURATION_S,
                     silence_db: float = SILENCE_DB) -> tuple[Path, int, int]:
    """Build the index in place; returns (index path, n usable, n rejected). Splits: see :func:`assign_splits`;
    groups: see :func:`regroup`."""
    root = Path(root)
    if kind not in IMPORTERS:
        raise SedkitError(f"unknown soundbank kind {kind!r}; expected one of {', '.join(IMPORTERS)}")
    if not root.is_dir():
        raise SedkitError(f"{root}: no such directory")
    if small_classes not in SMALL_CLASSES:
        raise SedkitError(f"--small-classes {small_classes!r}: expected one of {', '.join(SMALL_CLASSES)}")
    rows, rejected = IMPORTERS[kind](root)
    regroup(rows, root, group_by, Path(metadata) if metadata else None)
    for r in rows:
        if r["label"] in background_labels:
            r["role"] = "background"
    good, seen_audio = [], {}
    for r in tqdm(rows, desc=f"probing {root.name}", unit="file", disable=None):
        p = root / r["path"]
        if not utf8_name(r["path"]):
            rejected.append({"path": printable(r["path"]), "reason": "file name is not valid UTF-8 (rename it)"})
            continue
        if not p.is_file():
            rejected.append({"path": r["path"], "reason": "listed in metadata but missing"})
            continue
        try:
            info = probe(p, decode=False)
            x, _ = read(p, mono=False)  # NaN / infinite samples and undecodable data are rejected here
        except SedkitError as e:
            rejected.append({"path": r["path"], "reason": str(e).split(": ", 1)[-1]})
            continue
        problem, notes = audit(x, info.duration_s, min_duration, silence_db)
        digest = hashlib.sha256(np.ascontiguousarray(x).tobytes()).hexdigest()
        if problem is None and digest in seen_audio:
            problem = f"duplicate of {seen_audio[digest]} (the same samples)"
        if problem is not None:
            rejected.append({"path": r["path"], "reason": problem})
            continue
        seen_audio[digest] = r["path"]
        st = p.stat()
        good.append({**r, "duration_s": info.duration_s, "sample_rate": info.sample_rate, "channels": info.channels,
                     "bytes": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha256_file(p),
                     "audit": "; ".join(notes)})
    if not good:
        raise SedkitError(f"{root}: no usable audio found for kind {kind!r} ({len(rejected)} rejected)")
    before = {r["path"]: r for r in good}
    deal = (ratios[0], ratios[1], 0.0) if kind in FIXED_EVAL else ratios
    small = assign_splits(good, deal, seed, small_classes)
    kept = {r["path"] for r in good}
    for path_, r in before.items():
        if path_ not in kept:
            rejected.append({"path": path_, "reason": f"class {r['label']} has {small[r['label']]} source group(s), "
                                                      "fewer than the splits (--small-classes drop)"})
    if not good:
        raise SedkitError(f"{root}: no class has a source group for every split ({len(small)} too small)")
    path = write_index(root, good, rejected)
    return path, len(good), len(rejected)
