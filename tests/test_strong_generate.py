"""`sedkit synth strong` end to end on a tiny bank: formats, polyphony cap, clean-up, counts, determinism, resume."""
from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner
from multievent_bank import make_bank

from sedkit.cli import root
from sedkit.specs import builtin_spec_path, load_spec
from sedkit.synth.dataset import check_dataset
from sedkit.synth.polyphony import tsv_polyphony
from sedkit.synth.strong import StrongSpec, generate

SIZES = {"small_counts.train": 8, "small_counts.validation": 4}


@pytest.fixture(scope="module")
def bank(tmp_path_factory):
    return make_bank(tmp_path_factory.mktemp("strongbank") / "bank")


@pytest.fixture(scope="module")
def strong_set(bank, tmp_path_factory):
    spec = load_spec(StrongSpec, builtin_spec_path("strong"), {**SIZES, "scene.polyphony_cap": 2})
    out = tmp_path_factory.mktemp("strong") / "out"
    man = generate(spec, out, seed=3, scale="small", soundbank=bank, workers=1)
    return out, man


def test_strong_tsvs_follow_desed_formats_and_the_recipe(strong_set):
    out, man = strong_set
    for split, n in (("train", 8), ("validation", 4)):
        df = pd.read_csv(out / "metadata" / f"{split}.tsv", sep="\t")
        assert list(df.columns) == ["filename", "onset", "offset", "event_label"]
        durs = pd.read_csv(out / "metadata" / f"{split}_durations.tsv", sep="\t")
        assert list(durs.columns) == ["filename", "duration"] and len(durs) == n
        assert sorted(p.name for p in (out / "audio" / split).glob("*.wav")) == sorted(durs.filename)
        assert len(list((out / "jams" / split).glob("*.jams"))) == n
        assert set(df.filename) == set(durs.filename)  # every clip keeps at least one label
        assert tsv_polyphony(df).max() <= 2
        assert ((df.offset - df.onset) >= 0.25 - 1e-6).all()
        assert ((df.onset >= 0) & (df.offset <= 10.0 + 1e-6)).all()
        for _, g in df.groupby(["filename", "event_label"]):  # merged: same class never closer than 150 ms
            g = g.sort_values("onset")
            assert ((g.onset.values[1:] - g.offset.values[:-1]) >= 0.15 - 1e-3).all()
    assert (out / "metadata" / "classes.txt").read_text().split() == \
        ["Alarm_bell_ringing", "Dog", "Frying", "Speech"]
    assert check_dataset(out) == []
    for png in ("events_per_clip", "polyphony", "snr", "class_totals", "example"):
        assert (out / f"{png}.png").stat().st_size > 1000
    card = (out / "README.md").read_text()
    assert "Polyphony cap 2" in card and "| train | 8 |" in card
    assert man["kind"] == "strong" and man["spec"]["spec"]["scene"]["polyphony_cap"] == 2


def test_strong_clip_regenerates_from_its_jams(strong_set, bank, tmp_path):
    import numpy as np

    from sedkit.synth.audio import read
    from sedkit.synth.scaper_mix import ScaperView, regenerate
    from sedkit.synth.soundbank.index import load_soundbank

    out, _ = strong_set
    view = ScaperView(load_soundbank(bank), tmp_path / "view")
    regenerate(out / "jams" / "train" / "train_00001.jams", view, tmp_path / "again.wav")
    np.testing.assert_array_equal(read(tmp_path / "again.wav")[0], read(out / "audio" / "train" / "train_00001.wav")[0])


def test_strong_is_identical_whatever_the_workers_and_resumes(strong_set, bank, tmp_path):
    out, man = strong_set
    spec = load_spec(StrongSpec, builtin_spec_path("strong"), {**SIZES, "scene.polyphony_cap": 2})
    man2 = generate(spec, tmp_path / "w2", seed=3, scale="small", soundbank=bank, workers=2)
    assert man2["files"] == man["files"]
    victim = tmp_path / "w2" / "audio" / "train" / "train_00003.wav"
    victim.unlink()
    man3 = generate(spec, tmp_path / "w2", seed=3, scale="small", soundbank=bank, workers=1, resume=True)
    assert man3["files"] == man["files"]
    journal = (tmp_path / "w2" / ".sedkit" / "journal.jsonl").read_text().splitlines()
    assert len(journal) == 12 and json.loads(journal[0])[0] == "train/0"


