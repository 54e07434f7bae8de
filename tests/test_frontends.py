"""Front-ends: log-mel against librosa, PCEN against librosa.pcen and scipy's lfilter, trainable and parallel PCEN,
multi-scale mel, normalisation, the papers' front ends (specs/frontends/)."""
from __future__ import annotations

import librosa
import numpy as np
import pytest
import scipy.signal
import torch

from sedkit import SedkitError
from sedkit.baselines.models.frontends import (FrontendSpec, build_frontend, librosa_logmel, mel_filters, smooth,
                                              smoothing_coef)


def noise(n: int, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(n) * 0.1).astype(np.float32)


@pytest.mark.parametrize("preset", ["turpault", "deshmukh"])
def test_logmel_matches_librosa(preset):
    spec = FrontendSpec(extends=f"frontends/{preset}", norm="none", stage_dtype="float32")
    y = noise(spec.sr)
    ours = build_frontend(spec)(torch.from_numpy(y)[None])[0, 0].numpy()
    ref = librosa_logmel(y, spec)
    assert ours.shape == ref.shape
    assert np.abs(ours - ref).max() < 1e-3  # dB, float32 vs float32 spectra
    # the default stage_dtype rounds the stage (here the log-mel) to float16: at most half a float16 step off
    half = build_frontend(FrontendSpec(extends=f"frontends/{preset}", norm="none"))(torch.from_numpy(y)[None])
    err = np.abs(half[0, 0].numpy() - ours)
    assert 0 < err.max() and np.all(err <= np.abs(ours) * 2.0 ** -11 + 1e-6)


@pytest.mark.parametrize("sr,n_fft,n_mels,fmin,fmax", [(16000, 2048, 128, 0, None), (16000, 512, 64, 125, 7500),
                                                       (44100, 4096, 128, 0, None), (32000, 2048, 64, 0, None)])
def test_mel_filters_equal_librosa(sr, n_fft, n_mels, fmin, fmax):
    ref = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    assert np.array_equal(mel_filters(sr, n_fft, n_mels, fmin, fmax), ref)


@pytest.mark.parametrize("preset", ["turpault", "kumar", "pcen1", "pcen_trainable", "ppcen_logmel", "ppcen_mel"])
def test_forward_is_finish_of_stage(preset):
    """What the feature cache relies on: features from a stored stage equal features from the audio, and a clip's
    stage does not depend on the batch it is computed in."""
    fe = build_frontend(FrontendSpec(extends=f"frontends/{preset}"))
    x = torch.from_numpy(np.stack([noise(fe.spec.sr, seed) for seed in range(3)]))
    st = fe.stage(x)
    assert st.shape[:2] == (3, fe.n_scales) and st.shape[2] == fe.n_frames(x.shape[1])
    assert torch.equal(st, st.half().float())  # float16 values
    assert torch.equal(fe(x), fe(st.half()))
    assert torch.equal(torch.cat([fe.stage(x[k:k + 1]) for k in range(3)]), st)
    assert fe.whole_stage == (preset in ("turpault", "kumar", "pcen1"))


def test_paper_configurations():
    t = FrontendSpec(extends="frontends/turpault")
    assert (t.sr, t.win_length, t.hop_length, t.n_mels) == (16000, 400, 160, 64)  # 25 ms / 10 ms / 64
    k = FrontendSpec(extends="frontends/kumar")
    assert (k.sr, k.scales, k.hop_length, k.n_mels) == (44100, [1024, 512, 2048, 4096], 512, 128)
    d = FrontendSpec(extends="frontends/deshmukh")
    assert (d.n_fft, d.hop_length, d.n_mels) == (2048, 1024, 64)
    # Cornell et al. Table 1
    p1, p2, p3 = (FrontendSpec(extends=f"frontends/pcen{i}").pcen for i in (1, 2, 3))
    assert (p1.eps, p1.alpha, p1.delta, p1.time_constant) == (1e-6, 0.98, 2.0, 0.4)
    assert (p2.alpha, p2.time_constant) == (0.8, 0.4) and (p3.alpha, p3.time_constant) == (0.8, 0.06)
    assert FrontendSpec(extends="frontends/pcen_trainable").pcen.trainable
    pp = FrontendSpec(extends="frontends/ppcen_logmel")
    assert (pp.compression, pp.pcen_input, pp.ppcen.layers, pp.ppcen.smoothers) == ("ppcen", "logmel", 2,
                                                                                     [0.015, 0.25])
    assert FrontendSpec(extends="frontends/ppcen_mel").pcen_input == "mel"
    # a key given beside `extends` wins over the file's
    assert FrontendSpec(extends="frontends/pcen1", n_mels=32, pcen={"alpha": 0.5}).pcen.delta == 2.0
    with pytest.raises(SedkitError, match="no built-in spec"):
        FrontendSpec(extends="frontends/nosuch")


