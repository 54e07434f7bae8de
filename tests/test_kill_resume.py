"""A generator killed with SIGKILL and run again with --resume: the same bytes as an uninterrupted run, and no
leftovers (hidden temporary files included); the resampled bank copies are gone once the run is finished."""
import json
import os
import signal
import subprocess
import sys
import time

from click.testing import CliRunner

from sedkit.cli import root


def run_args(bank, out, *extra):
    return ["synth", "strong", "--scale", "small", "--soundbank", str(bank), "--out", str(out), "--sr", "16000",
            "--workers", "1", *extra]


def hidden(out):
    return sorted(os.path.relpath(os.path.join(d, n), out) for d, dirs, files in os.walk(out) for n in dirs + files
                  if n.startswith(".") and n != ".sedkit")


def test_kill_9_then_resume_is_byte_identical_and_leaves_nothing(tiny_bank, tmp_path):
    ref = tmp_path / "ref"
    r = CliRunner().invoke(root, run_args(tiny_bank, ref))
    assert r.exit_code == 0, r.output
    out = tmp_path / "killed"
    p = subprocess.Popen([sys.executable, "-m", "sedkit.cli", *run_args(tiny_bank, out)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    journal = out / ".sedkit" / "journal.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and p.poll() is None:
        if journal.is_file() and len(journal.read_text().splitlines()) >= 2:
            break
        time.sleep(0.05)
    if p.poll() is None:
        p.send_signal(signal.SIGKILL)
    p.wait()
    (out / ".card.k1ll3d00.tmp.png").write_bytes(b"")  # what a writer killed mid-rename leaves behind
    (out / "audio").mkdir(parents=True, exist_ok=True)
    (out / "audio" / ".train_00001.x9x9x9x9.tmp.wav").write_bytes(b"RIFF")
    r = CliRunner().invoke(root, ["dataset", "check", str(out)])
    assert r.exit_code != 0  # unfinished (no manifest yet) or hidden leftovers: never "ok"
    r = CliRunner().invoke(root, run_args(tiny_bank, out, "--resume"))
    assert r.exit_code == 0, r.output
    assert hidden(out) == []
    assert not list((out / ".sedkit").glob("view*"))  # the resampled bank copy is removed at the end
    man = {k: v["sha256"] for k, v in json.loads((out / "manifest.json").read_text())["files"].items()}
    want = {k: v["sha256"] for k, v in json.loads((ref / "manifest.json").read_text())["files"].items()}
    assert man == want
    assert CliRunner().invoke(root, ["dataset", "check", str(out)]).exit_code == 0


def test_dataset_check_reports_hidden_leftovers(tiny_bank, tmp_path):
    out = tmp_path / "ds"
    assert CliRunner().invoke(root, run_args(tiny_bank, out)).exit_code == 0
    (out / "audio" / ".eval_00000.abcdefgh.tmp.wav").write_bytes(b"")
    r = CliRunner().invoke(root, ["dataset", "check", str(out)])
    assert r.exit_code == 1 and "audio/.eval_00000.abcdefgh.tmp.wav: hidden leftover" in r.output


def test_a_full_disk_is_one_line_and_the_partial_output_resumes(tiny_bank, tmp_path, monkeypatch):
    import errno

    import sedkit.synth.io as sio

    ref = tmp_path / "ref"
    assert CliRunner().invoke(root, run_args(tiny_bank, ref)).exit_code == 0
    real, calls = sio.atomic_write_bytes, {"n": 0}

    def full_after_five(path, data):
        if str(path).endswith(".wav"):
            calls["n"] += 1
            if calls["n"] > 5:
                raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, data)

    monkeypatch.setattr(sio, "atomic_write_bytes", full_after_five)
    out = tmp_path / "full"
    r = CliRunner().invoke(root, run_args(tiny_bank, out))
    assert r.exit_code == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "No space left on device" in lines[0] and "--resume" in lines[0]
    monkeypatch.undo()
    r = CliRunner().invoke(root, run_args(tiny_bank, out, "--resume"))
    assert r.exit_code == 0, r.output
    man = json.loads((out / "manifest.json").read_text())["files"]
    want = json.loads((ref / "manifest.json").read_text())["files"]
    assert {k: v["sha256"] for k, v in man.items()} == {k: v["sha256"] for k, v in want.items()}


def test_a_read_only_place_is_one_line(tiny_bank, tmp_path, monkeypatch):
    import errno
    import pathlib

    out = tmp_path / "ro"
    real = pathlib.Path.mkdir

    def mkdir(self, *a, **kw):
        if str(self).startswith(str(out)):
            raise OSError(errno.EROFS, "Read-only file system", str(self))
        return real(self, *a, **kw)

    monkeypatch.setattr(pathlib.Path, "mkdir", mkdir)
    r = CliRunner().invoke(root, run_args(tiny_bank, out))
    assert r.exit_code == 2 and "Traceback" not in r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Read-only file system (choose an --out where you can write)" in lines[0]
