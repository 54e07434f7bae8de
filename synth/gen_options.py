"""Command-line options shared by the multi-event generators (strong, semi, remix).

Each command is ``--out --scale --seed --soundbank --spec --workers --resume`` plus its own flags, which become
dotted spec overrides (None = not given, keeps the spec's value).
"""
from __future__ import annotations

import os
from pathlib import Path

import click

from sedkit.specs import builtin_spec_path, load_spec


def generator_options(name: str):
    """Decorator adding the shared options; the spec defaults to ``specs/<name>.yaml``."""
    opts = [
        click.option("--out", type=click.Path(path_type=Path), default=Path(name), show_default=True,
                     help="Output dataset folder."),
        click.option("--scale", type=click.Choice(["paper", "small"]), default="paper", show_default=True,
                     help="paper: the published sizes; small: tens of clips (tests, smoke runs)."),
        click.option("--seed", type=int, default=0, show_default=True),
        click.option("--soundbank", type=click.Path(path_type=Path), default=None,
                     help="Soundbank root (default: the built-in bank, built and cached on first use)."),
        click.option("--spec", "spec_path", type=click.Path(path_type=Path), default=None,
                     help=f"YAML spec (default: the built-in specs/{name}.yaml)."),
        click.option("--workers", type=int, default=None, help="Worker processes (default: all cores)."),
        click.option("--resume", is_flag=True, help="Continue or verify a previous run into --out."),
    ]

    def deco(f):
        for o in reversed(opts):
            f = o(f)
        return f

    return deco


def load_generator_spec(model, name: str, spec_path: Path | None, overrides: dict):
    return load_spec(model, spec_path or builtin_spec_path(name), overrides)


def default_workers(workers: int | None) -> int:
    return workers or os.cpu_count() or 1
