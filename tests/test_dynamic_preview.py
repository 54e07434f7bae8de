"""`sedkit synth preview-dynamic`: mixtures, strong TSV, labelled spectrograms; one-line errors."""
from __future__ import annotations

import json

import pandas as pd
import soundfile as sf
import yaml
from click.testing import CliRunner
from conftest import make_tiny_bank

from sedkit.cli import root
from sedkit.specs import builtin_spec_path


def test_preview_writes_audio_labels_and_pictures(tmp_path):
    bank = make_tiny_bank(tmp_path / "bank")
    spec = yaml.safe_load(builtin_spec_path("dynamic").read_text())
    spec["clip_s"] = 4.0
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    out = tmp_path / "prev"
    r = CliRunner().invoke(root, ["synth", "preview-dynamic", "--n", "2", "--out", str(out), "--soundbank", str(bank),
                                  "--seed", "4", "--device", "cpu", "--spec", str(tmp_path / "spec.yaml")])
    assert r.exit_code == 0, r.output
    wavs = sorted((out / "audio" / "preview").glob("*.wav"))
    assert [w.name for w in wavs] == ["mix_000.wav", "mix_001.wav"]
    x, sr = sf.read(wavs[0])
    assert sr == 16000 and len(x) == 64000
    tsv = pd.read_csv(out / "metadata" / "preview.tsv", sep="\t")
    draws = json.loads((out / "draws.json").read_text())
    want = sorted((f"mix_{i:03d}.wav", round(s["onset"] / 16000, 3), round((s["onset"] + s["length"]) / 16000, 3),
                   s["label"]) for i, d in enumerate(draws) for s in d["sources"] if s["role"] == "foreground")
    got = sorted(zip(tsv.filename, tsv.onset.round(3), tsv.offset.round(3), tsv.event_label))
    assert got == want
    assert (out / "mix_000.png").stat().st_size > 10_000 and (out / "README.md").is_file()
    assert (out / "metadata" / "classes.txt").read_text().split() == ["bell", "dog", "hum"]
    assert json.loads((out / "manifest.json").read_text())["kind"] == "preview-dynamic"


def test_preview_bad_inputs_are_one_line_errors(tmp_path):
    r = CliRunner().invoke(root, ["synth", "preview-dynamic", "--n", "1", "--out", str(tmp_path / "o"),
                                  "--soundbank", str(tmp_path)])
    assert r.exit_code == 2 and r.output.count("\n") == 1 and "not a soundbank" in r.output
    r = CliRunner().invoke(root, ["synth", "preview-dynamic", "--n", "1", "--out", str(tmp_path / "o"),
                                  "--soundbank", str(tmp_path), "--rirs", str(tmp_path / "nope")])
    assert r.exit_code == 2
