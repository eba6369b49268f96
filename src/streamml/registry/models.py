"""The registry in the lake: snapshots by task and version, and the serving pointer."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from streamml.errors import StreamMLError
from streamml.snapshots import Snapshot, SnapshotError, verify
from streamml.store import ObjectStore

logger = logging.getLogger(__name__)

ROOT = "models"
HISTORY_LIMIT = 50
"""Previously served versions kept in the pointer (what rollback can return to)."""

Mode = Literal["latest", "pinned"]
_TASK = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")


class RegistryError(StreamMLError):
    """The registry has no such task, version or pointer, or a file of it is malformed."""


@dataclass(frozen=True, slots=True)
class Pointer:
    """``models/TASK/serving.json``: the version served, and those served before it."""

    task: str
    version: int
    mode: Mode
    history: tuple[int, ...]
    updated: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "version": self.version,
            "mode": self.mode,
            "history": list(self.history),
            "updated": self.updated.isoformat(),
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Pointer:
        mode = value["mode"]
        if mode not in ("latest", "pinned"):
            raise ValueError(f"unknown mode {mode!r}")
        history = tuple(int(v) for v in value["history"])
        updated = datetime.fromisoformat(value["updated"])
        return cls(str(value["task"]), int(value["version"]), mode, history, updated)


class ModelRegistry:
    """Signed snapshots of each task in an :class:`ObjectStore`, and the serving pointer.

    Writes are single PUTs (atomic on S3 and on the file store): a reader sees the old
    pointer or the new one. The store offers no compare-and-swap, so a promote that races
    a publish within one GET-PUT round trip can be overwritten (ADR 0010).
    """

    def __init__(self, store: ObjectStore, signing_key: bytes) -> None:
        self.store = store
        self.signing_key = signing_key

    # -- the trainer's side ------------------------------------------------------------

    def publish(self, signed: bytes) -> Snapshot:
        """Store a signed snapshot and, in ``latest`` mode, serve it if it is newer."""
        try:
            snapshot = verify(signed, self.signing_key)
        except SnapshotError as error:
            raise SnapshotError(f"{self.store.url}: not publishing: {error}") from None
        base = _dir(snapshot.task, snapshot.version)
        self.store.put(f"{base}/snapshot.json", signed)
        self.store.put(f"{base}/meta.json", _dumps(_meta(snapshot, signed)))
        pointer = self.serving(snapshot.task)
        if pointer is None or (pointer.mode == "latest" and snapshot.version > pointer.version):
            self._point(snapshot.task, snapshot.version, "latest", pointer)
        return snapshot

    # -- reading -----------------------------------------------------------------------

    def tasks(self) -> list[str]:
        return sorted({key.split("/")[1] for key in self.store.list(f"{ROOT}/") if "/" in key})

    def versions(self, task: str) -> list[int]:
        """Every published version of ``task``, oldest first."""
        prefix = f"{ROOT}/{_task(task)}/"
        found = []
        for key in self.store.list(prefix):
            parts = key[len(prefix) :].split("/")
            if len(parts) == 2 and parts[1] == "meta.json" and parts[0].isdigit():
                found.append(int(parts[0]))
        return sorted(found)

    def meta(self, task: str, version: int) -> dict[str, Any]:
        key = f"{_dir(task, version)}/meta.json"
        data = self.store.get(key)
        if data is None:
            raise self._missing(task, version, key)
        try:
            value: dict[str, Any] = json.loads(data)
        except ValueError as error:
            raise RegistryError(f"{self.store.url}: {key} is not JSON: {error}") from None
        return value

    def serving(self, task: str) -> Pointer | None:
        """The pointer of ``task``, or ``None`` before its first publish."""
        key = f"{ROOT}/{_task(task)}/serving.json"
        data = self.store.get(key)
        if data is None:
            return None
        try:
            return Pointer.from_json(json.loads(data))
        except (ValueError, KeyError, TypeError) as error:
            raise RegistryError(f"{self.store.url}: {key} is malformed: {error!r}") from None

    def load(self, task: str, version: int) -> Snapshot:
        """The verified snapshot; :class:`SnapshotError` names the object if it does not
        verify (nothing is unpickled), :class:`RegistryError` if it is not there."""
        key = f"{_dir(task, version)}/snapshot.json"
        data = self.store.get(key)
        if data is None:
            raise self._missing(task, version, key)
        try:
            snapshot = verify(data, self.signing_key)
        except SnapshotError as error:
            raise SnapshotError(f"{self.store.url}: {key}: {error}") from None
        if (snapshot.task, snapshot.version) != (task, version):
            raise SnapshotError(
                f"{self.store.url}: {key} holds {snapshot.name}, not {task}-v{version} "
                "(copied from another version?); refusing to load it"
            )
        return snapshot

    def newest(self, task: str) -> Snapshot | None:
        """The verified snapshot of the highest version, if any."""
        versions = self.versions(task)
        return self.load(task, versions[-1]) if versions else None

    # -- changing what is served ---------------------------------------------------------

    def promote(self, task: str, version: int) -> Pointer:
        """Serve ``version`` (it must exist and verify) and hold it: pinned."""
        self.load(task, version)
        return self._point(task, version, "pinned", self.serving(task))

    def rollback(self, task: str) -> Pointer:
        """Serve the version served before the current one, pinned."""
        pointer = self._require_pointer(task)
        history = list(pointer.history)
        while history and history[-1] == pointer.version:
            history.pop()
        if not history:
            raise RegistryError(
                f"{self.store.url}: {task} has served only v{pointer.version}; "
                "nothing to roll back to"
            )
        target = history.pop()
        self.load(task, target)
        updated = Pointer(task, target, "pinned", tuple(history), datetime.now(UTC))
        self._write(updated)
        return updated

    def follow_latest(self, task: str) -> Pointer:
        """Unpin: serve the newest version, and each new one as it is published."""
        newest = self.newest(task)
        if newest is None:
            raise self.unknown_task(task)
        return self._point(task, newest.version, "latest", self.serving(task))

    # -- internals -----------------------------------------------------------------------

    def _point(self, task: str, version: int, mode: Mode, previous: Pointer | None) -> Pointer:
        history: tuple[int, ...] = ()
        if previous is not None:
            history = previous.history
            if previous.version != version:
                history = (*history, previous.version)[-HISTORY_LIMIT:]
        pointer = Pointer(task, version, mode, history, datetime.now(UTC))
        self._write(pointer)
        return pointer

    def _write(self, pointer: Pointer) -> None:
        self.store.put(f"{ROOT}/{pointer.task}/serving.json", _dumps(pointer.to_json()))
        logger.info(
            "%s: %s serves v%d (%s)", self.store.url, pointer.task, pointer.version, pointer.mode
        )

    def _require_pointer(self, task: str) -> Pointer:
        pointer = self.serving(task)
        if pointer is None:
            raise self.unknown_task(task)
        return pointer

    def _missing(self, task: str, version: int, key: str) -> RegistryError:
        if not self.versions(task):
            return self.unknown_task(task)
        return RegistryError(f"{self.store.url}: {task} has no version {version} ({key} missing)")

    def unknown_task(self, task: str) -> RegistryError:
        known = ", ".join(self.tasks()) or "none yet"
        return RegistryError(f"{self.store.url}: no model of task {task!r} (tasks: {known})")


def _task(task: str) -> str:
    if not _TASK.match(task):
        raise RegistryError(f"{task!r} is not a task name (letters, digits, '_', '.', '-')")
    return task


def _dir(task: str, version: int) -> str:
    return f"{ROOT}/{_task(task)}/{version}"


def _dumps(value: dict[str, Any]) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True) + "\n").encode()


def _meta(snapshot: Snapshot, signed: bytes) -> dict[str, Any]:
    return {
        "task": snapshot.task,
        "version": snapshot.version,
        "examples": snapshot.examples,
        "created": snapshot.created.isoformat(),
        "published": datetime.now(UTC).isoformat(),
        "metrics": snapshot.metrics,
        "provenance": snapshot.provenance,
        "libraries": snapshot.libraries,
        "encoding": snapshot.encoding,
        "signature": {"algorithm": "HMAC-SHA256", "hex": json.loads(signed)["signature"]},
        "sizes": {"snapshot_bytes": len(signed), "model_bytes": len(snapshot.model_bytes)},
    }
