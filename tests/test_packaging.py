"""The repository root is the `sedkit` package: every sub-package must be listed in pyproject, and nothing
generic may be installed at the top level."""
try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_subpackage_is_listed():
    conf = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert conf["package-dir"] == {"sedkit": "."}
    listed = set(conf["packages"])
    found = {"sedkit" + "".join("." + p for p in init.parent.relative_to(ROOT).parts)
             for init in ROOT.rglob("__init__.py")
             if not {".venv", "tests", "build"} & set(init.relative_to(ROOT).parts)}
    assert found == listed
    assert all(p == "sedkit" or p.startswith("sedkit.") for p in listed)


def test_specs_are_package_data():
    conf = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "**/*.yaml" in conf["sedkit.specs"]
    assert any((ROOT / "specs" / "bench").glob("*.yaml"))
