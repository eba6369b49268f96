"""``streamml worker``: run the Faust worker until SIGINT/SIGTERM."""

from __future__ import annotations

import logging
import signal
import threading

import faust

from streamml.admin import ensure_topics
from streamml.app import build_app
from streamml.settings import Settings
from streamml.sink import LakeSink, SinkThread


def run_worker(settings: Settings, loglevel: str = "info") -> None:
    """Create missing topics, then run the worker in this process until stopped.

    With ``STREAMML_LAKE_URL`` set (and the sink enabled), the lake sink runs beside it;
    role ``sink`` runs only the sink.
    """
    ensure_topics(settings)
    if settings.role == "sink":
        run_sink(settings)
        return
    sink = SinkThread(settings) if settings.lake_url and settings.sink_enabled else None
    if sink is not None:
        sink.start()
    try:
        app = build_app(settings)
        worker = faust.Worker(app, loglevel=loglevel, redirect_stdouts=False)
        worker.execute_from_commandline()
    finally:
        if sink is not None:
            sink.stop()


def run_sink(settings: Settings) -> None:
    """Only the lake sink, in the foreground, until SIGINT/SIGTERM."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    LakeSink(settings, settings.lake()).run(stopping)
