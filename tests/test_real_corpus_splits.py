"""A corpus like a researcher's own: non-DESED classes, `<source>__<file>` names, sources that span classes and
classes that come from a single source. Splits are stratified by class with groups kept whole."""
import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from click.testing import CliRunner

from sedkit.cli import root
from sedkit.synth.soundbank.index import load_soundbank

CLASSES = ["kettle", "door_knock", "typing", "footsteps", "bird", "car_horn", "cough", "laugh", "phone_ring",
           "drill", "violin", "whistle"]
SR = 16000


def make_corpus(folder):
    rng = np.random.default_rng(0)
    n_sources = {c: 3 + k % 4 for k, c in enumerate(CLASSES[:10])}
    n_sources.update({"violin": 1, "whistle": 2})  # too few sources for three splits
    shared = 0
    for k, c in enumerate(CLASSES):
        for s in range(n_sources[c]):
            src = f"src{(k * 3 + s) % 25:02d}"  # neighbouring classes share some sources
            shared += (k * 3 + s) >= 25
            for f in range(2):
                x = 0.3 * np.sin(2 * np.pi * (200 + 40 * k) * np.arange(int(SR * rng.uniform(0.5, 1.5))) / SR)
                p = folder / "foreground" / c / f"{src}__{c}_{f}.wav"
                p.parent.mkdir(parents=True, exist_ok=True)
                sf.write(p, x.astype(np.float32), SR)
    for k in range(6):
        for s in range(4):
            p = folder / "background" / f"scene{k}" / f"rec{k}{s}__bg.wav"
            p.parent.mkdir(parents=True, exist_ok=True)
            sf.write(p, rng.normal(0, 0.01, SR * 11).astype(np.float32), SR)
    return folder


def test_splits_are_stratified_by_class_and_small_classes_are_named(tmp_path):
    corpus = make_corpus(tmp_path / "corpus")
    r = CliRunner().invoke(root, ["soundbank", "import", "folder", str(corpus)])
    assert r.exit_code == 0, r.output
    assert "violin (1 group)" in r.stderr and "whistle (2 groups)" in r.stderr
    idx = load_soundbank(corpus).index
    fg, bg = idx[idx.role == "foreground"], idx[idx.role == "background"]
    assert set(fg.label) == set(CLASSES[:10])
    per = fg.groupby("label").split.nunique()
    assert (per == 3).all(), per  # every class with >= 3 groups is in every split
    assert fg.groupby("source_group").split.nunique().max() == 1  # no source crosses splits
    assert set(bg.split) == {"train", "validation", "eval"} and bg.groupby("source_group").split.nunique().max() == 1
    train_share = (fg.split == "train").mean()
    assert 0.45 < train_share < 0.9
    out = tmp_path / "waa"
    r = CliRunner().invoke(root, ["synth", "waa", "--scale", "small", "--soundbank", str(corpus), "--sr", "16000",
                                  "--segment", "1s", "--out", str(out), "--workers", "2"])
    assert r.exit_code == 0, r.output
    meta = pd.read_csv(out / "segments" / "1s" / "metadata" / "eval.tsv", sep="\t")
    assert set(meta.columns) >= {"filename", "event_labels"}


@pytest.mark.parametrize("mode", ["train-only", "error"])
def test_small_class_choices(tmp_path, mode):
    corpus = make_corpus(tmp_path / "corpus")
    r = CliRunner().invoke(root, ["soundbank", "import", "folder", str(corpus), "--small-classes", mode])
    if mode == "error":
        assert r.exit_code == 2 and "violin (1), whistle (2)" in r.stderr
        assert not (corpus / "sedkit_index.csv").exists()
        return
    assert r.exit_code == 0, r.output
    idx = load_soundbank(corpus).index
    assert set(idx[idx.label.isin(["violin", "whistle"])].split) == {"train"}


