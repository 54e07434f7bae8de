"""WAA and 200 ms sets on a tiny generated bank, with the real Scaper."""
import json
import os
import threading
from pathlib import Path

import jams
import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from click.testing import CliRunner

from sedkit.cli import root
from sedkit.synth.scaper_mix import ScaperView, regenerate
from sedkit.synth.soundbank.index import load_soundbank
from sedkit.synth.waa import parse_length, segment_window

SEGS = "200ms,1s,10s"


def synth(kind, bank, out, *extra):
    r = CliRunner().invoke(root, ["synth", kind, "--scale", "small", "--soundbank", str(bank), "--out", str(out),
                                  "--sr", "16000", "--segment", SEGS, *extra])
    assert r.exit_code == 0, r.output
    return out


@pytest.fixture(scope="module")
def waa(tmp_path_factory):
    from conftest import make_tiny_bank

    d = tmp_path_factory.mktemp("waa")
    bank = make_tiny_bank(d / "bank")
    return bank, synth("waa", bank, d / "w1", "--workers", "1"), d


def test_counts_balance_snr_segments(waa):
    bank, out, _ = waa
    classes = (out / "metadata" / "classes.txt").read_text().split()
    assert classes == ["bell", "dog", "hum"]
    # small scale: 4 % of 2700/300/750 rounded to whole rounds of classes (min one round)
    expected = {"train": 108, "validation": 12, "eval": 30}
    for split, n in expected.items():
        strong = pd.read_csv(out / "metadata" / f"{split}.tsv", sep="\t")
        assert len(strong) == n and strong.filename.nunique() == n
        assert strong.event_label.value_counts().nunique() == 1  # exact balance
        assert len(list((out / "audio" / split).glob("*.wav"))) == n
        for jf in sorted((out / "jams" / split).glob("*.jams"))[:40]:
            ann = jams.load(str(jf)).annotations.search(namespace="scaper")[0]
            for obs in ann.data:
                if obs.value["role"] == "foreground":
                    assert 6 <= obs.value["snr"] <= 30
        for seg in SEGS.split(","):
            L = parse_length(seg)
            base = out / "segments" / seg
            weak = pd.read_csv(base / "metadata" / f"{split}.tsv", sep="\t")
            st = pd.read_csv(base / "metadata" / f"{split}_strong.tsv", sep="\t")
            assert len(weak) == n == len(st)
            for f in weak.filename[:30]:
                info = sf.info(str(base / "audio" / split / f))
                assert info.frames == round(L * 16000)
            frame = 0.02  # the event is active in at least one 20 ms frame
            assert ((st.offset - st.onset) >= min(frame, L) - 1e-3).all() or seg == "200ms"
            assert ((st.offset - st.onset) > 0).all() and (st.onset >= 0).all() and (st.offset <= L + 1e-3).all()


def test_train_and_validation_groups_disjoint(waa):
    bank, out, _ = waa
    idx = load_soundbank(bank).index.set_index("path")
    jdir = out / "jams"
    groups = {}
    for split in ("train", "validation"):
        g = set()
        for jf in (jdir / split).glob("*.jams"):
            ann = jams.load(str(jf)).annotations.search(namespace="scaper")[0]
            for obs in ann.data:
                if obs.value["role"] == "foreground":
                    rel = obs.value["source_file"].split("/", 2)[2].replace("~", "/")
                    g.add(idx.loc[rel, "source_group"])
        groups[split] = g
    assert groups["train"] and groups["validation"] and not groups["train"] & groups["validation"]


def test_workers_do_not_change_bytes(waa):
    bank, out1, d = waa
    out2 = synth("waa", bank, d / "w2", "--workers", "2")
    m1 = json.loads((out1 / "manifest.json").read_text())
    m2 = json.loads((out2 / "manifest.json").read_text())
    assert m1["files"] == m2["files"] and m1["spec_sha256"] == m2["spec_sha256"]


