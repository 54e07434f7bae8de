"""Feature-domain augmentation: Gaussian noise at a drawn SNR and SpecAugment masks, seeded by a torch.Generator."""
from __future__ import annotations

import pytest
import torch

from sedkit import SedkitError
from sedkit.synth.dynamic.features import add_noise_snr, augment_features, feature_generator, mask_axis
from sedkit.synth.dynamic.spec import load_dynamic_spec


def test_noise_is_added_at_the_requested_snr():
    x = torch.randn(4, 64, 500, generator=torch.Generator().manual_seed(0)) + 3.0
    y = add_noise_snr(x, (10.0, 10.0), feature_generator(0, 0, 0))
    for i in range(4):
        snr = 10 * torch.log10(x[i].pow(2).mean() / (y[i] - x[i]).pow(2).mean())
        assert float(snr) == pytest.approx(10.0, abs=0.1)
    assert torch.equal(add_noise_snr(x, (10.0, 10.0), feature_generator(0, 0, 0), p=0.0), x)


def test_masks_cover_whole_bands_and_are_reproducible():
    x = torch.ones(3, 40, 100)
    g1, g2 = feature_generator(1, 2, 3), feature_generator(1, 2, 3)
    y = mask_axis(x, 2, 10, -1, g1, value=0.0)
    assert torch.equal(y, mask_axis(x, 2, 10, -1, g2, value=0.0))
    for i in range(3):
        cols = (y[i] == 0).all(dim=0)                 # masked frames are masked in every bin
        assert int(cols.sum()) <= 20
        assert torch.equal((y[i] == 0).any(dim=0), cols)
    f = mask_axis(x, 1, 8, -2, feature_generator(0, 0, 1), value=-1.0)
    rows = (f == -1).all(dim=-1)
    assert torch.equal((f == -1).any(dim=-1), rows) and int(rows.sum(dim=1).max()) <= 8
    assert not torch.equal(y, mask_axis(x, 2, 10, -1, feature_generator(1, 2, 4)))


def test_augment_features_with_the_spec_and_its_validation():
    spec = load_dynamic_spec().features
    x = torch.rand(2, 64, 200)
    y = augment_features(x, spec, feature_generator(0, 0, 0))
    assert y.shape == x.shape and not torch.equal(x, y)
    assert torch.equal(y, augment_features(x, spec, feature_generator(0, 0, 0)))
    with pytest.raises(SedkitError, match="features.snr_db"):
        load_dynamic_spec(overrides={"features.snr_db": ["normal", 0, 1]})
