"""Every tagging model: forward and backward on tiny variable-length inputs; the WLER == slid-SLAT equivalence;
pooling heads; the centroid metric; the tagging metrics."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score

from sedkit.baselines.models.frontends import FrontendSpec, build_frontend
from sedkit.baselines.models.attention import (AttentionPooling, DeshmukhModel, DeshmukhSpec, GlobalPooling,
                                               TwoStepAttention, gwrp)
from sedkit.baselines.evaluation.tagging import F1_TIE_BREAK, f1_then_map, tagging_metrics
from sedkit.baselines.strategies.tagging import centroid_accuracy
from sedkit.baselines.trainer import torch_threads
from sedkit.baselines.models.embedding import Classifier, EmbeddingCNN, NetSpec, TurpaultModel
from sedkit.baselines.models.multiscale import KumarModel, KumarNet, KumarNetSpec, segment_frames, slide, wler_state_from_slat

SR = 8000


@pytest.fixture(autouse=True)
def _one_thread():
    with torch_threads(1):  # tiny models on a busy machine
        yield

LENGTHS = [3000, 8000, 13000]  # 0.375 s (shorter than one segment / window), 1 s, 1.6 s


def batch_of(lengths, seed=0):
    g = torch.Generator().manual_seed(seed)
    audio = torch.zeros(len(lengths), max(lengths))
    for k, n in enumerate(lengths):
        audio[k, :n] = torch.randn(n, generator=g) * 0.1
    return audio, torch.tensor(lengths)


def check_forward_backward(model, n_classes, keys=("clip",)):
    for lengths in ([LENGTHS[0]], LENGTHS):
        audio, n = batch_of(lengths)
        out = model(audio, n)
        for k in keys:
            assert out[k].shape[0] == len(lengths)
        clip = out["clip"]
        assert clip.shape == (len(lengths), n_classes) and bool(((clip >= 0) & (clip <= 1)).all())
        model.zero_grad()
        loss = clip.sum() + sum(out[k].float().pow(2).mean() for k in ("recon",) if k in out)
        loss.backward()
        grads = [p.grad for p in model.parameters() if p.requires_grad]
        assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
    return out


def turpault_model(frozen=False):
    fe = build_frontend(FrontendSpec(sr=SR, n_fft=256, hop_length=80, n_mels=24, compression="log", norm="zscore"))
    net = NetSpec(channels=[4, 4, 4, 130])
    emb = EmbeddingCNN(net)
    return TurpaultModel(fe, emb, Classifier(emb.dim, net.hidden, 3), net.window_s, frozen=frozen)


def test_turpault_embedding_is_130d_whatever_the_length():
    model = turpault_model()
    out = check_forward_backward(model, 3, keys=("clip", "embedding"))
    assert out["embedding"].shape == (3, 130)
    # padding does not change a clip's embedding: windows past its end are left out of the average
    audio, n = batch_of(LENGTHS)
    model.eval()
    alone = model(audio[1:2, :LENGTHS[1]], n[1:2])["embedding"]
    torch.testing.assert_close(model(audio, n)["embedding"][1:2], alone, rtol=1e-5, atol=1e-6)


def test_turpault_frozen_embedding_trains_only_g():
    model = turpault_model(frozen=True)
    names = {id(p) for p in model.trainable_parameters()}
    assert names == {id(p) for p in model.head.parameters()}
    model.train()
    assert not model.embed.training and model.head.training


def test_turpault_frozen_embeddings_are_cached_until_e_changes():
    model = turpault_model(frozen=True)
    model.train()
    calls = []
    model.embed.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    audio, n = batch_of(LENGTHS)
    first = model(audio, n)["embedding"]
    assert calls  # computed once
    calls.clear()
    # the same clips again, in another order and padded differently: no E forward, same embeddings
    again = model(audio[[2, 0]], n[[2, 0]])["embedding"]
    alone = model(audio[1:2, :LENGTHS[1]], n[1:2])["embedding"]
    assert not calls
    torch.testing.assert_close(again, first[[2, 0]])
    torch.testing.assert_close(alone, first[1:2])
    # G still trains through the cached embeddings
    model.head.zero_grad()
    model(audio, n)["clip"].sum().backward()
    assert all(p.grad is not None for p in model.head.parameters())
    # new E weights (a checkpoint loaded) drop the cache: the embeddings follow E
    state = {k: v + 0.1 if k.startswith("embed.") else v for k, v in model.state_dict().items()}
    model.load_state_dict(state)
    fresh = model(audio, n)["embedding"]
    assert calls and not torch.allclose(fresh, first)
    model.frozen = False
    torch.testing.assert_close(model(audio, n)["embedding"], fresh, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("fully_conv", [True, False])
def test_kumar_models_forward_backward(fully_conv):
    fe = build_frontend(FrontendSpec(sr=SR, n_fft=1024, scales=[256, 128, 512], hop_length=64, n_mels=24,
                                     compression="log", norm="zscore"))
    net = KumarNet(KumarNetSpec(channels=[4, 4, 8], fc_channels=8), 24, 3, fully_conv=fully_conv)
    model = KumarModel(fe, net, slat_train_hop=16)
    out = check_forward_backward(model, 3, keys=("clip", "frame", "clip_per_view"))
    assert out["clip_per_view"].shape == (3, 3, 3)  # one view per FFT size; clip = their mean
    torch.testing.assert_close(out["clip"], out["clip_per_view"].mean(1))
    probs, owner = model.segments(*batch_of(LENGTHS))
    assert probs.shape == (len(owner), 3) and set(owner.tolist()) == {0, 1, 2}
    # a clip shorter than one segment still yields one segment per scale
    assert int((owner == 0).sum()) == 3


def test_kumar_he_init_keeps_the_signal_through_five_relu_blocks():
    """torch's default init shrinks the activations ~2.4x per block, so the 5-block net's outputs barely depend
    on its input (it sits at the class prior for epochs); He init keeps their scale."""
    x = torch.randn(4, 1, 313, 64, generator=torch.Generator().manual_seed(0))
    scale = {}
    for init in ("torch", "he"):
        torch.manual_seed(0)
        net = KumarNet(KumarNetSpec(channels=[16, 16, 32, 32, 32], fc_channels=32, dropout=0.0, init=init), 64,
                       10, fully_conv=True)
        scale[init] = float(net.stack(x).std())
        if init == "he":
            assert all(float(m.bias.abs().max()) == 0 for m in net.modules() if isinstance(m, torch.nn.Conv2d))
    assert KumarNetSpec().init == "torch"  # the paper-scale default is unchanged
    assert scale["torch"] < 0.1 < 0.5 < scale["he"]


def test_paper_wler_shapes():
    """The paper's example: 1280 frames x 128 mels -> 37 segments (window 128, hop 32)."""
    spec = KumarNetSpec(channels=[2, 2, 2, 2, 2], fc_channels=4)
    net = KumarNet(spec, 128, 10, fully_conv=True).eval()
    assert net.segment == 128 and net.hop == 32
    assert net(torch.zeros(1, 1, 1280, 128)).shape == (1, 37, 10)
    assert segment_frames(spec.model_copy(update={"time_padding": "valid"})) == 190


