"""Label clean-up, polyphony, and the DESED-style scene draws (no audio)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from multievent_bank import make_bank

from sedkit.specs import Dist, builtin_section, builtin_spec_path, load_spec
from sedkit.synth.polyphony import clean_events, max_polyphony, polyphony_time, tsv_polyphony
from sedkit.synth.rng import item_rng
from sedkit.synth.scene import Pool, SceneSpec, annotation, draw_count, draw_labels, draw_scene
from sedkit.synth.soundbank.index import load_soundbank
from sedkit.synth.strong import StrongSpec


def test_clean_merges_close_same_class_events_then_drops_short_ones():
    ev = [(0.0, 1.0, "dog"), (1.1, 2.0, "dog"),      # gap 100 ms < 150 ms: merged
          (3.0, 4.0, "dog"), (4.2, 5.0, "dog"),      # gap 200 ms: kept apart
          (1.05, 1.2, "cat"),                         # 150 ms long: dropped
          (6.0, 6.1, "cat"), (6.2, 6.4, "cat"),       # two short pieces 100 ms apart merge to 400 ms: kept
          (7.0, 8.0, "bell"), (7.5, 9.0, "bell")]     # overlapping same class: merged
    assert clean_events(ev) == [(0.0, 2.0, "dog"), (3.0, 4.0, "dog"), (4.2, 5.0, "dog"), (6.0, 6.4, "cat"),
                                (7.0, 9.0, "bell")]


def test_polyphony_counts_overlaps_not_touching_events():
    ev = [(0, 2, "a"), (2, 3, "b"), (1, 2.5, "c"), (1.5, 1.8, "d")]
    assert max_polyphony(ev) == 3
    assert max_polyphony([(0, 1, "a"), (1, 2, "a")]) == 1
    assert max_polyphony([]) == 0
    t = polyphony_time(ev, 4.0)
    assert sum(t.values()) == pytest.approx(4.0) and t[3] == pytest.approx(0.3)
    df = pd.DataFrame({"filename": ["x", "x", "y"], "onset": [0, 0.5, 0], "offset": [1, 2, 1],
                       "event_label": ["a", "b", "a"]})
    assert tsv_polyphony(df).to_dict() == {"x": 2, "y": 1}


def test_event_counts_follow_the_truncated_normal_bounds():
    rng = np.random.default_rng(0)
    d = Dist.model_validate(["truncnorm", 2.0, 3.0, 1, 4])
    n = [draw_count(d, rng) for _ in range(2000)]
    assert min(n) == 1 and max(n) == 4 and 1.8 < np.mean(n) < 2.8


def test_cooccurrence_table_drives_the_labels():
    one = ["const", 1]
    spec = SceneSpec.model_validate({**builtin_section("strong#scene"), "classes": {  # the DESED recipe, own table
        "a": {"prob": 1.0, "n_events": one, "cooccur": {"b": 1.0, "c": 0.0}},
        "b": {"prob": 0.0, "n_events": one}, "c": {"prob": 0.0, "n_events": one}}})
    rng = np.random.default_rng(1)
    draws = [draw_labels(spec, ["a", "b", "c"], rng) for _ in range(50)]
    assert all(d[0] == "a" and "b" in d and "c" not in d for d in draws)


def test_builtin_spec_is_the_desed_2021_recipe():
    spec = load_spec(StrongSpec, builtin_spec_path("strong"))
    sc = spec.scene
    assert (spec.counts.train, spec.counts.validation) == (10000, 2500)
    assert sc.event_time.to_scaper() == ("truncnorm", 5.0, 2.0, 0.25, 10.0)
    assert sc.snr.to_scaper() == ("uniform", 6, 30) and sc.pitch_shift.to_scaper() == ("uniform", -3, 3)
    assert sc.ref_db == -50 and sc.polyphony_cap == 3 and sc.min_event_s == 0.25 and sc.merge_gap_s == 0.15
    assert len(sc.classes) == 10 and all(set(c.cooccur) <= set(sc.classes) for c in sc.classes.values())


@pytest.mark.parametrize("cap", [1, 2])
def test_polyphony_cap_holds_with_deterministic_redraws(tmp_path, cap):
    bank = load_soundbank(make_bank(tmp_path / "bank"))
    spec = load_spec(StrongSpec, builtin_spec_path("strong"), {"scene.polyphony_cap": cap}).scene
    pool = Pool.from_bank(bank, "train")
    redraws = 0
    for i in range(40):
        clip = draw_scene(spec, pool, lambda k: item_rng(7, "train", i, "draw", k))
        again = draw_scene(spec, pool, lambda k: item_rng(7, "train", i, "draw", k))
        assert clip == again
        assert max_polyphony([annotation(e) for e in clip["events"]]) <= cap
        assert max_polyphony(clip["labels"]) <= cap and clip["labels"]
        assert all(off - on >= 0.25 for on, off, _ in clip["labels"])
        assert all(0 <= e["event_time"] and annotation(e)[1] <= 10.0 + 1e-9 for e in clip["events"])
        redraws += clip["redraws"]
    assert redraws > 0  # the cap was actually exercised


def test_bad_scene_spec_names_the_key(tmp_path):
    from sedkit import SedkitError

    p = tmp_path / "s.yaml"
    p.write_text("scene:\n  classes:\n    Dog: {n_events: [truncnorm, 1, 1, 0, 3]}\n")
    with pytest.raises(SedkitError, match=r"scene.classes.Dog.*n_events must be at least 1"):
        load_spec(StrongSpec, p)
