"""One inheritance rule (``extends:``) and every default in one place: the built-in YAML specs are the source of
every value; no pydantic field restates a value a built-in YAML states, and no YAML restates what it inherits."""
import importlib
import types
import typing

import pytest
from pydantic import BaseModel

from sedkit import SedkitError
from sedkit.baselines.registry import MODELS
from sedkit.specs import SPEC_DIR, Dist, Spec, builtin_section, inherit, load_spec, read_yaml, resolved


def _generator_specs() -> dict[str, type[Spec]]:
    from sedkit.synth.builtin.make import BankSpec
    from sedkit.synth.dynamic.spec import DynamicSpec
    from sedkit.synth.registry import GENERATORS
    from sedkit.synth.rir import RirMakeSpec

    out = {"builtin": BankSpec, "dynamic": DynamicSpec, "rir": RirMakeSpec}
    for g in GENERATORS.values():
        out[g.builtin_spec] = g.spec_model()
    return out


def builtin_specs() -> list[tuple[str, type[Spec]]]:
    """Every YAML file under specs/ with the model that validates it."""
    from sedkit.baselines.models.frontends import FrontendSpec
    from sedkit.benchmarks.suites.spec import SuiteSpec

    gens = _generator_specs()
    out = []
    for p in sorted(SPEC_DIR.rglob("*.yaml")):
        name = p.relative_to(SPEC_DIR).with_suffix("").as_posix()
        folder = name.split("/")[0] if "/" in name else None
        if folder == "frontends":
            out.append((name, FrontendSpec))
        elif folder == "models":
            module = importlib.import_module(MODELS[name.split("/")[1]].split(":")[0])
            out.append((name, module.SPEC))
        elif folder == "bench":
            out.append((name, SuiteSpec))
        elif name == "feature_cache":
            from sedkit.baselines.data.features import FeatureCacheSpec

            out.append((name, FeatureCacheSpec))
        else:
            out.append((name, gens[name]))
    return out


def _plain(x):
    if isinstance(x, Dist):
        return [x.kind, *x.args]
    if isinstance(x, BaseModel):
        return resolved(x)
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    return x


def _spec_classes(annotation) -> list[type[Spec]]:
    """Spec models an annotation holds directly, in a union, or as the values of a dict."""
    if isinstance(annotation, type) and issubclass(annotation, Spec):
        return [annotation]
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return [c for a in args for c in _spec_classes(a)]
    return []


def restated_defaults(model: type[Spec], raw: dict, path: str = "") -> list[str]:
    """Keys of ``raw`` whose value equals the pydantic default of ``model``'s field (a value written twice)."""
    out = []
    for key, value in raw.items():
        field = model.model_fields.get(key)
        if field is None:
            continue
        if not field.is_required() and _plain(field.get_default(call_default_factory=True)) == _plain(value):
            out.append(f"{path}{key}")
        if isinstance(value, dict):
            for sub in _spec_classes(field.annotation):
                out += restated_defaults(sub, value, f"{path}{key}.")
            if typing.get_origin(field.annotation) is dict:
                for sub in _spec_classes(typing.get_args(field.annotation)[1]):
                    for k, v in value.items():
                        if isinstance(v, dict):
                            out += restated_defaults(sub, v, f"{path}{key}.{k}.")
    return out


def restated_inherited(own: dict, base: dict, path: str = "") -> list[str]:
    """Keys a spec states with the very value it inherits through ``extends:``."""
    out = []
    for key, value in own.items():
        if key == "extends" or key not in base:
            continue
        if isinstance(value, dict) and isinstance(base[key], dict):
            out += restated_inherited(value, base[key], f"{path}{key}.")
        elif value == base[key]:
            out.append(f"{path}{key}")
    return out


SPECS = builtin_specs()


