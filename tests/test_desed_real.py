"""DESED's real sets as a data dir: the layout DESED_task's scripts make, linked not copied, read by the trainer."""
import numpy as np
import soundfile as sf
from click.testing import CliRunner

from sedkit.cli import root
from sedkit.synth import contract


def make_desed(folder):
    rng = np.random.default_rng(0)

    def wav(p, seconds=2.0):
        p.parent.mkdir(parents=True, exist_ok=True)
        sf.write(p, rng.normal(0, 0.05, int(16000 * seconds)).astype(np.float32), 16000)

    for i in range(3):
        wav(folder / "audio/train/weak" / f"Y{i}.wav")
        wav(folder / "audio/train/unlabel_in_domain" / f"U{i}.wav")
        wav(folder / "audio/validation/validation" / f"V{i}.wav", 3.0)
        wav(folder / "audio/eval/public" / f"E{i}.wav")
    (folder / "metadata/train").mkdir(parents=True)
    (folder / "metadata/train/weak.tsv").write_text("filename\tevent_labels\nY0.wav\tDog\nY1.wav\tCat,Dog\n"
                                                    "Y2.wav\tSpeech\nY9.wav\tDog\n")  # Y9: gone from YouTube
    (folder / "metadata/train/unlabel_in_domain.tsv").write_text("filename\nU0.wav\nU1.wav\nU2.wav\n")
    (folder / "metadata/validation").mkdir(parents=True)
    (folder / "metadata/validation/validation.tsv").write_text(
        "filename\tonset\toffset\tevent_label\nV0.wav\t0.5\t1.5\tDog\nV1.wav\t0.0\t2.0\tSpeech\nV2.wav\t\t\t\n")
    (folder / "metadata/eval").mkdir(parents=True)
    (folder / "metadata/eval/public.tsv").write_text(
        "filename\tonset\toffset\tevent_label\nE0.wav\t0.1\t0.9\tCat\nE1.wav\t1.0\t1.8\tDog\nE2.wav\t0.2\t0.4\tSpeech\n")
    return folder


def test_desed_real_sets_become_a_data_dir(tmp_path):
    src = make_desed(tmp_path / "DESED")
    out = tmp_path / "desed_real"
    r = CliRunner().invoke(root, ["dataset", "import-desed", str(src), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "weak 3" in r.stdout and "weak: 1 clip(s) listed in the metadata have no audio" in r.stderr
    assert contract.read_classes(contract.classes_path(out)) == ["Cat", "Dog", "Speech"]
    assert (out / "audio/validation/V0.wav").is_symlink()  # linked, not copied
    assert contract.read_durations(contract.metadata_path(out, "validation", "_durations"))["V0.wav"] == 3.0
    from sedkit.baselines.data.folder import DataDir

    dd = DataDir(out)
    assert dd.table("weak").labels[1] == ["Cat", "Dog"]
    assert dd.table("validation").events["V0.wav"] == [(0.5, 1.5, "Dog")]
    assert dd.table("unlabel").labels is None
    r = CliRunner().invoke(root, ["dataset", "import-desed", str(src), "--out", str(out)])
    assert r.exit_code == 2 and "not empty" in r.stderr
