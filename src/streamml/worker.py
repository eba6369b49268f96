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

logger = logging.getLogger(__name__)


def run_worker(settings: Settings, loglevel: str = "info") -> None:
    """Create missing topics, then run the worker in this process until stopped.

    With ``STREAMML_LAKE_URL`` set (and the sink enabled), the lake sink runs beside it;
    role ``sink`` runs only the sink.
    """
    ensure_topics(settings)
    observe(settings)
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


def observe(settings: Settings) -> None:
    """Serve this process's metrics and health, and measure its groups' lag."""
    if not settings.metrics_enabled:
        return
    from streamml import metrics

    health = metrics.Health(settings.health_stall_seconds)
    try:
        metrics.serve(settings.metrics_host, settings.metrics_port, health)
    except OSError as error:
        # Several processes on one machine: the next free port, named in the log.
        logger.warning(
            "STREAMML_METRICS_PORT %d on %s: %s; using a free port",
            settings.metrics_port,
            settings.metrics_host,
            error.strerror,
        )
        metrics.serve(settings.metrics_host, 0, health)
    groups: dict[str, list[str]] = {}
    if settings.role != "sink":
        groups[settings.worker_group] = settings.topics.all()
    if settings.role == "sink" or (settings.lake_url and settings.sink_enabled):
        groups[f"{settings.app_id}-sink"] = settings.sink_topic_names()
    config = settings.kafka_client_config()
    metrics.LagMonitor(config, groups, health, settings.lag_interval_seconds).start()


def run_sink(settings: Settings) -> None:
    """Only the lake sink, in the foreground, until SIGINT/SIGTERM."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    LakeSink(settings, settings.lake()).run(stopping)
