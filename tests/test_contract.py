"""The dataset-folder contract: writers and readers round-trip, one-line errors, one frame-target rule."""
import numpy as np
import pytest

from sedkit import SedkitError
from sedkit.synth import contract


def test_writers_and_readers_round_trip(tmp_path):
    root = tmp_path / "d"
    contract.write_classes(contract.classes_path(root), ["b", "a"])
    contract.write_strong_tsv(contract.metadata_path(root, "train"), [
        {"filename": "x.wav", "onset": 1.23456, "offset": 2.0, "event_label": "a"},
        {"filename": "x.wav", "onset": 0.5, "offset": 0.75, "event_label": "NA"},
        {"filename": "y.wav", "onset": None, "offset": None, "event_label": ""}])
    contract.write_weak_tsv(contract.metadata_path(root, "weak"), {"z.wav": ["b", "a", "b"]})
    contract.write_unlabelled_tsv(contract.metadata_path(root, "unlabel"), ["u2.wav", "u1.wav"])
    contract.write_durations_tsv(contract.metadata_path(root, "train", "_durations"), {"x.wav": 10, "y.wav": 9.5})
    assert contract.read_classes(contract.classes_path(root)) == ["b", "a"]
    kind, df = contract.read_metadata(contract.metadata_path(root, "train"))
    assert kind == "strong" and list(df.onset[:2]) == [0.5, 1.235]  # sorted by onset, times %.3f
    events = contract.strong_events("train.tsv", df)
    assert events == {"x.wav": [(0.5, 0.75, "NA"), (1.235, 2.0, "a")], "y.wav": []}  # "NA" stays a label
    kind, df = contract.read_metadata(contract.metadata_path(root, "weak"))
    assert kind == "weak" and contract.weak_labels(df) == {"z.wav": ["a", "b"]}
    kind, df = contract.read_metadata(contract.metadata_path(root, "unlabel"))
    assert kind == "unlabelled" and list(df.filename) == ["u1.wav", "u2.wav"]
    assert contract.read_durations(contract.metadata_path(root, "train", "_durations")) == {"x.wav": 10.0,
                                                                                             "y.wav": 9.5}


@pytest.mark.parametrize("text,msg", [
    ("filename\tonset\toffset\tevent_label\nx.wav\tabc\t1\tdog\n", "x.tsv:2: onset/offset are not numbers"),
    ("filename\tonset\toffset\tevent_label\nx.wav\tnan\t1\tdog\n", "x.tsv:2: onset/offset are not numbers"),
    ("filename\tduration\nx.wav\tfast\n", "x.tsv:2: durations are not numbers"),
    ("name\tlabel\nx.wav\tdog\n", "unknown TSV header"),
    ("", "cannot read TSV"),
])
def test_bad_metadata_is_one_line_naming_file_and_line(tmp_path, text, msg):
    p = tmp_path / "x.tsv"
    p.write_text(text)
    with pytest.raises(SedkitError, match=msg) as e:
        contract.read_metadata(p)
    assert "\n" not in str(e.value)


def test_side_tables_are_read_but_are_not_split_metadata(tmp_path):
    p = tmp_path / "train_weakness.tsv"
    p.write_text("filename\tsegment_start\tweakness\nx.wav\t0.5\t0.3\n")
    kind, df = contract.read_metadata(p)
    assert kind == "table"
    with pytest.raises(SedkitError, match="unknown TSV header"):
        contract.split_kind(p, kind, df)
    assert contract.split_kind(p, "durations", df) == "unlabelled"


def test_frame_targets_one_rule():
    y = contract.frame_targets([(0.10, 0.30, "b"), (0.0, 5.0, "a"), (0.52, 0.53, "b"), (0.6, 0.6, "a")],
                               ["a", "b"], n_frames=10, hop_s=0.1)
    assert y.dtype == np.float32 and y.shape == (10, 2)
    assert y[:, 0].tolist() == [1.0] * 10  # past the grid: cut
    # frames [0.1, 0.2) and [0.2, 0.3) overlap the first event; the 10 ms event marks the frame it starts in
    assert np.flatnonzero(y[:, 1]).tolist() == [1, 2, 5]
    z = contract.frame_targets([(0.6, 0.6, "a")], ["a"], n_frames=10, hop_s=0.1)
    assert np.flatnonzero(z[:, 0]).tolist() == [6]  # a zero-length event still marks its frame
    with pytest.raises(SedkitError, match="not in the class list"):
        contract.frame_targets([(0, 1, "cat")], ["a"], 10, 0.1)
