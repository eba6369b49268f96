"""The ceiling: a plain confluent-kafka loop around streamml's own stage code.

consume → decode, features, score (the worker's stages, dict state, the customer and
terminal stages chained in memory) → produce. The producer is flushed and the offsets
committed every second (at-least-once). Settings from ``STREAMML_*``; runs until SIGTERM.

    STREAMML_TOPIC_PREFIX=... .venv/bin/python benchmarks/bare_loop.py --task fraud
"""

from __future__ import annotations

import argparse
import signal
import time
from collections.abc import Callable

from confluent_kafka import Consumer, Producer

from streamml.emit import Emitter, Output
from streamml.follow import latest_snapshots
from streamml.fraud_flow import CustomerStage, TerminalStage
from streamml.learn import PendingFeatures
from streamml.models.emotion import emotion_model
from streamml.models.fraud import fraud_model
from streamml.process import TextStage
from streamml.records import Origin
from streamml.score import EmotionScorer, FraudScorer
from streamml.settings import Settings

Handle = Callable[[bytes | None, Origin, bytes | None], list[Output]]


def handlers(settings: Settings, task: str) -> tuple[str, Handle]:
    topics = settings.topics
    emitter = Emitter(topics, settings.output_format)
    pending = PendingFeatures(settings.pending_features_ttl_seconds, settings.pending_features_max)
    # The models the run published, as a scorer starts with them.
    latest = latest_snapshots(settings).values()
    if task == "texts":
        tasks = settings.emotion_tasks
        scorer = EmotionScorer(emotion_model, tasks, settings.emotion_default_taxonomy)
        for snapshot in latest:
            scorer.swap(snapshot.task, snapshot.model(), snapshot.name)
        return topics.texts, TextStage(emitter, topics, scorer, tasks, pending).on_text
    fraud = FraudScorer(fraud_model())
    for snapshot in latest:
        if snapshot.task == fraud.task:
            fraud.swap(snapshot.model(), snapshot.name)
    customers = CustomerStage(emitter, topics, {}, {})
    terminals = TerminalStage(emitter, topics, {}, fraud, pending)

    def handle(raw: bytes | None, origin: Origin, key: bytes | None) -> list[Output]:
        outputs = []
        for out in customers.on_transaction(raw, origin, key):
            if out.topic == topics.fraud_enriched:  # the repartition hop, in memory
                outputs += terminals.on_enriched(out.value, origin, out.key)
            else:
                outputs.append(out)
        return outputs

    return topics.transactions, handle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=["fraud", "texts"], default="fraud")
    args = parser.parse_args()
    settings = Settings()
    topic, handle = handlers(settings, args.task)
    client = settings.kafka_client_config()
    consumer = Consumer(
        {
            **client,
            "group.id": f"{settings.app_id}-bare",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    producer = Producer({**client, "linger.ms": 5, "partitioner": "murmur2_random"})
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    consumer.subscribe([topic])
    last_commit = time.monotonic()
    while not stopping:
        for message in consumer.consume(500, timeout=0.2):
            if message.error() is not None:
                continue
            origin = Origin(
                message.topic() or topic, message.partition() or 0, message.offset() or 0
            )
            for out in handle(message.value(), origin, message.key()):
                producer.produce(out.topic, out.value, out.key)
        producer.poll(0)
        if time.monotonic() - last_commit >= 1.0:
            producer.flush()
            consumer.commit(asynchronous=False) if consumer.assignment() else None
            last_commit = time.monotonic()
    producer.flush()
    consumer.close()


if __name__ == "__main__":
    main()
