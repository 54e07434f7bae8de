"""The feature cache: each split's front-end stage computed once, stored content-addressed, shared by every model and
seed that uses it, and served to training and evaluation as batches gathered from memory.

The *stage* of a clip is what its front end computes without a trainable part (:meth:`Frontend.stage
<sedkit.baselines.models.frontends.Frontend.stage>`): the whole feature for log-mel, multi-scale mel and fixed PCEN,
the mel power in dB for trainable PCEN and parallel PCEN (which start from it). ``Frontend.forward`` takes a stage as
well as a waveform and gives the same features either way, so a model trained from the cache is the model trained
from the audio.

An entry, ``<root>/features/<split>-<hash>/``, holds ``stages.f16`` (or ``.f32``: the stage dtype; all clips'
frames one after the other, ``(frames, scales, mels)``) and ``index.json`` (the key document, file names, sample and
frame counts, the stage of silence). The hash is that of the key document: the data dir, the split, every audio
file's name, size and modification time, the clip length, the stage's front-end settings and the code fingerprint
of this module (which covers the front ends and the audio reader). A changed file, setting or code makes a new key;
nothing stale is served. An entry is written under a temporary name and renamed when complete; two processes
building the same entry both finish and one rename wins.

A split whose stages fit in ``memory_mb`` (with the others this process holds) is read into memory once, on the
training device when it is a GPU, and kept for later jobs of the same process (the bench's workers); a larger split
is read per batch from the memory-mapped file.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections import OrderedDict
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from sedkit import SedkitError
from sedkit.baselines.models.frontends import Frontend, FrontendSpec, build_frontend
from sedkit.specs import Spec, spec_hash
from sedkit.synth.io import honour_umask

CACHE_FORMAT = "sedkit-features-2"
CHUNK_CLIPS = 16  # clips read and staged together while building an entry


class FeatureCacheSpec(Spec):
    """The ``data.feature_cache`` section of a model spec (defaults: ``specs/feature_cache.yaml``)."""
    defaults_from: ClassVar[str] = "feature_cache"

    enabled: bool
    memory_mb: float
    root: str | None


def default_feature_cache() -> FeatureCacheSpec:
    return FeatureCacheSpec.model_validate({})


def cache_root(spec: FeatureCacheSpec) -> Path:
    if spec.root:
        return Path(spec.root).expanduser()
    from sedkit.synth.io import cache_root as sedkit_cache

    return sedkit_cache() / "features"


def stage_settings(fe: Frontend) -> dict:
    """The front-end settings a stage depends on (normalisation and trainable parts excluded)."""
    d = fe.spec.model_dump(mode="json")
    d.pop("norm")
    if not fe.whole_stage:  # the stage is the dB mel power: compression settings do not enter it
        for k in ("compression", "pcen_input", "pcen", "ppcen"):
            d.pop(k)
    return d


def split_key(table, fe: Frontend, clip_seconds: float | None) -> dict:
    """The key document of one split's entry (module docstring)."""
    from sedkit.synth.fingerprint import code_fingerprint

    h = hashlib.sha256()
    for name in table.filenames:
        st = os.stat(table.audio_path(name))
        h.update(f"{name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return {"format": CACHE_FORMAT, "data": str(Path(table.root).resolve()), "split": table.split,
            "files_sha256": h.hexdigest(), "clip_seconds": clip_seconds, "frontend": stage_settings(fe),
            "code": code_fingerprint("sedkit.baselines.data.features")}


