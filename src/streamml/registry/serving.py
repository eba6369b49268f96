"""What scorers serve: the registry pointer and the snapshot topic, reconciled."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

from streamml.registry.models import ModelRegistry, Pointer, RegistryError
from streamml.snapshots import Snapshot, SnapshotError
from streamml.store import StoreError

logger = logging.getLogger(__name__)


class ServingPolicy:
    """Which snapshot of each task a scorer serves; both followers go through it.

    A task whose registry pointer is pinned serves exactly that version and ignores the
    snapshot topic; otherwise the newest version seen (topic or pointer) wins. ``install``
    is called under a lock, so the two followers never interleave.
    """

    def __init__(self, install: Callable[[Snapshot], None]) -> None:
        self._install = install
        self._lock = threading.Lock()
        self._served: dict[str, int] = {}
        self._pinned: dict[str, int] = {}

    def offer(self, snapshot: Snapshot) -> None:
        """A snapshot from the topic: installed unless pinned otherwise or not newer."""
        with self._lock:
            pinned = self._pinned.get(snapshot.task)
            if pinned is not None:
                logger.info(
                    "not serving %s: %s is pinned to v%d", snapshot.name, snapshot.task, pinned
                )
            elif snapshot.version > self._served.get(snapshot.task, 0):
                self._serve(snapshot)

    def wants(self, pointer: Pointer) -> bool:
        """Take note of the pointer's mode; whether the version it names must be loaded."""
        with self._lock:
            if pointer.mode == "pinned":
                self._pinned[pointer.task] = pointer.version
            else:
                self._pinned.pop(pointer.task, None)
            return self._wanted(pointer)

    def apply(self, pointer: Pointer, snapshot: Snapshot) -> None:
        """Install the pointer's snapshot, unless something newer arrived meanwhile."""
        with self._lock:
            if self._wanted(pointer):
                self._serve(snapshot)

    def served(self, task: str) -> int | None:
        with self._lock:
            return self._served.get(task)

    def _wanted(self, pointer: Pointer) -> bool:
        served = self._served.get(pointer.task, 0)
        if pointer.mode == "pinned":
            return served != pointer.version
        return pointer.version > served

    def _serve(self, snapshot: Snapshot) -> None:
        self._install(snapshot)
        self._served[snapshot.task] = snapshot.version


class RegistryFollower(threading.Thread):
    """A daemon thread that reads each task's pointer every ``poll_seconds`` and hands
    the version it names, verified, to the :class:`ServingPolicy`.

    Call :meth:`poll` once before :meth:`start` so pins are known before the snapshot
    topic is replayed. A store outage or a refused snapshot keeps the current model
    (logged); the next poll tries again.
    """

    def __init__(
        self,
        registry: ModelRegistry,
        tasks: Iterable[str],
        policy: ServingPolicy,
        poll_seconds: float,
    ) -> None:
        super().__init__(name="registry-follower", daemon=True)
        self.registry = registry
        self.tasks = list(tasks)
        self.policy = policy
        self.poll_seconds = poll_seconds
        self.stopping = threading.Event()
        self._refused: set[tuple[str, int]] = set()

    def poll(self) -> None:
        for task in self.tasks:
            try:
                self._follow(task)
            except Exception:  # a bug (or a model that fails to install) must not end the thread
                logger.exception("following the registry pointer of %s failed", task)

    def run(self) -> None:
        while not self.stopping.wait(self.poll_seconds):
            self.poll()

    def stop(self) -> None:
        self.stopping.set()

    def _follow(self, task: str) -> None:
        pointer: Pointer | None = None
        try:
            pointer = self.registry.serving(task)
            if pointer is None or not self.policy.wants(pointer):
                return
            snapshot = self.registry.load(task, pointer.version)
        except StoreError as error:
            logger.warning(
                "model registry unreachable; keeping the current %s model: %s", task, error
            )
            return
        except (SnapshotError, RegistryError) as error:
            refusal = (task, pointer.version if pointer else -1)
            level = logging.DEBUG if refusal in self._refused else logging.ERROR
            self._refused.add(refusal)
            logger.log(level, "keeping the current %s model: %s", task, error)
            return
        self.policy.apply(pointer, snapshot)
