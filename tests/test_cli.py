import subprocess
import sys

from click.testing import CliRunner

from sedkit import __version__
from sedkit.cli import GROUPS, root


def test_help_lists_groups():
    r = CliRunner().invoke(root, ["--help"])
    assert r.exit_code == 0
    for g in ("soundbank", "synth", "dataset", "train", "eval", "bench"):
        assert g in r.output


def test_version():
    r = CliRunner().invoke(root, ["--version"])
    assert r.exit_code == 0 and __version__ in r.output


def test_every_command_help_has_an_example():
    runner = CliRunner()
    for group, (_, _, table) in GROUPS.items():
        r = runner.invoke(root, [group, "--help"])
        assert r.exit_code == 0, (group, r.output)
        assert "Example:" in r.output, group
        if isinstance(table, dict):
            for cmd in table:
                r = runner.invoke(root, [group, cmd, "--help"])
                assert r.exit_code == 0, (group, cmd, r.output)
                assert "Example:" in r.output, (group, cmd)


def test_real_subprocess_one_line_error(tmp_path):
    """A real process: a bad input is one line on stderr, exit code 2, no traceback."""
    p = subprocess.run([sys.executable, "-m", "sedkit.cli", "soundbank", "info", str(tmp_path / "nope")],
                       capture_output=True, text=True)
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sedkit: error:") and "nope" in lines[0]
    assert "Traceback" not in p.stderr


def test_debug_shows_traceback(tmp_path):
    p = subprocess.run([sys.executable, "-m", "sedkit.cli", "--debug", "soundbank", "info", str(tmp_path / "nope")],
                       capture_output=True, text=True)
    assert p.returncode != 0 and "Traceback" in p.stderr
