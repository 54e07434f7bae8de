"""The training engine's feature cache: same results as training from the audio, shared entries, nothing stale,
memory and memory-mapped batches alike."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from helpers import TINY_SED, make_semi
from toydata import make_toy_datadir

from sedkit.baselines.api import train
from sedkit.baselines.data import features as F
from sedkit.baselines.data.folder import DataDir
from sedkit.baselines.models.frontends import FrontendSpec
from sedkit.synth import audio as audio_io

TINY_CLF = {"frontend": {"sr": 8000, "n_fft": 256, "win_length": None, "hop_length": 80, "n_mels": 24, "fmin": 0,
                         "fmax": 4000},
            "net": {"channels": [4, 4, 4, 8], "dropout": 0.0}, "data": {"batch_size": 4, "eval_batch_size": 5}}


def _with_cache(cfg: dict, enabled: bool, root) -> dict:
    return {**cfg, "data": {**cfg["data"], "feature_cache": {"enabled": enabled, "root": str(root)}}}


def _weights(run) -> dict:
    ck = torch.load(run / "best.pt", weights_only=True)
    return ck["strategy"]["nets"]


def _same_runs(a, b) -> None:
    assert json.loads((a / "metrics.json").read_text()) == json.loads((b / "metrics.json").read_text())
    wa, wb = _weights(a), _weights(b)
    for net in wa:
        for k in wa[net]:
            assert torch.equal(wa[net][k], wb[net][k]), (net, k)
    assert (a / "predictions/eval/clip_scores.tsv").read_bytes() == (b / "predictions/eval/clip_scores.tsv").read_bytes()


@pytest.fixture(scope="module")
def varlen(tmp_path_factory):
    """Clips of different lengths (batch padding differs between the two paths)."""
    return make_toy_datadir(tmp_path_factory.mktemp("fc") / "data", duration_s=(0.6, 1.4),
                            per_class={"train": 4, "validation": 2, "eval": 3})


@pytest.mark.parametrize("model", ["classifier", "wler", "gap"])
def test_training_from_the_cache_is_bit_identical_to_training_from_audio(varlen, tmp_path, model):
    cfg = TINY_CLF if model == "classifier" else {"data": {"batch_size": 4, "eval_batch_size": 5}}
    if model == "wler":  # multi-scale mel, variable-length clips
        cfg = {**cfg, "frontend": {"extends": "frontends/kumar", "sr": 8000, "scales": [256, 128], "n_mels": 64,
                                   "hop_length": 64},
               "net": {"channels": [8, 8, 8, 8, 8], "fc_channels": 8, "dropout": 0.0, "init": "he"}}
    if model == "gap":  # fixed-length clips
        cfg = {"data": {**cfg["data"], "clip_seconds": 1.0}, "figures": 0, "encoder": {"channels": [4, 8]},
               "frontend": {"extends": "frontends/deshmukh", "sr": 8000, "n_fft": 256, "hop_length": 64, "n_mels": 24}}
    runs = {}
    for on in (False, True):
        runs[on] = tmp_path / f"run-{on}"
        train(model, varlen, runs[on], config=_with_cache(cfg, on, tmp_path / "fc"), epochs=2, device="cpu",
              threads=1)
    _same_runs(runs[False], runs[True])
    assert len(list((tmp_path / "fc").glob("*/index.json"))) == 3  # train, validation, eval


def test_crnn_from_the_cache_is_bit_identical(tmp_path):
    data = make_semi(tmp_path / "semi")
    runs = {}
    for on in (False, True):
        runs[on] = tmp_path / f"crnn-{on}"
        train("crnn", data, runs[on], config=_with_cache(TINY_SED, on, tmp_path / "fc"), device="cpu", threads=1)
    _same_runs(runs[False], runs[True])


def _entry(dd: DataDir, split: str, fe: FrontendSpec, root, memory_mb: float = 64.0) -> F.FeatureSet:
    spec = F.FeatureCacheSpec(root=str(root), memory_mb=memory_mb)
    return F.split_features(dd.table(split), fe, None, spec)


def test_entries_are_shared_and_never_stale(varlen, tmp_path, monkeypatch):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(varlen, data)
    dd = DataDir(data)
    fe = FrontendSpec(sr=8000, n_fft=256, hop_length=80, n_mels=24, compression="log", norm="zscore")
    root = tmp_path / "fc"
    a = _entry(dd, "train", fe, root)
    F.LOADED.sets.clear()
    # normalisation is not part of the stage: a z-score and a min-max model share the entry
    b = _entry(dd, "train", fe.model_copy(update={"norm": "minmax"}), root)
    assert len(list(root.iterdir())) == 1 and torch.equal(a.batch([0, 3])["stage"], b.batch([0, 3])["stage"])
    # another stage setting, a rewritten audio file, new code: new entries
    _entry(dd, "train", fe.model_copy(update={"n_mels": 16}), root)
    name = dd.table("train").filenames[0]
    x, sr = audio_io.read(data / "audio/train" / name)
    audio_io.write(data / "audio/train" / name, x * 0.5, sr)
    os.utime(data / "audio/train" / name, ns=(1, 1))
    F.LOADED.sets.clear()
    c = _entry(DataDir(data), "train", fe, root)
    assert not torch.equal(c.batch([0])["stage"], a.batch([0])["stage"])
    assert torch.equal(c.batch([1])["stage"], a.batch([1])["stage"])
    from sedkit.synth import fingerprint

    monkeypatch.setattr(fingerprint, "source_bytes", lambda p: p.read_bytes() + b"# changed")
    fingerprint.clear()
    try:
        F.LOADED.sets.clear()
        _entry(DataDir(data), "train", fe, root)
    finally:
        fingerprint.clear()
    assert len([p for p in root.iterdir() if not p.name.startswith(".")]) == 4
    assert not [p for p in root.iterdir() if p.name.startswith(".")]  # no temporary folder left behind


def test_memory_and_memory_mapped_batches_agree_with_the_audio(varlen, tmp_path):
    dd = DataDir(varlen)
    fe_spec = FrontendSpec(sr=8000, n_fft=256, hop_length=80, n_mels=24, compression="log", norm="none")
    in_memory = _entry(dd, "eval", fe_spec, tmp_path)
    F.LOADED.sets.clear()
    mapped = _entry(dd, "eval", fe_spec, tmp_path, memory_mb=0)
    assert torch.is_tensor(in_memory.data) and isinstance(mapped.data, np.memmap)
    idx = [4, 0, 7]
    a, b = in_memory.batch(idx), mapped.batch(idx)
    assert torch.equal(a["stage"], b["stage"]) and torch.equal(a["n_samples"], b["n_samples"])
    from sedkit.baselines.models.frontends import build_frontend

    fe = build_frontend(fe_spec)
    t = dd.table("eval")
    waves = [audio_io.read(t.audio_path(t.filenames[i]), sr=8000)[0] for i in idx]
    audio = torch.zeros(len(idx), max(len(w) for w in waves))
    for row, w in enumerate(waves):
        audio[row, :len(w)] = torch.from_numpy(w)
    assert a["n_samples"].tolist() == [len(w) for w in waves]
    # the batch the front end stages from the same clips zero-padded to the longest, tails included
    assert torch.equal(a["stage"], fe.stage(audio))
    short = int(a["n_samples"].argmin())
    assert a["n_samples"].max() - a["n_samples"][short] > 2 * 256
    assert (a["stage"][short, :, -1] == -100.0).all()  # past a short clip's tail: the stage of silence
