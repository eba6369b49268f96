"""Process metrics for Prometheus and a health check, on 127.0.0.1 by default.

``GET /metrics`` serves the counters below in Prometheus' text format; ``GET /healthz``
answers 200 while the process makes progress and 503 once a partition it owns has had
records waiting, without its group's committed offset moving, for
``health_stall_seconds``. Lag comes from the broker (the group's committed offsets
against the partitions' ends), measured every ``lag_interval_seconds`` by
:class:`LagMonitor`, so it is the lag a Kafka operator sees.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

logger = logging.getLogger(__name__)

REGISTRY = CollectorRegistry()
EVENTS_IN = Counter(
    "streamml_events_in", "Records consumed, by topic.", ["topic"], registry=REGISTRY
)
EVENTS_OUT = Counter(
    "streamml_events_out", "Records produced, by topic.", ["topic"], registry=REGISTRY
)
DEAD_LETTERS = Counter(
    "streamml_dead_letters", "Records dead-lettered, by reason.", ["reason"], registry=REGISTRY
)
LATENCY = Histogram(
    "streamml_event_to_output_seconds",
    "From the input record's Kafka timestamp to its output (prediction) being sent.",
    ["topic"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    registry=REGISTRY,
)
MODEL_VERSION = Gauge(
    "streamml_model_version",
    "Version number of the model in use (scorer: served; trainer: learning).",
    ["task", "role"],
    registry=REGISTRY,
)
DRIFT_ALERTS = Counter(
    "streamml_drift_alerts",
    "Drift alerts published, by task, kind and state.",
    ["task", "kind", "state"],
    registry=REGISTRY,
)
SINK_FLUSH = Histogram(
    "streamml_sink_flush_seconds",
    "Time to write one batch to the object store, retries included.",
    ["topic"],
    registry=REGISTRY,
)
SINK_BYTES = Counter(
    "streamml_sink_bytes", "Bytes written to the object store.", ["topic"], registry=REGISTRY
)
SINK_RECORDS = Counter(
    "streamml_sink_records", "Records written to the object store.", ["topic"], registry=REGISTRY
)
LAG = Gauge(
    "streamml_consumer_lag",
    "Records behind the end of the partition, per consumer group.",
    ["group", "topic", "partition"],
    registry=REGISTRY,
)

Partition = tuple[str, int]


@dataclass(slots=True)
class PartitionState:
    committed: int
    lag: int
    since: float  # when the committed offset last moved (or the lag was last zero)


@dataclass
class Health:
    """Whether the partitions this process owns are moving (see the module docstring)."""

    stall_seconds: float
    owned: Callable[[], Iterable[Partition]] | None = None
    """This process's partitions; ``None``: every partition of its groups."""
    clock: Callable[[], float] = time.monotonic
    partitions: dict[tuple[str, str, int], PartitionState] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def observe(self, group: str, topic: str, partition: int, committed: int, lag: int) -> None:
        now = self.clock()
        key = (group, topic, partition)
        with self._lock:
            state = self.partitions.get(key)
            if state is None or state.committed != committed or lag <= 0:
                self.partitions[key] = PartitionState(committed, lag, now)
            else:
                state.lag = lag

    def stalled(self) -> list[str]:
        """The owned partitions that have waited too long, as ``group/topic[p]``."""
        now = self.clock()
        owned = None if self.owned is None else set(self.owned())
        with self._lock:
            return sorted(
                f"{group}/{topic}[{partition}] lag {state.lag}"
                for (group, topic, partition), state in self.partitions.items()
                if state.lag > 0
                and now - state.since > self.stall_seconds
                and (owned is None or (topic, partition) in owned)
            )


class LagMonitor(threading.Thread):
    """Every ``interval`` seconds, each group's lag per partition of its topics: gauges
    and :class:`Health`. Broker errors are logged and retried at the next round.

    It reads through one consumer per group that never joins it (``committed()`` and
    watermarks), not through the Admin API: librdkafka 2.16's admin requests abort the
    process (``rd_kafka_enq_once_del_source_return`` assertion) when they time out while
    the broker is away, which an outage test caught."""

    def __init__(
        self,
        client_config: dict[str, Any],
        groups: dict[str, list[str]],
        health: Health,
        interval: float,
        timeout: float = 10.0,
    ) -> None:
        super().__init__(name="lag-monitor", daemon=True)
        self.client_config = dict(client_config)
        self.groups = groups
        self.health = health
        self.interval = interval
        self.timeout = timeout
        self.stopping = threading.Event()
        self._readers: dict[str, Any] = {}

    def run(self) -> None:
        try:
            while not self.stopping.wait(self.interval):
                for group, topics in self.groups.items():
                    try:
                        self.measure(group, topics)
                    except Exception as error:  # the broker is away: try again next round
                        logger.warning("lag of group %s not measured: %s", group, error)
        finally:
            for reader in self._readers.values():
                reader.close()

    def measure(self, group: str, topics: list[str]) -> dict[Partition, int]:
        """The lag of ``group`` on every partition of ``topics`` it has committed on."""
        from confluent_kafka import TopicPartition

        reader = self._reader(group)
        metadata = reader.list_topics(timeout=self.timeout).topics
        partitions = [
            TopicPartition(topic, p)
            for topic in topics
            if topic in metadata and metadata[topic].error is None
            for p in sorted(metadata[topic].partitions)
        ]
        if not partitions:
            return {}
        lags = {}
        for tp in reader.committed(partitions, timeout=self.timeout):
            if tp.error is not None or tp.offset < 0:
                continue  # nothing committed there yet
            where = TopicPartition(tp.topic, tp.partition)
            _, end = reader.get_watermark_offsets(where, timeout=self.timeout, cached=False)
            lag = max(0, end - tp.offset)
            lags[(tp.topic, tp.partition)] = lag
            LAG.labels(group, tp.topic, str(tp.partition)).set(lag)
            self.health.observe(group, tp.topic, tp.partition, tp.offset, lag)
        return lags

    def _reader(self, group: str) -> Any:
        """A consumer of ``group`` that reads its offsets and never subscribes."""
        if group not in self._readers:
            from confluent_kafka import Consumer

            self._readers[group] = Consumer(
                {
                    **self.client_config,
                    "group.id": group,
                    "enable.auto.commit": False,
                    "client.id": f"streamml-lag-{group}",
                }
            )
        return self._readers[group]


class _Handler(BaseHTTPRequestHandler):
    health: Health

    def do_GET(self) -> None:
        if self.path == "/metrics":
            self._reply(200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST)
        elif self.path == "/healthz":
            stalled = self.health.stalled()
            body = {"status": "stalled" if stalled else "ok", "stalled": stalled}
            self._reply(503 if stalled else 200, json.dumps(body).encode(), "application/json")
        else:
            self._reply(404, b"not found\n", "text/plain")

    def _reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("metrics: " + format, *args)


def serve(host: str, port: int, health: Health) -> ThreadingHTTPServer:
    """Serve ``/metrics`` and ``/healthz`` on ``host:port`` from a daemon thread (port 0:
    any free one, see ``server.server_address``)."""
    handler = type("Handler", (_Handler,), {"health": health})
    server = ThreadingHTTPServer((host, port), handler)
    threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True).start()
    logger.info("metrics on http://%s:%d/metrics, health on /healthz", *server.server_address[:2])
    return server