def tail_frames(n_samples: int, fe: Frontend) -> int:
    """Frames stored for a clip of ``n_samples``: its own ``1 + n // hop`` and the frames after them whose window
    still reaches into the clip. In a batch padded with zeros after the clip those frames hold the clip's tail; past
    them every frame is the stage of silence. Storing them makes batches from the cache equal to batches staged
    from zero-padded audio, whatever the lengths of the other clips."""
    hop, reach = fe.spec.hop_length, max(fe.spec.scales or [fe.spec.n_fft]) // 2
    return max(1 + n_samples // hop, 1 + (n_samples + reach) // hop)


class FeatureSet:
    """The stages of one split's clips: clip ``k`` is ``data[offsets[k]:offsets[k + 1]]`` ``(frames, S, F)``
    (:func:`tail_frames` of them).

    ``data`` is a tensor (in memory, on any device) or a numpy memmap (read per batch). :meth:`batch` gives
    ``{"stage": (B, S, T, F) float32, "n_samples": (B,)}`` with ``T = 1 + longest // hop``, exactly what the front
    end stages from the batch's audio zero-padded to the longest clip.
    """

    def __init__(self, data, frames: np.ndarray, n_samples: np.ndarray, silence: torch.Tensor, hop_length: int):
        self.data = data
        self.frames = np.asarray(frames, dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.frames)])
        self.n_samples = torch.as_tensor(np.asarray(n_samples, dtype=np.int64))
        self.silence = silence.float()
        self.hop_length = hop_length
        self.fixed = int(self.frames[0]) if len(self.frames) and (self.frames == self.frames[0]).all() else None

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def nbytes(self) -> int:
        return int(self.data.nbytes)

    @property
    def device(self) -> torch.device:
        return self.data.device if torch.is_tensor(self.data) else torch.device("cpu")

    def to(self, device) -> FeatureSet:
        """The same stages as a tensor on ``device`` (read into memory when memory-mapped)."""
        data = self.data if torch.is_tensor(self.data) else torch.from_numpy(np.array(self.data))
        return FeatureSet(data.to(device), self.frames, self.n_samples.numpy(), self.silence.to(device),
                          self.hop_length)

    def batch(self, idx) -> dict:
        idx = [int(i) for i in idx]
        n_samples = self.n_samples[idx]
        t = 1 + int(n_samples.max()) // self.hop_length if idx else 0
        if torch.is_tensor(self.data) and self.fixed is not None:
            n, rest = len(self.frames), self.data.shape[1:]
            x = self.data.view(n, self.fixed, *rest)[torch.as_tensor(idx, device=self.data.device), :t]
            if x.shape[1] < t:
                x = torch.cat([x, self.silence.to(x).expand(len(idx), t - x.shape[1], *self.silence.shape)], 1)
        else:
            x = self.silence.to(self.device).expand(len(idx), t, *self.silence.shape).clone()
            for row, i in enumerate(idx):
                a = self.offsets[i]
                b = min(self.offsets[i + 1], a + t)
                part = self.data[a:b]
                x[row, :b - a] = part if torch.is_tensor(part) else torch.from_numpy(np.asarray(part))
        return {"stage": x.permute(0, 2, 1, 3).float(), "n_samples": n_samples}

    def item(self, i: int) -> dict:
        b = self.batch([i])
        return {"stage": b["stage"][0], "n_samples": int(b["n_samples"][0])}


class _Loaded:
    """The feature sets this process holds in memory, least recently used first, within a byte budget."""

    def __init__(self):
        self.sets: OrderedDict[tuple, FeatureSet] = OrderedDict()

    def get(self, key: tuple) -> FeatureSet | None:
        if key in self.sets:
            self.sets.move_to_end(key)
        return self.sets.get(key)

    def put(self, key: tuple, fs: FeatureSet, budget: int) -> None:
        while self.sets and sum(s.nbytes for s in self.sets.values()) + fs.nbytes > budget:
            self.sets.popitem(last=False)
        self.sets[key] = fs


LOADED = _Loaded()  # per process: a cache of immutable, content-addressed data (never stale)


def _stage_file(folder: Path, dtype: str) -> Path:
    return folder / ("stages.f16" if dtype == "float16" else "stages.f32")


