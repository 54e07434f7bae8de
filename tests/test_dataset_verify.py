"""`sedkit dataset verify`: clips made again from their JAMS and the soundbank match byte for byte; a tampered
clip is named, with exit code 1."""
import pytest
import soundfile as sf
from click.testing import CliRunner

from sedkit.cli import root


@pytest.mark.parametrize("kind", ["strong", "remix"])
def test_verify_regenerates_every_clip_and_names_a_tampered_one(tiny_bank, tmp_path, kind):
    out = tmp_path / kind
    r = CliRunner().invoke(root, ["synth", kind, "--scale", "small", "--soundbank", str(tiny_bank), "--out", str(out),
                                  "--sr", "16000", "--workers", "1"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(root, ["dataset", "verify", str(out), "--all"])
    assert r.exit_code == 0, r.output
    assert "all identical" in r.output
    victim = sorted(out.rglob("audio/*/*.wav"))[3]
    x, sr = sf.read(victim, dtype="int16")
    x[100:200] = 0
    sf.write(victim, x, sr, subtype="PCM_16")
    r = CliRunner().invoke(root, ["dataset", "verify", str(out), "--all"])
    assert r.exit_code == 1
    rel = victim.relative_to(out).as_posix()
    assert f"{rel}: the clip differs" in r.output and "1 differ" in r.output


def test_verify_needs_the_soundbank(tiny_bank, tmp_path):
    out = tmp_path / "s"
    assert CliRunner().invoke(root, ["synth", "strong", "--scale", "small", "--soundbank", str(tiny_bank), "--out",
                                     str(out), "--sr", "16000", "--workers", "1"]).exit_code == 0
    tiny_bank.rename(tmp_path / "moved")
    r = CliRunner().invoke(root, ["dataset", "verify", str(out)])
    assert r.exit_code == 2 and "is not here; verify needs it" in r.stderr
