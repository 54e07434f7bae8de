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


def test_one_generator_registry_feeds_cli_bench_and_suites():
    from sedkit.benchmarks.suites import spec as suite_spec
    from sedkit.specs import builtin_spec_path, load_spec
    from sedkit.synth.registry import GENERATORS

    synth_table = GROUPS["synth"][2]
    assert set(GENERATORS) <= set(synth_table)
    assert suite_spec.GENERATORS == tuple(GENERATORS)
    for g in GENERATORS.values():
        assert synth_table[g.name][0] == g.target
        r = CliRunner().invoke(root, ["synth", g.name, "--help"])
        assert r.exit_code == 0 and "Example:" in r.output, (g.name, r.output)
        load_spec(g.spec_model(), builtin_spec_path(g.builtin_spec), g.fixed)  # the built-in spec validates


def test_help_does_not_import_torch_or_scaper():
    code = ("import sys; from sedkit.cli import main\n"
            "for args in (['--help'], ['synth', '--help'], ['train', '--help'], ['bench', '--help']):\n"
            "    try:\n        main(args)\n    except SystemExit:\n        pass\n"
            "print(sorted(m for m in ('torch', 'scaper', 'pandas') if m in sys.modules))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().splitlines()[-1] == "[]"