@pytest.mark.parametrize("frames", [190, 400, 1001])
def test_wler_equals_slat_slid_at_hop_32(frames):
    """Kumar & Raj sec. II-C: N_T on a whole recording == N_S on 128-frame windows moved by 32 frames, when the
    FC layers are turned into convolutions with the same weights (exact without time padding)."""
    torch.manual_seed(0)
    spec = KumarNetSpec(channels=[4, 4, 4, 8, 8], fc_channels=16, time_padding="valid")
    slat = KumarNet(spec, 32, 5, fully_conv=False).eval()
    wler = KumarNet(spec, 32, 5, fully_conv=True).eval()
    wler.load_state_dict(wler_state_from_slat(slat.state_dict(), wler))
    x = torch.randn(2, 1, frames, 32)
    with torch.no_grad():
        a, b = wler(x), slide(slat, x, 32)
    assert a.shape == b.shape == (2, (frames - 190) // 32 + 1, 5)
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    # with the paper's padding (128-frame windows) the two agree up to border effects only
    spec_same = spec.model_copy(update={"time_padding": "same"})
    slat2 = KumarNet(spec_same, 32, 5, fully_conv=False).eval()
    wler2 = KumarNet(spec_same, 32, 5, fully_conv=True).eval()
    wler2.load_state_dict(wler_state_from_slat(slat2.state_dict(), wler2))
    with torch.no_grad():
        c, d = wler2(x), slide(slat2, x, 32)
    assert c.shape == d.shape and float((c - d).abs().max()) < 0.05


def deshmukh(pooling, **kw):
    spec = DeshmukhSpec(extends="models/gap", pooling=pooling,
                        frontend={"extends": "frontends/deshmukh", "sr": SR, "n_fft": 512, "hop_length": 256, "n_mels": 16},
                        encoder={"channels": [4, 8], **kw.pop("encoder", {})}, **kw)
    return DeshmukhModel(build_frontend(spec.frontend), spec, 4)


@pytest.mark.parametrize("pooling,kw", [("gap", {}), ("gmp", {}), ("gwrp", {}),
                                        ("ap", {"encoder": {"dilations": [1, 2]}}), ("2ap", {}),
                                        ("2ap", {"aux_decoder": True}),
                                        ("2ap", {"aux_decoder": True, "encoder": {"pool_stride": [2, 2]}})])
def test_deshmukh_models_forward_backward(pooling, kw):
    model = deshmukh(pooling, **kw)
    out = check_forward_backward(model, 4, keys=("clip", "frame", "features"))
    assert out["frame"].shape[-1] == 4 and bool(((out["frame"] >= 0) & (out["frame"] <= 1)).all())
    if kw.get("aux_decoder"):
        assert out["recon"].shape == out["features"].shape
    if pooling == "2ap":
        f = out["att_freq"]  # softmax over frequency of sigmoid-squashed logits: sums to 1, bounded ratio
        torch.testing.assert_close(f.sum(-1), torch.ones_like(f.sum(-1)))
        assert float((f.amax(-1) / f.amin(-1)).max().detach()) <= np.e + 1e-4
        torch.testing.assert_close(out["att_time"].sum(-1), torch.ones(3, 4))


def test_deshmukh_convolutions_run_channels_last_and_compute_what_the_default_layout_does(tmp_path):
    from sedkit.benchmarks.conv_layout import default_layout
    torch.manual_seed(0)
    model = deshmukh("2ap", aux_decoder=True, encoder={"pool_stride": [2, 2]}).eval()

    def convs(m):  # the encoder's and decoder's 3x3 convolutions (1-channel inputs, 1x1 kernels: no layout to tell)
        return [c for part in (m.encoder, m.decoder) for c in part.modules()
                if isinstance(c, torch.nn.Conv2d) and c.in_channels > 1 and c.kernel_size != (1, 1)]

    def channels_last(c):
        return c.weight.is_contiguous(memory_format=torch.channels_last) and not c.weight.is_contiguous()

    plain = default_layout(model)
    assert convs(model) and all(channels_last(c) for c in convs(model))
    assert not any(channels_last(c) for c in convs(plain))
    wave = torch.randn(3, SR) * 0.1
    with torch.no_grad():
        a, b = model(wave), plain(wave)
    for k in ("clip", "frame", "recon"):
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5)
    assert a["recon"].shape == a["features"].shape
    # a checkpoint of the channels-last weights loads (weights_only) into a fresh model and gives the same outputs
    torch.save(model.state_dict(), tmp_path / "m.pt")
    fresh = deshmukh("2ap", aux_decoder=True, encoder={"pool_stride": [2, 2]}).eval()
    fresh.load_state_dict(torch.load(tmp_path / "m.pt", weights_only=True))
    with torch.no_grad():
        torch.testing.assert_close(fresh(wave)["clip"], a["clip"])


