"""``streamml worker``: run the Faust worker until SIGINT/SIGTERM."""

from __future__ import annotations

import faust

from streamml.admin import ensure_topics
from streamml.app import build_app
from streamml.settings import Settings


def run_worker(settings: Settings, loglevel: str = "info") -> None:
    """Create missing topics, then run the worker in this process until stopped."""
    ensure_topics(settings)
    app = build_app(settings)
    worker = faust.Worker(app, loglevel=loglevel, redirect_stdouts=False)
    worker.execute_from_commandline()