def test_group_by_choices(tmp_path):
    corpus = make_corpus(tmp_path / "corpus")
    meta = tmp_path / "groups.csv"
    files = sorted(p.relative_to(corpus).as_posix() for p in corpus.rglob("*.wav"))
    pd.DataFrame({"path": files, "speaker": [f"s{i % 7}" for i in range(len(files))]}).to_csv(meta, index=False)
    for how, check in (("none", lambda df: df.source_group.nunique() == len(df)),
                       ("folder", lambda df: df.source_group.nunique() == df.label.nunique()),
                       ("column:speaker", lambda df: set(df.source_group) <= {f"speaker_s{i}" for i in range(7)})):
        for f in ("sedkit_index.csv", "sedkit_rejected.csv"):
            (corpus / f).unlink(missing_ok=True)
        args = ["soundbank", "import", "folder", str(corpus), "--group-by", how, "--small-classes", "train-only"]
        r = CliRunner().invoke(root, args + (["--metadata", str(meta)] if how.startswith("column") else []))
        assert r.exit_code == 0, (how, r.output)
        assert check(load_soundbank(corpus).index), how
    r = CliRunner().invoke(root, ["soundbank", "import", "folder", str(corpus), "--group-by", "column:speaker"])
    assert r.exit_code == 2 and "already indexed" in r.stderr and "--rehash" in r.stderr
    r = CliRunner().invoke(root, ["soundbank", "import", "folder", str(corpus), "--group-by", "column:speaker",
                                  "--rehash"])
    assert r.exit_code == 2 and "needs --metadata" in r.stderr


def test_card_regenerates_a_dataset_from_an_imported_bank_byte_for_byte(tmp_path, monkeypatch):
    import json
    import re
    import shlex

    from sedkit import SedkitError
    from sedkit.baselines.data.augment import data_soundbank

    corpus = make_corpus(tmp_path / "corpus")
    assert CliRunner().invoke(root, ["soundbank", "import", "folder", str(corpus)]).exit_code == 0
    out = tmp_path / "strong"
    spec = tmp_path / "mine.yaml"
    spec.write_text("scene: {polyphony_cap: 2}\n")
    r = CliRunner().invoke(root, ["synth", "strong", "--scale", "small", "--soundbank", str(corpus), "--spec",
                                  str(spec), "--sr", "16000", "--out", str(out), "--workers", "2"])
    assert r.exit_code == 0, r.output
    man = json.loads((out / "manifest.json").read_text())
    assert man["soundbank"]["path"] == str(corpus.resolve()) and man["sedkit_version"]
    cmd = re.search(r"- regenerate: `(.+)`", (out / "README.md").read_text()).group(1)
    assert "--soundbank" in cmd and "--spec spec.yaml" in cmd
    again = tmp_path / "again"
    monkeypatch.chdir(out)
    r = CliRunner().invoke(root, shlex.split(cmd.replace("NEW_FOLDER", str(again)))[1:])
    assert r.exit_code == 0, r.output
    audio = {k: v["sha256"] for k, v in man["files"].items() if k.endswith(".wav")}
    redo = json.loads((again / "manifest.json").read_text())["files"]
    assert len(audio) > 10 and all(redo[k]["sha256"] == sha for k, sha in audio.items())
    assert data_soundbank(out) == corpus.resolve()  # data.augment finds the bank through the manifest
    corpus.rename(tmp_path / "moved")
    with pytest.raises(SedkitError, match="not there any more"):
        data_soundbank(out)


@pytest.mark.slow
def test_bench_waa_runs_end_to_end_on_the_corpus(tmp_path):
    """`sedkit bench run waa --seeds 1` on the imported corpus: every cell computed, the report names its classes'
    bank and no DESED class."""
    import json

    corpus = make_corpus(tmp_path / "corpus")
    assert CliRunner().invoke(root, ["soundbank", "import", "folder", str(corpus)]).exit_code == 0
    out = tmp_path / "bench"
    r = CliRunner().invoke(root, ["bench", "run", "waa", "--seeds", "1", "--soundbank", str(corpus), "--out",
                                  str(out)])
    assert r.exit_code == 0, r.output
    cells = json.loads((out / "results.json").read_text())["cells"]
    assert cells and all(c["status"] == "ok" for c in cells)
    report = (out / "report.md").read_text()
    assert str(corpus) in report and "Alarm_bell_ringing" not in report and "Dishes" not in report
