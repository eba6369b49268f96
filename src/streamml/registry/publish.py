"""Publishing the trainer's snapshots to the registry off the event loop."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from streamml.errors import StreamMLError
from streamml.registry.models import ModelRegistry
from streamml.store import StoreError

logger = logging.getLogger(__name__)


class RegistryPublisher:
    """Writes the trainer's snapshots to the registry from a thread of its own.

    The trainer runs on the worker's event loop, which must not wait for a store: it
    hands each signed snapshot to :meth:`submit` and goes on. Store failures are retried
    with backoff, then the snapshot is skipped with an error (it is on the Kafka topic
    anyway, and the next one lands when the store is back). At most ``backlog`` wait;
    beyond that the oldest is dropped, since a newer snapshot supersedes it.
    """

    def __init__(
        self,
        registry: ModelRegistry,
        *,
        attempts: int = 6,
        backoff: float = 0.5,
        backlog: int = 8,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.registry = registry
        self.attempts = attempts
        self.backoff = backoff
        self.sleep = sleep
        self.failed = 0
        self._queue: deque[bytes] = deque()
        self._backlog = backlog
        self._busy = False
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def submit(self, signed: bytes) -> None:
        with self._changed:
            if len(self._queue) >= self._backlog:
                self.failed += 1
                logger.error("model registry is behind; dropping an older snapshot unpublished")
                self._queue.popleft()
            self._queue.append(signed)
            self._changed.notify_all()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="registry", daemon=True)
                self._thread.start()

    def flush(self, timeout: float) -> bool:
        """Wait until every submitted snapshot was published or given up on."""
        with self._changed:
            return self._changed.wait_for(lambda: not self._queue and not self._busy, timeout)

    def publish(self, signed: bytes) -> bool:
        """Publish now, retrying store failures; ``False`` (logged) if it did not land."""
        delay = self.backoff
        for attempt in range(1, self.attempts + 1):
            try:
                snapshot = self.registry.publish(signed)
            except StoreError as error:
                if attempt == self.attempts:
                    logger.error("snapshot not in the registry after %d tries: %s", attempt, error)
                    return False
                logger.warning("model registry: %s; retrying in %.1f s", error, delay)
                self.sleep(delay)
                delay = min(delay * 2, 30.0)
            except StreamMLError as error:  # refused (bad signature): retrying cannot help
                logger.error("snapshot not in the registry: %s", error)
                return False
            else:
                logger.info("%s is in the registry", snapshot.name)
                return True
        return False

    def _run(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: bool(self._queue))
                signed = self._queue.popleft()
                self._busy = True
            try:
                if not self.publish(signed):
                    self.failed += 1
            except Exception:  # a bug must not kill the thread and silently stop publishing
                self.failed += 1
                logger.exception("publishing a snapshot to the registry failed")
            finally:
                with self._changed:
                    self._busy = False
                    self._changed.notify_all()
