"""`sedkit dataset info`: a dataset's statistics on the terminal, equal to what its metadata says."""
import pandas as pd
from click.testing import CliRunner

from sedkit.cli import root


def test_dataset_info_counts_what_the_metadata_holds(tiny_bank, tmp_path):
    out = tmp_path / "waa"
    r = CliRunner().invoke(root, ["synth", "waa", "--scale", "small", "--soundbank", str(tiny_bank), "--out", str(out),
                                  "--sr", "16000", "--segment", "1s", "--workers", "1"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(root, ["dataset", "info", str(out)])
    assert r.exit_code == 0, r.output
    train = pd.read_csv(out / "metadata" / "train.tsv", sep="\t")
    assert f"train        strong     {len(train):>7} clips" in r.output
    assert "data dir segments/1s" in r.output and "label weakness" in r.output and "SNR of the" in r.output
    assert f"soundbank {tiny_bank.resolve()}" in r.output
    for label, n in train.groupby("event_label").size().items():
        assert any(line.split()[:1] == [label] and str(n) in line.split() for line in r.output.splitlines())
    r = CliRunner().invoke(root, ["dataset", "info", str(tmp_path)])
    assert r.exit_code == 0  # any folder with data dirs in it
    r = CliRunner().invoke(root, ["dataset", "info", str(tmp_path / "nope")])
    assert r.exit_code == 2 and "no such directory" in r.stderr
