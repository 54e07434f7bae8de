import pandas as pd
import pytest
from click.testing import CliRunner

from sedkit import SedkitError
from sedkit.cli import root
from sedkit.synth.soundbank.importers import assign_splits, import_soundbank
from sedkit.synth.soundbank.index import INDEX_NAME, REJECTED_NAME, load_soundbank

from conftest import tone, write


def test_import_folder_rejects_corrupt_and_counts(folder_corpus):
    before = sorted(p.relative_to(folder_corpus) for p in folder_corpus.rglob("*"))
    r = CliRunner().invoke(root, ["soundbank", "import", "folder", str(folder_corpus), "--small-classes",
                                  "train-only"])
    assert r.exit_code == 0, r.output
    assert "12 usable" in r.output and "2 rejected" in r.output
    after = sorted(p.relative_to(folder_corpus) for p in folder_corpus.rglob("*"))
    assert set(after) - set(before) == {__import__("pathlib").Path(INDEX_NAME), __import__("pathlib").Path(REJECTED_NAME)}
    bank = load_soundbank(folder_corpus)
    rej = dict(zip(bank.rejected.path, bank.rejected.reason))
    assert "foreground/dog/broken__x.wav" in rej and "unreadable" in rej["foreground/dog/broken__x.wav"]
    assert "foreground/empty_class/" in rej
    counts = bank.foregrounds().groupby("label").size().to_dict()
    assert counts == {"dog": 4, "cat": 3, "bell": 2}
    # formats, rates and channel counts were probed, not assumed
    idx = bank.index.set_index("path")
    assert idx.loc["foreground/dog/alice__d2.flac", "channels"] == 2
    assert idx.loc["foreground/cat/erin__c3.ogg", "sample_rate"] == 48000
    assert idx.loc["foreground/dog/alice__d1.wav", "sample_rate"] == 8000
    assert abs(idx.loc["foreground/dog/alice__d1.wav", "duration_s"] - 0.5) < 1e-3

    info = CliRunner().invoke(root, ["soundbank", "info", str(folder_corpus)])
    assert info.exit_code == 0
    assert "dog=4" in info.output and "cat=3" in info.output and "bell=2" in info.output
    assert "broken__x.wav" in info.output and "empty class folder" in info.output


def test_groups_never_cross_splits(folder_corpus):
    import_soundbank("folder", folder_corpus, ratios=(0.4, 0.3, 0.3), seed=3)
    df = load_soundbank(folder_corpus).index
    assert (df.groupby(["role", "source_group"]).split.nunique() == 1).all()
    # alice has files in two classes: the same group, hence the same split
    alice = df[df.source_group == "alice"]
    assert len(alice) == 3 and alice.split.nunique() == 1


def test_assign_splits_ratios_and_determinism():
    rows = [{"role": "foreground", "source_group": f"g{i // 2}", "split": None, "label": "x"} for i in range(200)]
    rows2 = [dict(r) for r in rows]
    assign_splits(rows, (0.7, 0.1, 0.2), seed=1)
    assign_splits(rows2, (0.7, 0.1, 0.2), seed=1)
    assert [r["split"] for r in rows] == [r["split"] for r in rows2]
    share = pd.Series([r["split"] for r in rows]).value_counts(normalize=True)
    assert abs(share["train"] - 0.7) < 0.03 and abs(share["eval"] - 0.2) < 0.03


def test_empty_import_is_one_line_error(tmp_path):
    (tmp_path / "c" / "foreground" / "dog").mkdir(parents=True)
    r = CliRunner().invoke(root, ["soundbank", "import", "folder", str(tmp_path / "c")])
    assert r.exit_code == 2
    assert "no usable audio" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "c" / INDEX_NAME).exists()


