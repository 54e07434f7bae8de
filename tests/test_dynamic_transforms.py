"""The effect transforms: one test per class, plus the frozen audiomentations wrappers and chain draws."""
from __future__ import annotations

import random

import numpy as np
import pytest

from sedkit.synth.dynamic.chain import draw_chain, make_transform, pitch_shift
from sedkit.synth.dynamic.spec import EFFECTS, load_dynamic_spec
from sedkit.synth.dynamic.transforms import Compressor, NoiseBursts, SineBursts, TimeVaryingComb

SR = 16000
FX = load_dynamic_spec().effects


def _tone(n=SR, f=440.0, amp=0.5):
    return (amp * np.sin(2 * np.pi * f * np.arange(n) / SR)).astype(np.float32)


def test_noise_bursts_add_noise_only_inside_bursts_at_the_drawn_level():
    x = _tone()
    t = NoiseBursts(FX.noise_bursts, rng=np.random.default_rng(0))
    t.with_parameters({"start": [1000, 9000], "length": [2000, 800], "level_db": [-6.0, 0.0], "seed": [1, 2]})
    d = t(x, SR).astype(np.float64) - x
    assert np.all(d[:1000] == 0) and np.all(d[3000:9000] == 0) and np.all(d[9800:] == 0)
    ref = np.sqrt(np.mean(x.astype(np.float64) ** 2))
    mid = d[1080:2920]                              # inside the fades
    assert np.sqrt(np.mean(mid ** 2)) == pytest.approx(ref * 10 ** (-6 / 20), rel=0.1)
    assert abs(np.corrcoef(mid[:-1], mid[1:])[0, 1]) < 0.1      # white
    y1 = NoiseBursts(FX.noise_bursts, rng=np.random.default_rng(5))(x, SR)
    y2 = NoiseBursts(FX.noise_bursts, rng=np.random.default_rng(5))(x, SR)
    np.testing.assert_array_equal(y1, y2)           # same Generator state, same output


def test_sine_bursts_add_a_tone_at_the_drawn_frequency():
    x = np.zeros(SR, np.float32)
    x[::100] = 0.1                                  # a click train as the "source" (RMS reference)
    t = SineBursts(FX.sine_bursts).with_parameters(
        {"start": [4000], "length": [8000], "level_db": [0.0], "freq_hz": [1000.0], "phase": [0.0]})
    d = t(x, SR).astype(np.float64) - x
    spec = np.abs(np.fft.rfft(d[4000:12000]))
    assert np.argmax(spec) * SR / 8000 == pytest.approx(1000.0, abs=2)
    assert np.all(d[:4000] == 0) and np.all(d[12000:] == 0)
    ref = np.sqrt(np.mean(x.astype(np.float64) ** 2))
    assert np.sqrt(np.mean(d[4200:11800] ** 2)) == pytest.approx(ref, rel=0.05)


def test_time_varying_comb_is_a_modulated_feedforward_delay():
    rng = np.random.default_rng(1)
    x = rng.standard_normal(SR).astype(np.float32)
    t = TimeVaryingComb(FX.comb).with_parameters(
        {"delay_ms": 5.0, "depth_ms": 0.0, "rate_hz": 1.0, "phase": 0.0, "gain": 0.5})
    y = t(x, SR)
    np.testing.assert_allclose(y[80:], x[80:] + 0.5 * x[:-80], atol=1e-5)   # 5 ms = 80 samples, integer delay
    np.testing.assert_allclose(y[:80], x[:80], atol=1e-6)
    moving = TimeVaryingComb(FX.comb).with_parameters(
        {"delay_ms": 5.0, "depth_ms": 2.0, "rate_hz": 2.0, "phase": 0.0, "gain": 0.5})(x, SR)
    assert not np.allclose(moving, y, atol=1e-3)    # the delay moves
    drawn = TimeVaryingComb(FX.comb, rng=np.random.default_rng(0))
    drawn.randomize_parameters(x, SR)
    assert drawn.parameters["depth_ms"] < drawn.parameters["delay_ms"]


def test_compressor_reduces_loud_parts_only():
    x = np.concatenate([_tone(8000, amp=0.05), _tone(8000, amp=0.8)])
    t = Compressor(FX.compression).with_parameters({"threshold_db": -12.0, "ratio": 4.0, "window": 160})
    y = t(x, SR)
    np.testing.assert_allclose(y[:7000], x[:7000], rtol=1e-5, atol=1e-7)     # quiet part below threshold
    loud_in = np.sqrt(np.mean(x[9000:] ** 2))
    loud_out = np.sqrt(np.mean(y[9000:] ** 2))
    # envelope ~ -3 dB re peak, 9 dB over the threshold: output 9 * (1 - 1/4) = 6.75 dB lower
    assert 20 * np.log10(loud_out / loud_in) == pytest.approx(-6.75, abs=0.3)


def test_audiomentations_wrappers_never_use_global_random_state():
    x = _tone(8000)
    random.seed(123)
    np.random.seed(123)
    before = (random.getstate(), np.random.get_state()[1].copy())
    y1 = pitch_shift(x, SR, 300.0)
    lp = make_transform("low_pass", FX, {"cutoff_hz": 1000.0, "rolloff_db": 24})(x, SR)
    make_transform("high_pass", FX, {"cutoff_hz": 500.0, "rolloff_db": 12})(x, SR)
    assert random.getstate() == before[0] and np.array_equal(np.random.get_state()[1], before[1])
    f = np.argmax(np.abs(np.fft.rfft(y1 * np.hanning(len(y1))))) * SR / len(y1)
    assert f == pytest.approx(440 * 2 ** (3 / 12), rel=0.02)             # +300 cents
    assert np.sqrt(np.mean(lp[2000:] ** 2)) == pytest.approx(np.sqrt(np.mean(x[2000:] ** 2)), rel=0.05)


def test_chain_draws_without_replacement_within_bounds():
    seen = set()
    for i in range(200):
        chain = draw_chain(np.random.default_rng(i), FX, SR, SR)
        names = [n for n, _ in chain]
        assert len(names) <= 2 and len(set(names)) == len(names)
        assert set(names) <= set(EFFECTS)
        seen.add(len(names))
    assert seen == {0, 1, 2}
    assert draw_chain(np.random.default_rng(7), FX, SR, SR) == draw_chain(np.random.default_rng(7), FX, SR, SR)
