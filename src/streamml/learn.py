"""Learn stage: the features used at prediction time wait here for their late label."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Pending:
    """What a scorer saw when it scored one event."""

    task: str
    x: Any
    stored_at: float


class PendingFeatures:
    """Features kept per event id until the label arrives, bounded by age and by count.

    Insertion order is age order, so expiry only ever looks at the oldest entries.
    Entries are plain tuples: with bytes or strings in them, the garbage collector stops
    tracking them, so a scorer holding days of pending features does not pause for
    seconds scanning them (store ``x`` as bytes where you can).

    Examples
    --------
    >>> clock = iter([0.0, 1.0, 100.0]).__next__
    >>> store = PendingFeatures(ttl_seconds=50, max_entries=10, clock=clock)
    >>> store.put("e1", "fraud", {"a": 1.0})
    >>> store.put("e2", "fraud", {"a": 2.0})
    >>> store.pop("e1") is None   # expired: stored at 0, now 100
    True
    >>> store.expired
    2
    """

    def __init__(
        self,
        ttl_seconds: float,
        max_entries: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self.clock = clock
        self._entries: OrderedDict[str, tuple[str, Any, float]] = OrderedDict()
        self.expired = 0
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, event_id: str, task: str, x: Any) -> None:
        self._entries[event_id] = (task, x, self.clock())
        self._entries.move_to_end(event_id)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
            self.evicted += 1

    def pop(self, event_id: str) -> Pending | None:
        self._expire()
        entry = self._entries.pop(event_id, None)
        return None if entry is None else Pending(*entry)

    def _expire(self) -> None:
        deadline = self.clock() - self.ttl_seconds
        while self._entries:
            _, _, stored_at = next(iter(self._entries.values()))
            if stored_at >= deadline:
                break
            self._entries.popitem(last=False)
            self.expired += 1
