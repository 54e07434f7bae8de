"""CRNN shapes and losses, gradient reversal, domain classifiers, the pseudo-label rule, S/W/U batching."""
import numpy as np
import pytest
import torch

from sedkit.baselines.losses import bce, sed_bce
from sedkit.baselines.models.crnn import CRNN
from sedkit.baselines.models.frontends import build_frontend
from sedkit.baselines.models.domain import DomainClassifier, grad_reverse
from sedkit.baselines.data.sed import MixedBatchSampler, MixedDataset, n_out_frames
from sedkit.synth.contract import frame_targets
from sedkit.baselines.models.sed import SEDModelSpec
from sedkit.baselines.strategies.sed import ramp
from sedkit.baselines.strategies.tri_training import agreement, pseudo_labels, weight_similarity
from sedkit.specs import builtin_spec_path, load_spec, read_yaml


@pytest.mark.parametrize("alpha", [1.0, 0.3])
def test_gradient_reversal_flips_sign_and_scales_by_alpha(alpha):
    x = torch.randn(3, 5, requires_grad=True)
    w = torch.randn(3, 5)
    y = grad_reverse(x, alpha)
    assert torch.equal(y, x)  # identity forward
    (y * w).sum().backward()
    assert torch.allclose(x.grad, -alpha * w)
    # through a network: the extractor gets -alpha times the gradient it would get without reversal
    lin = torch.nn.Linear(5, 1)
    x1 = torch.randn(4, 5, requires_grad=True)
    lin(x1).sum().backward()
    plain = x1.grad.clone()
    x1.grad = None
    lin(grad_reverse(x1, alpha)).sum().backward()
    assert torch.allclose(x1.grad, -alpha * plain)


def test_domain_classifier_whole_and_time():
    feats = torch.randn(4, 7, 16)
    dom = torch.tensor([1.0, 1.0, 0.0, 0.0])
    whole, time = DomainClassifier(16, 8, "whole"), DomainClassifier(16, 8, "time")
    pw, pt = whole(feats), time(feats)
    assert pw.shape == (4,) and pt.shape == (4, 7)
    assert torch.equal(whole.targets(pw, dom), dom)
    assert torch.equal(time.targets(pt, dom), dom[:, None].expand(4, 7))
    with pytest.raises(ValueError):
        DomainClassifier(16, 8, "clip")


def _shapes(model, spec, seconds):
    fe = build_frontend(spec.frontend)
    net = CRNN(spec.net, 10, spec.frontend.n_mels, fe.channels).eval()
    with torch.no_grad():
        out = net(fe(torch.randn(1, int(seconds * spec.frontend.sr)) * 0.1))
    return out, fe


@pytest.mark.parametrize("model,frames", [("crnn", 156), ("crnn-park", 160)])
def test_reference_and_park_configurations(model, frames):
    spec = load_spec(SEDModelSpec, data=read_yaml(builtin_spec_path(f"models/{model}")))
    assert spec.net.filters == [16, 32, 64, 128, 128, 128, 128] and spec.net.rnn_layers == 2
    assert spec.frontend.n_mels == 128 and spec.frontend.n_fft == 2048
    assert (spec.frontend.sr, spec.frontend.hop_length) == ({"crnn": 16000, "crnn-park": 22050}[model],
                                                            {"crnn": 256, "crnn-park": 345}[model])
    out, fe = _shapes(model, spec, 10.0)
    assert out["frame"].shape == (1, frames, 10) and out["clip"].shape == (1, 10)
    assert out["rnn"].shape == (1, frames, 256)
    assert n_out_frames(int(10 * spec.frontend.sr), spec.frontend.hop_length, spec.net.time_pool) == frames
    assert float(out["frame"].min()) >= 0 and float(out["frame"].max()) <= 1


def test_sed_bce_is_frame_plus_clip_on_masked_rows():
    torch.manual_seed(0)
    out = {"frame": torch.rand(3, 4, 2) * 0.98 + 0.01, "clip": torch.rand(3, 2) * 0.98 + 0.01}
    ft, ct = (torch.rand(3, 4, 2) > 0.5).float(), (torch.rand(3, 2) > 0.5).float()
    strong, weak = torch.tensor([True, False, False]), torch.tensor([True, True, False])
    want = torch.nn.functional.binary_cross_entropy(out["frame"][:1], ft[:1]) + \
        torch.nn.functional.binary_cross_entropy(out["clip"][:2], ct[:2])
    assert torch.allclose(sed_bce(out, ft, strong, ct, weak), want)
    assert float(sed_bce(out, ft, torch.zeros(3, dtype=torch.bool), ct, torch.zeros(3, dtype=torch.bool))) == 0.0
    m = torch.zeros(3, 2)
    m[0, 1] = 1
    assert torch.allclose(bce(out["clip"], ct, m), torch.nn.functional.binary_cross_entropy(out["clip"][0, 1], ct[0, 1]))


