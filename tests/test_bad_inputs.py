"""Bad input gets one line: ``sedkit: error: ...`` on stderr, exit code 2, no traceback, nothing written outside
``--out``, and nothing written at all when the input is refused before the work starts."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from toydata import make_toy_datadir

from sedkit.cli import root


def files_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """What the cases point at: a toy data dir, a fake run, broken specs and files, odd paths."""
    w = tmp_path_factory.mktemp("world")
    data = make_toy_datadir(w / "data", per_class={"train": 1, "validation": 1, "eval": 1})
    from sedkit.baselines.api import model_config

    def run(name, run_json, best: bytes | None = b""):
        r = w / name
        r.mkdir()
        (r / "config.yaml").write_text(yaml.safe_dump(model_config("classifier")))
        (r / "run.json").write_text(run_json)
        if best is not None:
            (r / "best.pt").write_bytes(best)
        return r

    good = '{"model": "classifier", "data": "%s", "classes": ["a", "b", "c"]}' % data
    run("run_empty_ckpt", good)
    run("run_bad_json", "{not json")
    run("run_empty_json", "{}")
    import pickle

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    run("run_evil_ckpt", good, pickle.dumps({"format": "sedkit-checkpoint-1", "x": Evil()}))
    (w / "binary.yaml").write_bytes(b"\x00\x01\xff\xfe")
    (w / "deep.yaml").write_text("a: " + "[" * 5000 + "]" * 5000 + "\n")
    (w / "unknown_key.yaml").write_text("nope: 1\n")
    (w / "list.yaml").write_text("- a\n- b\n")
    (w / "python_tag.yaml").write_text("counts: !!python/object/apply:os.system ['echo pwned']\n")
    (w / "afile").write_text("x")
    (w / "huge.yaml").write_text("counts: {train: 1000000000000000}\n")
    os.symlink(w / "loop2", w / "loop1")
    os.symlink(w / "loop1", w / "loop2")
    (w / "folder_not_suite").mkdir()
    import shutil

    import pandas as pd
    from conftest import make_tiny_bank

    bank = make_tiny_bank(w / "bank")
    for name, edit in (("bank_duration_abc", ("duration_s", "abc")), ("bank_rate_fast", ("sample_rate", "fast")),
                       ("bank_duration_nan", ("duration_s", "nan")), ("bank_missing_file", None),
                       ("bank_zero_length_wav", "zero"), ("bank_path_escapes", ("path", "../afile")),
                       ("bank_link_escapes", "link")):
        shutil.copytree(bank, w / name)
        idx = pd.read_csv(w / name / "sedkit_index.csv", dtype=str)
        if edit == "link":  # a file replaced by a link that leaves the bank
            (w / name / idx.loc[2, "path"]).unlink()
            os.symlink(w / "afile", w / name / idx.loc[2, "path"])
        elif edit == "zero":  # a source emptied after indexing: sox would print its own lines before failing
            import numpy as np
            import soundfile as sf

            sf.write(w / name / idx.loc[2, "path"], np.zeros(0), 16000)
        elif edit:
            idx.loc[2, edit[0]] = edit[1]
        else:
            (w / name / idx.loc[2, "path"]).unlink()
        idx.to_csv(w / name / "sedkit_index.csv", index=False)
    import numpy as np
    import soundfile as sf

    from sedkit.synth.soundbank.importers import import_soundbank

    corpus = w / "imported"
    for k in range(6):
        for lab, n in (("dog", 8000), ("cat", 4000)):
            p = corpus / "foreground" / lab / f"src{k}__{lab}.wav"
            p.parent.mkdir(parents=True, exist_ok=True)
            sf.write(p, np.sin(np.arange(n) * 0.05 * (k + 1)) * 0.3, 16000)
        p = corpus / "background" / "room" / f"room{k}__bg.wav"
        p.parent.mkdir(parents=True, exist_ok=True)
        sf.write(p, np.random.default_rng(k).normal(0, 0.01, 16000 * 12), 16000)
    import_soundbank("folder", corpus)
    sf.write(corpus / "foreground" / "dog" / "src0__dog.wav", np.zeros(0), 16000)  # changed after the import
    return w


# (id, argv with {w} for the world folder and {out} for a fresh output path, text the one line must contain,
#  whether the refusal comes before any work: then --out must not exist afterwards)
CASES = [
    ("seed-negative", "synth waa --seed -1 --out {out}", "'--seed': -1", True),
    ("workers-zero", "synth waa --workers 0 --out {out}", "'--workers': 0", True),
    ("workers-negative", "synth strong --workers -3 --out {out}", "'--workers': -3", True),
    ("workers-huge", "synth semi --workers 100000 --out {out}", "'--workers': 100000", True),
    ("segment-empty", "synth waa --segment= --out {out}", "--segment", True),
    ("segment-bad", "synth waa --segment 3x --out {out}", "--segment", True),
    ("sr-too-low", "synth waa --sr 10 --out {out}", "--sr 10", True),
    ("strong-train-negative", "synth strong --train -5 --out {out}", "--train -5", True),
    ("semi-gap-too-big", "synth semi --gap 9 --out {out}", "--gap 9", True),
    ("remix-snr-not-numbers", "synth remix --snr abc --out {out}", "--snr 'abc'", True),
    ("spec-binary", "synth waa --spec {w}/binary.yaml --out {out}", "not UTF-8", True),
    ("spec-nested-too-deep", "synth waa --spec {w}/deep.yaml --out {out}", "nested too deeply", True),
    ("spec-missing", "synth waa --spec {w}/nosuch.yaml --out {out}", "nosuch.yaml", True),
    ("spec-unknown-key", "synth waa --spec {w}/unknown_key.yaml --out {out}", "nope: unknown key", True),
    ("spec-not-a-mapping", "synth strong --spec {w}/list.yaml --out {out}", "must be a YAML mapping", True),
    ("spec-python-tag", "synth waa --spec {w}/python_tag.yaml --out {out}", "not valid YAML", True),
    ("unknown-flag", "synth waa --nosuch --out {out}", "No such option", True),
    ("counts-beyond-the-disk", "synth strong --spec {w}/huge.yaml --soundbank {w}/bank --out {out}", "GB free", True),
    ("waa-counts-beyond-the-disk", "synth waa --spec {w}/huge.yaml --soundbank {w}/bank --out {out}", "--force",
     True),
    ("out-below-a-file", "synth waa --scale small --out {w}/afile/sub", "Not a directory", False),
    ("out-in-proc", "synth waa --scale small --out /proc/nosuch/x", "/proc/nosuch", False),
    ("out-symlink-loop", "synth waa --scale small --out {w}/loop1/x", "symbolic links", False),
    ("soundbank-missing", "synth waa --soundbank {w}/nosuch --out {out}", "nosuch", True),
    ("index-duration-not-a-number", "synth waa --scale small --soundbank {w}/bank_duration_abc --out {out}",
     "row 4 (", True),
    ("index-rate-not-a-number", "synth strong --scale small --soundbank {w}/bank_rate_fast --out {out}",
     "column sample_rate is 'fast'", True),
    ("index-duration-nan", "synth remix --scale small --soundbank {w}/bank_duration_nan --out {out}",
     "column duration_s", True),
    ("index-file-missing", "synth waa --scale small --soundbank {w}/bank_missing_file --out {out}",
     "listed in the index but missing", True),
    ("source-emptied-in-a-bank-without-hashes", "synth waa --scale small --soundbank {w}/bank_zero_length_wav --out {out}",
     "changed since the import", True),
    ("source-changed-after-import", "synth strong --scale small --soundbank {w}/imported --out {out}",
     "src0__dog.wav: changed since the import", True),
    ("out-inside-the-soundbank", "synth strong --scale small --soundbank {w}/bank --out {w}/bank/ds",
     "inside the soundbank", True),
    ("index-path-escapes-the-bank", "soundbank info {w}/bank_path_escapes", "is not a relative path inside", True),
    ("index-link-leaves-the-bank", "synth waa --scale small --soundbank {w}/bank_link_escapes --out {out}",
     "resolves outside the bank root", True),
    ("index-cell-in-info", "soundbank info {w}/bank_duration_abc", "column duration_s is 'abc'", True),
    ("bank-workers-zero", "soundbank make builtin --workers 0 --out {out}", "'--workers': 0", True),
    ("bank-seed-negative", "soundbank make builtin --seed -2 --out {out}", "'--seed': -2", True),
    ("rir-n-zero", "rir make --n 0 --out {out}", "--n must be at least 1", True),
    ("rir-seed-negative", "rir make --seed -1 --out {out}", "'--seed': -1", True),
    ("bench-workers-zero", "bench run waa --workers 0 --out {out}", "'--workers': 0", True),
    ("bench-unknown-suite", "bench run nosuch --out {out}", "unknown suite 'nosuch'", True),
    ("bench-folder-is-not-a-suite", "bench run {w}/folder_not_suite --out {out}", "unknown suite", True),
    ("bench-unknown-data-name", "bench run waa --data nosuch={w} --out {out}", "no suite being run has", True),
    ("bench-data-not-pair", "bench run waa --data nodir --out {out}", "expected NAME=DIR", True),
    ("dataset-check-missing", "dataset check {w}/nosuch", "no such directory", True),
    ("eval-not-a-run", "eval {w}/nosuch --data {w}/data", "not a run folder", True),
    ("eval-empty-checkpoint", "eval {w}/run_empty_ckpt --data {w}/data", "the file is empty", True),
    ("eval-corrupt-run-json", "eval {w}/run_bad_json --data {w}/data", "not a readable run record", True),
    ("eval-empty-run-json", "eval {w}/run_empty_json --data {w}/data", "not a sedkit run record", True),
    ("eval-unsafe-checkpoint", "eval {w}/run_evil_ckpt --data {w}/data", "a safe load refuses", True),
    ("train-resume-corrupt-run-json", "train classifier --data {w}/data --out {w}/run_bad_json --resume",
     "not a readable run record", True),
    ("train-lr-negative", "train classifier --data {w}/data --out {out} --set train.lr=-1", "train.lr", True),
    ("train-epochs-zero", "train classifier --data {w}/data --out {out} --epochs 0", "train.epochs", True),
    ("train-unknown-model", "train nosuch --data {w}/data --out {out}", "unknown model 'nosuch'", True),
    ("train-set-without-value", "train classifier --data {w}/data --out {out} --set train.lr",
     "expected key=value", True),
    ("train-seed-negative", "train classifier --data {w}/data --out {out} --seed -4", "'--seed': -4", True),
    ("compare-unknown-metric", "eval compare {w}/a {w}/b --data {w}/data --metric nope", "metric 'nope'", True),
    ("compare-not-a-system", "eval compare {w}/nosuch {w}/data --data {w}/data", "not a folder", True),
    ("import-missing-corpus", "soundbank import folder {w}/nosuch", "no such directory", True),
]


@pytest.mark.parametrize("case,argv,needle,before_work", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line(world, tmp_path, monkeypatch, case, argv, needle, before_work):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    args = argv.format(w=world, out=out).split(" ")
    before = files_under(world), files_under(tmp_path)
    r = CliRunner().invoke(root, args)
    assert r.exit_code == 2, (r.exit_code, r.output)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sedkit: error:"), r.stderr
    assert needle in lines[0], lines[0]
    assert "Traceback" not in r.output and "weights_only=False" not in r.output
    assert "pwned" not in r.output
    assert files_under(world) == before[0]  # nothing written outside --out
    if before_work:
        assert files_under(tmp_path) == before[1]  # refused before writing anything at all


def test_peak_normalised_clips_are_counted_and_warned(tiny_bank, tmp_path):
    """ref_db 60: every clip clips; the card counts them and the command warns (one line, not an error)."""
    spec = tmp_path / "loud.yaml"
    spec.write_text("scene: {ref_db: 60}\n")
    r = CliRunner().invoke(root, ["synth", "strong", "--scale", "small", "--soundbank", str(tiny_bank), "--spec",
                                  str(spec), "--sr", "16000", "--workers", "1", "--out", str(tmp_path / "o")])
    assert r.exit_code == 0, r.output
    warn = [x for x in r.stderr.splitlines() if x.startswith("sedkit: warning:")]
    assert len(warn) == 1 and "clipped and were peak-normalised" in warn[0]
    assert "**Warning:" in (tmp_path / "o" / "README.md").read_text()