def test_strong_cli_small_and_one_line_errors(bank, tmp_path):
    r = CliRunner().invoke(root, ["synth", "strong", "--scale", "small", "--soundbank", str(bank), "--train", "3",
                                  "--validation", "1", "--no-reverb", "--workers", "1", "--out", str(tmp_path / "c")])
    assert r.exit_code == 0, r.output
    assert len(pd.read_csv(tmp_path / "c" / "metadata" / "train_durations.tsv", sep="\t")) == 3
    assert json.loads((tmp_path / "c" / "manifest.json").read_text())["spec"]["spec"]["scene"]["reverb"] is None
    r = CliRunner().invoke(root, ["synth", "strong", "--scale", "small", "--soundbank", str(bank),
                                  "--out", str(tmp_path / "c")])
    assert r.exit_code == 2 and "not empty" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(root, ["synth", "strong", "--soundbank", str(bank), "--polyphony-cap", "0",
                                  "--out", str(tmp_path / "d")])
    assert r.exit_code == 2 and "--polyphony-cap 0" in r.output  # the flag, not the built-in spec file
    assert "Example: sedkit synth strong" in CliRunner().invoke(root, ["synth", "strong", "--help"]).output



def test_scaper_warnings_are_counted_per_clip_and_in_the_card(strong_set, bank, tmp_path):
    """Scaper's warnings are not silenced wholesale: each clip's are counted by kind, and the card reports them."""
    from sedkit.synth.scaper_mix import ScaperView, render, warning_kind
    from sedkit.synth.soundbank.index import load_soundbank

    assert warning_kind("Soundscape audio is clipping!") == "clipping"
    assert warning_kind("Peak normalization applied to fix clipping with scale factor = 0.5.") == "clipping"
    assert warning_kind("Dog event duration (3.00) is greater that source duration (1.00), changing to 1.00") == \
        "duration"
    assert warning_kind("No events to synthesize (silent soundscape), no audio generated.") == "other"
    sb = load_soundbank(bank)
    fg = sb.index[sb.index.role == "foreground"].iloc[0]
    bg = sb.index[sb.index.role == "background"].iloc[0]
    event = {"label": fg.label, "path": fg.path, "source_time": 0.0, "event_time": 1.0,
             "event_duration": float(fg.duration_s) + 5.0, "snr": 80.0}  # too long, and far too loud
    _, _, _, warned = render(ScaperView(sb, tmp_path / "view", sr=16000), 16000, 10.0, -20,
                             {"path": bg.path, "label": bg.label, "source_time": 0.0}, [event])
    assert warned.get("clipping", 0) >= 1 and warned.get("duration", 0) >= 1, warned
    out, _ = strong_set
    card = (out / "README.md").read_text()
    section = card.split("## Scaper warnings")[1].split("\n## ")[0]
    assert "mixing the 12 clips" in section
    for kind in ("clipping", "duration", "other"):
        assert f"| {kind} |" in section


def test_card_lists_the_licences_of_the_sources_used(tiny_bank, tmp_path):
    idx = pd.read_csv(tiny_bank / "sedkit_index.csv")
    idx["license"] = ["CC-BY-4.0" if i % 2 else "CC0-1.0" for i in range(len(idx))]
    idx["attribution"] = [f"recordist {i}" for i in range(len(idx))]
    idx.to_csv(tiny_bank / "sedkit_index.csv", index=False)
    out = tmp_path / "s"
    r = CliRunner().invoke(root, ["synth", "strong", "--scale", "small", "--soundbank", str(tiny_bank), "--out",
                                  str(out), "--sr", "16000", "--workers", "1"])
    assert r.exit_code == 0, r.output
    card = (out / "README.md").read_text()
    att = (out / "ATTRIBUTION.md").read_text()
    assert "## Sources and licences" in card and "CC-BY-4.0" in card
    used = [line for line in att.splitlines() if line.startswith("- `")]
    assert used and all(("CC-BY-4.0" in x or "CC0-1.0" in x) and "recordist" in x for x in used)
    assert "ATTRIBUTION.md" in json.loads((out / "manifest.json").read_text())["files"]
