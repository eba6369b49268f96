"""``streamml worker``: run this process's role until SIGINT/SIGTERM.

``scorer``: the engine (:mod:`streamml.scorer`) in the foreground; ``trainer``: the Faust
worker; ``all``: the Faust trainer with the scorer in a thread beside it; ``sink``: the
lake sink alone (beside any other role when a lake is set).
"""

from __future__ import annotations

import faulthandler
import logging
import signal
import threading

import faust

from streamml.admin import ensure_topics
from streamml.app import build_app
from streamml.scorer import Scorer
from streamml.settings import Settings
from streamml.sink import LakeSink
from streamml.threads import VitalThread

logger = logging.getLogger(__name__)


def run_worker(settings: Settings, loglevel: str = "info") -> None:
    """Create missing topics, then run the worker in this process until stopped.

    With ``STREAMML_LAKE_URL`` set (and the sink enabled), the lake sink runs beside it;
    role ``sink`` runs only the sink.
    """
    # A crash in native code (librdkafka, the compiled models) leaves every thread's
    # Python stack on stderr instead of nothing.
    faulthandler.enable()
    ensure_topics(settings)
    observe(settings)
    if settings.role == "sink":
        run_sink(settings)
        return
    sink = None
    if settings.lake_url and settings.sink_enabled:
        sink = VitalThread("lake-sink", LakeSink(settings, settings.lake()).run)
    if sink is not None:
        sink.start()
    try:
        if settings.role == "scorer":
            run_scorer(settings)
        else:
            run_trainer(settings, loglevel)
    finally:
        if sink is not None:
            sink.stop()


def run_trainer(settings: Settings, loglevel: str) -> None:
    """The Faust trainer in the foreground; with role ``all``, the scorer beside it."""
    scorer = VitalThread("scorer", Scorer(settings).run) if settings.role == "all" else None
    if scorer is not None:
        scorer.start()
    try:
        worker = faust.Worker(build_app(settings), loglevel=loglevel, redirect_stdouts=False)
        worker.execute_from_commandline()
    finally:
        if scorer is not None:
            scorer.stop()


def run_scorer(settings: Settings) -> None:
    """Only the scorer, in the foreground, until SIGINT/SIGTERM."""
    _log_to_stderr()
    Scorer(settings).run(_stop_on_signals())


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
    if settings.role in ("scorer", "all"):
        groups[settings.app_id] = settings.topics.scored()
    if settings.role in ("trainer", "all"):
        groups[settings.trainer_group] = settings.topics.training()
    if settings.role == "sink" or (settings.lake_url and settings.sink_enabled):
        groups[f"{settings.app_id}-sink"] = settings.sink_topic_names()
    config = settings.kafka_client_config()
    metrics.LagMonitor(config, groups, health, settings.lag_interval_seconds).start()


def run_sink(settings: Settings) -> None:
    """Only the lake sink, in the foreground, until SIGINT/SIGTERM."""
    _log_to_stderr()
    LakeSink(settings, settings.lake()).run(_stop_on_signals())


def _log_to_stderr() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def _stop_on_signals() -> threading.Event:
    stopping = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    return stopping
