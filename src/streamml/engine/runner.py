"""The scorer's data plane on librdkafka: consume a batch, run the stages, produce, commit.

One consumer in the group consumes every routed topic in batches; each record goes to
its route's handler (a synchronous stage, see :mod:`streamml.process`); its outputs are
produced at once. Then:

- **at-least-once** (default): every ``commit_interval`` seconds, the tables' changed keys
  are produced, the producer is flushed, every delivery is checked, and only then are the
  consumed offsets committed. A crash replays from the last commit: outputs may repeat,
  none is lost, and the changelogs hold at least the state the committed offsets need.
- **exactly-once**: the work of each interval (at most 100 ms) is one Kafka transaction
  holding its outputs, its changelog records and its consumed offsets
  (``send_offsets_to_transaction``, KIP-447 fencing by group generation). Readers use
  ``read_committed``, and so do this engine's own consumer and changelog restore.

Partitions come and go with the group (range assignment, so co-partitioned topics such
as ``transactions`` and ``fraud-customer-frauds`` move together). On assignment a table's
partition is rebuilt from its changelog before any record of it is processed; on
revocation the work done is committed first, then the partition's state is set aside
(kept if the group hands the partition back with its changelog unchanged).
Any delivery or commit failure stops the engine with :class:`StateError`: it never goes
on past an output it could not write.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from streamml import metrics
from streamml.emit import Output
from streamml.engine.restore import ChangelogRestorer
from streamml.engine.tables import ChangelogTable
from streamml.errors import StateError
from streamml.records import Origin

logger = logging.getLogger(__name__)

READY = "engine ready"
"""Logged once the first assignment's state is restored: records flow from here on."""

Handle = Callable[[bytes | None, Origin, bytes | None], list[Output]]

DELIVERY_TIMEOUT = 120.0
"""Seconds an output may wait for the broker (an outage, a leader election) before the
producer gives up on it (``message.timeout.ms``, at-least-once) and the worker stops
uncommitted. Under the consumer's ``max.poll.interval.ms`` (300 s): the group keeps the
scorer while it waits."""

PRODUCER_TUNING: dict[str, Any] = {
    "acks": "all",
    "enable.idempotence": True,
    "linger.ms": 5,
    "batch.size": 1_000_000,
    "compression.type": "lz4",
    "queue.buffering.max.messages": 1_000_000,
    "message.max.bytes": 16 * 1024 * 1024,
    # Java clients' partitioner: keys land where Kafka Streams, Connect and Java producers
    # put them, so our internal topics stay co-partitioned with theirs.
    "partitioner": "murmur2_random",
    "delivery.report.only.error": True,
}


@dataclass(frozen=True, slots=True)
class Route:
    """Records of ``topic`` go to ``handle``; ``tables`` hold state by its partitions."""

    topic: str
    handle: Handle
    tables: tuple[ChangelogTable, ...] = ()


@dataclass(frozen=True, slots=True)
class EngineOptions:
    group: str
    client_config: dict[str, Any]
    exactly_once: bool = False
    batch_size: int = 1000
    commit_interval: float = 1.0
    poll_timeout: float = 0.1


