"""The recorded-like channel of the built-in bank (the domain-gap dial)."""
from __future__ import annotations

import numpy as np
import pytest

from sedkit import SedkitError
from sedkit.synth.builtin import events
from sedkit.synth.builtin.channel import render_channel
from sedkit.synth.rng import item_rng

SR = 16000


@pytest.fixture(scope="module")
def dry() -> np.ndarray:
    rng = item_rng(0, "test", 0)
    group = events.group_params(rng, events.FAMILIES["Speech"][0], (-30, -20))
    return events.render_file(rng, events.FAMILIES["Speech"][1], int(1.5 * SR), SR, group)


def test_channel_strength_zero_is_identity(dry):
    out = render_channel(dry, SR, np.random.default_rng(1), 0)
    assert out.dtype == np.float32 and np.array_equal(out, dry) and out is not dry


def test_channel_is_deterministic_and_keeps_length(dry):
    a = render_channel(dry, SR, item_rng(5, "chan", 1), 2.0)
    b = render_channel(dry, SR, item_rng(5, "chan", 1), 2.0)
    c = render_channel(dry, SR, item_rng(5, "chan", 2), 2.0)
    assert a.tobytes() == b.tobytes()
    assert not np.array_equal(a, c)
    assert len(a) == len(dry) and a.dtype == np.float32 and np.isfinite(a).all()
    rms = lambda x: float(np.sqrt(np.mean(x.astype(float) ** 2)))  # noqa: E731
    assert abs(20 * np.log10(rms(a) / rms(dry))) < 1.0  # level kept


def test_channel_gets_stronger_with_strength(dry):
    def distance(s):
        d = [np.mean((render_channel(dry, SR, item_rng(0, "chan", k), s) - dry) ** 2) for k in range(4)]
        return float(np.mean(d) / np.mean(dry.astype(float) ** 2))

    d1, d3 = distance(1.0), distance(3.0)
    assert 0 < d1 < d3


def test_channel_rejects_bad_input(dry):
    with pytest.raises(SedkitError, match="strength"):
        render_channel(dry, SR, np.random.default_rng(0), -1)
    with pytest.raises(SedkitError, match="mono"):
        render_channel(np.stack([dry, dry], 1), SR, np.random.default_rng(0), 1)


def test_channel_compressor_is_the_shared_curve_at_full_scale():
    """The built-in channel's compressor applies sedkit's one compression curve (the dynamic mixing's), threshold
    relative to full scale: a steady tone at L dBFS over a threshold T leaves at L - (L - T)(1 - 1/R)."""
    from sedkit.synth.builtin.channel import compress
    from sedkit.synth.dynamic.transforms import Compressor, compressor_gain_db

    t = np.arange(SR * 2) / SR
    x = 0.5 * np.sin(2 * np.pi * 440 * t)  # RMS level 20 log10(0.5 / sqrt 2) = -9.03 dBFS
    level = 20 * np.log10(0.5 / np.sqrt(2))
    for thr, ratio in ((-20.0, 2.0), (-30.0, 4.0), (0.0, 3.0)):
        y = compress(x, SR, thr, ratio)[SR:]  # after the envelope has settled
        want = level - max(level - thr, 0) * (1 - 1 / ratio)
        assert abs(20 * np.log10(np.sqrt(np.mean(y ** 2))) - want) < 0.2
    # the dynamic Compressor draws its threshold relative to the peak and uses the same curve
    env = np.full(4, 0.125)
    assert np.allclose(compressor_gain_db(np, env, 1.0, -20.0, 2.0), -(10 * np.log10(0.125) + 20) / 2)
    y = Compressor.render(x.astype(np.float32), SR, threshold_db=-10.0, ratio=2.0, window=SR // 10)
    steady = 20 * np.log10(np.sqrt(np.mean(y[SR:].astype(float) ** 2)))
    thr_abs = 20 * np.log10(0.5) - 10.0
    assert abs(steady - (level - (level - thr_abs) / 2)) < 0.2
