"""Files and folders sedkit writes honour the umask: a dataset made for colleagues on a shared machine is
readable by them (mkstemp alone would leave every file 0600)."""
import os
import stat

import pytest
from click.testing import CliRunner

from sedkit.cli import root


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def modes(folder):
    out = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            if not stat.S_ISLNK(st.st_mode):
                out[os.path.relpath(p, folder)] = (stat.S_ISDIR(st.st_mode), stat.S_IMODE(st.st_mode))
    return out


def test_dataset_files_are_0644_and_folders_0755_under_umask_022(tiny_bank, tmp_path, umask_022):
    out = tmp_path / "waa"
    r = CliRunner().invoke(root, ["synth", "waa", "--scale", "small", "--soundbank", str(tiny_bank), "--out", str(out),
                                  "--sr", "16000", "--workers", "1"])
    assert r.exit_code == 0, r.output
    found = modes(out)
    assert len(found) > 20
    wrong = {p: oct(m) for p, (d, m) in found.items() if m != (0o755 if d else 0o644)}
    assert wrong == {}


def test_umask_077_keeps_files_private(tmp_path):
    from sedkit.synth.io import atomic_write_text

    old = os.umask(0o077)
    try:
        p = atomic_write_text(tmp_path / "x.txt", "hi")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o600
