"""Refactoring guard: every output of the generators and three short trainings, hashed.

    python tests/outputs_unchanged.py record tests/data/outputs_sha256.json   # before a refactor
    python tests/outputs_unchanged.py check  tests/data/outputs_sha256.json   # after it: exit 1 on a change

It runs, with seed 0 and the small scale, through the ``sedkit`` command of this venv:
``soundbank make builtin``, ``synth waa|200ms|strong (pitch-shifted, as by default)|semi|remix`` on that bank, and three short
trainings with fixed seeds and one torch thread (classifier on WAA 10 s, crnn-mt on semi, 2ap-aux on remix). It
records the sha256 of every file written, and each run's ``metrics.json``. Files that hold wall-clock times
(logs with seconds, tensorboard event files, timing fields) are listed in ``VOLATILE`` and left out: they differ
between two runs of the same code.

Not a pytest test: it takes about five minutes on two cores.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from fnmatch import fnmatch
from pathlib import Path

SEDKIT = str(Path(sys.executable).with_name("sedkit"))
# (glob relative to the work folder, why it differs between two runs of the same code)
VOLATILE = [
    ("runs/*/tensorboard/*", "tensorboard event files carry wall-clock stamps and the host name"),
    ("runs/*/log.csv", "per-epoch seconds"),
    ("runs/*/**/log.csv", "per-epoch seconds"),
    ("runs/*/**/done.json", "stage summaries carry seconds"),
    ("runs/*/*.pt", "checkpoints pickle the optimizer state with timings; the metrics below cover them"),
    ("runs/*/**/*.pt", "idem, for earlier stages"),
    ("runs/*/run.json", "holds the absolute path of the data dir (a new temp dir each run); config.yaml is compared"),
    ("*/.sedkit/view*/*", "the generators' internal cache of resampled sources: its bytes vary between two runs of "
                          "the same code; the dataset audio mixed from it does not"),
]
# text files that may name the work folder (manifests and cards record the soundbank's path): hashed with that
# folder replaced by <WORK>
TEXT_WITH_PATHS = (".json", ".md", ".yaml")
TINY_CRNN = ["--set", "net.filters=[16,32,32]", "--set", "net.pooling=[[1,4],[1,4],[1,2]]",
             "--set", "net.rnn_hidden=32", "--set", "net.rnn_layers=1",
             "--set", "data.batch={synthetic: 4, weak: 4, unlabel: 8}"]
TRAININGS = {  # run name -> (model, data folder, extra args)
    "classifier": ("classifier", "waa/segments/10s", ["--epochs", "2"]),
    "crnn-mt": ("crnn-mt", "semi", ["--epochs", "2", *TINY_CRNN]),
    "2ap-aux": ("2ap-aux", "remix/snr_20", ["--epochs", "2", "--set", "encoder.channels=[8,16,16,32]"]),
}


def sh(*args: str) -> None:
    print("+ sedkit", " ".join(args), flush=True)
    subprocess.run([SEDKIT, *args], check=True, stdout=subprocess.DEVNULL)


def produce(work: Path) -> None:
    sh("soundbank", "make", "builtin", "--scale", "small", "--out", str(work / "bank"), "--workers", "2")
    common = ["--scale", "small", "--seed", "0", "--soundbank", str(work / "bank"), "--workers", "2"]
    sh("synth", "waa", *common, "--out", str(work / "waa"))
    sh("synth", "200ms", *common, "--out", str(work / "200ms"))
    sh("synth", "strong", *common, "--out", str(work / "strong"))  # specs/strong.yaml pitch-shifts by default
    sh("synth", "semi", *common, "--out", str(work / "semi"))
    sh("synth", "remix", *common, "--out", str(work / "remix"))
    for name, (model, data, extra) in TRAININGS.items():
        sh("train", model, "--data", str(work / data), "--out", str(work / "runs" / name), "--device", "cpu",
           "--threads", "1", "--seed", "0", *extra)


def digest(work: Path) -> dict:
    files, metrics = {}, {}
    for p in sorted(work.rglob("*")):
        rel = p.relative_to(work).as_posix()
        if not p.is_file() or any(fnmatch(rel, pat) for pat, _ in VOLATILE):
            continue
        data = p.read_bytes()
        if p.name == "manifest.json":  # the sha256 it records of a text file naming the work folder changes with it:
            man = json.loads(data)    # those files are hashed here themselves, with the folder replaced
            for name, entry in (man.get("files") or {}).items():
                if Path(name).suffix in TEXT_WITH_PATHS and isinstance(entry, dict):
                    entry.pop("sha256", None)
                    entry.pop("bytes", None)
            data = json.dumps(man, sort_keys=True).encode()
        if p.suffix in TEXT_WITH_PATHS:  # provenance names the bank by its absolute path: a new temp dir each run
            data = data.replace(str(work.resolve()).encode(), b"<WORK>").replace(str(work).encode(), b"<WORK>")
        files[rel] = hashlib.sha256(data).hexdigest()
        if rel.startswith("runs/") and rel.endswith("/metrics.json") and rel.count("/") == 2:
            metrics[rel.split("/")[1]] = json.loads(p.read_text())
    return {"files": files, "metrics": metrics}


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("record", "check"):
        print(__doc__)
        return 2
    mode, ref = argv[0], Path(argv[1])
    with tempfile.TemporaryDirectory(prefix="sedkit-outputs-") as tmp:
        os.environ["SEDKIT_CACHE"] = str(Path(tmp) / "cache")
        work = Path(tmp) / "work"
        produce(work)
        got = digest(work)
    if mode == "record":
        ref.parent.mkdir(parents=True, exist_ok=True)
        ref.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
        print(f"recorded {len(got['files'])} files and {len(got['metrics'])} runs' metrics in {ref}")
        return 0
    want = json.loads(ref.read_text())
    bad = 0
    for rel in sorted(set(want["files"]) | set(got["files"])):
        a, b = want["files"].get(rel), got["files"].get(rel)
        if a != b:
            bad += 1
            print(f"{'missing' if b is None else 'new' if a is None else 'changed'}: {rel}")
    for run in sorted(set(want["metrics"]) | set(got["metrics"])):
        if want["metrics"].get(run) != got["metrics"].get(run):
            bad += 1
            print(f"metrics changed: {run}")
    print(f"{len(got['files'])} files, {len(got['metrics'])} runs' metrics: "
          f"{'identical' if not bad else f'{bad} difference(s)'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
