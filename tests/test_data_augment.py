"""``data.augment`` (Cornell et al.'s "Augm") in SED training: online mixtures replace the strong role, weak /
unlabelled clips get extra backgrounds, features get noise + SpecAugment; all keyed by seed, epoch and index."""
import json
from pathlib import Path

import pytest
import torch
import yaml
from click.testing import CliRunner
from conftest import make_tiny_bank
from helpers import TINY_SED as TINY, make_semi

from sedkit import SedkitError
from sedkit.baselines.data.augment import AugmentSpec, FeatureAugment, data_soundbank
from sedkit.baselines.data.features import batch_features
from sedkit.baselines.data.sed import SEDData, SEDDataSpec
from sedkit.baselines.models.frontends import FrontendSpec, build_frontend
from sedkit.cli import root

CLASSES = ("a", "b", "c")


@pytest.fixture(scope="module")
def semi_and_bank(tmp_path_factory):
    base = tmp_path_factory.mktemp("aug")
    return make_semi(base / "data"), make_tiny_bank(base / "bank", sr=8000, classes=CLASSES)


FRONTEND = FrontendSpec(sr=8000, n_fft=256, hop_length=64, n_mels=32, compression="log", norm="minmax")


def _data(data: Path, bank: Path, cache: bool = False, **aug) -> SEDData:
    spec = SEDDataSpec(batch={"synthetic": 2, "weak": 2, "unlabel": 2}, clip_seconds=2.0,
                       augment={"soundbank": str(bank), **aug}, feature_cache={"enabled": cache})
    return SEDData(data, spec, FRONTEND, 4, seed=3)


def test_strong_role_is_mixed_anew_each_epoch_and_reproducibly(semi_and_bank):
    data, bank = semi_and_bank
    ds = _data(data, bank).train_loader().dataset
    s = ds.parts["synthetic"]
    assert len(s) == 6  # as many mixtures per epoch as synthetic clips
    ds.set_epoch(0)
    a = s[1]
    assert a["audio"].shape == (16000,) and a["strong"] and a["domain"] == 1.0
    on = a["frame_target"].amax(dim=0)
    assert on.sum() >= 1 and torch.equal(on, a["target"])  # clip labels = classes active in some frame
    assert torch.equal(_data(data, bank).train_loader().dataset.parts["synthetic"][1]["audio"], a["audio"])
    ds.set_epoch(1)
    assert not torch.equal(s[1]["audio"], a["audio"])


def test_weak_and_unlabelled_clips_get_extra_backgrounds(semi_and_bank):
    data, bank = semi_and_bank
    plain = _data(data, bank, extra_background=False).train_loader().dataset
    p1 = _data(data, bank, dynamic={"extra_background": {"p": 1.0}}).train_loader().dataset
    p0 = _data(data, bank, dynamic={"extra_background": {"p": 0.0}}).train_loader().dataset
    for role in ("weak", "unlabel"):
        i = p1.offsets[role]
        ref = plain[i]
        assert torch.equal(p0[i]["audio"], ref["audio"])
        assert not torch.equal(p1[i]["audio"], ref["audio"])
        assert torch.equal(p1[i]["target"], ref["target"])  # labels untouched
    assert torch.equal(plain.parts["synthetic"][0]["audio"], p1.parts["synthetic"][0]["audio"])


def test_the_feature_cache_serves_only_the_clips_online_augmentation_leaves_alone(semi_and_bank):
    """With the cache on, weak / unlabelled clips come as cached stages unless they get an extra background (then
    as the same audio as without the cache); the strong role's mixtures always come as audio; a training batch
    mixes both, and its features equal those of the same batch made from audio."""
    data, bank = semi_and_bank
    fe = build_frontend(FRONTEND)
    for p in (0.0, 1.0):
        plain = _data(data, bank, dynamic={"extra_background": {"p": p}}).train_loader()
        cached = _data(data, bank, cache=True, dynamic={"extra_background": {"p": p}}).train_loader()
        i = cached.dataset.offsets["weak"]
        item = cached.dataset[i]
        assert ("audio" in item) == (p == 1.0) and ("stage" in item) == (p == 0.0)
        if p == 1.0:
            assert torch.equal(item["audio"], plain.dataset[i]["audio"])
        a, b = next(iter(plain)), next(iter(cached))
        if p == 0.0:
            assert b["cached"].tolist() == [False] * 2 + [True] * 4  # mixtures as audio, the rest from the cache
        else:
            assert "stage" not in b  # every clip got a background: all audio
        assert a["filename"][2:] == b["filename"][2:]
        for key in ("target", "frame_target", "strong", "weak", "domain", "role"):
            assert torch.equal(a[key], b[key]), key
        assert torch.equal(batch_features(fe, a), batch_features(fe, b))