def test_pseudo_label_rule_on_hand_made_posteriors():
    # one clip, 4 frames, 3 classes; labelers F1 and F2
    f1 = torch.tensor([[[0.9, 0.2, 0.6], [0.8, 0.1, 0.7], [0.3, 0.6, 0.2], [0.1, 0.2, 0.1]]])
    f2 = torch.tensor([[[0.7, 0.3, 0.4], [0.6, 0.6, 0.2], [0.2, 0.1, 0.3], [0.4, 0.1, 0.2]]])
    lab, keep = agreement(f1, f2)
    assert lab[0, :, 0].tolist() == [True, True, False, False] and keep[0, :, 0].all()
    assert keep[0, :, 1].tolist() == [True, False, False, True]  # disagreements at frames 1 and 2
    # confidence 0.75: both need p >= 0.75 or p <= 0.25
    _, keep75 = agreement(f1, f2, confidence=0.75)
    assert keep75[0, :, 0].tolist() == [False, False, False, False]
    assert keep75[0, :, 1].tolist() == [False, False, False, True]  # 0.3 at frame 0 is not confident

    c1, c2 = torch.tensor([[0.9, 0.4, 0.7]]), torch.tensor([[0.8, 0.3, 0.2]])
    u = pseudo_labels(f1, f2, c1, c2)  # unlabelled clip
    assert u["clip"][0].tolist() == [True, False, False] and u["clip_mask"][0].tolist() == [True, True, False]
    # class 0 present at clip level: frames from agreement
    assert u["frame"][0, :, 0].tolist() == [True, True, False, False] and u["frame_mask"][0, :, 0].all()
    # class 1 agreed absent at clip level: every frame labelled 0 and kept (frame disagreements overridden)
    assert not u["frame"][0, :, 1].any() and u["frame_mask"][0, :, 1].all()
    # class 2 clip label unknown: frame agreement as is (frames 0, 1 disagree)
    assert u["frame_mask"][0, :, 2].tolist() == [False, False, True, True] and not u["frame"][0, :, 2].any()

    w = pseudo_labels(f1, f2, c1, c2, weak=torch.tensor([[0.0, 1.0, 1.0]]))  # weakly labelled clip
    assert w["clip"][0].tolist() == [False, True, True] and w["clip_mask"][0].all()  # the weak labels themselves
    assert not w["frame"][0, :, 0].any() and w["frame_mask"][0, :, 0].all()  # weak says absent: all frames 0
    # weak says present but no agreed positive frame: the class's frames are masked out, never all-negative
    assert not w["frame_mask"][0, :, 1].any() and not w["frame_mask"][0, :, 2].any()


def test_weight_similarity_regulariser():
    a = torch.randn(4, 6)
    assert torch.allclose(weight_similarity(a, 3 * a), torch.tensor(1.0))
    assert torch.allclose(weight_similarity(a, -a), torch.tensor(1.0))
    b = torch.zeros(4, 6)
    b[0, 0], a2 = 1.0, torch.zeros(4, 6)
    a2[1, 1] = 2.0
    assert float(weight_similarity(a2, b)) == 0.0


def test_ramp():
    assert ramp(0, 100) == pytest.approx(np.exp(-5)) and ramp(100, 100) == 1.0 and ramp(500, 100) == 1.0
    assert ramp(3, 0) == 1.0


def test_frame_targets_on_output_grid():
    y = frame_targets([(0.10, 0.30, "b"), (0.0, 5.0, "a")], ["a", "b"], n_frames=10, hop_s=0.064)
    assert y[:, 0].sum() == 10  # clipped to the clip
    assert np.flatnonzero(y[:, 1]).tolist() == [1, 2, 3, 4]  # floor(0.1/0.064)=1 .. ceil(0.3/0.064)=5 exclusive


class _Role(torch.utils.data.Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return i


def test_mixed_batches_follow_the_configured_composition_and_seed():
    ds = MixedDataset({"synthetic": _Role(10), "weak": _Role(3), "unlabel": _Role(7)})
    s = MixedBatchSampler(ds, {"synthetic": 4, "weak": 2, "unlabel": 3}, seed=5)
    batches = list(s)
    assert len(batches) == len(s) == 3  # ceil(10 / 4): one pass over S
    for b in batches:
        assert len(b) == 9
        assert all(0 <= g < 10 for g in b[:4]) and all(10 <= g < 13 for g in b[4:6])
        assert all(13 <= g < 20 for g in b[6:])
    s_ids = [g for b in batches for g in b[:4]]
    assert sorted(s_ids[:10]) == list(range(10))  # S drawn without replacement within a pass
    assert batches == list(MixedBatchSampler(ds, {"synthetic": 4, "weak": 2, "unlabel": 3}, seed=5))
    assert batches != list(s)  # the generator moves on: the next epoch is reshuffled


def test_ema_update_of_the_teacher():
    from sedkit.baselines.strategies.sed import ema_update

    student, teacher = torch.nn.BatchNorm1d(3), torch.nn.BatchNorm1d(3)
    with torch.no_grad():
        student.weight.fill_(1.0)
        teacher.weight.fill_(0.0)
        student.running_mean.fill_(2.0)
    ema_update(teacher, student, 0.9)
    assert torch.allclose(teacher.weight, torch.full((3,), 0.1))  # 0.9 * 0 + 0.1 * 1
    assert torch.equal(teacher.running_mean, student.running_mean)  # buffers copied
    ema_update(teacher, student, 0.0)  # step 0 of the DCASE ramp min(1 - 1/(step+1), 0.999) copies the student
    assert torch.equal(teacher.weight, student.weight)