class StreamEngine:
    """Runs ``routes`` in consumer group ``options.group`` until :meth:`run`'s event is
    set; see the module docstring for the delivery guarantees."""

    def __init__(
        self,
        options: EngineOptions,
        routes: Sequence[Route],
        on_tick: Callable[[], None] | None = None,
    ) -> None:
        self.options = options
        self.routes = {route.topic: route for route in routes}
        self.on_tick = on_tick
        self._positions: dict[tuple[str, int], int] = {}
        self._failures: list[str] = []
        self._in: Counter[str] = Counter()
        self._out: Counter[str] = Counter()
        self._in_total: Counter[str] = Counter()
        self._out_total: Counter[str] = Counter()
        self._consumer: Consumer | None = None
        self._producer: Producer | None = None
        self._restorer: ChangelogRestorer | None = None
        self._in_transaction = False
        self._ready = False
        self._retired: dict[tuple[str, int], int] = {}
        self._latency_of: dict[str, Any] = {}

    @property
    def tables(self) -> list[ChangelogTable]:
        unique = {id(t): t for route in self.routes.values() for t in route.tables}
        return list(unique.values())

    def changelog_sources(self) -> dict[str, str]:
        """Each table's changelog and the input topic whose partitions it mirrors."""
        sources: dict[str, str] = {}
        for route in self.routes.values():
            for table in route.tables:
                sources.setdefault(table.changelog, route.topic)
        return sources

    # -- lifecycle ---------------------------------------------------------------------

    def run(self, stopping: threading.Event) -> None:
        opts = self.options
        self._producer = Producer(self._producer_config())
        self._restorer = ChangelogRestorer(opts.client_config, opts.group, opts.exactly_once)
        self._consumer = Consumer(
            {
                **opts.client_config,
                "group.id": opts.group,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "partition.assignment.strategy": "range",
                "isolation.level": "read_committed" if opts.exactly_once else "read_uncommitted",
            }
        )
        if opts.exactly_once:
            self._producer.init_transactions(30)
        self._consumer.subscribe(
            list(self.routes), on_assign=self._assigned, on_revoke=self._revoked, on_lost=self._lost
        )
        logger.info(
            "engine: group %s consuming %s (%s)",
            opts.group,
            ", ".join(self.routes),
            "exactly-once" if opts.exactly_once else "at-least-once",
        )
        try:
            self._loop(stopping)
            self._commit()
        finally:
            self._consumer.close()  # revokes: commits what is left
            self._producer.flush(30)
            self._restorer.close()

    def _loop(self, stopping: threading.Event) -> None:
        assert self._consumer is not None
        last_commit = last_tick = time.monotonic()
        while not stopping.is_set():
            batch = self._fetch()
            if batch:
                self._process(batch)
            now = time.monotonic()
            if now - last_commit >= self._commit_interval():
                self._commit()
                last_commit = now
            if now - last_tick >= 10.0:
                last_tick = now
                self._report()

    # -- one batch ---------------------------------------------------------------------

    def _fetch(self) -> list[Message]:
        """What librdkafka holds, up to a batch, without waiting for a full batch: a
        batch waits only for its first record (latency stays low under light load)."""
        assert self._consumer is not None
        batch = self._consumer.consume(self.options.batch_size, 0)
        if batch:
            return batch
        first = self._consumer.poll(self.options.poll_timeout)
        if first is None:
            return []
        return [first, *self._consumer.consume(self.options.batch_size - 1, 0)]

    def _process(self, batch: list[Message]) -> None:
        assert self._producer is not None
        if self.options.exactly_once and not self._in_transaction:
            self._producer.begin_transaction()
            self._in_transaction = True
        now = time.time()
        routes, observe = self.routes, self._latency
        for message in batch:
            error = message.error()
            if error is not None:
                self._consumer_error(error, message)
                continue
            topic, partition, offset = message.topic(), message.partition(), message.offset()
            assert topic is not None and partition is not None and offset is not None
            route = routes[topic]
            for table in route.tables:
                table.partition = partition
            outputs = route.handle(message.value(), Origin(topic, partition, offset), message.key())
            for out in outputs:
                self._produce(out.topic, out.value, out.key)
                self._out[out.topic] += 1
            self._in[topic] += 1
            self._positions[(topic, partition)] = offset + 1
            if outputs:
                observe(topic, now - message.timestamp()[1] / 1000.0)
        self._producer.poll(0)

    def _latency(self, topic: str, seconds: float) -> None:
        child = self._latency_of.get(topic)
        if child is None:
            child = self._latency_of[topic] = metrics.LATENCY.labels(topic)
        child.observe(max(seconds, 0.0))

    def _produce(
        self, topic: str, value: bytes | None, key: bytes | None, partition: int = -1
    ) -> None:
        assert self._producer is not None
        while True:
            try:
                self._producer.produce(topic, value, key, partition)
                return
            except BufferError:  # the local queue is full: let deliveries drain it
                self._producer.poll(0.05)

    def _write_changelogs(self) -> None:
        for table in self.tables:
            for partition, key, value in table.drain():
                self._produce(table.changelog, value, key, partition)
                self._out[table.changelog] += 1

    def _consumer_error(self, error: KafkaError, message: Message) -> None:
        # librdkafka retries fetches by itself; only a fatal error ends the consumer.
        where = f"{message.topic()}[{message.partition()}]"
        if error.fatal():
            raise StateError(f"consuming {where}: {error}")
        logger.warning("consumer: %s: %s", where, error)

    # -- commits -----------------------------------------------------------------------

    def _commit_interval(self) -> float:
        # Under exactly-once, readers see outputs when the transaction commits.
        opts = self.options
        return min(opts.commit_interval, 0.1) if opts.exactly_once else opts.commit_interval

    def _commit(self) -> None:
        """Make the processed records' outputs and state durable, then their offsets.

        Each table key changed since the last commit goes to the changelog once, with its
        latest value: a busy card is written once a commit, not once an event."""
        self._write_changelogs()
        self._count()
        if self.options.exactly_once:
            self._commit_transaction()
            return
        assert self._consumer is not None
        self._flush()
        if not self._positions:
            return
        offsets = [TopicPartition(t, p, o) for (t, p), o in self._positions.items()]
        try:
            self._consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            error = exc.args[0]
            if isinstance(error, KafkaError) and (error.retriable() or _rebalancing(error)):
                # The broker or the group is busy: the offsets stay and go with the next
                # commit; outputs are already durable, so nothing is lost meanwhile.
                logger.warning("commit of %s postponed: %s", _named(offsets), error)
                return
            raise StateError(f"committing {_named(offsets)}: {error}") from exc
        self._positions.clear()

    def _commit_transaction(self) -> None:
        assert self._producer is not None and self._consumer is not None
        if not self._in_transaction:
            return
        offsets = [TopicPartition(t, p, o) for (t, p), o in self._positions.items()]
        try:
            if offsets:
                metadata = self._consumer.consumer_group_metadata()
                self._producer.send_offsets_to_transaction(offsets, metadata, 30)
            self._producer.commit_transaction(30)
        except KafkaException as error:
            # The batch's outputs are aborted with it; a restart replays the batch.
            raise StateError(f"committing the transaction of {_named(offsets)}: {error}") from error
        self._in_transaction = False
        self._positions.clear()

    def _flush(self) -> None:
        """Until every output is acknowledged or the producer gave up on one."""
        assert self._producer is not None
        wait = DELIVERY_TIMEOUT + 5
        left = self._producer.flush(wait)
        if left or self._failures:
            reasons = "; ".join(self._failures[:5]) or f"{left} records unsent after {wait:.0f} s"
            raise StateError(f"outputs not delivered, offsets not committed: {reasons}")

    def _delivered(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self._failures.append(f"{message.topic()}[{message.partition()}]: {error}")

    # -- the group ---------------------------------------------------------------------

    def _assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        assert self._restorer is not None
        wanted: dict[tuple[str, int], tuple[ChangelogTable, int]] = {}
        for tp in partitions:
            for table in self.routes[tp.topic].tables:
                if not table.owns(tp.partition):
                    wanted[(table.changelog, tp.partition)] = (table, tp.partition)
        kept = [where for where in wanted if self._reinstated(*wanted[where])]
        self._restorer.restore([wanted[w] for w in wanted if w not in kept])
        if kept:
            logger.info("kept the state of %s (no one wrote it since)", _listed(kept))
        if not self._ready:
            self._ready = True
            logger.info("%s: %s (group %s)", READY, _named(partitions), self.options.group)
        else:
            logger.info("assigned %s", _named(partitions))

    def _reinstated(self, table: ChangelogTable, partition: int) -> bool:
        assert self._restorer is not None
        end = self._retired.pop((table.changelog, partition), None)
        if end is None or self._restorer.end(table.changelog, partition) != end:
            table.drop(partition)
            return False
        return table.reinstate(partition)

    def _revoked(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # The open work (a transaction under exactly-once) commits while the group's
        # generation is still ours.
        self._commit()
        assert self._restorer is not None
        # A postponed commit: the state holds records the group will hand out again.
        postponed = bool(self._positions)
        for tp in partitions:
            self._positions.pop((tp.topic, tp.partition), None)
            for table in self.routes[tp.topic].tables:
                if not table.owns(tp.partition):
                    continue
                # Every change is delivered (flushed, or committed in its transaction):
                # the changelog's end says whether anyone wrote it while it was away.
                end = self._restorer.end(table.changelog, tp.partition)
                if end is None or postponed:
                    table.drop(tp.partition)
                else:
                    table.retire(tp.partition)
                    self._retired[(table.changelog, tp.partition)] = end
        logger.info("revoked %s", _named(partitions))

    def _lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Another member may own them already: nothing may be committed for them.
        self._forget(partitions)
        logger.warning("lost %s", _named(partitions))

    def _forget(self, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self._positions.pop((tp.topic, tp.partition), None)
            for table in self.routes[tp.topic].tables:
                table.drop(tp.partition)

    # -- reporting ---------------------------------------------------------------------

    def _count(self) -> None:
        for topic, n in self._in.items():
            metrics.EVENTS_IN.labels(topic).inc(n)
            self._in_total[topic] += n
        for topic, n in self._out.items():
            metrics.EVENTS_OUT.labels(topic).inc(n)
            self._out_total[topic] += n
        self._in.clear()
        self._out.clear()

    def _report(self) -> None:
        logger.info(
            "engine: in %s; out %s; state keys %s",
            dict(self._in_total),
            dict(self._out_total),
            {t.name: t.keys_held() for t in self.tables},
        )
        if self.on_tick is not None:
            self.on_tick()

    def _producer_config(self) -> dict[str, Any]:
        config = {
            **self.options.client_config,
            **PRODUCER_TUNING,
            "on_delivery": self._delivered,
        }
        if self.options.exactly_once:
            # Unique per process; fencing is by group generation (KIP-447). A crashed
            # process's open transaction blocks read_committed readers until it times out.
            config["transactional.id"] = f"{self.options.group}-{uuid.uuid4().hex[:12]}"
            config["transaction.timeout.ms"] = 15_000
        else:
            config["message.timeout.ms"] = int(DELIVERY_TIMEOUT * 1000)
        return config


def _rebalancing(error: KafkaError) -> bool:
    return error.code() in (
        KafkaError.REBALANCE_IN_PROGRESS,
        KafkaError.ILLEGAL_GENERATION,
        KafkaError.UNKNOWN_MEMBER_ID,
        KafkaError._NO_OFFSET,
    )


def _listed(where: Sequence[tuple[str, int]]) -> str:
    return ", ".join(f"{topic}[{partition}]" for topic, partition in where)


def _named(partitions: Sequence[TopicPartition]) -> str:
    return ", ".join(f"{tp.topic}[{tp.partition}]" for tp in partitions) or "nothing"