def test_feature_augmentation_depends_on_step_only_and_can_be_off():
    x = torch.rand(3, 1, 40, 32)
    aug = FeatureAugment(AugmentSpec(), 8000, 2.0, seed=0)
    assert torch.equal(aug(x, 5), aug(x, 5)) and not torch.equal(aug(x, 5), aug(x, 6))
    assert not torch.equal(aug(x, 5), x) and aug(x, 5).shape == x.shape
    assert torch.equal(FeatureAugment(AugmentSpec(features=False), 8000, 2.0, 0)(x, 5), x)
    assert torch.equal(FeatureAugment(None, 8000, 2.0, 0)(x, 5), x)


def test_soundbank_must_come_from_the_manifest_or_the_spec(semi_and_bank):
    data, _ = semi_and_bank
    with pytest.raises(SedkitError, match="set data.augment.soundbank"):
        data_soundbank(data)  # a toy data dir has no sedkit manifest naming a built-in bank
    (data / "manifest.json").write_text(json.dumps({"spec": {"soundbank": "my_bank"}}))
    try:
        with pytest.raises(SedkitError, match="not a built-in bank"):
            data_soundbank(data)
    finally:
        (data / "manifest.json").unlink()


def test_bank_classes_must_be_data_classes(semi_and_bank, tmp_path):
    data, _ = semi_and_bank
    other = make_tiny_bank(tmp_path / "other", sr=8000, classes=("a", "zebra"))
    with pytest.raises(SedkitError, match="zebra"):
        _data(data, other).train_loader()


def test_crnn_dat_trains_with_augment_through_the_cli(semi_and_bank, tmp_path):
    data, bank = semi_and_bank
    cfg = json.loads(json.dumps(TINY))
    cfg["data"]["augment"] = {"soundbank": str(bank)}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    run = tmp_path / "run"
    r = CliRunner().invoke(root, ["train", "crnn-dat", "--data", str(data), "--out", str(run), "--config",
                                  str(tmp_path / "c.yaml"), "--device", "cpu"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    m = json.loads((run / "metrics.json").read_text())
    assert 0.0 <= m["eval"]["segment_f1"] <= 1.0
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["data"]["augment"]["soundbank"] == str(bank) and saved["data"]["augment"]["features"] is True


def test_mixtures_rendered_on_the_device_match_the_loaders(semi_and_bank):
    """mix_on: device (what auto picks on a GPU): the loader only draws, the batch mixer renders the strong rows of
    each batch on the training device; the mixtures match the loader's numpy rendering and W/U rows are untouched."""
    from sedkit.baselines.data.augment import DeviceMixing
    from sedkit.synth.dynamic.gpu import AGREEMENT_TOL

    data, bank = semi_and_bank
    on_loader = _data(data, bank, mix_on="loader").train_loader()
    on_device = _data(data, bank, mix_on="device").train_loader()
    assert _data(data, bank).train_loader().dataset.parts["synthetic"].mixer.render == "cpu"  # auto on a CPU
    mixing = DeviceMixing(on_device.dataset.parts["synthetic"], "cpu")
    for a, b in zip(on_loader, on_device):
        strong = [i for i, m in enumerate(b["mix"]) if m is not None]
        assert strong and len(strong) < len(b["mix"])
        assert float(b["audio"][strong].abs().max()) == 0.0  # silence until rendered
        weak_before = b["audio"][len(strong):].clone()
        b = mixing(b)
        assert torch.equal(b["audio"][len(strong):], weak_before) and torch.equal(a["frame_target"], b["frame_target"])
        assert float((a["audio"][strong] - b["audio"][strong]).abs().max()) <= AGREEMENT_TOL


def test_crnn_trains_with_mixtures_rendered_on_the_device(semi_and_bank, tmp_path):
    from sedkit.baselines.api import model_config, train
    from sedkit.specs import deep_merge

    data, bank = semi_and_bank
    cfg = deep_merge(TINY, {"data": {"augment": {"soundbank": str(bank), "mix_on": "device"}},
                            "train": {"epochs": 1}})
    from sedkit.baselines.registry import build

    entry = build("crnn-mt", model_config("crnn-mt", cfg), data, torch.device("cpu"))
    assert entry.strategy.device_mixing is not None
    metrics = train("crnn-mt", data, tmp_path / "run", config=cfg, device="cpu")
    assert "eval" in metrics and (tmp_path / "run" / "best.pt").is_file()