def test_conv_layout_benchmark_times_both_layouts(capsys):
    from sedkit.benchmarks.conv_layout import main
    res = main(["--model", "gmp", "--batch", "2", "--seconds", "1", "--steps", "1", "--rounds", "1"])
    out = capsys.readouterr().out
    assert "sedkit (channels-last convolutions)" in out and "default layout (NCHW)" in out
    assert res["ratio"] > 0


def test_global_pooling_heads():
    z = torch.randn(2, 3, 5, 4)
    s = torch.sigmoid(z)
    torch.testing.assert_close(GlobalPooling("gmp", 0)(z)["clip"], s.amax((2, 3)))
    torch.testing.assert_close(GlobalPooling("gap", 0)(z)["clip"], s.mean((2, 3)))
    torch.testing.assert_close(gwrp(s, 1.0, (2, 3)), s.mean((2, 3)))  # decay 1 = average
    torch.testing.assert_close(gwrp(s, 0.0, (2, 3)), s.amax((2, 3)))  # decay 0 = max
    r = gwrp(s, 0.9, (2, 3))
    assert bool(((r <= s.amax((2, 3)) + 1e-6) & (r >= s.mean((2, 3)) - 1e-6)).all())
    two = TwoStepAttention(3)(z)
    assert two["clip"].shape == (2, 3) and two["frame"].shape == (2, 5, 3)


