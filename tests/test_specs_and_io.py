import numpy as np
import pytest

from sedkit import SedkitError
from sedkit.specs import Dist, Spec, load_spec, spec_hash
from sedkit.synth.io import atomic_path, atomic_write_text, safe_join
from sedkit.synth.rng import item_rng


class Toy(Spec):
    snr: Dist = Dist.model_validate(["uniform", 6, 30])
    n: int = 3


def test_dist_forms_and_sampling():
    rng = np.random.default_rng(0)
    assert Dist.model_validate(5).sample(rng) == 5
    assert 6 <= Dist.model_validate(["uniform", 6, 30]).sample(rng) <= 30
    t = Dist.model_validate(["truncnorm", 5, 2, 0.25, 10])
    xs = [t.sample(rng) for _ in range(500)]
    assert min(xs) >= 0.25 and max(xs) <= 10 and abs(np.mean(xs) - 5) < 0.3
    assert Dist.model_validate(["choose", ["a", "b"]]).sample(rng) in ("a", "b")
    assert t.to_scaper() == ("truncnorm", 5, 2, 0.25, 10)


@pytest.mark.parametrize("bad,msg", [(["uniform", 30, 6], "min (30) is greater than max (6)"),
                                     (["truncnorm", 5, -1, 0, 1], "std (-1) is negative"),
                                     (["uniform", 1], "takes 2 value"), (["gauss", 1, 2], "snr.kind")])
def test_bad_distributions_name_key_and_problem(tmp_path, bad, msg):
    p = tmp_path / "s.yaml"
    p.write_text(f"snr: {bad}\n".replace("'", ""))
    with pytest.raises(SedkitError) as e:
        load_spec(Toy, p)
    assert str(p) in str(e.value) and msg in str(e.value) and "\n" not in str(e.value)


def test_unknown_key_and_bad_yaml(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("n: 3\nsnrr: [uniform, 1, 2]\n")
    with pytest.raises(SedkitError, match=r"s.yaml: invalid spec: snrr: unknown key"):
        load_spec(Toy, p)
    p.write_text("n: [1,\n")
    with pytest.raises(SedkitError, match="not valid YAML"):
        load_spec(Toy, p)
    p.write_text("!!python/object/apply:os.system ['true']\n")  # safe_load refuses to run anything
    with pytest.raises(SedkitError):
        load_spec(Toy, p)


def test_overrides_and_hash(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("n: 3\n")
    a = load_spec(Toy, p)
    b = load_spec(Toy, p, {"n": 4, "snr": None})
    assert b.n == 4 and a.snr == b.snr
    assert spec_hash(a) != spec_hash(b) and spec_hash(a) == spec_hash(load_spec(Toy, p))


def test_item_rng_is_keyed_and_independent():
    a = item_rng(1, "train", 5).random(4)
    assert np.array_equal(a, item_rng(1, "train", 5).random(4))
    assert not np.array_equal(a, item_rng(1, "train", 6).random(4))
    assert not np.array_equal(a, item_rng(1, "eval", 5).random(4))
    assert not np.array_equal(a, item_rng(2, "train", 5).random(4))
    state = np.random.get_state()[1].copy()
    item_rng(1, "train", 5).random(10)
    assert np.array_equal(state, np.random.get_state()[1])  # global state untouched


def test_safe_join_refuses_escapes(tmp_path):
    assert safe_join(tmp_path, "a/b.wav") == (tmp_path / "a" / "b.wav").resolve()
    for bad in ("../x.wav", "/etc/passwd", "a/../../x"):
        with pytest.raises(SedkitError, match="refusing to write"):
            safe_join(tmp_path, bad)


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "f.txt"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash")
    assert list(tmp_path.iterdir()) == []
    atomic_write_text(target, "whole")
    assert target.read_text() == "whole" and [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_hist_png_handles_constant_and_float_noise_data(tmp_path):
    from sedkit.synth.card import hist_png

    noisy = 0.2 + np.array([0.0, -1e-12, 2e-12, 0.0])  # "Too many bins for data range" in numpy's own edges
    hist_png(tmp_path / "a.png", noisy, "t", "x", bins=20)
    hist_png(tmp_path / "b.png", None, "t", "x", groups={"1s": noisy, "10s": noisy / 10})
    hist_png(tmp_path / "c.png", [5.0] * 3, "t", "x")
    hist_png(tmp_path / "d.png", None, "t", "x", bins=np.arange(0.5, 5.5), groups={"train": [1, 2, 2, 3]})
    assert all((tmp_path / f).stat().st_size > 1000 for f in ("a.png", "b.png", "c.png", "d.png"))
