"""Brokers failing under a running worker, on clusters of the test's own (containers):
the only broker stopped for 20 s, and the leader of the busiest partitions of a
three-broker cluster killed. The worker (scorer and trainer) carries on by itself and
every transaction gets its prediction."""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from streamml.admin import ensure_topics
from streamml.datasets import SourceOptions, get_source
from streamml.produce import ReplaySummary, replay
from streamml.records import Transaction
from streamml.settings import Settings
from tests.containers import KafkaCluster
from tests.integration.worker_process import (
    predictions_of,
    read_topics,
    start_worker,
    wait_until_ready,
)

pytestmark = pytest.mark.integration

# Two days of transactions (about 19,000) and their labels, at a rate that keeps the
# stream going through the fault.
END = datetime(2018, 4, 3, tzinfo=UTC)
RATE = 1000


class Run:
    """A worker (role ``all``) on ``settings`` and a replay of two days of the fraud
    stream into it, in the background."""

    def __init__(self, settings: Settings, tmp_path: Path) -> None:
        self.settings = settings
        ensure_topics(settings)
        records = list(get_source("fraud", settings, SourceOptions(end=END)).records())
        self.ids = {r.event_id for r in records if isinstance(r, Transaction)}
        self.log = tmp_path / "worker.log"
        self.worker = start_worker(settings, self.log)
        wait_until_ready(self.log, self.worker, timeout=180)
        self.replayed: list[ReplaySummary] = []
        # The replay's producer waits out the fault too (its flush up to 5 min).
        self.producing = threading.Thread(
            target=lambda: self.replayed.append(
                replay(settings, records, rate=RATE, progress=False, flush_timeout=300)
            )
        )
        self.producing.start()

    def predicted(self, count: int, timeout: float = 120) -> None:
        """Until ``count`` predictions are on their topic."""
        topic = self.settings.topics.fraud_predictions
        seen = read_topics(self.settings, [topic], lambda c: c[topic] >= count, timeout)
        assert len(seen[topic]) >= count, f"only {len(seen[topic])} predictions"

    def finish(self) -> Counter[str]:
        """Predictions per transaction once the replay is done; the worker must still be
        the one started (it recovered by itself) and stop cleanly."""
        self.producing.join(330)
        assert self.replayed and not self.replayed[0].failed, self.replayed
        counts = predictions_of(self.settings, self.ids, read_committed=False)
        tail = self.log.read_text(errors="replace")[-3000:]
        assert self.worker.poll() is None, f"the worker exited:\n{tail}"
        self.worker.send_signal(signal.SIGTERM)
        assert self.worker.wait(90) == 0, tail
        return counts

    def stop(self) -> None:
        if self.worker.poll() is None:
            self.worker.kill()
        self.producing.join(330)

    def report(self, fault: str, counts: Counter[str]) -> None:
        missing = self.ids - set(counts)
        duplicates = sum(counts.values()) - len(counts)
        # The figures docs/RELIABILITY.md quotes (pytest -s shows them).
        print(f"\n{fault}: {len(self.ids)} events, {len(missing)} lost, {duplicates} duplicates")
        assert not missing, f"{len(missing)} transactions without a prediction"


@pytest.fixture
def run_on(
    settings_factory: Callable[..., Settings], tmp_path: Path
) -> Iterator[Callable[..., Run]]:
    runs: list[Run] = []

    def start(cluster: KafkaCluster, **overrides: object) -> Run:
        settings = settings_factory(kafka_bootstrap_servers=cluster.bootstrap, **overrides)
        runs.append(Run(settings, tmp_path))
        return runs[-1]

    yield start
    for run in runs:
        run.stop()


def test_the_worker_reconnects_after_its_broker_was_stopped_for_20_seconds(
    kafka_image: str, run_on: Callable[..., Run]
) -> None:
    with KafkaCluster(kafka_image, size=1) as cluster:
        run = run_on(cluster)
        try:
            run.predicted(2000)
            cluster.stop(1)
            time.sleep(20)
            cluster.start(1)
            counts = run.finish()
        finally:
            run.stop()
    run.report("broker stopped 20 s", counts)


def test_the_worker_carries_on_when_the_leader_of_the_busiest_partitions_dies(
    kafka_image: str, run_on: Callable[..., Run]
) -> None:
    with KafkaCluster(kafka_image, size=3) as cluster:
        run = run_on(cluster, topic_replication_factor=3, topic_config={"min.insync.replicas": "2"})
        try:
            run.predicted(2000)
            topics = [run.settings.topics.transactions, run.settings.topics.fraud_predictions]
            victim = busiest_leader(cluster.bootstrap, topics)
            cluster.kill(victim)
            # Leadership moves to the other replicas while the stream goes on.
            wait_for(lambda: victim not in leaders(cluster.bootstrap, topics).values(), 60)
            run.predicted(len(run.ids) // 2, timeout=180)
            cluster.start(victim)
            counts = run.finish()
            # The broker catches up: it is back in every partition's in-sync replicas.
            wait_for(lambda: all(victim in isr for isr in in_sync(cluster.bootstrap, topics)), 120)
        finally:
            run.stop()
    run.report("leader of the busiest partitions killed (3 brokers)", counts)


def leaders(bootstrap: str, topics: list[str]) -> dict[tuple[str, int], int]:
    """The leader of each partition of ``topics``."""
    metadata = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10)
    return {
        (topic, p.id): p.leader
        for topic in topics
        for p in metadata.topics[topic].partitions.values()
    }


def in_sync(bootstrap: str, topics: list[str]) -> list[list[int]]:
    metadata = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10)
    return [list(p.isrs) for t in topics for p in metadata.topics[t].partitions.values()]


def busiest_leader(bootstrap: str, topics: list[str]) -> int:
    """The broker leading most partitions of ``topics`` (the input and the scores: all
    the records pass through them)."""
    return Counter(leaders(bootstrap, topics).values()).most_common(1)[0][0]


def wait_for(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout} s"
        time.sleep(1)
