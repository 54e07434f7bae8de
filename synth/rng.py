"""Per-item random number generators.

Every random draw for an item comes from ``item_rng(seed, split, index)``, so an item's content depends only on
(seed, split, index): never on worker count, processing order, or global random state.
"""
from __future__ import annotations

import zlib

import numpy as np


def _key(part) -> int:
    if isinstance(part, (int, np.integer)):
        if part < 0:
            raise ValueError(f"rng key parts must be non-negative, got {part}")
        return int(part)
    return zlib.crc32(str(part).encode("utf-8"))


def seed_sequence(seed: int, *parts) -> np.random.SeedSequence:
    """A SeedSequence keyed by ``seed`` and any mix of ints and strings (e.g. split name, index, stream)."""
    return np.random.SeedSequence([_key(seed), *(_key(p) for p in parts)])


def item_rng(seed: int, split: str, index: int, *stream) -> np.random.Generator:
    """The generator for one item; extra ``stream`` parts give independent sub-streams (e.g. "pitch")."""
    return np.random.default_rng(seed_sequence(seed, split, index, *stream))


def legacy_state(rng: np.random.Generator) -> np.random.RandomState:
    """A RandomState seeded from ``rng``, for libraries (Scaper) that want the legacy API."""
    return np.random.RandomState(int(rng.integers(0, 2**32 - 1)))
