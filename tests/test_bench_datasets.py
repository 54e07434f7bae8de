"""Suite datasets: generated once into the cache by spec hash, reused, regenerated when the spec changes."""
from __future__ import annotations

from conftest import make_tiny_bank

from toydata import make_toy_datadir
from sedkit.benchmarks.cache import Cache
from sedkit.benchmarks.runner import build_dataset, resolve_dataset
from sedkit.benchmarks.suites.spec import DatasetEntry


def waa_entry(train: int = 3) -> DatasetEntry:
    return DatasetEntry(generator="waa", spec={"sr": 8000, "segments": ["1s"]},
                        small={"counts": {"train": train, "validation": 3, "eval": 3}, "small_fraction": 1.0})


def test_generated_dataset_is_cached_by_spec_hash(tmp_path):
    bank = make_tiny_bank(tmp_path / "bank", sr=8000)
    cache = Cache(tmp_path / "cache")
    ds = resolve_dataset("waa", waa_entry(), "small", cache, str(bank))
    assert not Cache.is_done(ds.dir)
    build_dataset(ds, workers=1)
    assert ds.error is None and Cache.is_done(ds.dir)
    assert (ds.dir / "segments" / "1s" / "metadata" / "train.tsv").is_file()
    assert ds.data_dir("segments/1s") == ds.dir / "segments" / "1s"
    stamp = Cache.marker(ds.dir).stat().st_mtime_ns
    again = resolve_dataset("waa", waa_entry(), "small", cache, str(bank))
    assert again.dir == ds.dir and again.key == ds.key
    build_dataset(again, workers=1)  # done: not regenerated
    assert Cache.marker(ds.dir).stat().st_mtime_ns == stamp
    other = resolve_dataset("waa", waa_entry(train=6), "small", cache, str(bank))
    assert other.dir != ds.dir  # another spec, another entry
    paper = resolve_dataset("waa", waa_entry(), "paper", cache, str(bank))
    assert paper.dir != ds.dir and paper.key["scale"] == "paper"


def test_path_dataset_key_follows_its_metadata(tmp_path):
    d = make_toy_datadir(tmp_path / "toy", per_class={"train": 1, "eval": 1})
    cache = Cache(tmp_path / "cache")
    entry = DatasetEntry(path=str(d))
    a = resolve_dataset("toy", entry, "small", cache, None)
    assert a.dir == d and a.generator is None
    (d / "metadata" / "eval.tsv").write_text("filename\tevent_labels\n")
    b = resolve_dataset("toy", entry, "small", cache, None)
    assert b.hash != a.hash  # models evaluated on it are not reused
