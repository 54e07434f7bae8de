"""Synthesis on Ray (a local instance): the same bytes as the local executor, and it resumes like it."""
import json

import pytest
from click.testing import CliRunner

from sedkit.cli import root


def shas(out):
    files = json.loads((out / "manifest.json").read_text())["files"]
    return {k: v["sha256"] for k, v in files.items()}


def test_synth_on_ray_is_byte_identical_to_local(tiny_bank, tmp_path):
    pytest.importorskip("ray", reason="Ray is an optional extra (pip install -e '.[ray]' in the sedkit checkout)")
    args = ["synth", "waa", "--scale", "small", "--soundbank", str(tiny_bank), "--sr", "16000", "--segment", "1s"]
    local, ray_out = tmp_path / "local", tmp_path / "ray"
    assert CliRunner().invoke(root, [*args, "--out", str(local), "--workers", "2"]).exit_code == 0
    r = CliRunner().invoke(root, [*args, "--out", str(ray_out), "--workers", "2", "--executor", "ray"])
    assert r.exit_code == 0, r.output
    a, b = shas(local), shas(ray_out)
    assert a == b and any(k.endswith(".wav") for k in a)
    r = CliRunner().invoke(root, [*args, "--out", str(ray_out), "--workers", "2", "--executor", "ray", "--resume"])
    assert r.exit_code == 0 and shas(ray_out) == a