def test_attention_heads_start_as_plain_pooling_of_their_class_maps():
    z = torch.randn(2, 3, 5, 4)
    # two-step: uniform attention and identity class maps -> the sigmoid of the mean logit; frames: mean over F
    two = TwoStepAttention(3)(z)
    torch.testing.assert_close(two["clip"], torch.sigmoid(z.mean((2, 3))))
    torch.testing.assert_close(two["frame"], torch.sigmoid(z.mean(3)).transpose(1, 2))
    torch.testing.assert_close(AttentionPooling(3)(z)["clip"], torch.sigmoid(z).mean((2, 3)))  # = GAP
    # the classification maps are linear (eqs. 4 and 6): a strong frame lifts the clip above any sigmoid average
    z2 = torch.full((1, 3, 5, 4), -4.0)
    z2[0, 0, 2] = 40.0  # class 0 present in one of five frames
    with torch.no_grad():
        clip = TwoStepAttention(3)(z2)["clip"][0]
    assert float(clip[0]) > 0.99 > float(torch.sigmoid(z2[0, 0]).mean()) and float(clip[1]) < 0.05


def test_centroid_metric():
    y = torch.eye(2).repeat_interleave(2, 0)  # classes 0, 0, 1, 1
    emb = torch.tensor([[0.0, 0.0], [0.2, 0.0], [1.0, 1.0], [1.2, 1.0]])
    assert centroid_accuracy(emb, y, emb, y) == 1.0
    val = torch.tensor([[0.1, 0.0], [0.0, 0.1]])  # the second is nearer class 0 but labelled 1
    assert centroid_accuracy(emb, y, val, torch.eye(2)) == 0.5


def test_tagging_metrics_against_hand_counts():
    y = np.array([[1, 0], [0, 1], [1, 0], [0, 0]])
    s = np.array([[0.9, 0.2], [0.6, 0.7], [0.4, 0.1], [0.1, 0.8]])
    m = tagging_metrics(y, s, ["a", "b"])
    # class a: TP 1 (0.9), FP 1 (0.6), FN 1 (0.4) -> F1 0.5; class b: TP 1, FP 1 (0.8) -> F1 2/3
    assert m["f1_macro"] == pytest.approx((0.5 + 2 / 3) / 2)
    assert m["per_class"]["a"]["ap"] == pytest.approx(average_precision_score(y[:, 0], s[:, 0]))
    assert m["map"] == pytest.approx(np.mean([average_precision_score(y[:, k], s[:, k]) for k in range(2)]))
    assert m["micro_p"] == pytest.approx(average_precision_score(y, s, average="micro"))
    assert m["macro_p"] == m["map"] and 0 <= m["auc"] <= 1
    none = tagging_metrics(np.zeros((2, 1)), np.zeros((2, 1)), ["x"])
    assert np.isnan(none["map"]) and np.isnan(none["auc"])


def test_f1_selection_breaks_ties_by_ranking():
    y = np.eye(3)[[0, 1, 2, 0, 1, 2]]
    ranked = 0.1 + 0.3 * y  # every probability below 0.5: F-measure 0, but a perfect ranking
    shuffled = 0.1 + 0.3 * np.roll(y, 1, axis=1)  # F-measure 0, wrong ranking
    assert tagging_metrics(y, ranked, list("abc"))["f1_macro"] == 0.0
    assert f1_then_map(y, ranked) > f1_then_map(y, shuffled)
    # a better F-measure always wins over a better ranking
    one_hit = shuffled.copy()
    one_hit[0, 0] = 0.9
    assert f1_then_map(y, one_hit) > f1_then_map(y, ranked)
    assert f1_then_map(y, ranked) == pytest.approx(F1_TIE_BREAK, rel=1e-9)

