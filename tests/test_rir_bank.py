"""RIR banks: `sedkit rir make` (pyroomacoustics) and `sedkit rir import`, deterministic; RirBank loading."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from click.testing import CliRunner

from sedkit import SedkitError
from sedkit.cli import root
from sedkit.synth.io import sha256_file
from sedkit.synth.rir import INDEX_NAME, RirBank, RirMakeSpec, import_bank, make_bank, trim_rir

SMALL = RirMakeSpec.model_validate({"sr": 8000, "room_m":
                                    {"x": ["uniform", 3, 4], "y": ["uniform", 3, 4], "z": ["const", 2.5]},
                                    "rt60_s": ["uniform", 0.15, 0.25], "distance_m": ["uniform", 0.5, 1.5]})


def test_rir_make_is_deterministic_and_indexed(tmp_path):
    a = make_bank(tmp_path / "a", 2, seed=3, spec=SMALL)
    b = make_bank(tmp_path / "b", 2, seed=3, spec=SMALL)
    c = make_bank(tmp_path / "c", 2, seed=4, spec=SMALL)
    for name in ("rir_00000.wav", "rir_00001.wav", INDEX_NAME):
        assert sha256_file(a.parent / name) == sha256_file(b.parent / name)
    assert sha256_file(a.parent / "rir_00000.wav") != sha256_file(c.parent / "rir_00000.wav")
    df = pd.read_csv(a)
    assert list(df.path) == ["rir_00000.wav", "rir_00001.wav"]
    assert (df.sample_rate == 8000).all()
    assert df.distance_m.between(0.5, 1.5 + 1e-6).all()
    assert df.room_x_m.between(3, 4).all() and (df.room_z_m == 2.5).all()
    h, sr = sf.read(a.parent / "rir_00000.wav")
    assert sr == 8000 and np.max(np.abs(h)) == pytest.approx(1.0)


def test_rir_import_indexes_any_folder_and_rejects_broken(tmp_path):
    d = tmp_path / "fuss_like" / "sub"
    d.mkdir(parents=True)
    h = np.zeros(4000, np.float32)
    h[10] = 1.0
    h[11:] = 0.3 * np.exp(-np.arange(3989) / 400.0) * np.random.default_rng(0).standard_normal(3989)
    sf.write(d / "room1.wav", np.stack([h, h], 1), 16000)      # stereo: first channel is used
    sf.write(d / "room2.flac", h, 22050)
    (d / "broken.wav").write_bytes(b"RIFFjunk")
    idx = import_bank(tmp_path / "fuss_like")
    df = pd.read_csv(idx)
    assert list(df.path) == ["sub/room1.wav", "sub/room2.flac"]
    assert list(df.channels) == [2, 1]
    rej = pd.read_csv(tmp_path / "fuss_like" / "rir_rejected.csv")
    assert list(rej.path) == ["sub/broken.wav"]
    bank = RirBank.load(tmp_path / "fuss_like", sr=16000, max_s=0.1)
    assert len(bank) == 2 and bank.max_len == 1600
    for k in bank.kernels:                      # direct path moved to sample 0, scaled to 1
        assert k[0] == pytest.approx(1.0) and np.argmax(np.abs(k)) == 0


def test_trim_rir_drops_predelay():
    h = np.array([0.0, 0.1, -2.0, 0.5, 0.25], np.float32)
    np.testing.assert_allclose(trim_rir(h, 2), [1.0, -0.25])


def test_rir_cli_make_import_and_errors(tmp_path):
    r = CliRunner().invoke(root, ["rir", "make", "--out", str(tmp_path / "bank"), "--n", "1", "--sr", "8000"])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "bank" / INDEX_NAME).is_file()
    r = CliRunner().invoke(root, ["rir", "import", str(tmp_path / "bank")])
    assert r.exit_code == 0 and "indexed 1 RIRs" in r.output
    (tmp_path / "empty").mkdir()
    r = CliRunner().invoke(root, ["rir", "import", str(tmp_path / "empty")])
    assert r.exit_code == 2 and r.output.count("\n") == 1 and "no readable RIR" in r.output
    with pytest.raises(SedkitError, match="not a RIR bank"):
        RirBank.load(tmp_path / "empty", 16000)
