"""What the docs say matches the code: file names the code writes, the commands a group has, portable paths."""
import re
from pathlib import Path

from click.testing import CliRunner

from sedkit.cli import GROUPS, root

ROOT = Path(__file__).resolve().parents[1]


def test_docs_name_the_detection_files_the_code_writes():
    from sedkit.baselines.evaluation import predictions

    for text in ((ROOT / "README.md").read_text(), predictions.__doc__):
        assert not re.search(r"detections\.tsv", text), "the code writes detections_<postprocess>.tsv"
        assert "detections_<pp>.tsv" in text


def test_group_help_describes_only_commands_it_has():
    for group, (help_, _, table) in GROUPS.items():
        if not isinstance(table, dict):
            continue
        r = CliRunner().invoke(root, [group, "--help"])
        assert r.exit_code == 0
        for verb in re.findall(r"\b(describe|check|import|make|info|run|report|perf)\b", help_.lower()):
            assert verb in table, (group, verb, help_)


def test_specs_hold_no_machine_paths():
    for p in (ROOT / "specs").rglob("*.yaml"):
        assert not re.search(r"(/work/|/root/|/home/|/tmp/|[A-Z]:\\)", p.read_text()), p