@pytest.mark.parametrize("name,model", SPECS, ids=[n for n, _ in SPECS])
def test_builtin_spec_validates_and_states_each_value_once(name, model):
    raw = read_yaml(SPEC_DIR / f"{name}.yaml")
    spec = load_spec(model, SPEC_DIR / f"{name}.yaml")
    if "/" not in name:  # a generator's, the bank's, the RIR maker's or dynamic mixing's own spec: its defaults
        assert model.defaults_from == name
    assert resolved(spec)
    assert restated_defaults(model, raw) == [], f"{name}.yaml restates pydantic defaults"
    if isinstance(raw.get("extends"), str):
        assert restated_inherited(raw, inherit({"extends": raw["extends"]})) == [], \
            f"{name}.yaml restates values it inherits from {raw['extends']}"


def reachable_spec_classes() -> list[type[Spec]]:
    """Every spec model the built-in specs use, nested ones included."""
    seen: dict[str, type[Spec]] = {}
    todo = [m for _, m in SPECS]
    while todo:
        c = todo.pop()
        if c.__qualname__ + c.__module__ in seen:
            continue
        seen[c.__qualname__ + c.__module__] = c
        for f in c.model_fields.values():
            todo += _spec_classes(f.annotation)
            if typing.get_origin(f.annotation) is dict:
                todo += _spec_classes(typing.get_args(f.annotation)[1])
    return sorted(seen.values(), key=lambda c: (c.__module__, c.__qualname__))


WITH_SOURCE = [c for c in reachable_spec_classes() if c.defaults_from]


@pytest.mark.parametrize("model", WITH_SOURCE, ids=[c.__name__ for c in WITH_SOURCE])
def test_models_with_a_yaml_source_state_no_values(model):
    """A model whose values come from a built-in YAML (or a section of one) keeps no default of its own: the YAML is
    the only copy, and validating nothing gives exactly that YAML."""
    assert [k for k, f in model.model_fields.items() if not f.is_required()] == []
    assert resolved(model()) == resolved(model.model_validate(builtin_section(model.defaults_from)))
    assert len(WITH_SOURCE) >= 20


def test_extends_merges_key_by_key_and_refuses_loops(monkeypatch, tmp_path):
    from sedkit.baselines.models.frontends import FrontendSpec

    fe = FrontendSpec.model_validate({"extends": "frontends/pcen1", "n_mels": 32, "pcen": {"alpha": 0.5}})
    assert (fe.n_mels, fe.pcen.alpha, fe.pcen.delta, fe.norm) == (32, 0.5, 2.0, "minmax")
    assert fe.n_fft == builtin_section("frontends/dcase_logmel")["n_fft"]  # pcen1 extends dcase_logmel
    # a section of a spec
    assert builtin_section("strong#scene")["duration"] == 10.0
    with pytest.raises(SedkitError, match="no section"):
        builtin_section("strong#nosuch")
    with pytest.raises(SedkitError, match="no built-in spec"):
        inherit({"extends": "frontends/nosuch"})
    with pytest.raises(SedkitError, match="extends: expected"):
        inherit({"extends": 3})
    # a loop is one error, not a RecursionError
    (tmp_path / "a.yaml").write_text("extends: b\n")
    (tmp_path / "b.yaml").write_text("extends: a\n")
    import sedkit.specs as specs

    monkeypatch.setattr(specs, "builtin_spec_path", lambda n: tmp_path / f"{n}.yaml")
    specs._builtin.cache_clear()
    try:
        with pytest.raises(SedkitError, match="loops: a -> b -> a"):
            inherit({"extends": "a"})
    finally:
        specs._builtin.cache_clear()


def test_a_users_spec_inherits_what_it_leaves_out(tmp_path):
    from sedkit.synth.waa import WaaSpec

    p = tmp_path / "mine.yaml"
    p.write_text("counts: {train: 9}\nsnr: [const, 0]\n")
    spec = load_spec(WaaSpec, p)
    default = load_spec(WaaSpec, data={})
    assert (spec.counts.train, spec.counts.validation, spec.snr.kind) == (9, default.counts.validation, "const")
    assert spec.duration == default.duration