def test_smoother_is_exactly_a_first_order_iir():
    x = np.random.default_rng(1).random((300, 5))
    for s in (0.015, 0.25):
        zi = scipy.signal.lfilter_zi([s], [1, s - 1])[:, None] * x[:1]
        ref, _ = scipy.signal.lfilter([s], [1, s - 1], x, axis=0, zi=zi)
        ours = smooth(torch.from_numpy(x)[None], s)[0].numpy()
        np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-12)


def test_fixed_pcen_matches_librosa():
    spec = FrontendSpec(sr=16000, n_fft=512, win_length=400, hop_length=160, n_mels=40, compression="pcen",
                        pcen={"alpha": 0.8, "time_constant": 0.06}, norm="none", stage_dtype="float32")
    y = noise(16000, 3)
    ours = build_frontend(spec)(torch.from_numpy(y)[None])[0, 0].numpy().T
    mel = librosa.feature.melspectrogram(y=y, sr=16000, n_fft=512, win_length=400, hop_length=160, n_mels=40,
                                         pad_mode="constant")
    b = smoothing_coef(0.06, 16000, 160)
    zi = scipy.signal.lfilter_zi([b], [1, b - 1])[0] * mel[:, :1]  # same start state: smoother at the 1st frame
    ref = librosa.pcen(mel, sr=16000, hop_length=160, gain=0.8, bias=2.0, power=0.5, time_constant=0.06, eps=1e-6,
                       zi=zi)
    np.testing.assert_allclose(ours, ref, atol=1e-4)


@pytest.mark.parametrize("preset,channels", [("pcen_trainable", 1), ("ppcen_mel", 2), ("ppcen_logmel", 2)])
def test_trainable_pcen_layers_get_gradients(preset, channels):
    spec = FrontendSpec(extends=f"frontends/{preset}", n_mels=32, n_fft=512, hop_length=128)
    fe = build_frontend(spec)
    out = fe(torch.from_numpy(noise(8000))[None].repeat(2, 1))
    assert out.shape[:2] == (2, channels) and out.shape[-1] == 32
    assert float(out.detach().min()) >= 0 and float(out.detach().max()) <= 1  # min-max normalised
    out.pow(2).mean().backward()
    params = dict(fe.named_parameters())
    assert params and all(p.grad is not None and torch.isfinite(p.grad).all() for p in params.values())
    if channels == 2:  # two layers with different (learned) mixes of the two fixed smoothers
        assert set(params) == {"compress.log_params", "compress.mix_logits"}
        assert not torch.allclose(out[:, 0], out[:, 1])


def test_fixed_pcen_has_no_parameters():
    fe = build_frontend(FrontendSpec(extends="frontends/pcen3", n_mels=32))
    assert not list(fe.parameters())


def test_multiscale_and_normalisation():
    spec = FrontendSpec(sr=8000, n_fft=1024, scales=[256, 128, 512], hop_length=64, n_mels=24, compression="log",
                        norm="zscore", stage_dtype="float32")
    fe = build_frontend(spec)
    waves = [torch.from_numpy(noise(8000, s))[None] * (s + 1) for s in range(3)]
    fe.fit_stats(waves)
    feats = torch.cat([fe(w) for w in waves])
    assert feats.shape == (3, 3, 1 + 8000 // 64, 24)
    # global z-score per (scale, band) over the data the statistics came from
    assert feats.mean(dim=(0, 2)).abs().max() < 1e-4
    assert (feats.std(dim=(0, 2), unbiased=False) - 1).abs().max() < 1e-3
    for k, n_fft in enumerate(spec.scales):  # each channel is the log-mel at that FFT size
        raw = fe.unnormalised(waves[0])[0, k].numpy()
        np.testing.assert_allclose(raw, librosa_logmel(waves[0][0].numpy(), spec, n_fft), atol=1e-3)
    mm = build_frontend(FrontendSpec(sr=8000, n_fft=256, hop_length=64, n_mels=24, compression="log", norm="minmax"))(waves[1])
    assert float(mm.min()) == 0.0 and abs(float(mm.max()) - 1.0) < 1e-6


def test_bad_frontend_specs():
    base = dict(sr=16000, n_fft=1024, hop_length=256, n_mels=64, compression="log", norm="zscore")
    with pytest.raises(ValueError, match="longer than n_fft"):
        FrontendSpec(**{**base, "n_fft": 256, "win_length": 400})
    with pytest.raises(ValueError, match="Nyquist"):
        FrontendSpec(**{**base, "sr": 8000, "fmax": 6000})
    with pytest.raises(ValueError, match="parallel PCEN"):
        FrontendSpec(**{**base, "scales": [256, 512], "compression": "ppcen"}, ppcen={})
    with pytest.raises(ValueError, match="compression: pcen needs a 'pcen' section"):
        FrontendSpec(**{**base, "compression": "pcen"})
    with pytest.raises(ValueError, match="n_mels"):  # nothing is filled in silently: a front end states its values
        FrontendSpec(**{k: v for k, v in base.items() if k != "n_mels"})