def test_import_desed_tree(tmp_path):
    root = tmp_path / "desed"
    base = root / "audio"
    for split, ids in (("train", [101, 102]), ("eval", [201])):
        for fid in ids:
            write(base / split / "soundbank" / "foreground" / "Dog" / f"{fid}.wav", tone(16000, 1.0, fid), 16000)
            write(base / split / "soundbank" / "foreground" / "Blender_nOn_nOff" / f"{fid}_1.wav",
                  tone(16000, 2.0, 2 * fid), 16000)  # distinct audio: identical files are rejected as duplicates
        write(base / split / "soundbank" / "background" / "sins" / f"{ids[0]}9.wav", tone(16000, 10.0, ids[0] // 4),
              16000)
    path, n, nrej = import_soundbank("desed", root)
    df = load_soundbank(root).index
    assert n == 8 and nrej == 0
    assert set(df[df.role == "foreground"].label) == {"Dog", "Blender"}
    bl = df[df.label == "Blender"]
    assert bl.n_on.all() and bl.n_off.all() and not df[df.label == "Dog"].n_on.any()
    assert set(df.split) == {"train", "eval"}
    assert set(df[df.role == "background"].label) == {"sins"}


def test_import_esc50_tree(tmp_path):
    root = tmp_path / "ESC-50"
    recs = []
    for i, (cat, src) in enumerate([("dog", "100"), ("dog", "100"), ("dog", "101"), ("rain", "200"),
                                    ("rain", "201"), ("cat", "300"), ("cat", "301"), ("cat", "302")]):
        fn = f"1-{src}-A-{i}.wav"
        write(root / "audio" / fn, tone(44100, 0.5, 300 + 10 * i), 44100)
        recs.append({"filename": fn, "fold": 1 + i % 5, "target": 0, "category": cat, "esc10": False,
                     "src_file": src, "take": "A"})
    (root / "meta").mkdir()
    pd.DataFrame(recs).to_csv(root / "meta" / "esc50.csv", index=False)
    r = CliRunner().invoke(root_cli(), ["soundbank", "import", "esc50", str(root), "--background-label", "rain",
                                        "--small-classes", "train-only"])
    assert r.exit_code == 0, r.output
    df = load_soundbank(root).index
    assert set(df[df.role == "background"].label) == {"rain"}
    assert df[df.source_group == "esc50_100"].split.nunique() == 1
    assert len(df) == 8


def test_import_urbansound8k_tree(tmp_path):
    root = tmp_path / "UrbanSound8K"
    recs = []
    for i, (cls, fs, fold) in enumerate([("dog_bark", 10, 1), ("dog_bark", 10, 1), ("siren", 11, 2),
                                         ("siren", 12, 3), ("drilling", 13, 4)]):
        fn = f"{fs}-{i}-0-0.wav"
        write(root / "audio" / f"fold{fold}" / fn, tone(22050, 0.4, 500 + 10 * i), 22050)
        recs.append({"slice_file_name": fn, "fsID": fs, "start": 0, "end": 0.4, "salience": 1, "fold": fold,
                     "classID": i, "class": cls})
    (root / "metadata").mkdir()
    pd.DataFrame(recs).to_csv(root / "metadata" / "UrbanSound8K.csv", index=False)
    import_soundbank("urbansound8k", root, small_classes="train-only")
    df = load_soundbank(root).index
    assert sorted(df.label.unique()) == ["dog_bark", "drilling", "siren"]
    assert df[df.source_group == "fs10"].split.nunique() == 1 and len(df) == 5


def test_missing_metadata_is_error(tmp_path):
    (tmp_path / "x").mkdir()
    with pytest.raises(SedkitError, match="esc50.csv"):
        import_soundbank("esc50", tmp_path / "x")


def root_cli():
    return root


def test_a_non_utf8_file_name_is_rejected_and_both_lists_are_written(folder_corpus):
    import os

    from sedkit.synth.soundbank.importers import import_soundbank

    src = next(p for p in folder_corpus.rglob("*.wav") if "foreground" in p.parts)
    os.rename(bytes(src), bytes(src.parent) + b"/bad\xff__name.wav")
    _, n_ok, n_bad = import_soundbank("folder", folder_corpus)
    rejected = (folder_corpus / "sedkit_rejected.csv").read_text(encoding="utf-8")
    assert "bad\\xff__name.wav,file name is not valid UTF-8" in rejected
    assert (folder_corpus / "sedkit_index.csv").is_file() and n_bad >= 1


def test_empty_class_is_warned_and_same_names_in_two_split_folders_stay_apart(folder_corpus, tmp_path):
    from click.testing import CliRunner

    from sedkit.cli import root
    from sedkit.synth.soundbank.index import load_soundbank

    r = CliRunner().invoke(root, ["soundbank", "import", "folder", str(folder_corpus)])
    assert r.exit_code == 0, r.output
    assert "sedkit: warning: foreground/empty_class/: empty class folder" in r.stderr
    assert "file(s) rejected" in r.stderr  # the corrupt file, with its reason, in one line
    corpus = tmp_path / "split_corpus"
    for split in ("train", "eval"):
        for k in range(2):
            write(corpus / split / "foreground" / "dog" / f"take{k}.wav",
                  tone(16000, 0.5, 300 + k + 50 * (split == "eval"), 1, k), 16000)
        write(corpus / split / "background" / "room" / "bg.wav", tone(16000, 3.0, 60 + (split == "eval"), 1, 9), 16000)
    r = CliRunner().invoke(root, ["soundbank", "import", "folder", str(corpus)])
    assert r.exit_code == 0, r.output
    idx = load_soundbank(corpus).index
    assert {(p.split("/")[0], s) for p, s in zip(idx.path, idx.split)} == {("train", "train"), ("eval", "eval")}


def test_import_audits_every_file(folder_corpus):
    """Silent, NaN, clipped, duplicate, 0.01 s and non-UTF-8 files: each rejected or warned, with its reason."""
    import os

    import numpy as np
    import soundfile as sf

    d = folder_corpus / "foreground" / "dog"
    sf.write(d / "zed__silent.wav", np.zeros(8000, np.float32), 8000)
    sf.write(d / "zed__nan.wav", np.full(8000, np.nan, np.float32), 8000, subtype="FLOAT")
    sf.write(d / "yan__clipped.wav", np.clip(3 * np.sin(np.arange(8000) * 0.05), -1, 1).astype(np.float32), 8000,
             subtype="FLOAT")
    sf.write(d / "xu__short.wav", 0.3 * np.ones(80, np.float32), 8000)
    src = d / "alice__d1.wav"
    (d / "wei__copy.wav").write_bytes(src.read_bytes())
    os.rename(bytes(d / "zed__nan.wav"), bytes(d) + b"/\xffbad__name.wav")
    sf.write(d / "zed__nan2.wav", np.full(8000, np.nan, np.float32), 8000, subtype="FLOAT")
    r = CliRunner().invoke(root, ["soundbank", "import", "folder", str(folder_corpus), "--small-classes", "train-only"])
    assert r.exit_code == 0, r.output
    rej = dict(pd.read_csv(folder_corpus / REJECTED_NAME).values)
    assert rej["foreground/dog/zed__silent.wav"].startswith("silent (RMS")
    assert "NaN" in rej["foreground/dog/zed__nan2.wav"]
    assert rej["foreground/dog/xu__short.wav"].startswith("shorter than 0.05 s")
    assert rej["foreground/dog/wei__copy.wav"] == "duplicate of foreground/dog/alice__d1.wav (the same samples)"
    assert "not valid UTF-8" in rej["foreground/dog/\\xffbad__name.wav"]
    idx = load_soundbank(folder_corpus).index.set_index("path")
    assert "clipped" in idx.loc["foreground/dog/yan__clipped.wav", "audit"]
    assert "audit notes" in r.stderr and "file(s) rejected" in r.stderr


def test_info_shows_coverage_warnings(tmp_path):
    corpus = tmp_path / "c"
    for split in ("train", "validation"):
        write(corpus / split / "foreground" / "dog" / "d.wav", tone(16000, 0.5, 300 + len(split), 1, 1), 16000)
        write(corpus / split / "background" / "room" / "bg.wav", tone(16000, 4.0, 60 + len(split), 1, 2), 16000)
    write(corpus / "eval" / "foreground" / "cat" / "c.wav", tone(16000, 0.5, 500, 1, 3), 16000)
    assert CliRunner().invoke(root, ["soundbank", "import", "folder", str(corpus)]).exit_code == 0
    r = CliRunner().invoke(root, ["soundbank", "info", str(corpus)])
    assert r.exit_code == 0, r.output
    assert "warning: class dog has no file in split(s) eval" in r.output
    assert "warning: class cat has no file in split(s) train, validation" in r.output
    assert "warning: split eval has no background" in r.output
    assert "warning: split train: every background is shorter than the 10 s clips" in r.output


def test_import_fsdkaggle2018_tree(tmp_path):
    root = tmp_path / "FSDKaggle2018"
    recs = {"train": [], "test": []}
    for i in range(18):
        part = "test" if i % 6 == 5 else "train"
        fn = f"{i:08x}.wav"
        write(root / f"FSDKaggle2018.audio_{part}" / fn, tone(44100, 0.5, 200 + 25 * i), 44100)
        recs[part].append({"fname": fn, "label": ["Bark", "Cello", "Knock"][i % 3], "manually_verified": i % 2,
                           "freesound_id": 1000 + (i if i != 4 else 5), "license": "CC0"})  # clip 4 shares 5's source
    (root / "FSDKaggle2018.meta").mkdir()
    pd.DataFrame(recs["train"]).to_csv(root / "FSDKaggle2018.meta" / "train_post_competition.csv", index=False)
    pd.DataFrame(recs["test"]).to_csv(root / "FSDKaggle2018.meta" / "test_post_competition_scoring_clips.csv",
                                      index=False)
    _, n, _ = import_soundbank("fsdkaggle2018", root, small_classes="train-only")
    df = load_soundbank(root).index
    assert n == 18 and set(df.label) == {"Bark", "Cello", "Knock"}
    assert set(df[df.path.str.contains("audio_test")].split) == {"eval"}
    train = df[df.path.str.contains("audio_train")]
    assert set(train[train.source_group != "fs1005"].split) <= {"train", "validation"}  # eval is the test set
    assert set(train[train.source_group == "fs1005"].split) == {"eval"}  # ... and what shares a source with it
    assert df.groupby("source_group").split.nunique().max() == 1


def test_import_tut_scenes_as_backgrounds(tmp_path):
    root = tmp_path / "TUT-acoustic-scenes-2017-development"
    lines = []
    for k, scene in enumerate(["beach", "bus", "park"]):
        for rec in range(3):
            for seg in range(2):
                rel = f"audio/{scene}{rec:03d}_{seg * 10}_{seg * 10 + 10}.wav"
                write(root / rel, tone(16000, 10.0, 40 + 10 * k + rec + 0.5 * seg), 16000)
                lines.append(f"{rel}\t{scene}\t{scene}{rec:03d}")
    (root / "meta.txt").write_text("\n".join(lines) + "\n")
    import_soundbank("tut-scenes", root)
    df = load_soundbank(root).index
    assert (df.role == "background").all() and set(df.label) == {"beach", "bus", "park"}
    assert df.groupby("source_group").split.nunique().max() == 1  # a recording's segments stay together
    assert set(df.split) == {"train", "validation", "eval"}
