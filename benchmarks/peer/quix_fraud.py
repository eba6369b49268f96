"""streamml's fraud scoring pipeline on Quix Streams: the benchmark's "peer".

The same two stages as the streamml worker (:mod:`streamml.fraud_flow`), built the way
:func:`streamml.app._register_scorer` builds them; only the framework differs:

- stage 1: ``transactions`` (keyed by customer) → ``CustomerStage.on_transaction`` with
  the customer and session states in Quix's state store → ``fraud-enriched`` (keyed by
  terminal);
- stage 2: ``fraud-enriched`` → ``TerminalStage.on_enriched`` with the terminal state in
  Quix's state store → ``fraud-predictions`` (and dead letters, if any).

One Application, two StreamingDataFrames, Quix's defaults: at-least-once checkpoints
every 5 s, RocksDB stores backed by changelog topics. Outputs are stamped with their
send time (``set_timestamp``), as the Faust worker's are, not with their input's. The
process stops by itself once it has produced ``--events`` predictions, after flushing,
and prints one JSON line.
Runs in its own venv (``benchmarks/peer/setup.sh``)::

    .venv-peer/bin/python benchmarks/peer/quix_fraud.py --bootstrap 127.0.0.1:9092 \\
        --topic-prefix bench- --app-id quix-peer --state-dir /tmp/quix-state --events 20000
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Iterator, MutableMapping
from typing import Any

import quixstreams
from quixstreams import Application, State, message_context
from quixstreams.models.serializers import SerializationContext, Serializer

from streamml.emit import Emitter, Output
from streamml.follow import latest_snapshots
from streamml.fraud_flow import CustomerStage, TerminalStage
from streamml.learn import PendingFeatures
from streamml.models.fraud import fraud_model
from streamml.records import Origin
from streamml.score import FraudScorer
from streamml.settings import Settings

logger = logging.getLogger("quix_fraud")
REPORT_EVERY_SECONDS = 10.0


class StateMapping(MutableMapping[str, bytes]):
    """One named table of a stage over the Quix ``State`` of the message in hand.

    Quix scopes a ``State`` to the current message's key; the stages only touch the
    entry of that key (the customer of a transaction, the terminal of an enriched
    event), so the mapping keeps the stage's own key under a namespace (two tables share
    the customer stage's store) and stores the stage's bytes raw, as the Faust tables
    do. :meth:`bind` points it at the next message's state.
    """

    __slots__ = ("_namespace", "_state")

    def __init__(self, name: str) -> None:
        self._namespace = name.encode() + b"/"
        self._state: State | None = None

    def bind(self, state: State) -> None:
        self._state = state

    def _current(self) -> State:
        if self._state is None:
            raise RuntimeError(f"{self._namespace!r}: no message state bound")
        return self._state

    def get(self, key: str, default: Any = None) -> Any:  # hot path: one lookup
        return self._current().get_bytes(self._namespace + key.encode(), default)

    def __getitem__(self, key: str) -> bytes:
        value = self._current().get_bytes(self._namespace + key.encode())
        if value is None:
            raise KeyError(key)
        return value

    def __setitem__(self, key: str, value: bytes) -> None:
        self._current().set_bytes(self._namespace + key.encode(), value)

    def __delitem__(self, key: str) -> None:
        state = self._current()
        name = self._namespace + key.encode()
        if not state.exists(name):
            raise KeyError(key)
        state.delete(name)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._current().exists(self._namespace + key.encode())

    def __iter__(self) -> Iterator[str]:
        raise TypeError("a Quix State holds the current message's key only: it has no listing")

    def __len__(self) -> int:
        raise TypeError("a Quix State holds the current message's key only: it has no size")


class OutputValue(Serializer):
    """Serializes a stage's :class:`Output` to its already-encoded value bytes."""

    def __call__(self, value: Output, ctx: SerializationContext) -> bytes:
        return value.value


def _origin() -> Origin:
    ctx = message_context()
    return Origin(ctx.topic, ctx.partition, ctx.offset)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap", default="127.0.0.1:9092", help="HOST:PORT[,...]")
    parser.add_argument("--topic-prefix", default="", help="streamml's STREAMML_TOPIC_PREFIX")
    parser.add_argument("--app-id", required=True, help="Quix consumer group (and changelogs)")
    parser.add_argument("--state-dir", required=True, help="RocksDB state directory")
    parser.add_argument("--events", type=int, required=True, help="stop after N predictions")
    parser.add_argument("--loglevel", default="INFO")
    return parser.parse_args(argv)


