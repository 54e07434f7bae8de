"""The built-in soundbank: command, determinism, group splits, duration profile, backgrounds, card, cache."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from sedkit import SedkitError, __version__
from sedkit.cli import root
from sedkit.synth.builtin import default_bank, make, make_bank
from sedkit.synth.builtin.events import CLASSES
from sedkit.synth.io import sha256_file
from sedkit.synth.rng import item_rng
from sedkit.synth.soundbank.index import SPLITS, group_split_conflicts, load_soundbank

SHORT = ("Alarm_bell_ringing", "Cat", "Dishes", "Dog", "Speech")
LONG = tuple(c for c in CLASSES if c not in SHORT)


def tree_hashes(root: Path) -> dict[str, str]:
    out = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            p = Path(dirpath) / f
            out[p.relative_to(root).as_posix()] = sha256_file(p)
    return out


@pytest.fixture(scope="module")
def small_bank(tmp_path_factory) -> Path:
    """The small bank, made through the CLI with one worker."""
    out = tmp_path_factory.mktemp("bank") / "small"
    res = CliRunner().invoke(root, ["soundbank", "make", "builtin", "--out", str(out), "--scale", "small",
                                    "--seed", "3", "--workers", "1"])
    assert res.exit_code == 0, res.output
    assert "150 foregrounds" in res.output
    return out


def test_builtin_cli_writes_contract_and_card(small_bank):
    bank = load_soundbank(small_bank, check_files=True)
    assert bank.labels == sorted(CLASSES)
    df = bank.index
    assert set(df.split) == set(SPLITS)
    assert (df.sample_rate == 44100).all() and (df.channels == 1).all()
    for png in ("spectrograms.png", "durations.png"):
        assert (small_bank / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    card = (small_bank / "README.md").read_text()
    assert "spectrograms.png" in card and "Vacuum_cleaner" in card
    info = CliRunner().invoke(root, ["soundbank", "info", str(small_bank)])
    assert info.exit_code == 0 and "Electric_shaver_toothbrush" in info.output


def test_builtin_deterministic_across_runs_and_workers(small_bank, tmp_path):
    again = make_bank(tmp_path / "again", seed=3, scale="small", workers=2)
    a, b = tree_hashes(small_bank), tree_hashes(again)
    assert a == b and len(a) > 150


def test_builtin_no_split_shares_a_group(small_bank):
    df = load_soundbank(small_bank).index
    assert group_split_conflicts(df) == {}
    fg = df[df.role == "foreground"]
    per = fg.groupby(["label", "split"]).source_group.nunique()
    assert (per >= 2).all() and len(per) == len(CLASSES) * len(SPLITS)
    for split_a in SPLITS:
        for split_b in SPLITS:
            if split_a < split_b:
                ga, gb = set(df[df.split == split_a].source_group), set(df[df.split == split_b].source_group)
                assert not ga & gb


def test_builtin_paper_plan_follows_table1_and_groups():
    spec = make.load_bank_spec()
    entries = make.plan(spec, "paper")
    fg = [e for e in entries if e.role == "foreground"]
    assert [sum(e.split == s for e in fg) for s in SPLITS] == [909, 100, 314]
    assert sum(e.label == "Alarm_bell_ringing" and e.split == "train" for e in fg) == 177
    for label in CLASSES:
        groups = {(e.split, e.group) for e in fg if e.label == label}
        assert len(groups) >= 10
        assert len({g for _, g in groups}) == len(groups)  # a group number lives in one split only


def test_builtin_duration_profile():
    spec = make.load_bank_spec()
    med = {}
    for label in CLASSES:
        e = make.Entry("x", "foreground", label, "train", 0, 0)
        d = [make.duration_of(item_rng(0, "t", label, i), spec, "paper", e) for i in range(400)]
        med[label] = float(np.median(d))
        share = np.mean([(0.3 <= x <= 3) if label in SHORT else (3 <= x <= 10) for x in d])
        assert share > 0.6, (label, share)
    assert max(med[c] for c in SHORT) < 3 < min(med[c] for c in LONG)


def test_builtin_small_bank_durations_and_backgrounds(small_bank):
    df = load_soundbank(small_bank).index
    fg, bg = df[df.role == "foreground"], df[df.role == "background"]
    medians = fg.groupby("label").duration_s.median()
    assert medians[list(SHORT)].max() < medians[list(LONG)].min()
    assert (bg.duration_s >= 10.0).all()
    assert bg.label.nunique() >= 5
    assert (bg.groupby("split").label.nunique() == bg.label.nunique()).all()


def test_builtin_bad_scale_is_one_line_error(tmp_path):
    res = CliRunner().invoke(root, ["soundbank", "make", "builtin", "--out", str(tmp_path / "b"), "--scale", "huge"])
    assert res.exit_code == 2
    assert "unknown scale" in res.output and "Traceback" not in res.output


def test_builtin_default_bank_builds_once_into_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SEDKIT_CACHE", str(tmp_path / "cache"))
    first = default_bank(seed=1, scale="tiny")
    assert first.name == f"builtin-v{__version__}-s1-tiny" and first.parent == tmp_path / "cache"
    stamp = (first / "sedkit_index.csv").stat().st_mtime_ns
    assert default_bank(seed=1, scale="tiny") == first
    assert (first / "sedkit_index.csv").stat().st_mtime_ns == stamp  # reused, not rebuilt
    assert [p.name for p in (tmp_path / "cache").iterdir() if not p.name.endswith(".lock")] == [first.name]
    assert len(load_soundbank(first).foregrounds()) == 40
    with pytest.raises(SedkitError, match="unknown"):
        default_bank(seed=1, scale="huge")


def test_cached_bank_made_by_other_code_is_built_again(tmp_path, monkeypatch):
    from sedkit.synth import fingerprint

    monkeypatch.setenv("SEDKIT_CACHE", str(tmp_path / "cache"))
    first = default_bank(seed=2, scale="tiny")
    stamp = (first / "sedkit_index.csv").stat().st_mtime_ns
    real = fingerprint.source_bytes
    monkeypatch.setattr(fingerprint, "source_bytes",
                        lambda p: real(p) + (b"# changed" if p.name == "make.py" else b""))
    fingerprint.clear()
    try:
        again = default_bank(seed=2, scale="tiny")
        assert again == first and (again / "sedkit_index.csv").stat().st_mtime_ns != stamp  # rebuilt, not served
        assert (again / ".sedkit_code").read_text().strip() == fingerprint.code_fingerprint("sedkit.synth.builtin.make")
    finally:
        monkeypatch.undo()
        fingerprint.clear()