def test_resume_skips_done_and_repairs(waa):
    bank, out, d = waa
    victim = out / "audio" / "train" / "train_00003.wav"
    before = victim.read_bytes()
    victim.write_bytes(b"garbage")
    r = CliRunner().invoke(root, ["dataset", "check", str(out)])
    assert r.exit_code == 1 and "audio/train/train_00003.wav" in r.output
    synth("waa", bank, out, "--resume", "--workers", "1")
    assert victim.read_bytes() == before
    assert CliRunner().invoke(root, ["dataset", "check", str(out)]).exit_code == 0


def test_non_empty_out_without_resume_is_refused(waa, tmp_path):
    bank, out, _ = waa
    r = CliRunner().invoke(root, ["synth", "waa", "--scale", "small", "--soundbank", str(bank), "--out", str(out),
                                  "--sr", "16000"])
    assert r.exit_code == 2 and "not empty" in r.output


def test_regenerate_from_jams(waa, tmp_path):
    bank, out, _ = waa
    view = ScaperView(load_soundbank(bank), tmp_path / "view")
    y = regenerate(out / "jams" / "eval" / "eval_00002.jams", view, tmp_path / "re.wav")
    x, sr = sf.read(out / "audio" / "eval" / "eval_00002.wav", dtype="float32")
    assert sr == 16000 and len(y) == len(x)
    assert np.max(np.abs(y - x)) < 2e-4  # 16-bit quantisation of the stored clip


def test_card_pngs(waa):
    _, out, _ = waa
    for png in ("event_durations.png", "label_weakness.png", "snr.png", "counts.png"):
        assert (out / png).stat().st_size > 5000
    card = (out / "README.md").read_text()
    assert "Events shorter than 200 ms" in card and "| label |" in card


def test_card_side_by_side_runs_both_shares_and_raises_on_a_childs_failure(tmp_path):
    from sedkit.synth.card import side_by_side
    from sedkit.synth.io import atomic_write_text

    for fork in (True, False):
        side_by_side([(atomic_write_text, (tmp_path / f"a{fork}", "here"), {})],
                     [(atomic_write_text, (tmp_path / f"b{fork}", "child"), {})], fork=fork)
        assert (tmp_path / f"a{fork}").read_text() == "here" and (tmp_path / f"b{fork}").read_text() == "child"
    forks = threading.active_count() == 1  # a process with threads left (by earlier tests) never forks
    with pytest.raises(RuntimeError if forks else ValueError, match="card failed" if forks else "invalid literal"):
        side_by_side([], [(int, ("not a number",), {})])


def test_io_floor_reads_each_clips_sources_and_writes_its_wav(waa):
    from sedkit.benchmarks.io_floor import clip_sources, io_floor

    bank, out, d = waa
    clips = clip_sources(out, bank)
    assert len(clips) == len(list(out.glob("audio/*/*.wav")))
    assert all(len(srcs) == 2 and all(Path(s).is_file() for s in srcs) for srcs, _, _ in clips)
    for workers in (1, 2):
        assert io_floor(out, bank, d / f"floor{workers}", workers) > 0
        wavs = sorted((d / f"floor{workers}").glob("*.wav"))
        assert len(wavs) == len(clips) and sf.info(str(wavs[0])).duration == pytest.approx(10.0)


def test_200ms_set_keeps_draws(waa):
    bank, out, d = waa
    ms = synth("200ms", bank, d / "ms")
    a = pd.read_csv(out / "metadata" / "train.tsv", sep="\t")
    b = pd.read_csv(ms / "metadata" / "train.tsv", sep="\t")
    assert (a.filename == b.filename).all() and (a.event_label == b.event_label).all()
    assert ((b.offset - b.onset) <= 0.2 + 1e-3).all()
    # same onsets (WAA's onset is kept whenever a 200 ms event still fits after it)
    fits = a.onset <= 9.8
    assert fits.sum() > 0.9 * len(a) and np.allclose(a.onset[fits], b.onset[fits], atol=1e-3)
    ja = jams.load(str(out / "jams" / "train" / "train_00001.jams")).annotations.search(namespace="scaper")[0]
    jb = jams.load(str(ms / "jams" / "train" / "train_00001.jams")).annotations.search(namespace="scaper")[0]
    fa = [o.value for o in ja.data if o.value["role"] == "foreground"][0]
    fb = [o.value for o in jb.data if o.value["role"] == "foreground"][0]
    assert fa["snr"] == fb["snr"] and fa["source_file"] == fb["source_file"]
    assert "Events shorter than 200 ms" in (ms / "README.md").read_text()