def build_entry(folder: Path, table, fe: Frontend, clip_seconds: float | None, key: dict, device) -> None:
    """Compute the stages of every clip of ``table`` into the entry ``folder`` (written atomically)."""
    from tqdm import tqdm

    from sedkit.baselines.data.loaders import fix_length
    from sedkit.synth import audio as audio_io

    sr = fe.spec.sr
    n_fix = None if clip_seconds is None else int(round(clip_seconds * sr))
    dtype = np.float16 if fe.spec.stage_dtype == "float16" else np.float32
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    honour_umask(tmp, folder=True)
    frames, lengths = [], []
    try:
        with open(_stage_file(tmp, fe.spec.stage_dtype), "wb") as out, torch.no_grad():
            names = table.filenames
            for start in tqdm(range(0, len(names), CHUNK_CLIPS), desc=f"features {table.split}", unit="chunk",
                              leave=False, disable=None):
                waves = [fix_length(audio_io.read(table.audio_path(n), sr=sr)[0], n_fix)
                         for n in names[start:start + CHUNK_CLIPS]]
                longest = max(len(w) for w in waves)
                batch = torch.zeros(len(waves), longest + max(fe.spec.scales or [fe.spec.n_fft]))
                for k, w in enumerate(waves):
                    batch[k, :len(w)] = torch.from_numpy(w)
                st = fe.stage(batch.to(device)).permute(0, 2, 1, 3).cpu().numpy().astype(dtype)  # (B, T, S, F)
                for k, w in enumerate(waves):
                    t = tail_frames(len(w), fe)
                    out.write(np.ascontiguousarray(st[k, :t]).tobytes())
                    frames.append(t)
                    lengths.append(len(w))
            silence = fe.stage(torch.zeros(1, 8 * fe.spec.hop_length, device=device))[0, :, 0].cpu()
        index = {"key": key, "filenames": list(table.filenames), "frames": frames, "n_samples": lengths,
                 "scales": int(silence.shape[0]), "mels": int(silence.shape[1]), "dtype": fe.spec.stage_dtype,
                 "hop_length": fe.spec.hop_length,
                 "silence": silence.tolist()}
        (tmp / "index.json").write_text(json.dumps(index), encoding="utf-8")
        try:
            os.rename(tmp, folder)
        except OSError:  # another process finished the same entry first
            if not (folder / "index.json").exists():
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def open_entry(folder: Path) -> FeatureSet:
    """The entry's stages, memory-mapped."""
    index = json.loads((folder / "index.json").read_text(encoding="utf-8"))
    dtype = np.float16 if index["dtype"] == "float16" else np.float32
    total = int(sum(index["frames"]))
    data = np.memmap(_stage_file(folder, index["dtype"]), dtype=dtype, mode="r",
                     shape=(total, index["scales"], index["mels"])) if total else np.zeros((0, 1, 1), dtype)
    return FeatureSet(data, index["frames"], index["n_samples"], torch.tensor(index["silence"]),
                      index["hop_length"])


def split_features(table, frontend: FrontendSpec, clip_seconds: float | None, spec: FeatureCacheSpec,
                   device="cpu") -> FeatureSet:
    """The stages of one split (a :class:`~sedkit.baselines.data.folder.SplitTable`) under ``frontend``: from the
    cache, computed into it first when missing; held in memory (on ``device``) when within ``spec.memory_mb``."""
    fe = build_frontend(frontend).to(device)
    key = split_key(table, fe, clip_seconds)
    folder = cache_root(spec) / f"{table.split}-{spec_hash(key)[:24]}"
    device = torch.device(device)
    held = LOADED.get((str(folder), str(device)))
    if held is not None:
        return held
    if not (folder / "index.json").exists():
        try:
            build_entry(folder, table, fe, clip_seconds, key, device)
        except OSError as e:
            raise SedkitError(f"{folder}: cannot write the feature cache ({e.strerror or e}); set "
                              "data.feature_cache.root to a writable folder or data.feature_cache.enabled: false") from None
    fs = open_entry(folder)
    budget = int(spec.memory_mb * 2 ** 20)
    if fs.nbytes > budget:
        return fs
    fs = fs.to(device)
    LOADED.put((str(folder), str(device)), fs, budget)
    return fs


def model_input(batch: dict) -> torch.Tensor:
    """What a model's front end takes from a batch: the cached stages, or the waveforms."""
    return batch["stage"] if "stage" in batch else batch["audio"]


def batch_features(frontend: Frontend, batch: dict) -> torch.Tensor:
    """The front end's features of a batch whose rows are cached stages, waveforms, or both (``cached`` marks the
    rows whose stage came from the cache; the others, e.g. online mixtures, are staged from their audio here)."""
    if "stage" not in batch:
        return frontend(batch["audio"])
    st = batch["stage"]
    if "audio" in batch:
        rows = torch.nonzero(~batch["cached"].bool()).flatten()
        if len(rows):
            st = st.clone()
            st[rows] = frontend.stage(batch["audio"][rows])[:, :, :st.shape[2]]
    return frontend.finish(st)
