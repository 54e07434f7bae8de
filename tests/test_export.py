"""`sedkit dataset export`: small WAA and strong sets made with the real Scaper, exported to Hugging Face datasets,
WebDataset shards and a Zenodo archive, then read back with datasets, webdataset and mlcroissant: clips, labels and
audio bytes equal what the dataset folder's TSVs and manifest say."""
import hashlib
import json
import os
import shutil
import tarfile

import pytest
import yaml
from click.testing import CliRunner

from sedkit.cli import root
from sedkit.synth import contract
from sedkit.synth.export.shards import ShardWriter


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    from conftest import make_tiny_bank

    d = tmp_path_factory.mktemp("export")
    bank = make_tiny_bank(d / "bank")
    for kind, extra in (("waa", ["--segment", "1s"]), ("strong", [])):
        r = CliRunner().invoke(root, ["synth", kind, "--scale", "small", "--soundbank", str(bank), "--out",
                                      str(d / kind), "--sr", "16000", "--workers", "1", *extra])
        assert r.exit_code == 0, r.output
    return d


def export(src, fmt, out, *extra):
    return CliRunner().invoke(root, ["dataset", "export", str(src), "--format", fmt, "--out", str(out), *extra])


def labels_of(data_dir, split):
    """filename -> (events, weak labels) from the split's TSVs, read through the contract."""
    tsv = contract.metadata_path(data_dir, split)
    kind, df = contract.read_metadata(tsv)
    names = sorted(set(df.filename))
    strong = tsv if kind == "strong" else contract.metadata_path(data_dir, split, "_strong")
    events = {n: [] for n in names}
    if strong.is_file():
        events.update(contract.strong_events(strong, contract.read_metadata(strong)[1]))
    weak = contract.weak_labels(df) if kind == "weak" else {n: sorted({e[2] for e in events[n]}) for n in names}
    return {n: (sorted(events[n]), weak.get(n, [])) for n in names}


def as_events(evs):
    return sorted((e["onset"], e["offset"], e["label"]) for e in evs)


def croissant_records(path):
    import mlcroissant as mlc

    return list(mlc.Dataset(jsonld=str(path)).records("clips"))


