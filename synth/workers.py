"""One rule for ``--workers`` on every command: an integer from 1 to :func:`max_workers` (a sane multiple of the
cores; more only forks processes that wait for each other). The default is each command's own (all cores for the
generators and the bench, 1 for the built-in bank). And :func:`keep_freed_memory`, which the worker processes sedkit
forks call first."""
from __future__ import annotations

import ctypes
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


def keep_freed_memory() -> None:
    """glibc only (elsewhere nothing): this process serves arrays of up to 32 MB from memory it freed, and keeps up to
    64 MB of it, instead of mapping fresh zeroed pages for each clip's arrays and handing them back after. A worker
    mixing clips otherwise spends a tenth of its time in those page faults (5x more faults). Bytes are unaffected."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        for param, value in ((-3, 32 << 20), (-1, 64 << 20), (-2, 16 << 20)):  # M_MMAP_THRESHOLD, _TRIM_, _TOP_PAD
            libc.mallopt(param, value)
    except (OSError, AttributeError):
        pass
