"""YAML specs: loading, validation, inheritance, overrides and hashing.

Every dataset generator, soundbank, model, front end and benchmark suite is described by a YAML file validated by a
pydantic model derived from :class:`Spec`. Unknown keys are rejected; errors name the file, the key and the problem.
The resolved spec (file + CLI overrides) and its sha256 go into whatever the spec produces.

**The YAML is the source of every value.** A spec model that has a built-in YAML names it in ``defaults_from`` and states
no value itself: what a user's spec leaves out comes from that file. A pydantic field keeps a default only where no
built-in YAML states the key (``tests/test_specs_and_io.py`` checks that no value is written in two places).

**One inheritance rule** (:func:`inherit`): any mapping may say ``extends: <built-in spec>`` (``frontends/pcen1``,
``models/crnn``, or a section of one, ``strong#scene``); it is then that spec, key by key overridden by the mapping's
own keys (nested mappings merge, lists and other values replace). A mapping validated by a model with ``defaults_from``
and no ``extends`` inherits from ``defaults_from``. Later layers (a user's file, ``--set`` overrides, a suite's
per-scale settings) are merged the same way, with :func:`deep_merge`.
"""
from __future__ import annotations

import copy
import functools
import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from sedkit import SedkitError

SPEC_DIR = Path(__file__).resolve().parent


class Spec(BaseModel):
    """Base of all spec models: unknown keys are errors, values are validated on assignment.

    ``defaults_from`` names the built-in spec (or ``spec#section``) whose values fill what a mapping leaves out; a
    mapping's ``extends:`` key names another one (see :func:`inherit`).
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)
    defaults_from: ClassVar[str | None] = None

    @model_validator(mode="before")
    @classmethod
    def _inherit(cls, v):
        return inherit(v, cls.defaults_from) if isinstance(v, dict) else v


class Dist(BaseModel):
    """A Scaper-style distribution tuple, written in YAML as a list: ``[uniform, 6, 30]``.

    kinds: ``const v`` | ``uniform lo hi`` | ``normal mean std`` | ``truncnorm mean std lo hi`` | ``choose [a, b, ...]``
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["const", "uniform", "normal", "truncnorm", "choose"]
    args: tuple

    @model_validator(mode="before")
    @classmethod
    def _from_list(cls, v):
        if isinstance(v, (list, tuple)):
            if not v:
                raise ValueError("empty distribution; expected e.g. [uniform, 6, 30]")
            return {"kind": v[0], "args": tuple(v[1:])}
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return {"kind": "const", "args": (v,)}
        return v

    @model_validator(mode="after")
    def _check(self):
        k, a = self.kind, self.args
        want = {"const": 1, "uniform": 2, "normal": 2, "truncnorm": 4, "choose": 1}[k]
        if len(a) != want:
            raise ValueError(f"{k} takes {want} value(s), got {len(a)}")
        if k == "choose":
            if not isinstance(a[0], (list, tuple)) or not a[0]:
                raise ValueError("choose takes a non-empty list")
            return self
        if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in a):
            raise ValueError(f"{k} takes numbers, got {list(a)}")
        if k == "uniform" and a[0] > a[1]:
            raise ValueError(f"uniform min ({a[0]}) is greater than max ({a[1]})")
        if k in ("normal", "truncnorm") and a[1] < 0:
            raise ValueError(f"{k} std ({a[1]}) is negative")
        if k == "truncnorm" and a[2] > a[3]:
            raise ValueError(f"truncnorm min ({a[2]}) is greater than max ({a[3]})")
        return self

    def bounds(self) -> tuple[float, float]:
        """Smallest and largest value the distribution can produce (inf for an untruncated normal)."""
        k, a = self.kind, self.args
        if k == "const":
            return (a[0], a[0])
        if k == "uniform":
            return (a[0], a[1])
        if k == "truncnorm":
            return (a[2], a[3])
        if k == "choose":
            vals = [x for x in a[0] if isinstance(x, (int, float))]
            return (min(vals), max(vals)) if vals else (float("nan"), float("nan"))
        return (float("-inf"), float("inf"))

    def sample(self, rng):
        """Draw one value with a numpy Generator."""
        k, a = self.kind, self.args
        if k == "const":
            return a[0]
        if k == "uniform":
            return float(rng.uniform(a[0], a[1]))
        if k == "normal":
            return float(rng.normal(a[0], a[1]))
        if k == "choose":
            return a[0][int(rng.integers(len(a[0])))]
        mean, std, lo, hi = a
        if std == 0:
            return float(min(max(mean, lo), hi))
        for _ in range(1000):  # rejection sampling; bounds were validated
            x = rng.normal(mean, std)
            if lo <= x <= hi:
                return float(x)
        return float(min(max(mean, lo), hi))

    def to_scaper(self) -> tuple:
        return (self.kind, *self.args)

    def __repr__(self) -> str:  # compact in error messages and cards
        return f"[{self.kind}, {', '.join(map(str, self.args))}]"