def test_hf_export_of_waa_segments_loads_with_datasets(sets, tmp_path):
    import datasets

    data_dir = sets / "waa" / "segments" / "1s"
    out = tmp_path / "hf"
    assert export(data_dir, "webdataset", out).exit_code == 0
    (out / ".sedkit-export.killed").mkdir()  # what a killed export leaves
    r = export(data_dir, "hf", out, "--shard-size", "50", "--force")  # replaces the earlier export, all of it
    assert r.exit_code == 0, r.output
    assert not (out / "shards").exists()
    assert "validation passed" in r.output
    manifest = json.loads((sets / "waa" / "manifest.json").read_text())["files"]
    dd = datasets.load_from_disk(str(out))
    splits = sorted(p.name for p in (data_dir / "audio").iterdir())
    assert sorted(dd) == splits
    for split in splits:
        want = labels_of(data_dir, split)
        ds = dd[split].cast_column("audio", datasets.Audio(decode=False))
        assert len(ds) == len(want) and len(ds.cache_files) == -(-len(want) // 50)
        for row in ds:
            events, weak = want[row["filename"]]
            assert as_events(row["events"]) == events and row["weak_labels"] == weak and row["split"] == split
            assert row["label_kind"] == "weak" and row["sampling_rate"] == 16000
            rel = f"segments/1s/audio/{split}/{row['filename']}"
            assert sha(row["audio"]["bytes"]) == manifest[rel]["sha256"] == row["sha256"]
    parquet = {s: sorted(str(p) for p in (out / "parquet").glob(f"{s}-*.parquet")) for s in splits}
    pq = datasets.load_dataset("parquet", data_files=parquet, cache_dir=str(tmp_path / "cache"))
    assert {s: len(pq[s]) for s in splits} == {s: len(dd[s]) for s in splits}
    assert isinstance(pq["train"].features["audio"], datasets.Audio)
    recs = croissant_records(out / "croissant.json")
    assert len(recs) == sum(len(dd[s]) for s in splits)
    assert {"ATTRIBUTION.md", "README.md", "CITATION.cff", "LICENSES.md"} <= {p.name for p in out.iterdir()}
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_webdataset_shards_of_a_strong_set_hold_every_clip_unchanged(sets, tmp_path):
    import webdataset as wds

    src = sets / "strong"
    out = tmp_path / "wds"
    r = export(src, "webdataset", out, "--shard-size", "1MB")
    assert r.exit_code == 0, r.output
    manifest = json.loads((src / "manifest.json").read_text())["files"]
    shards = sorted((out / "shards").glob("*.tar"))
    assert len(shards) > 1 and all(p.stat().st_size <= 1_000_000 + 10240 for p in shards)
    want = {s: labels_of(src, s) for s in ("train", "validation")}
    seen = []
    for sample in wds.WebDataset([str(p) for p in shards], shardshuffle=False):
        meta = json.loads(sample["json"])
        split, name = meta["split"], meta["filename"]
        assert sample["__key__"] == f"{split}/{name[:-4]}"
        assert sha(sample["wav"]) == manifest[f"audio/{split}/{name}"]["sha256"]
        assert (as_events(meta["events"]), meta["weak_labels"]) == want[split][name]
        seen.append((split, name))
    assert sorted(seen) == sorted((s, n) for s in want for n in want[s])
    assert len(croissant_records(out / "croissant.json")) == len(seen)


def test_zenodo_archive_is_byte_identical_and_carries_credits_and_checksums(sets, tmp_path):
    src = sets / "strong"
    a, b = tmp_path / "a", tmp_path / "b"
    r = export(src, "zenodo", a, "--author", "Ada Lovelace")
    assert r.exit_code == 0, r.output
    assert "validation passed" in r.output
    for p in src.rglob("*"):  # other file times: the archive must not depend on them
        os.utime(p, (1e9, 1e9))
    assert export(src, "zenodo", b, "--author", "Ada Lovelace").exit_code == 0
    assert (a / "strong.tar.gz").read_bytes() == (b / "strong.tar.gz").read_bytes()
    r = export(src, "zenodo", a, "--author", "Ada Lovelace", "--force")  # replaces the earlier export
    assert r.exit_code == 0, r.output
    assert (a / "strong.tar.gz").read_bytes() == (b / "strong.tar.gz").read_bytes()
    assert (a / "strong.tar.gz").read_bytes()[4:8] == bytes(4)  # gzip header: no time
    with tarfile.open(a / "strong.tar.gz") as tar:
        assert {(m.mtime, m.uid, m.gid, m.mode) for m in tar.getmembers()} == {(0, 0, 0, 0o644)}
        files = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
    manifest = json.loads(files["strong/manifest.json"])["files"]
    assert {f"strong/{n}" for n in manifest} < set(files)
    for n in ("CITATION.cff", "LICENSES.md", "ATTRIBUTION.md", "SHA256SUMS", "README.md"):
        assert f"strong/{n}" in files
    sums = dict(reversed(line.split("  ", 1)) for line in files["strong/SHA256SUMS"].decode().splitlines())
    assert set(sums) == {n[len("strong/"):] for n in files} - {"SHA256SUMS"}
    assert all(sha(files[f"strong/{n}"]) == h for n, h in sums.items())
    assert all(manifest[n]["sha256"] == sums[n] for n in manifest)
    cff = yaml.safe_load(files["strong/CITATION.cff"])
    assert cff["type"] == "dataset" and cff["authors"] == [{"name": "Ada Lovelace"}]
    assert any(ref["title"].startswith("sedkit") for ref in cff["references"])
    assert len(croissant_records(a / "croissant.json")) == sum(len(labels_of(src, s)) for s in ("train", "validation"))


@pytest.mark.parametrize("case", ["no_dir", "no_manifest", "not_empty", "tampered", "shard_zenodo", "bad_shard",
                                  "inside", "force_foreign"])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(sets, tmp_path, case):
    src, out, extra = sets / "strong", tmp_path / "out", []
    fmt = "webdataset"
    if case == "no_dir":
        src = tmp_path / "nope"
    elif case == "no_manifest":
        src = tmp_path / "plain"
        (src / "metadata").mkdir(parents=True)
    elif case in ("not_empty", "force_foreign"):
        out.mkdir()
        (out / "mine.txt").write_text("keep me")
        extra = ["--force"] if case == "force_foreign" else []
    elif case == "tampered":
        src = tmp_path / "copy"
        shutil.copytree(sets / "strong", src)
        victim = sorted((src / "audio" / "validation").glob("*.wav"))[-1]
        victim.write_bytes(victim.read_bytes()[:-2] + b"\x01\x02")
    elif case == "shard_zenodo":
        fmt, extra = "zenodo", ["--shard-size", "10MB"]
    elif case == "bad_shard":
        extra = ["--shard-size", "lots"]
    elif case == "inside":
        out = src / "exported"
    before = sorted(p.name for p in out.iterdir()) if out.is_dir() else None
    r = export(src, fmt, out, *extra)
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sedkit: error: "), r.stderr
    assert (sorted(p.name for p in out.iterdir()) if out.is_dir() else None) == before
    if case == "tampered":
        assert victim.name in lines[0] and "sha256 differs" in lines[0]


def test_shard_writer_rolls_over_and_leaves_no_temporary_file(tmp_path):
    def write(d, **kw):
        with ShardWriter(d, **kw) as w:
            for i in range(7):
                w.add(f"s/{i:03d}", {"wav": bytes([i]) * 3000, "json": b"{}"})
        return w.shards

    by_count = write(tmp_path / "c", max_count=3)
    assert [p.name for p in by_count] == ["shard-000000.tar", "shard-000001.tar", "shard-000002.tar"]
    by_bytes = write(tmp_path / "b", max_bytes=10000)  # a sample takes 512 + 3072 + 512 + 512 bytes: 2 a shard
    assert len(by_bytes) == 4
    with tarfile.open(by_bytes[0]) as tar:
        assert tar.getnames() == ["s/000.json", "s/000.wav", "s/001.json", "s/001.wav"]
    assert write(tmp_path / "c2", max_count=3)[1].read_bytes() == by_count[1].read_bytes()
    with pytest.raises(RuntimeError):
        with ShardWriter(tmp_path / "e", max_count=2) as w:
            w.add("a", {"wav": b"x"})
            w.add("b", {"wav": b"x"})
            w.add("c", {"wav": b"x"})
            raise RuntimeError("stop")
    assert sorted(p.name for p in (tmp_path / "e").iterdir()) == ["shard-000000.tar"]
    with tarfile.open(tmp_path / "e" / "shard-000000.tar") as tar:
        assert tar.getnames() == ["a.wav", "b.wav"]
