"""`sedkit synth remix` on a tiny bank: SNR subsets that differ only in SNR, layout, counts, determinism."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from multievent_bank import make_bank

from sedkit.cli import root
from sedkit.specs import builtin_spec_path, load_spec
from sedkit.synth.audio import read
from sedkit.synth.contract import read_metadata
from sedkit.synth.dataset import check_dataset
from sedkit.synth.remix import RemixSpec, generate

SNRS = ("snr_0", "snr_10", "snr_20")
COUNTS = {"train": 5, "validation": 2, "eval": 2}


@pytest.fixture(scope="module")
def bank(tmp_path_factory):
    return make_bank(tmp_path_factory.mktemp("remixbank") / "bank")


@pytest.fixture(scope="module")
def remix_set(bank, tmp_path_factory):
    over = {f"small_counts.{k}": v for k, v in COUNTS.items()}
    spec = load_spec(RemixSpec, builtin_spec_path("remix"), over)
    out = tmp_path_factory.mktemp("remix") / "out"
    return out, generate(spec, out, seed=2, scale="small", soundbank=bank, workers=1)


def _jams_events(path):
    doc = json.loads(path.read_text())
    ann = [a for a in doc["annotations"] if a["namespace"] == "scaper"][0]
    return [(o["time"], o["duration"], o["value"]) for o in ann["data"]]


def test_remix_subsets_differ_only_in_snr(remix_set):
    out, _ = remix_set
    for split, n in COUNTS.items():
        tables = {s: (out / s / "metadata" / f"{split}_strong.tsv").read_text() for s in SNRS}
        assert len(set(tables.values())) == 1  # same files, onsets, offsets and labels
        assert len({(out / s / "metadata" / f"{split}.tsv").read_text() for s in SNRS}) == 1
        for name in sorted(p.name for p in (out / "snr_0" / "jams" / split).glob("*.jams")):
            evs = {s: _jams_events(out / s / "jams" / split / name) for s in SNRS}
            for s, ev in evs.items():
                fg = [v for _, _, v in ev if v["role"] == "foreground"]
                assert len(fg) == 3 and all(v["snr"] == float(s.split("_")[1]) for v in fg)
            strip = {s: [(t, d, {k: v for k, v in val.items() if k != "snr"}) for t, d, val in ev]
                     for s, ev in evs.items()}
            assert strip["snr_0"] == strip["snr_10"] == strip["snr_20"]
    # the audio follows the SNR: event windows get louder against the background-only stretches
    strong = read_metadata(out / "snr_0" / "metadata" / "train_strong.tsv")[1]
    f = strong.filename.iloc[0]
    mask = np.zeros(160000, bool)
    for r in strong[strong.filename == f].itertuples():
        mask[int(r.onset * 16000):int(r.offset * 16000)] = True
    ratio = []
    for s in SNRS:
        x, _ = read(out / s / "audio" / "train" / f)
        ratio.append(10 * np.log10(np.mean(x[mask] ** 2) / np.mean(x[~mask] ** 2)))
    assert ratio[0] < ratio[1] < ratio[2] and ratio[2] - ratio[0] > 10, ratio


def test_remix_layout_counts_and_placement(remix_set):
    out, man = remix_set
    for s in SNRS:
        assert (out / s / "metadata" / "classes.txt").read_text().split() == \
            ["Alarm_bell_ringing", "Dog", "Frying", "Speech"]
        for split, n in COUNTS.items():
            kind, weak = read_metadata(out / s / "metadata" / f"{split}.tsv")
            assert kind == "weak" and len(weak) == n
            assert len(list((out / s / "audio" / split).glob("*.wav"))) == n
            strong = pd.read_csv(out / s / "metadata" / f"{split}_strong.tsv", sep="\t")
            assert list(strong.columns) == ["filename", "onset", "offset", "event_label"]
            assert sorted(set(strong.onset.round(3))) == [0.5, 3.0, 5.5]
            assert ((strong.offset - strong.onset) <= 2.0 + 1e-6).all()
            assert (strong.groupby("filename").event_label.nunique() == 3).all()
    assert check_dataset(out) == []
    assert len(man["files"]) == 3 * 9 * 2 + 3 * (1 + 3 * 3) + 8 + 2  # wav+jams, metadata, card (README + 7 PNGs),
    # spec.yaml, ATTRIBUTION.md
    assert man["soundbank"]["index_sha256"] and man["soundbank"]["builtin"] is False


def test_remix_workers_two_is_byte_identical_and_cli_errors(remix_set, bank, tmp_path):
    out, man = remix_set
    args = ["synth", "remix", "--scale", "small", "--seed", "2", "--workers", "2", "--soundbank", str(bank)]
    spec = tmp_path / "remix.yaml"
    spec.write_text(builtin_spec_path("remix").read_text().split("small_counts:")[0] +
                    "small_counts: {train: 5, validation: 2, eval: 2}\n")
    r = CliRunner().invoke(root, args + ["--spec", str(spec), "--out", str(tmp_path / "w2")])
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "w2" / "manifest.json").read_text())["files"] == man["files"]
    r = CliRunner().invoke(root, args + ["--snr", "0,x", "--out", str(tmp_path / "e")])
    assert r.exit_code == 2 and "--snr" in r.output
    r = CliRunner().invoke(root, args + ["--classes", "Dog,Unicorn", "--out", str(tmp_path / "e")])
    assert r.exit_code == 2 and "Unicorn" in r.output and "Traceback" not in r.output