S = TypeVar("S", bound=Spec)


def _format_errors(where: str, err: ValidationError) -> str:
    parts = []
    for e in err.errors():
        loc = ".".join(str(x) for x in e["loc"] if not str(x).startswith("function-")) or "(top level)"
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key"
        msg = msg.removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}")
    return f"{where}: invalid spec: " + "; ".join(parts)


def set_dotted(d: dict, dotted: str, value: Any) -> None:
    """Set ``d['a']['b'] = value`` for ``dotted='a.b'``, creating intermediate dicts."""
    keys = dotted.split(".")
    cur = d
    for k in keys[:-1]:
        cur = cur.setdefault(k, {})
        if not isinstance(cur, dict):
            raise SedkitError(f"cannot override {dotted}: {k} is not a mapping")
    cur[keys[-1]] = value


def deep_merge(base: dict, *layers: dict | None) -> dict:
    """``base`` overridden key by key by each layer in turn (nested dicts merge; other values, lists included,
    replace; a None layer is skipped). The inputs are not changed."""
    out = copy.deepcopy(base)
    for extra in layers:
        for k, v in (extra or {}).items():
            if isinstance(v, dict) and isinstance(out.get(k), dict):
                out[k] = deep_merge(out[k], v)
            else:
                out[k] = copy.deepcopy(v)
    return out


EXTENDS = "extends"
_MAX_DEPTH = 16


def inherit(data: dict, default: str | None = None, _seen: tuple[str, ...] = ()) -> dict:
    """``data`` over the built-in spec its ``extends:`` names (else over ``default``), resolved recursively.

    A reference is a built-in spec name, optionally with a dotted section: ``models/crnn``, ``strong#scene``.
    ``extends: null`` means "inherit nothing", even where a model has ``defaults_from``.
    """
    has = EXTENDS in data
    ref = data.get(EXTENDS) if has else default
    own = {k: v for k, v in data.items() if k != EXTENDS} if has else data
    if ref is None:
        return own
    if not isinstance(ref, str):
        raise SedkitError(f"extends: expected the name of a built-in spec (e.g. models/crnn), got {ref!r}")
    if ref in _seen or len(_seen) > _MAX_DEPTH:
        raise SedkitError(f"extends: the chain loops: {' -> '.join([*_seen, ref])}")
    return deep_merge(builtin_section(ref, (*_seen, ref)), own)


def expand(data: dict) -> dict:
    """``data`` with every ``extends:`` resolved, at every depth (what a config depends on, written out)."""
    return {k: expand(v) if isinstance(v, dict) else v for k, v in inherit(data).items()}


@functools.lru_cache(maxsize=256)
def _builtin(name: str) -> dict:
    return read_yaml(builtin_spec_path(name))


