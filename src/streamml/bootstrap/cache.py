"""A cache of the fraud pass over a history file: the costly part of a bootstrap.

The demo bootstraps the same months on every run; the pass (features and model over the
whole history) is kept as a pickle of this process's own making, under a key naming
everything it depends on, and written atomically. A stale or unreadable entry is ignored.
"""

from __future__ import annotations

import hashlib
import json
import logging
import pickle
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from streamml.bootstrap.fraud import FraudHistory
from streamml.snapshots import library_versions

logger = logging.getLogger(__name__)

CACHE_FORMAT = "1"
"""Changes whenever what a pass leaves changes shape."""


@dataclass(frozen=True, slots=True)
class PassCache:
    """A fraud pass over a file, pickled under a key naming everything it depends on:
    the file (path, size, modification time), the plan, the cadence, the library versions."""

    path: Path

    @classmethod
    def for_file(
        cls, directory: Path | None, source: Path, plan: str, snapshot_every: int
    ) -> PassCache | None:
        """The cache entry of a pass over ``source``; ``None`` without a directory."""
        if directory is None:
            return None
        stat = source.stat()
        parts = [
            CACHE_FORMAT,
            str(source.resolve()),
            str(stat.st_size),
            str(stat.st_mtime_ns),
            plan,
            str(snapshot_every),
            json.dumps(library_versions(), sort_keys=True),
            _code_digest(),
        ]
        key = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:24]
        return cls(directory / f"fraud-pass-{key}.pickle")

    def load(self) -> tuple[FraudHistory, Counter[str]] | None:
        try:
            with self.path.open("rb") as handle:
                found = pickle.load(handle)  # our own file, written by save() below
        except FileNotFoundError:
            return None
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError) as error:
            logger.warning("bootstrap: ignoring the unreadable cache %s: %s", self.path, error)
            return None
        logger.info("bootstrap: the fraud pass comes from the cache %s", self.path)
        return found  # type: ignore[no-any-return]

    def save(self, value: tuple[FraudHistory, Counter[str]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".partial")
        with partial.open("wb") as handle:
            pickle.dump(value, handle, protocol=pickle.HIGHEST_PROTOCOL)
        partial.replace(self.path)


def _code_digest() -> str:
    """The features', the models' and the pass's source: a code change misses the cache."""
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for path in sorted([*root.glob("features/*.py"), *root.glob("models/*.py")]):
        digest.update(path.read_bytes())
    digest.update((root / "bootstrap" / "fraud.py").read_bytes())
    return digest.hexdigest()
