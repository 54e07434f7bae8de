"""``sedkit synth ... --shards DIR``: the clips streamed into WebDataset shards while they are made, in the dataset's
order whatever the workers, each sample the clip's files byte for byte plus its metadata; resumable."""
import hashlib
import json

import pytest
from click.testing import CliRunner

from sedkit.cli import root
from sedkit.synth.export.stream import member_names


def shard_bytes(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.glob("shard-*.tar"))}


def test_streamed_shards_hold_every_clip_in_order_and_do_not_depend_on_workers(tiny_bank, tmp_path):
    wds = pytest.importorskip("webdataset")
    args = ["synth", "strong", "--scale", "small", "--soundbank", str(tiny_bank), "--sr", "16000"]
    runs = {}
    for w in (1, 2):
        out, sh = tmp_path / f"data{w}", tmp_path / f"shards{w}"
        r = CliRunner().invoke(root, [*args, "--workers", str(w), "--out", str(out), "--shards", str(sh),
                                      "--shard-size", "5"])
        assert r.exit_code == 0, r.output
        runs[w] = (out, sh)
    (out, sh), (_, sh2) = runs[1], runs[2]
    assert shard_bytes(sh) == shard_bytes(sh2) and len(shard_bytes(sh)) > 1  # 5 clips a shard
    manifest = json.loads((out / "manifest.json").read_text())["files"]
    journal = [json.loads(line) for line in (out / ".sedkit" / "journal.jsonl").read_text().splitlines()]
    samples = list(wds.WebDataset([str(p) for p in sorted(sh.glob("shard-*.tar"))], shardshuffle=False))
    assert len(samples) == len(journal)
    keys = [s["__key__"] for s in samples]
    splits = [k.split("/")[0] for k in keys]
    assert keys == sorted(keys, key=lambda k: (splits.index(k.split("/")[0]), k))  # clips in the dataset's order
    for s in samples:
        meta = json.loads(s["meta.json"])
        for ext, rel in member_names(meta["split"], list(meta["files"])).items():
            assert hashlib.sha256(s[ext]).hexdigest() == manifest[rel]["sha256"] == meta["files"][rel]
        assert any(ext.endswith(".wav") for ext in s if not ext.startswith("__"))
    # --resume writes the shards again, the same bytes, from the clips already made
    r = CliRunner().invoke(root, [*args, "--workers", "2", "--out", str(out), "--shards", str(sh), "--shard-size",
                                  "5", "--resume"])
    assert r.exit_code == 0, r.output
    assert shard_bytes(sh) == shard_bytes(sh2)


def test_shards_inside_the_dataset_folder_are_refused(tiny_bank, tmp_path):
    out = tmp_path / "data"
    r = CliRunner().invoke(root, ["synth", "strong", "--scale", "small", "--soundbank", str(tiny_bank), "--out",
                                  str(out), "--shards", str(out / "shards")])
    assert r.exit_code == 2 and "must be outside the dataset folder" in r.output
    assert len(r.output.strip().splitlines()) == 1 and not out.exists()  # nothing written
    r = CliRunner().invoke(root, ["synth", "strong", "--scale", "small", "--soundbank", str(tiny_bank), "--out",
                                  str(out), "--shards", str(tmp_path / "sh"), "--shard-size", "lots"])
    assert r.exit_code == 2 and "--shard-size 'lots'" in r.output and not out.exists()


def test_member_names_are_unique_per_clip():
    names = member_names("train", ["audio/train/a.wav", "jams/train/a.jams", "segments/1s/audio/train/a.wav",
                                   "snr_0/audio/train/a.wav"])
    assert names == {"audio.wav": "audio/train/a.wav", "jams.jams": "jams/train/a.jams",
                     "segments_1s_audio.wav": "segments/1s/audio/train/a.wav",
                     "snr_0_audio.wav": "snr_0/audio/train/a.wav"}
