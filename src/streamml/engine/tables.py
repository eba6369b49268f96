"""Per-partition state with a changelog: what a stage keeps per key, moved with its partition.

A :class:`ChangelogTable` is the ``MutableMapping[str, bytes]`` a stage reads and writes.
Its keys live in the partition of the record being processed (the engine sets
:attr:`ChangelogTable.partition` before each record), so state moves with the partition
when the consumer group rebalances. Writes are buffered as the latest value per key and
handed to the engine once per batch (:meth:`ChangelogTable.drain`), which produces them to
the table's compacted changelog topic before it commits the batch's offsets.
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping

from streamml.errors import StateError


class ChangelogTable(MutableMapping[str, bytes]):
    """A table of ``bytes`` by ``str`` key, split by partition, recording what changed.

    Examples
    --------
    >>> table = ChangelogTable("fraud-customers", "app-fraud-customers-changelog")
    >>> table.load(3, {})
    >>> table.partition = 3
    >>> table["c1"] = b"state"
    >>> table["c1"] = b"newer"
    >>> table.get("c1"), table.drain()
    (b'newer', [(3, b'c1', b'newer')])
    >>> table.drain()  # each change is handed over once
    []
    """

    def __init__(self, name: str, changelog: str) -> None:
        self.name = name
        self.changelog = changelog
        self.partition = 0
        self._parts: dict[int, dict[str, bytes]] = {}
        self._dirty: dict[int, dict[str, bytes | None]] = {}
        self._retired: dict[int, dict[str, bytes]] = {}

    # -- the engine's side -------------------------------------------------------------

    def owns(self, partition: int) -> bool:
        return partition in self._parts

    def load(self, partition: int, restored: dict[str, bytes]) -> None:
        """Take ``partition``'s state, as restored from the changelog."""
        self._parts[partition] = restored
        self._dirty.pop(partition, None)
        self._retired.pop(partition, None)

    def drop(self, partition: int) -> None:
        """Forget ``partition`` (it moved to another process); unsent changes go with it."""
        self._parts.pop(partition, None)
        self._dirty.pop(partition, None)
        self._retired.pop(partition, None)

    def retire(self, partition: int) -> None:
        """Set ``partition`` aside, all of its changes handed over: if the group gives it
        back before anyone else changed its changelog, :meth:`reinstate` saves a restore."""
        if self._dirty.get(partition):
            raise StateError(f"table {self.name!r}: partition {partition} has unsent changes")
        part = self._parts.pop(partition, None)
        if part is not None:
            self._retired[partition] = part

    def reinstate(self, partition: int) -> bool:
        """Take ``partition`` back from :meth:`retire`; ``False`` if it was not set aside."""
        part = self._retired.pop(partition, None)
        if part is None:
            return False
        self._parts[partition] = part
        return True

    def drain(self) -> list[tuple[int, bytes, bytes | None]]:
        """The latest value of each key changed since the last drain (``None``: deleted)."""
        changes = [
            (partition, key.encode(), value)
            for partition, dirty in self._dirty.items()
            for key, value in dirty.items()
        ]
        self._dirty.clear()
        return changes

    def keys_held(self) -> int:
        """Keys held over every partition of this process."""
        return sum(len(part) for part in self._parts.values())

    # -- the stage's side: the current partition ---------------------------------------

    def _part(self) -> dict[str, bytes]:
        part = self._parts.get(self.partition)
        if part is None:  # a partition the engine did not restore: never silently empty
            raise StateError(f"table {self.name!r} holds no partition {self.partition}")
        return part

    def __getitem__(self, key: str) -> bytes:
        return self._part()[key]

    def get(self, key: str, default: bytes | None = None) -> bytes | None:  # type: ignore[override]
        return self._part().get(key, default)

    def __setitem__(self, key: str, value: bytes) -> None:
        self._part()[key] = value
        self._dirty.setdefault(self.partition, {})[key] = value

    def __delitem__(self, key: str) -> None:
        del self._part()[key]
        self._dirty.setdefault(self.partition, {})[key] = None

    def __iter__(self) -> Iterator[str]:
        return iter(self._part())

    def __len__(self) -> int:
        return len(self._part())
