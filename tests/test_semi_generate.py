"""`sedkit synth semi` on a tiny bank: five splits in DESED formats, the domain-gap dial, determinism."""
from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from multievent_bank import make_bank

from sedkit.cli import root
from sedkit.specs import builtin_spec_path, load_spec, read_yaml
from sedkit.synth.contract import read_metadata
from sedkit.synth.dataset import check_dataset
from sedkit.synth.domain import family_groups, family_sides
from sedkit.synth.rng import item_rng
from sedkit.synth.scene import Pool, SceneSpec, draw_background
from sedkit.synth.semi import SemiSpec, generate
from sedkit.synth.soundbank.index import load_soundbank

GAPS = (0, 1, 2, 3)
SMALL = {"synthetic": 6, "weak": 3, "unlabel": 6, "validation": 2, "eval": 2}
PROBES = 24  # the statistic is a mean over probes: fewer are too noisy to order gaps 1 apart


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory):
    """The built-in spec with fewer small-scale clips and no pitch shift / reverb (five gap runs fit the budget)."""
    spec = read_yaml(builtin_spec_path("semi"))
    spec["small_counts"] = {**SMALL, "probes": PROBES}
    spec["scene"] = {**read_yaml(builtin_spec_path("strong"))["scene"], "pitch_shift": None, "reverb": None}
    p = tmp_path_factory.mktemp("semispec") / "semi.yaml"
    p.write_text(yaml.safe_dump(spec))
    return p


@pytest.fixture(scope="module")
def bank(tmp_path_factory):
    return make_bank(tmp_path_factory.mktemp("semibank") / "bank")


@pytest.fixture(scope="module")
def series(bank, spec_file, tmp_path_factory):
    base = tmp_path_factory.mktemp("semi")
    out = {}
    for g in GAPS:
        spec = load_spec(SemiSpec, spec_file, {"gap": g})
        out[g] = (base / f"gap{g}", generate(spec, base / f"gap{g}", seed=5, scale="small", soundbank=bank))
    return out


def test_semi_gap_statistic_moves_away_monotonically_and_is_in_the_card(series):
    values = []
    for g in GAPS:
        out, man = series[g]
        stat = json.loads((out / "domain_gap.json").read_text())
        assert stat["gap"] == g and stat == man["domain_gap"]
        assert f"**{stat['value']:.3f} dB** at gap {g}" in (out / "README.md").read_text()
        values.append(stat["value"])
    print("domain-gap statistic per gap:", dict(zip(GAPS, values)))
    assert values[0] == 0.0  # gap 0: the paired probes are identical in both domains
    assert all(b > a for a, b in zip(values, values[1:])), values
    assert stat["compared"] == "paired probe clips" and len(stat["rows"]) == 6


def test_semi_small_writes_every_split_in_desed_formats(series):
    out, man = series[2]
    kinds = {"synthetic": "strong", "weak": "weak", "unlabel": "unlabelled", "validation": "strong", "eval": "strong"}
    for split, kind in kinds.items():
        k, df = read_metadata(out / "metadata" / f"{split}.tsv")
        assert k == kind
        wavs = sorted(p.name for p in (out / "audio" / split).glob("*.wav"))
        assert len(wavs) == SMALL[split] and sorted(set(df.filename)) == wavs
        durs = pd.read_csv(out / "metadata" / f"{split}_durations.tsv", sep="\t")
        assert sorted(durs.filename) == wavs and (durs.duration == 10.0).all()
    weak = pd.read_csv(out / "metadata" / "weak.tsv", sep="\t")
    hidden = pd.read_csv(out / "metadata" / "weak_strong.tsv", sep="\t")
    for r in weak.itertuples():  # weak labels are the clip-level union of the (hidden) strong ones
        assert sorted(r.event_labels.split(",")) == sorted(set(hidden[hidden.filename == r.filename].event_label))
    assert check_dataset(out) == []
    assert (out / "domain_spectra.png").stat().st_size > 1000 and (out / "example.png").is_file()
    assert all(not f.startswith(".sedkit") for f in man["files"])  # the target-domain bank stays hidden state
    assert not (out / ".sedkit" / "target").exists()  # the target-domain bank copy is removed when the run ends


def test_semi_gap_zero_uses_one_distribution_for_both_domains(series):
    out, _ = series[0]
    assert not (out / ".sedkit" / "target").exists()  # no channel: the dry bank serves both domains
    sides = family_sides(["a", "b", "c", "d", "a"])
    assert family_groups("source", 0, sides) == family_groups("target", 0, sides)
    assert family_groups("source", 3, sides).weights == (2.0, 0.0)  # gap 3: disjoint families
    assert family_groups("target", 3, sides).weights == (0.0, 2.0)


def test_background_draws_are_coupled_across_domains(bank):
    """Same stream, shifted weights: the file changes only where the draw moves to the other group."""
    b = load_soundbank(bank)
    sides = family_sides(list(b.backgrounds().label))
    changed = []
    for gap in (0, 1, 2, 3):
        src, tgt = (Pool.from_bank(b, "train", family_groups(d, gap, sides)) for d in ("source", "target"))
        spec = SceneSpec.model_validate({"extends": "strong#scene"})
        pairs = [(draw_background(spec, src, item_rng(0, "t", i)), draw_background(spec, tgt, item_rng(0, "t", i)))
                 for i in range(200)]
        changed.append({i for i, (x, y) in enumerate(pairs) if x != y})
        fam = [(x["label"] in sides[0], y["label"] in sides[0]) for x, y in pairs]
        assert all(x == y or (sx and not sy) for (x, y), (sx, sy) in zip(pairs, fam))
    assert changed[0] == set() and changed[0] <= changed[1] <= changed[2] <= changed[3] and len(changed[3]) == 200


def test_semi_cli_workers_two_is_byte_identical(series, bank, spec_file, tmp_path):
    r = CliRunner().invoke(root, ["synth", "semi", "--scale", "small", "--gap", "2", "--seed", "5", "--workers", "2",
                                  "--spec", str(spec_file), "--soundbank", str(bank), "--out", str(tmp_path / "w2")])
    assert r.exit_code == 0, r.output
    assert "domain gap 2: mean log-mel distance" in r.output
    assert json.loads((tmp_path / "w2" / "manifest.json").read_text())["files"] == series[2][1]["files"]
    r = CliRunner().invoke(root, ["synth", "semi", "--gap", "4", "--soundbank", str(bank),
                                  "--out", str(tmp_path / "x")])
    assert r.exit_code == 2 and "gap" in r.output and "Traceback" not in r.output


def test_scene_keys_override_the_strong_recipe():
    recipe = read_yaml(builtin_spec_path("strong"))["scene"]
    spec = load_spec(SemiSpec, data={"scene": {"duration": 5.0}})
    assert spec.scene.duration == 5.0 and recipe["duration"] != 5.0
    assert spec.scene.model_dump() == load_spec(SemiSpec, data={"scene": {**recipe, "duration": 5.0}}).scene.model_dump()
    assert load_spec(SemiSpec, data={}).scene.duration == recipe["duration"]