@pytest.mark.parametrize("on,off,L", [(2.0, 2.1, 1.0), (0.0, 0.5, 1.0), (9.7, 10.0, 1.0), (1.0, 8.0, 0.2),
                                      (3.0, 3.5, 10.0), (9.5, 10.0, 0.2)])
def test_segment_window_contains_event(on, off, L):
    for u in np.linspace(0, 1, 11):
        s, e = segment_window(on, off, L, 10.0, u)
        assert 0 <= s and e <= 10.0 + 1e-9 and abs((e - s) - L) < 1e-9
        overlap = min(off, e) - max(on, s)
        if off - on <= L:
            assert s <= on + 1e-9 and off <= e + 1e-9  # whole event inside
        else:
            assert overlap >= L / 2 - 1e-9


def test_bad_spec_values_are_one_line_errors(tmp_path, tiny_bank):
    bad = tmp_path / "bad.yaml"
    for text, needle in (("snr: [uniform, 30, 6]\n", "snr: uniform min (30) is greater than max (6)"),
                         ("snrr: [uniform, 6, 30]\n", "snrr: unknown key"),
                         ("segments: [20s]\n", "longer than the clip"),
                         ("counts: {train: -1}\n", "counts.train")):
        bad.write_text(text)
        r = CliRunner().invoke(root, ["synth", "waa", "--spec", str(bad), "--soundbank", str(tiny_bank),
                                      "--out", str(tmp_path / "o")])
        assert r.exit_code == 2, r.output
        lines = [ln for ln in r.output.splitlines() if ln.strip()]
        assert len(lines) == 1 and str(bad) in lines[0] and needle in lines[0], r.output
        assert not (tmp_path / "o").exists()


def test_class_without_foreground_in_split_is_error(tmp_path, tiny_bank):
    idx = tiny_bank / "sedkit_index.csv"
    df = pd.read_csv(idx)
    df = df[~((df.label == "dog") & (df.split == "validation"))]
    df.to_csv(idx, index=False)
    r = CliRunner().invoke(root, ["synth", "waa", "--scale", "small", "--soundbank", str(tiny_bank), "--out",
                                  str(tmp_path / "o"), "--sr", "16000", "--workers", "1"])
    assert r.exit_code == 2 and "'dog' has no foreground in split 'validation'" in r.output


def test_resampled_view_regenerates_identically(tmp_path, monkeypatch):
    """A bank at another rate is resampled once per source, into the sedkit cache that the view links to; the JAMS
    still regenerates the clip. The view is kept only with SEDKIT_KEEP_VIEW=1."""
    from conftest import make_tiny_bank

    monkeypatch.setenv("SEDKIT_KEEP_VIEW", "1")
    bank = make_tiny_bank(tmp_path / "bank22", sr=22050)
    out = tmp_path / "w"
    r = CliRunner().invoke(root, ["synth", "waa", "--scale", "small", "--soundbank", str(bank), "--out", str(out),
                                  "--sr", "16000", "--segment", "1s", "--workers", "1"])
    assert r.exit_code == 0, r.output
    cache = Path(os.environ["SEDKIT_CACHE"]).resolve() / "converted" / "16000"
    assert any(p.is_symlink() and p.resolve().parent == cache for p in (out / ".sedkit" / "view").rglob("*.wav"))
    view = ScaperView(load_soundbank(bank), tmp_path / "view2", sr=16000)
    y = regenerate(out / "jams" / "train" / "train_00004.jams", view, tmp_path / "re.wav")
    x, sr = sf.read(out / "audio" / "train" / "train_00004.wav", dtype="float32")
    assert sr == 16000 and len(y) == len(x) and np.max(np.abs(y - x)) < 2e-4
