"""The generators, in one registry: ``sedkit synth NAME`` (cli.py), the bench runner and the suite checks read it.

A generator is a module of ``synth/`` with a pydantic spec class (its defaults in ``specs/<builtin_spec>.yaml``),
``generate(spec, out, seed, scale, soundbank, workers, resume, **options) -> manifest`` and a click command. This
module imports nothing but the standard library, so ``sedkit --help`` can list the generators without loading them.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Generator:
    name: str  # the name of `sedkit synth NAME` and of a suite's `generator:`
    module: str
    spec_class: str
    builtin_spec: str  # specs/<builtin_spec>.yaml
    command: str  # the click command's attribute in `module`
    help: str  # one line, for listings
    fixed: dict = field(default_factory=dict)  # spec overrides that make this generator (200ms: event_duration)
    options: dict = field(default_factory=dict)  # keyword arguments of generate()

    @property
    def target(self) -> str:
        """``"module:command"``, as the CLI loads it."""
        return f"{self.module}:{self.command}"

    def spec_model(self):
        return getattr(importlib.import_module(self.module), self.spec_class)

    def generate(self, spec, out, **kw) -> dict:
        return importlib.import_module(self.module).generate(spec, out, **kw, **self.options)


GENERATORS: dict[str, Generator] = {g.name: g for g in (
    Generator("waa", "sedkit.synth.waa", "WaaSpec", "waa", "waa_cmd",
              "WAA set of Turpault et al. (2020), cut in segments.", options={"kind": "waa"}),
    Generator("200ms", "sedkit.synth.waa", "WaaSpec", "waa", "ms200_cmd",
              "The 200 ms set of Turpault et al. (2020).", fixed={"event_duration": 0.2}, options={"kind": "200ms"}),
    Generator("strong", "sedkit.synth.strong", "StrongSpec", "strong", "strong_cmd",
              "DESED-style strongly labelled soundscapes."),
    Generator("semi", "sedkit.synth.semi", "SemiSpec", "semi", "semi_cmd",
              "Strong / weak / unlabelled sets with a domain-gap dial."),
    Generator("remix", "sedkit.synth.remix", "RemixSpec", "remix", "remix_cmd",
              "Remixed SNR sets of Deshmukh et al. (2021)."),
)}
