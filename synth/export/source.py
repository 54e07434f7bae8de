"""What an export reads: a dataset folder's manifest and one data dir's clips, through the contract.

``DIR`` of ``sedkit dataset export`` is a dataset folder (the one holding ``manifest.json``) or a data dir nested in
one (e.g. ``waa_1s/segments/1s``). Every clip is one record: its split, file name, audio path, sha256 (the
manifest's), strong events, weak labels and the kind of labels its split has. The audio bytes are read once and
checked against the manifest's sha256, so an export never ships a clip that differs from the one the manifest lists.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from sedkit import SedkitError
from sedkit.synth import contract
from sedkit.synth.dataset import MANIFEST, read_manifest
from sedkit.synth.io import sha256_bytes

SIDE_SUFFIXES = ("_strong", "_durations", "_weakness")


@dataclass
class Clip:
    split: str
    filename: str  # relative to audio/<split>/, as in the TSVs
    rel: str  # the audio file relative to the dataset folder, as in the manifest
    sha256: str
    label_kind: str  # strong, weak or unlabelled: what the split's own TSV gives
    events: list[dict] = field(default_factory=list)  # {onset, offset, label}, sorted
    weak_labels: list[str] = field(default_factory=list)

    def record(self, sampling_rate: int, duration: float) -> dict:
        """The clip's metadata as every format stores it (HF row, WebDataset JSON, Croissant index)."""
        return {"filename": self.filename, "split": self.split, "label_kind": self.label_kind,
                "events": self.events, "weak_labels": self.weak_labels, "sampling_rate": sampling_rate,
                "duration": duration, "sha256": self.sha256}


@dataclass
class Source:
    root: Path  # the dataset folder (manifest.json)
    data_dir: Path  # the data dir whose clips are exported
    manifest: dict
    classes: list[str]
    clips: list[Clip]

    @property
    def splits(self) -> list[str]:
        return sorted({c.split for c in self.clips})

    def read_audio(self, clip: Clip) -> tuple[bytes, int, float]:
        """``(bytes, sampling rate, duration)`` of a clip; bytes that differ from the manifest are an error."""
        import soundfile as sf

        data = (self.root / clip.rel).read_bytes()
        if sha256_bytes(data) != clip.sha256:
            raise SedkitError(f"{self.root / clip.rel}: sha256 differs from {self.root / MANIFEST}; "
                              "run sedkit dataset check")
        info = sf.info(io.BytesIO(data))
        return data, int(info.samplerate), round(info.frames / info.samplerate, 6)

    def iter_audio(self, desc: str, progress: bool = True) -> Iterator[tuple[Clip, bytes, dict]]:
        """``(clip, its bytes, its record)`` for every clip in order, with a progress bar (tqdm) over clips."""
        from tqdm.auto import tqdm

        for clip in tqdm(self.clips, desc=desc, unit="clip", disable=None if progress else True):
            data, sr, duration = self.read_audio(clip)
            yield clip, data, clip.record(sr, duration)

    def root_files(self) -> list[str]:
        """The manifest's files at the top of the dataset folder (card, ATTRIBUTION.md, plots, spec)."""
        return sorted(r for r in self.manifest.get("files", {}) if "/" not in r)


def find_root(path: Path) -> Path:
    for p in [path, *path.parents]:
        if (p / MANIFEST).is_file():
            return p
    raise SedkitError(f"{path}: no {MANIFEST} in it or above it; not a sedkit dataset folder")


def pick_data_dir(path: Path, root: Path) -> Path:
    """``path`` when it is a data dir; else the one data dir under it (several: name them, export one)."""
    if contract.classes_path(path).is_file():
        return path
    found = sorted({p.parent.parent for p in path.rglob(f"metadata/{contract.CLASSES_FILE}")
                    if ".sedkit" not in p.relative_to(root).parts})
    if len(found) == 1:
        return found[0]
    if not found:
        raise SedkitError(f"{path}: no data dir (metadata/{contract.CLASSES_FILE}) in it")
    names = ", ".join(p.relative_to(root).as_posix() for p in found)
    raise SedkitError(f"{path}: holds several data dirs ({names}); export one of them")


def _split_labels(data_dir: Path, split: str) -> tuple[str, dict[str, list], dict[str, list[str]]]:
    """``(label kind, filename -> events, filename -> weak labels)`` of a split, every file of its TSV listed."""
    tsv = contract.metadata_path(data_dir, split)
    kind, df = contract.read_metadata(tsv)
    kind = contract.split_kind(tsv, kind, df)
    names = sorted(set(df["filename"]))
    events: dict[str, list] = {n: [] for n in names}
    weak: dict[str, list[str]] = {n: [] for n in names}
    strong_tsv = tsv if kind == "strong" else contract.metadata_path(data_dir, split, "_strong")
    if strong_tsv.is_file():
        skind, sdf = contract.read_metadata(strong_tsv)
        if skind != "strong":
            raise SedkitError(f"{strong_tsv}: expected header {contract.STRONG_COLS}, got {list(sdf.columns)}")
        for n, evs in contract.strong_events(strong_tsv, sdf).items():
            if n not in events:
                raise SedkitError(f"{strong_tsv}: {n} is not listed in {tsv}")
            events[n] = sorted(evs)
    if kind == "strong":
        weak = {n: sorted({e[2] for e in evs}) for n, evs in events.items()}
    elif kind == "weak":
        weak.update(contract.weak_labels(df))
    events = {n: [{"onset": on, "offset": off, "label": lab} for on, off, lab in evs] for n, evs in events.items()}
    return kind, events, weak


def read_source(path: str | Path) -> Source:
    """The dataset folder and data dir of ``path``, and the clips of every split of that data dir. Missing files,
    clips the manifest does not list and unreadable TSVs are one-line errors naming the file."""
    path = Path(path)
    if not path.is_dir():
        raise SedkitError(f"{path}: no such directory")
    root = find_root(path.resolve())
    man = read_manifest(root)
    listed = man.get("files", {})
    data_dir = pick_data_dir(path.resolve(), root)
    classes = contract.read_classes(contract.classes_path(data_dir))
    adir = data_dir / "audio"
    splits = sorted(p.name for p in adir.iterdir() if p.is_dir()) if adir.is_dir() else []
    splits = [s for s in splits if contract.metadata_path(data_dir, s).is_file()]
    if not splits:
        raise SedkitError(f"{data_dir}: no split (audio/<split>/ with metadata/<split>.tsv)")
    clips = []
    for split in splits:
        kind, events, weak = _split_labels(data_dir, split)
        for name in sorted(events):
            p = contract.audio_dir(data_dir, split) / name
            rel = p.relative_to(root).as_posix()
            if not p.is_file():
                raise SedkitError(f"{contract.metadata_path(data_dir, split)}: {name} does not exist in "
                                  f"{p.parent}")
            if rel not in listed:
                raise SedkitError(f"{p}: not listed in {root / MANIFEST}")
            clips.append(Clip(split, name, rel, listed[rel]["sha256"], kind, events[name], weak[name]))
    return Source(root, data_dir, man, classes, clips)
