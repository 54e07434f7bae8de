"""The cache of soundbank sources converted to a clip rate: made once, shared by later runs, never stale, and
the output is the same bytes with it cold, warm or unwritable."""
import json
import os
from pathlib import Path

import numpy as np
import soundfile as sf
from click.testing import CliRunner

from sedkit.cli import root
from sedkit.synth.scaper_mix import ScaperView
from sedkit.synth.soundbank.converted import FOLDER, cache_folder, convert, converted
from sedkit.synth.soundbank.index import load_soundbank


def _synth(bank, out):
    r = CliRunner().invoke(root, ["synth", "waa", "--scale", "small", "--soundbank", str(bank), "--out", str(out),
                                  "--sr", "16000", "--segment", "1s", "--workers", "1"])
    assert r.exit_code == 0, r.output
    return {k: v["sha256"] for k, v in json.loads((out / "manifest.json").read_text())["files"].items()}


def test_a_view_links_to_one_converted_copy_that_later_views_reuse(tmp_path, monkeypatch):
    from conftest import make_tiny_bank

    monkeypatch.setenv("SEDKIT_CACHE", str(tmp_path / "cache"))
    bank = load_soundbank(make_tiny_bank(tmp_path / "bank", sr=22050))
    rel = bank.select("foreground").path.iloc[0]
    label = bank.select("foreground").label.iloc[0]
    first = Path(ScaperView(bank, tmp_path / "v1", sr=16000).path("foreground", label, rel))
    target = first.resolve()
    assert first.is_symlink() and target.parent == (tmp_path / "cache" / FOLDER / "16000").resolve()
    x, sr = sf.read(target, dtype="float32")
    ref, _ = sf.read(convert(bank.abspath(rel), tmp_path / "ref.wav", 16000), dtype="float32")
    assert sr == 16000 and np.array_equal(x, ref)
    stamp = target.stat().st_mtime_ns
    second = Path(ScaperView(bank, tmp_path / "v2", sr=16000).path("foreground", label, rel))
    assert second.resolve() == target and target.stat().st_mtime_ns == stamp  # reused, not converted again


def test_an_edited_source_gets_a_new_copy(tmp_path, monkeypatch):
    from conftest import make_tiny_bank, tone

    monkeypatch.setenv("SEDKIT_CACHE", str(tmp_path / "cache"))
    bank = load_soundbank(make_tiny_bank(tmp_path / "bank", sr=22050))
    src = bank.abspath(bank.select("foreground").path.iloc[0])
    folder = cache_folder(16000)
    before = converted(src, 16000, folder)
    sf.write(src, tone(22050, 1.3, 880), 22050)  # another length and content
    after = converted(src, 16000, folder)
    assert after != before and sf.info(after).frames == round(1.3 * 16000)
    assert converted(src, 16000, folder) == after


def test_output_is_the_same_bytes_with_the_cache_cold_warm_or_unwritable(tmp_path, monkeypatch):
    from conftest import make_tiny_bank

    bank = make_tiny_bank(tmp_path / "bank", sr=22050)
    monkeypatch.setenv("SEDKIT_CACHE", str(tmp_path / "cache"))
    cold = _synth(bank, tmp_path / "cold")
    n = len(list((tmp_path / "cache" / FOLDER / "16000").iterdir()))
    assert n > 0
    warm = _synth(bank, tmp_path / "warm")
    assert len(list((tmp_path / "cache" / FOLDER / "16000").iterdir())) == n
    (tmp_path / "file").write_text("not a folder")
    monkeypatch.setenv("SEDKIT_CACHE", str(tmp_path / "file" / "cache"))  # cannot be made: the view keeps copies
    monkeypatch.setenv("SEDKIT_KEEP_VIEW", "1")
    own = _synth(bank, tmp_path / "own")
    assert cold == warm == own
    view = list((tmp_path / "own" / ".sedkit" / "view").rglob("*.wav"))
    assert view and not any(p.is_symlink() for p in view)


def test_converted_copies_honour_the_umask(tmp_path, monkeypatch):
    from conftest import make_tiny_bank

    monkeypatch.setenv("SEDKIT_CACHE", str(tmp_path / "cache"))
    bank = load_soundbank(make_tiny_bank(tmp_path / "bank", sr=22050))
    old = os.umask(0o027)
    try:
        p = converted(bank.abspath(bank.select("background").path.iloc[0]), 16000, cache_folder(16000))
    finally:
        os.umask(old)
    assert p.stat().st_mode & 0o777 == 0o640
