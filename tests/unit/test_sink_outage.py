"""The lake sink's batching, pause and commit logic against a consumer that behaves like
librdkafka's (records fetched before a pause still arrive; a rebalance drops what was
fetched and starts again from the committed offsets) and a store that fails for a while:
every record lands exactly once."""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from confluent_kafka import TIMESTAMP_CREATE_TIME, TopicPartition

from streamml.contracts import encode_record
from streamml.records import Transaction
from streamml.settings import Settings
from streamml.sink import LakeSink
from streamml.store import FileStore, StoreError

START = datetime(2024, 3, 1, 9, 40, tzinfo=UTC)
PARTITIONS = 3


@dataclass
class FakeMessage:
    _topic: str
    _partition: int
    _offset: int
    _value: bytes
    _ms: int

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def value(self) -> bytes:
        return self._value

    def timestamp(self) -> tuple[int, int]:
        return TIMESTAMP_CREATE_TIME, self._ms

    def error(self) -> None:
        return None


@dataclass
class PrefetchingConsumer:
    """Delivers each partition's log in fetches of ``fetch`` records. Like librdkafka, a
    pause stops only later fetches: records already fetched keep coming."""

    logs: dict[tuple[str, int], list[FakeMessage]]
    stop: threading.Event
    fetch: int = 500  # more than the sink takes per poll, as with librdkafka
    positions: dict[tuple[str, int], int] = field(default_factory=dict)
    queue: list[FakeMessage] = field(default_factory=list)
    paused: set[tuple[str, int]] = field(default_factory=set)
    committed: dict[tuple[str, int], int] = field(default_factory=dict)
    idle_polls: int = 0
    now: float = 0.0  # the sink's clock: each poll waits its timeout
    rebalance_at: int | None = None  # the poll at which the group rebalances
    polls: int = 0
    callbacks: tuple[Any, Any] | None = None

    def subscribe(self, topics: list[str], on_assign: Any, on_revoke: Any) -> None:
        self.callbacks = on_assign, on_revoke
        on_assign(self, self.assignment())

    def rebalance(self) -> None:
        """Revoke and assign again: fetching restarts from the committed offsets."""
        assert self.callbacks is not None
        on_assign, on_revoke = self.callbacks
        on_revoke(self, self.assignment())
        self.queue = []
        self.positions = {here: self.committed.get(here, 0) for here in self.logs}
        on_assign(self, self.assignment())

    def consume(self, num_messages: int, timeout: float) -> list[FakeMessage]:
        self.now += timeout
        self.polls += 1
        if self.polls == self.rebalance_at:
            self.rebalance()
        if not self.queue:
            for here, log in self.logs.items():
                if here not in self.paused:
                    start = self.positions.get(here, 0)
                    self.queue += log[start : start + self.fetch]
                    self.positions[here] = min(start + self.fetch, len(log))
        taken, self.queue = self.queue[:num_messages], self.queue[num_messages:]
        done = all(self.committed.get(here, 0) == len(log) for here, log in self.logs.items())
        self.idle_polls = self.idle_polls + 1 if not (taken or self.paused) else 0
        if done or self.idle_polls > 200:
            self.stop.set()
        return taken

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition(t, p) for t, p in self.logs]

    def pause(self, partitions: list[TopicPartition]) -> None:
        self.paused |= {(tp.topic, tp.partition) for tp in partitions}

    def resume(self, partitions: list[TopicPartition]) -> None:
        self.paused -= {(tp.topic, tp.partition) for tp in partitions}

    def commit(self, offsets: list[TopicPartition], asynchronous: bool) -> None:
        for tp in offsets:
            self.committed[(tp.topic, tp.partition)] = tp.offset

    def close(self) -> None:
        pass


class FlakyStore(FileStore):
    """Fails ``failures`` puts in a row, starting at the ``fail_from``-th."""

    def __init__(self, root: Path, fail_from: int, failures: int) -> None:
        super().__init__(f"file://{root}", root)
        self.puts = 0
        self.fail_from, self.failures = fail_from, failures

    def put(self, key: str, data: bytes) -> None:
        self.puts += 1
        if self.fail_from <= self.puts < self.fail_from + self.failures:
            raise StoreError(f"{self.url}: {key}: the store is down")
        super().put(key, data)


def logs(topic: str, n: int) -> dict[tuple[str, int], list[FakeMessage]]:
    out: dict[tuple[str, int], list[FakeMessage]] = {(topic, p): [] for p in range(PARTITIONS)}
    for i in range(n):
        when = START + timedelta(seconds=2 * i)  # several hours: hour partitions roll too
        tx = Transaction(f"tx-{i:05d}", when, f"c{i % 7}", f"t{i % 11}", 10.0 + i, "web")
        log = out[(topic, i % PARTITIONS)]
        ms = int(when.timestamp() * 1000)
        log.append(FakeMessage(topic, i % PARTITIONS, len(log), encode_record(tx, "avro"), ms))
    return out


def landed_ids(store: FileStore) -> list[str]:
    ids: list[str] = []
    for key in store.list(""):
        data = store.get(key)
        assert data is not None
        ids += pq.read_table(io.BytesIO(data)).column("event_id").to_pylist()
    return ids


def run_sink(
    tmp_path: Path, fail_from: int, failures: int, n: int = 9000, **consumer: Any
) -> list[str]:
    settings = Settings(
        sink_topics=("transactions",), sink_max_records=250, sink_idle_seconds=3600.0
    )
    topic = settings.topics.transactions
    stop = threading.Event()
    consumer = PrefetchingConsumer(logs(topic, n), stop, **consumer)
    store = FlakyStore(tmp_path / "lake", fail_from, failures)
    sink = LakeSink(settings, store, clock=lambda: consumer.now, consumer=lambda _: consumer)
    sink.run(stop)
    assert consumer.committed == {here: len(log) for here, log in consumer.logs.items()}
    return landed_ids(store)


def test_every_record_lands_once_when_the_store_is_healthy(tmp_path: Path) -> None:
    ids = run_sink(tmp_path, fail_from=10**9, failures=0)
    assert sorted(ids) == [f"tx-{i:05d}" for i in range(9000)]


def test_a_store_outage_mid_stream_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    ids = run_sink(tmp_path, fail_from=7, failures=12)
    assert len(ids) == len(set(ids)), f"{len(ids) - len(set(ids))} duplicates"
    assert sorted(ids) == [f"tx-{i:05d}" for i in range(9000)]


def test_a_rebalance_mid_stream_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    # librdkafka drops what it fetched for revoked partitions and fetches again from the
    # committed offsets: the open batches start over there.
    ids = run_sink(tmp_path, fail_from=10**9, failures=0, rebalance_at=4)
    assert len(ids) == len(set(ids)), f"{len(ids) - len(set(ids))} duplicates"
    assert sorted(ids) == [f"tx-{i:05d}" for i in range(9000)]


@pytest.mark.parametrize("rebalance_at", [6, 9, 14])
def test_a_rebalance_during_an_outage_loses_and_duplicates_nothing(
    tmp_path: Path, rebalance_at: int
) -> None:
    # The sink waits for the store inside a poll loop: the partitions come back under a new
    # assignment while the records of the poll before the outage are still in hand.
    ids = run_sink(tmp_path, fail_from=5, failures=6, rebalance_at=rebalance_at)
    assert len(ids) == len(set(ids)), f"{len(ids) - len(set(ids))} duplicates"
    assert sorted(ids) == [f"tx-{i:05d}" for i in range(9000)]