def builtin_section(ref: str, _seen: tuple[str, ...] = ()) -> dict:
    """The mapping a reference names: ``name`` (a built-in spec file, its own ``extends:`` resolved) or ``name#a.b``
    (a section of one); a copy."""
    name, _, section = ref.partition("#")
    data = inherit(copy.deepcopy(_builtin(name)), None, _seen or (ref,))
    for key in filter(None, section.split(".")):
        data = data.get(key) if isinstance(data, dict) else None
        if not isinstance(data, dict):
            raise SedkitError(f"extends: built-in spec {name!r} has no section {section!r}")
    return data


def spec_default(ref: str, dotted: str) -> str:
    """A value of a built-in spec as text, for help strings: ``spec_default("strong", "scene.reverb")`` -> "0.1".
    Help texts quote the YAML this way instead of restating its values."""
    value: Any = builtin_section(ref)
    for key in dotted.split("."):
        value = value[key]
    if isinstance(value, list):
        return ",".join(map(str, value))
    return "off" if value is None else str(value)


def read_yaml(path: str | Path) -> dict:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise SedkitError(f"{p}: not a YAML text file (not UTF-8 text)") from None
    except OSError as e:
        raise SedkitError(f"{p}: cannot read spec ({e.strerror or e})") from None
    try:
        data = yaml.safe_load(text)
    except RecursionError:
        raise SedkitError(f"{p}: the YAML is nested too deeply") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{p}:{mark.line + 1}" if mark else str(p)
        raise SedkitError(f"{where}: not valid YAML ({getattr(e, 'problem', e)})") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SedkitError(f"{p}: a spec must be a YAML mapping, got {type(data).__name__}")
    return data


def builtin_spec_path(name: str) -> Path:
    """Path of a spec shipped with sedkit, e.g. ``waa`` -> specs/waa.yaml, ``bench/waa`` -> specs/bench/waa.yaml."""
    p = Path(str(resources.files("sedkit.specs").joinpath(f"{name}.yaml")))
    if not p.exists():
        raise SedkitError(f"no built-in spec named {name!r} (looked for {p})")
    return p


def load_spec(model: type[S], path: str | Path | None = None, overrides: dict[str, Any] | None = None,
              data: dict | None = None, flags: dict[str, str] | None = None) -> S:
    """Read ``path`` (YAML) or ``data``, apply dotted ``overrides`` (None values are skipped), validate.

    ``flags`` names the command-line flag of each override key: an invalid value that came from a flag is reported
    against the flag (``--segment '': ...``), not against the spec file the user never wrote."""
    where = str(path) if path is not None else "<spec>"
    raw = copy.deepcopy(data) if data is not None else (read_yaml(path) if path is not None else {})
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    for k, v in given.items():
        set_dotted(raw, k, v)
    try:
        return model.model_validate(raw)
    except ValidationError as e:
        from_flags = _flag_errors(e, given, flags or {})
        raise SedkitError(from_flags or _format_errors(where, e)) from None


def _flag_errors(err: ValidationError, given: dict[str, Any], flags: dict[str, str]) -> str | None:
    """One message naming the flags, when every validation error lies under a key that a flag set."""
    parts = []
    for e in err.errors():
        loc = ".".join(str(x) for x in e["loc"] if not str(x).startswith("function-"))
        key = next((k for k in given if loc == k or loc.startswith(k + ".")), None)
        if key is None or key not in flags:
            return None
        parts.append(f"{flags[key]} {given[key]!r}: {e['msg'].removeprefix('Value error, ')}")
    return "invalid value: " + "; ".join(parts) if parts else None


def resolved(spec: BaseModel) -> dict:
    """The spec as plain JSON-able data, distributions as lists (the form written into outputs)."""

    def conv(x):
        if isinstance(x, dict):
            if set(x) == {"kind", "args"}:
                return [x["kind"], *[conv(a) for a in x["args"]]]
            return {k: conv(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [conv(v) for v in x]
        return x

    return conv(spec.model_dump(mode="json"))


def spec_hash(spec: BaseModel | dict) -> str:
    d = resolved(spec) if isinstance(spec, BaseModel) else spec
    return hashlib.sha256(json.dumps(d, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
