"""The data-dir reader, batch samplers and the prediction format."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sed_scores_eval.base_modules.io import read_sed_scores

from sedkit import SedkitError
from sedkit.baselines.data.loaders import ClipDataset, EpisodeSampler, TripletSampler, collate, primary_class
from sedkit.baselines.data.folder import DataDir
from sedkit.baselines.evaluation.predictions import read_clip_scores, write_clip_scores, write_detections, write_frame_scores
from toydata import make_toy_datadir
from sedkit.synth import audio as audio_io


@pytest.fixture(scope="module")
def weak_dir(tmp_path_factory):
    return make_toy_datadir(tmp_path_factory.mktemp("w") / "d", per_class={"train": 2, "eval": 1}, sr=8000,
                            duration_s=(0.5, 1.0), events_per_clip=2)


def test_weak_split_with_strong_side_tsv(weak_dir):
    dd = DataDir(weak_dir)
    assert dd.classes == ["a", "b", "c"] and dd.splits() == ["eval", "train"]
    t = dd.table("train")
    assert t.kind == "weak" and len(t.filenames) == 6
    assert t.labels[0] == ["a", "b"] and t.events is not None
    assert {e[2] for e in t.events[t.filenames[0]]} == {"a", "b"}
    y = t.targets(dd.classes)
    assert y.shape == (6, 3) and (y.sum(1) == 2).all()
    assert t.durations[t.filenames[0]] > 0


def test_strong_and_unlabelled_splits_and_class_union(tmp_path):
    root = tmp_path / "d"
    (root / "audio" / "s").mkdir(parents=True)
    (root / "audio" / "u").mkdir(parents=True)
    for name in ("x.wav", "y.wav", "z.wav"):
        audio_io.write(root / "audio" / "s" / name, np.zeros(800, np.float32) + 0.01, 8000)
        audio_io.write(root / "audio" / "u" / name, np.zeros(800, np.float32) + 0.01, 8000)
    (root / "metadata").mkdir()
    (root / "metadata" / "s.tsv").write_text("filename\tonset\toffset\tevent_label\n"
                                             "x.wav\t0.000\t0.050\tDog\nx.wav\t0.020\t0.080\tCat\n"
                                             "y.wav\t\t\t\n")
    (root / "metadata" / "s_durations.tsv").write_text("filename\tduration\nx.wav\t0.1\ny.wav\t0.1\nz.wav\t0.1\n")
    (root / "metadata" / "u.tsv").write_text("filename\nx.wav\ny.wav\n")
    dd = DataDir(root)
    assert dd.classes == ["Cat", "Dog"]  # no classes.txt: sorted union of the labels
    s = dd.table("s")
    assert s.kind == "strong" and s.filenames == ["x.wav", "y.wav", "z.wav"]  # z only in the durations TSV
    assert s.labels == [["Cat", "Dog"], [], []]
    u = dd.table("u")
    assert u.kind == "unlabelled" and u.labels is None and not u.targets(dd.classes).any()


@pytest.mark.parametrize("tsv,msg", [("filename\tlabel\nx.wav\tDog\n", "unknown TSV header"),
                                     ("filename\tevent_labels\nmissing.wav\tDog\n", "is missing"),
                                     ("filename\tonset\toffset\tevent_label\nx.wav\tsoon\t1\tDog\n",
                                      "not numbers"),
                                     ("filename\tonset\toffset\tevent_label\nx.wav\t2\t1\tDog\n", "bad event")])
def test_bad_metadata_is_a_one_line_error(tmp_path, tsv, msg):
    root = tmp_path / "d"
    audio_io.write(root / "audio" / "train" / "x.wav", np.zeros(800, np.float32) + 0.01, 8000)
    (root / "metadata").mkdir(parents=True)
    (root / "metadata" / "classes.txt").write_text("Dog\n")
    (root / "metadata" / "train.tsv").write_text(tsv)
    with pytest.raises(SedkitError, match=msg):
        DataDir(root).table("train")
    with pytest.raises(SedkitError, match="split 'nosuch' not found"):
        DataDir(root).table("nosuch")


def test_dataset_lengths_and_collate(weak_dir):
    dd = DataDir(weak_dir)
    var = ClipDataset(dd.table("train"), dd.classes, 16000, None, cache_seconds=100)
    items = [var[i] for i in range(3)]
    assert items[0]["audio"].dtype == torch.float32
    b = collate(items)
    assert b["audio"].shape == (3, int(b["n_samples"].max())) and b["target"].shape == (3, 3)
    assert b["n_samples"].tolist() == [len(it["audio"]) for it in items]  # resampled to 16 kHz, own lengths
    fixed = ClipDataset(dd.table("train"), dd.classes, 8000, 0.75)
    assert {len(fixed[i]["audio"]) for i in range(len(fixed))} == {6000}  # padded or cut to 0.75 s


def test_samplers_are_seeded_and_well_formed():
    targets = torch.eye(3).repeat_interleave(4, 0)  # 3 classes x 4 clips
    cls = primary_class(targets)
    ts = TripletSampler(targets, batch_size=5, seed=1)
    batches = list(ts)
    assert len(batches) == len(ts) == 3 and sorted(i for b in batches for i in b[:len(b) // 3]) == list(range(12))
    for b in batches:
        n = len(b) // 3
        a, p, q = b[:n], b[n:2 * n], b[2 * n:]
        assert all(cls[x] == cls[y] and x != y for x, y in zip(a, p))
        assert all(cls[x] != cls[y] for x, y in zip(a, q))
    assert list(TripletSampler(targets, 5, seed=1)) == batches
    ep = EpisodeSampler(targets, n_way=None, n_per_class=3, n_episodes=None, seed=0)
    eps = list(ep)
    assert len(eps) == 1 and len(eps[0]) == 9  # J = K = 3 classes x (m_s + m_q) = 3
    assert [int(cls[i]) for i in eps[0]] == [0, 0, 0, 1, 1, 1, 2, 2, 2]  # class-major blocks
    with pytest.raises(SedkitError, match="at least 2 classes"):
        TripletSampler(torch.eye(3)[:1].repeat(4, 1), 2)


def test_prediction_files(tmp_path):
    classes = ["Dog", "Cat"]
    write_clip_scores(tmp_path / "clip_scores.tsv", ["a.wav", "b.wav"], classes, np.array([[0.1, 0.9],
                                                                                             [0.5, 0.25]]))
    names, scores, cols = read_clip_scores(tmp_path / "clip_scores.tsv", ["Cat", "Dog"])
    assert names == ["a.wav", "b.wav"] and cols == ["Cat", "Dog"]
    np.testing.assert_allclose(scores, [[0.9, 0.1], [0.25, 0.5]])
    fr = np.linspace(0, 1, 10)[:, None].repeat(2, 1)
    write_frame_scores(tmp_path / "frames", "a.wav", fr, 0.1, classes, duration_s=0.95)
    df = read_sed_scores(str(tmp_path / "frames" / "a.tsv"))  # sed_scores_eval reads the format
    assert list(df.columns) == ["onset", "offset", *classes] and len(df) == 10
    assert df["offset"].iloc[-1] == pytest.approx(0.95)
    write_detections(tmp_path / "det.tsv", [("b.wav", 0.5, 1.0, "Dog"), ("a.wav", 0.0, 0.25, "Cat")])
    assert (tmp_path / "det.tsv").read_text().splitlines() == ["filename\tonset\toffset\tevent_label",
                                                               "a.wav\t0.000\t0.250\tCat",
                                                               "b.wav\t0.500\t1.000\tDog"]