def served_scorer(settings: Settings) -> FraudScorer:
    """The fraud scorer with the model the run published, as a streamml scorer starts."""
    scorer = FraudScorer(fraud_model())
    for snapshot in latest_snapshots(settings).values():
        if snapshot.task == scorer.task:
            scorer.swap(snapshot.model(), snapshot.name)
    return scorer


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=args.loglevel,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    settings = Settings(topic_prefix=args.topic_prefix, kafka_bootstrap_servers=args.bootstrap)
    topics = settings.topics
    emitter = Emitter(topics, settings.output_format)

    # The stages exactly as the worker's scorer role builds them (streamml.app).
    customers, sessions, terminals = (
        StateMapping("fraud-customers"),
        StateMapping("fraud-sessions"),
        StateMapping("fraud-terminals"),
    )
    customer_stage = CustomerStage(emitter, topics, customers, sessions)
    scorer = served_scorer(settings)
    pending = PendingFeatures(settings.pending_features_ttl_seconds, settings.pending_features_max)
    terminal_stage = TerminalStage(emitter, topics, terminals, scorer, pending)

    app = Application(
        broker_address=args.bootstrap,
        consumer_group=args.app_id,
        auto_offset_reset="earliest",  # as the worker: a new group reads from the start
        state_dir=args.state_dir,
        loglevel=args.loglevel,
    )

    def topic(name: str) -> Any:
        return app.topic(
            name,
            key_deserializer="bytes",
            value_deserializer="bytes",
            key_serializer="bytes",
            value_serializer=OutputValue(),
        )

    # Every topic either stage may write (dead letters, card frauds from labels too).
    outputs = {
        name: topic(name)
        for name in (
            topics.fraud_enriched,
            topics.fraud_predictions,
            topics.dead_letters,
            topics.fraud_customer_frauds,
            topics.fraud_training,
        )
    }
    transactions = topic(topics.transactions)

    def to(value: Output, key: Any, timestamp: int, headers: Any) -> Any:
        return outputs[value.topic]

    def now_ms(value: Output, key: Any, timestamp: int, headers: Any) -> int:
        # Quix gives outputs their input's timestamp; Faust and a bare producer stamp the
        # send time, which is what the benchmark reads off the predictions.
        return time.time_ns() // 1_000_000

    def by_customer(value: bytes, key: bytes, timestamp: int, headers: Any, state: State) -> Any:
        customers.bind(state)
        sessions.bind(state)
        return customer_stage.on_transaction(value, _origin(), key)

    def by_terminal(value: bytes, key: bytes, timestamp: int, headers: Any, state: State) -> Any:
        terminals.bind(state)
        return terminal_stage.on_enriched(value, _origin(), key)

    started = 0.0  # set right before app.run(): "seconds" count from the app's start
    progress = {"predictions": 0, "first": 0.0, "nth": 0.0, "reported": 0.0}

    def count(value: Output) -> None:
        if value.topic != topics.fraud_predictions:
            return
        progress["predictions"] += 1
        n = progress["predictions"]
        now = time.perf_counter()
        if n == 1:
            progress["first"] = now - started
        if n == args.events:
            progress["nth"] = now - started
            logger.info("prediction %d produced after %.2f s: stopping", n, now - started)
            app.stop()  # the run loop exits after this message and commits (flushes)
        if now - progress["reported"] >= REPORT_EVERY_SECONDS:
            progress["reported"] = now
            counts = customer_stage.counts + terminal_stage.counts
            logger.info(
                "peer: %s; model %s; pending %d", dict(counts), scorer.version, len(pending)
            )

    (
        app.dataframe(transactions)
        .apply(by_customer, stateful=True, metadata=True, expand=True)
        .set_timestamp(now_ms)
        .to_topic(to, key=lambda out: out.key)
    )
    (
        app.dataframe(outputs[topics.fraud_enriched])
        .apply(by_terminal, stateful=True, metadata=True, expand=True)
        .set_timestamp(now_ms)
        .to_topic(to, key=lambda out: out.key)
        .update(count)
    )

    started = time.perf_counter()
    progress["reported"] = started
    app.run()
    flushed = time.perf_counter() - started
    made = progress["predictions"]
    logger.info(
        "stopped: %d predictions, %s", made, dict(customer_stage.counts + terminal_stage.counts)
    )
    if made < args.events:
        logger.error("stopped before the %d-th prediction (%d made)", args.events, made)
        return 1
    seconds = progress["nth"]
    print(
        json.dumps(
            {
                "peer": "quixstreams",
                "version": quixstreams.__version__,
                "events": args.events,
                "seconds": round(seconds, 3),
                "events_per_second": round(args.events / seconds, 1) if seconds else None,
                "first_prediction_seconds": round(progress["first"], 3),
                "flushed_seconds": round(flushed, 3),
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
