"""A part of the worker run in a thread beside the main one."""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)


class VitalThread(threading.Thread):
    """Runs ``work(stopping)`` in a daemon thread. If it fails, it stops the whole process
    (SIGTERM) rather than let the rest of the worker run on without it."""

    def __init__(self, name: str, work: Callable[[threading.Event], None]) -> None:
        super().__init__(name=name, daemon=True)
        self.work = work
        self.stopping = threading.Event()

    def run(self) -> None:
        try:
            self.work(self.stopping)
        except Exception:
            logger.critical("%s failed; stopping the worker", self.name, exc_info=True)
            os.kill(os.getpid(), signal.SIGTERM)

    def stop(self, timeout: float = 60.0) -> None:
        """Ask the work to finish (it flushes and commits) and wait for it."""
        self.stopping.set()
        self.join(timeout)
