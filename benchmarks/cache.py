"""The content-addressed store of the benchmark runner: datasets, trained models and evaluations.

Every entry is a folder named ``<kind>/<label>-<sha256[:16]>`` where the hash is :func:`sedkit.specs.spec_hash`
of the entry's *key document* (everything its content depends on: generator and resolved spec, model and merged
config, the keys of the data it was made from, seed). Beside the folder, ``<folder>.key.json`` holds the key
document and ``<folder>.done.json`` marks it finished; the marker is written last, atomically, so a crash leaves
an unfinished entry that the next run completes (generators and the trainer resume from their own journals /
``last.pt``). The done marker records the producer's code fingerprint (:mod:`sedkit.synth.fingerprint`): an entry
finished by other code is made again (or, with ``--reuse-stale``, kept and marked in the report). The folder itself
holds only what its producer wrote. Two runs, or two suites, asking for the same key share one entry.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from sedkit.specs import spec_hash
from sedkit.synth.io import atomic_write_json, safe_join

KINDS = ("datasets", "runs", "evals")


def short_hash(doc: dict) -> str:
    return spec_hash(doc)[:16]


class Cache:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    def entry(self, kind: str, label: str, key: dict) -> Path:
        """The folder of the entry with this key (not created)."""
        if kind not in KINDS:
            raise ValueError(f"unknown cache kind {kind!r}")
        name = re.sub(r"[^A-Za-z0-9._+-]+", "-", label)[:60] or "x"
        return safe_join(self.root, f"{kind}/{name}-{short_hash(key)}")

    @staticmethod
    def marker(path: Path, what: str = "done") -> Path:
        path = Path(path)
        return path.parent / f"{path.name}.{what}.json"

    @classmethod
    def is_done(cls, path: Path, code: str | None = None) -> bool:
        """Finished; with ``code``, also made by that code (the producer's fingerprint recorded when it finished)."""
        if not cls.marker(path).is_file():
            return False
        return code is None or cls.read_done(path).get("code") == code

    @classmethod
    def is_stale(cls, path: Path, code: str | None) -> bool:
        """Finished by other code than ``code``."""
        return code is not None and cls.is_done(path) and not cls.is_done(path, code)

    @classmethod
    def clear(cls, path: Path) -> None:
        """Remove an entry (its folder and markers), e.g. one made by older code, before it is made again."""
        import shutil

        path = Path(path)
        if path.exists():
            shutil.rmtree(path)
        for what in ("done", "key"):
            cls.marker(path, what).unlink(missing_ok=True)

    @classmethod
    def read_done(cls, path: Path) -> dict:
        return json.loads(cls.marker(path).read_text())

    @classmethod
    def start(cls, path: Path, key: dict) -> None:
        """Record the entry's key document beside it (for people reading the cache)."""
        atomic_write_json(cls.marker(path, "key"), key)

    @classmethod
    def finish(cls, path: Path, info: dict) -> None:
        atomic_write_json(cls.marker(path), info)
