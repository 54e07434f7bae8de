"""Dynamic mixing: exact labels and frame targets, determinism under DataLoader workers, numpy vs torch agreement,
levels, strong-dir sources, the extra-background dataset."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch
from conftest import make_tiny_bank, tone

from sedkit import SedkitError
from sedkit.synth.dynamic.chain import process_source, render_item
from sedkit.synth.dynamic.dataset import DynamicMixDataset, ExtraBackgroundDataset, build_pool, draw_loader
from sedkit.synth.dynamic.gpu import AGREEMENT_TOL, BatchMixer
from sedkit.synth.contract import frame_targets
from sedkit.synth.dynamic.plan import ItemDraw, SourceDraw, draw_item
from sedkit.synth.dynamic.sources import AudioCache, SourcePool, load_sources
from sedkit.synth.dynamic.spec import load_dynamic_spec
from sedkit.synth.rir import RirBank, RirMakeSpec, make_bank

SR = 8000
SMALL = {"sr": SR, "clip_s": 2.0, "frame_rate": 10.0, "n_events": [1, 3], "max_event_s": 1.0,
         "items_per_epoch": 8}


def small_spec(**extra):
    return load_dynamic_spec(overrides={**SMALL, **extra})


@pytest.fixture(scope="module")
def bank(tmp_path_factory):
    return make_tiny_bank(tmp_path_factory.mktemp("dm") / "bank")


@pytest.fixture(scope="module")
def rirs(tmp_path_factory):
    spec = RirMakeSpec.model_validate({"sr": SR, "room_m": {"x": ["uniform", 3, 4], "y": ["uniform", 3, 4],
                                                                     "z": ["const", 2.5]},
                                       "rt60_s": ["uniform", 0.15, 0.3], "distance_m": ["uniform", 0.5, 1.5]})
    root = tmp_path_factory.mktemp("rirs")
    make_bank(root, 3, seed=0, spec=spec)
    return RirBank.load(root, SR, max_s=0.25)


def test_known_placement_gives_exact_labels_and_frame_targets(bank):
    spec = small_spec()
    spec.peak_db = None                             # keep the drawn levels (overrides skip None values)
    pool = SourcePool.from_soundbank(bank, "train")
    bell = next(r for r in pool.fg if r.label == "bell" and r.duration_s >= 0.8)
    dog = next(r for r in pool.fg if r.label == "dog" and r.duration_s >= 0.8)
    draw = ItemDraw(0, 0, 0, SR, spec.n_samples, [
        SourceDraw("foreground", bell.key, "bell", start=0, length=4000, onset=2000, level_db=-6.0),
        SourceDraw("foreground", dog.key, "dog", start=800, length=2400, onset=8000, level_db=-12.0),
    ])
    assert draw.events() == [(0.25, 0.75, "bell"), (1.0, 1.3, "dog")]
    y = frame_targets(draw.events(), pool.labels, spec.n_frames, 1 / spec.frame_rate)
    want = np.zeros((20, len(pool.labels)), np.float32)
    want[2:8, pool.labels.index("bell")] = 1        # [0.25, 0.75) s at 10 frames/s touches frames 2..7
    want[10:13, pool.labels.index("dog")] = 1       # [1.0, 1.3) s touches frames 10..12
    np.testing.assert_array_equal(y, want)
    arrays = load_sources(draw, pool, AudioCache(SR, 1 << 26))
    support = np.zeros(spec.n_samples, bool)
    support[2000:6000] = support[8000:10400] = True
    mix_np = render_item(draw, arrays, spec)
    mix_t = BatchMixer(spec, pool.labels, device="cpu")([(draw, arrays)])
    for mix in (mix_np, mix_t.audio[0].numpy()):
        np.testing.assert_array_equal(np.abs(mix) > 0, support)
    np.testing.assert_array_equal(mix_t.targets[0].numpy(), want)
    rms = np.sqrt(np.mean(mix_np[2000:6000].astype(np.float64) ** 2))
    assert 20 * np.log10(rms) == pytest.approx(-6.0, abs=0.01)      # level = RMS dBFS of the source


def test_drawn_items_audio_matches_their_labels(bank):
    spec = small_spec(**{"effects.count": ["const", 0]})
    pool = SourcePool(SourcePool.from_soundbank(bank, "train").fg, [])      # no background: support = events
    ds = DynamicMixDataset(spec, pool, seed=3, render="cpu")
    for i in range(6):
        item = ds[i]
        support = np.zeros(spec.n_samples, bool)
        for on, off, _ in item["events"]:
            support[int(round(on * SR)):int(round(off * SR))] = True
        np.testing.assert_array_equal(np.abs(item["audio"].numpy()) > 0, support)
        np.testing.assert_array_equal(item["targets"].numpy(),
                                      frame_targets(item["events"], pool.labels, spec.n_frames, 1 / spec.frame_rate))
        assert 1 <= len(item["events"]) <= 3


def test_same_seed_same_batch_with_0_and_2_workers(bank, rirs):
    spec = small_spec()
    pool = build_pool(spec, soundbank=bank)
    mixer = BatchMixer(spec, pool.labels, rirs, device="cpu")

    def batches(workers, epoch=0):
        ds = DynamicMixDataset(spec, pool, rirs, seed=11)
        ds.set_epoch(epoch)
        return [mixer(items) for items in draw_loader(ds, batch_size=4, num_workers=workers)]

    a, b = batches(0), batches(2)
    assert len(a) == len(b) == 2
    for x, y in zip(a, b):
        assert torch.equal(x.audio, y.audio) and torch.equal(x.targets, y.targets)
        assert [d.to_dict() for d in x.draws] == [d.to_dict() for d in y.draws]
    c = batches(0, epoch=1)
    assert not torch.equal(a[0].audio, c[0].audio)


def test_one_loader_draws_new_mixtures_each_epoch_with_workers(bank):
    """Training keeps one loader and calls ``set_epoch`` in the parent: worker processes must see it (a persistent
    worker keeps its own copy of the dataset, and every epoch repeated epoch 0's mixtures)."""
    spec = small_spec()
    pool = build_pool(spec, soundbank=bank)

    def draws(loader):
        return [d.to_dict() for items in loader for d, _ in items]

    ds = DynamicMixDataset(spec, pool, seed=11)
    loader = draw_loader(ds, batch_size=4, num_workers=1)
    epoch0 = draws(loader)
    ds.set_epoch(1)
    epoch1 = draws(loader)
    fresh = DynamicMixDataset(spec, pool, seed=11)
    fresh.set_epoch(1)
    assert epoch1 != epoch0
    assert epoch1 == draws(draw_loader(fresh, batch_size=4, num_workers=0))


@pytest.mark.parametrize("filters", ["fft", "iir"])
def test_numpy_and_torch_paths_agree(bank, rirs, filters):
    spec = small_spec(**{"effects.count": ["const", 2], "rir.p": 0.7, "n_events": [2, 4]})
    pool = build_pool(spec, soundbank=bank)
    ds = DynamicMixDataset(spec, pool, rirs, seed=5)
    items = [ds[i] for i in range(8)]
    used = {name for d, _ in items for sd in d.sources for name, _ in sd.effects}
    assert len(used) >= 5 and any(sd.rir is not None for d, _ in items for sd in d.sources)
    out = BatchMixer(spec, pool.labels, rirs, device="cpu", filters=filters)(items)
    for i, (d, arrays) in enumerate(items):
        ref = render_item(d, arrays, spec, rirs)
        assert np.max(np.abs(out.audio[i].numpy() - ref)) <= AGREEMENT_TOL


def test_levels_paper_and_authors_variants(bank):
    pool = build_pool(small_spec(), soundbank=bank)
    for variant, lo in (("paper", -35.0), ("authors", -45.0)):
        spec = small_spec(**{"levels.variant": variant})
        fg_all = []
        for i in range(150):
            d = draw_item(spec, pool, 0, 0, 0, i)
            fg = [s.level_db for s in d.sources if s.role == "foreground"]
            bg = [s.level_db for s in d.sources if s.role == "background"]
            assert len(bg) == 1 and bg[0] <= min(fg) + 5.0 + 1e-9 and bg[0] >= -50.0
            fg_all += fg
        assert min(fg_all) >= lo and max(fg_all) <= 0.0
        if variant == "authors":
            assert abs(np.median(fg_all) + 30) < 3 and min(fg_all) == -45.0     # clipped, not truncated
    d = draw_item(small_spec(), pool, 0, 0, 0, 1)
    arrays = load_sources(d, pool, AudioCache(SR, 1 << 26))
    for sd, x in zip(d.sources, arrays):
        y = process_source(x, sd, small_spec(), None)
        assert 20 * np.log10(np.sqrt(np.mean(y ** 2))) == pytest.approx(sd.level_db, abs=1e-6)


def test_strong_dir_events_as_sources(tmp_path, bank):
    root = tmp_path / "strong"
    (root / "audio" / "train").mkdir(parents=True)
    (root / "metadata").mkdir()
    sf.write(root / "audio" / "train" / "a.wav", tone(16000, 3.0, 500), 16000)
    (root / "metadata" / "train.tsv").write_text(
        "filename\tonset\toffset\tevent_label\na.wav\t0.500\t1.250\tsiren\na.wav\t2.000\t2.010\tblip\n")
    pool = SourcePool.from_strong_dir(root, "train")
    assert [(r.label, r.start_s, r.stop_s) for r in pool.fg] == [("siren", 0.5, 1.25)]   # 10 ms event dropped
    x = AudioCache(SR, 1 << 20).get(pool.fg[0])
    assert len(x) == 6000
    both = build_pool(small_spec(), soundbank=bank, strong_dir=root)
    assert "siren" in both.labels and both.bg
    with pytest.raises(SedkitError, match="no strong metadata"):
        SourcePool.from_strong_dir(tmp_path, "train")


def test_extra_background_for_weak_clips(tmp_path, bank):
    root = tmp_path / "weak"
    (root / "audio" / "train").mkdir(parents=True)
    (root / "metadata").mkdir()
    rows = ["filename\tevent_labels"]
    for i in range(4):
        sf.write(root / "audio" / "train" / f"w{i}.wav", tone(SR, 2.0, 300 + 100 * i, seed=i), SR)
        rows.append(f"w{i}.wav\t{'dog,bell' if i % 2 else 'hum'}")
    (root / "metadata" / "train.tsv").write_text("\n".join(rows) + "\n")
    bgs = SourcePool.from_soundbank(bank, "train")
    ds1 = ExtraBackgroundDataset(small_spec(**{"extra_background.p": 1.0}), root, "train", bgs, seed=1)
    ds0 = ExtraBackgroundDataset(small_spec(**{"extra_background.p": 0.0}), root, "train", bgs, seed=1)
    assert ds1.classes == ["bell", "dog", "hum"]
    for i in range(4):
        a, b = ds1[i], ds0[i]
        assert a["extra_background"] is not None and b["extra_background"] is None
        assert not torch.equal(a["audio"], b["audio"]) and a["audio"].shape == b["audio"].shape
        assert torch.equal(a["labels"], b["labels"])
        assert torch.equal(a["audio"], ds1[i]["audio"])      # keyed by (seed, epoch, index)
    np.testing.assert_array_equal(ds1[1]["labels"].numpy(), [1, 1, 0])
    half = ExtraBackgroundDataset(small_spec(), root, "train", bgs, seed=2)
    n = sum(half[i]["extra_background"] is not None for i in range(4))
    assert 0 <= n <= 4
