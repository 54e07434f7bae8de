"""One rule for ``--workers`` on every command: an integer from 1 to :func:`max_workers` (a sane multiple of the
cores; more only forks processes that wait for each other). The default is each command's own (all cores for the
generators and the bench, 1 for the built-in bank)."""
from __future__ import annotations

import os

import click

PER_CORE = 4


def max_workers() -> int:
    return PER_CORE * (os.cpu_count() or 1)


def workers_option(help_: str, default: int | None = None):
    """The ``--workers`` click option, with the shared range."""
    return click.option("--workers", type=click.IntRange(1, max_workers()), default=default,
                        show_default=default is not None,
                        help=f"{help_} At most {PER_CORE} per core ({max_workers()} here).")
