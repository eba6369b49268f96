"""The end-to-end slice on the real broker: every valid event gets exactly one prediction,
every malformed record exactly one dead letter naming its origin and reason."""

from __future__ import annotations

import json
import random
import signal
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer

from streamml.admin import ensure_topics
from streamml.contracts import decode_record, encode_record
from streamml.records import DeadLetter, Prediction, TextEvent, Transaction
from streamml.settings import Settings
from tests.integration.worker_process import metrics_url, sample, scrape, start_worker

pytestmark = pytest.mark.integration

START = datetime(2018, 4, 1, tzinfo=UTC)


def transactions(n: int, rng: random.Random) -> list[Transaction]:
    return [
        Transaction(
            event_id=f"tx-{i}",
            event_time=START + timedelta(seconds=37 * i),
            customer_id=f"c{rng.randrange(200)}",
            terminal_id=f"t{rng.randrange(500)}",
            amount=round(rng.lognormvariate(3.5, 1.0), 2),
            session_id=None if i % 3 else f"s{i // 7}",
            features={"page_views": float(rng.randrange(20))} if i % 2 else None,
        )
        for i in range(n)
    ]


def texts(n: int, rng: random.Random) -> list[TextEvent]:
    words = {"joy": "happy wonderful glad", "sadness": "sad lonely tears", "anger": "angry mad"}
    labels = list(words)
    events = []
    for i in range(n):
        label = labels[i % len(labels)]
        events.append(
            TextEvent(
                event_id=f"text-{i}",
                event_time=START + timedelta(seconds=11 * i),
                text=f"i feel {rng.choice(words[label].split())} today {i}",
                source="test",
                label=label if i % 2 == 0 else None,
                taxonomy="emotion6" if i % 4 else None,
            )
        )
    return events


def malformed(settings: Settings, valid_tx: Transaction) -> list[tuple[str, bytes]]:
    """Fifty records no contract accepts, of ten kinds, with the topic each goes to."""
    topics = settings.topics
    avro = encode_record(valid_tx, "avro")
    bad_json = json.loads(encode_record(valid_tx, "json"))
    negative = json.dumps({**bad_json, "amount": -5.0}).encode()
    missing = json.dumps({"event_id": "x", "amount": 3.0}).encode()
    empty_text = encode_record(TextEvent("t-empty", START, "placeholder", "test"), "json").replace(
        b'"placeholder"', b'"   "'
    )
    text_avro = encode_record(TextEvent("t-wrong", START, "hello", "test"), "avro")
    kinds: list[tuple[str, bytes]] = [
        (topics.transactions, b""),
        (topics.transactions, b"\x00garbage\xff"),
        (topics.transactions, avro[: len(avro) // 2]),
        (topics.transactions, b"\xc3\x01" + bytes(range(8)) + avro[10:]),
        (topics.transactions, b'{"event_id": '),
        (topics.transactions, missing),
        (topics.transactions, negative),
        (topics.transactions, text_avro),
        (topics.texts, empty_text),
        (topics.texts, b"[1, 2, 3]"),
    ]
    return [kind for kind in kinds for _ in range(5)]


def produce(
    settings: Settings, messages: list[tuple[str, bytes | None, bytes]]
) -> list[tuple[str, int, int]]:
    """Produce and return the (topic, partition, offset) of each message, in order."""
    # Compressed, as many real producers send: the worker must read every codec.
    producer = Producer(
        {**settings.kafka_client_config(), "linger.ms": 20, "compression.type": "lz4"}
    )
    positions: dict[int, tuple[str, int, int]] = {}

    def delivered(index: int) -> Callable[[object, object], None]:
        def callback(err: object, msg: object) -> None:
            assert err is None, err
            positions[index] = (msg.topic(), msg.partition(), msg.offset())  # type: ignore[attr-defined]

        return callback

    for i, (topic, key, value) in enumerate(messages):
        producer.produce(topic, value=value, key=key, on_delivery=delivered(i))
        producer.poll(0)
    assert producer.flush(60) == 0
    return [positions[i] for i in range(len(messages))]


def consume(
    settings: Settings,
    topics: list[str],
    until: Callable[[list[tuple[str, bytes]]], bool],
    timeout: float,
) -> list[tuple[str, bytes]]:
    consumer = Consumer(
        {
            **settings.kafka_client_config(),
            "group.id": f"{settings.topic_prefix}checker",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe(topics)
    seen: list[tuple[str, bytes]] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and not until(seen):
            for message in consumer.consume(1000, timeout=1.0):
                if message.error() is None:
                    seen.append((message.topic(), message.value()))
        # Linger a little: duplicates arriving late must be seen too.
        for message in consumer.consume(1000, timeout=3.0):
            if message.error() is None:
                seen.append((message.topic(), message.value()))
    finally:
        consumer.close()
    return seen


@pytest.fixture(params=[False, True], ids=["at-least-once", "exactly-once"])
def worker_settings(
    settings_factory: Callable[..., Settings], tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Settings]:
    settings = settings_factory(state_dir=tmp_path / "state", exactly_once=request.param)
    ensure_topics(settings)
    yield settings


def test_one_prediction_per_valid_event_and_one_dead_letter_per_malformed(
    worker_settings: Settings, tmp_path: Path
) -> None:
    settings = worker_settings
    rng = random.Random(7)
    txs, txts = transactions(1000, rng), texts(1000, rng)
    bad = malformed(settings, txs[0])
    messages: list[tuple[str, bytes | None, bytes]] = []
    for i in range(1000):
        fmt = "avro" if i % 2 else "json"
        messages.append(
            (settings.topics.transactions, txs[i].customer_id.encode(), encode_record(txs[i], fmt))
        )
        messages.append(
            (settings.topics.texts, txts[i].event_id.encode(), encode_record(txts[i], fmt))
        )
        if i % 20 == 0:
            topic, raw = bad[i // 20]
            messages.append((topic, None, raw))
    positions = produce(settings, messages)
    bad_positions = {positions[i] for i, m in enumerate(messages) if m[1] is None}
    assert len(bad_positions) == 50

    exactly_once = str(settings.exactly_once).lower()
    worker = start_worker(
        settings,
        tmp_path / "worker.log",
        STREAMML_EXACTLY_ONCE=exactly_once,
        STREAMML_LAG_INTERVAL_SECONDS="1",
    )
    try:
        topics = settings.topics
        outputs = [topics.fraud_predictions, topics.emotion_predictions, topics.dead_letters]
        seen = consume(settings, outputs, lambda s: len(s) >= 2050, timeout=180)
        samples, measured, health = settled_metrics(settings, tmp_path / "worker.log")
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(60)
    log = (tmp_path / "worker.log").read_text(errors="replace")

    predictions = [
        decode_record(Prediction, v) for t, v in seen if t != settings.topics.dead_letters
    ]
    letters = [decode_record(DeadLetter, v) for t, v in seen if t == settings.topics.dead_letters]
    counts = Counter(p.event_id for p in predictions)
    valid_ids = {t.event_id for t in txs} | {t.event_id for t in txts}
    assert set(counts) == valid_ids, log[-3000:]
    assert max(counts.values()) == 1, "an event was predicted twice"
    for p in predictions:
        if p.task == "fraud":
            assert p.score is not None and 0.0 <= p.score <= 1.0
        else:
            assert p.task == "emotion6" and p.predicted_class in {"joy", "sadness", "anger"} | {
                None
            }
    assert {(d.source_topic, d.source_partition, d.source_offset) for d in letters} == bad_positions
    assert len(letters) == 50
    assert all(d.error_kind and d.message for d in letters)
    assert len({d.error_kind for d in letters}) >= 6
    # What the metrics endpoint says is what happened.
    bad_transactions = sum(t == topics.transactions for t, *_ in bad_positions)
    assert sample(samples, "streamml_events_in_total", topic=topics.transactions) == (
        1000 + bad_transactions
    )
    assert sample(samples, "streamml_events_out_total", topic=topics.fraud_predictions) == 1000
    assert {
        kind: sample(samples, "streamml_dead_letters_total", reason=kind)
        for kind in {d.error_kind for d in letters}
    } == dict(Counter(d.error_kind for d in letters))
    assert len(measured) == settings.topic_partitions and sum(measured) == 0, measured
    assert health == (200, {"status": "ok", "stalled": []})
    raw_by_position = {positions[i]: m[2] for i, m in enumerate(messages) if m[1] is None}
    for letter in letters:
        assert (
            letter.raw
            == raw_by_position[(letter.source_topic, letter.source_partition, letter.source_offset)]
        )


def settled_metrics(
    settings: Settings, log_path: Path
) -> tuple[dict[tuple[str, frozenset[tuple[str, str]]], float], list[float], tuple[int, Any]]:
    """The worker's metrics once its group's lag on the transactions is measured at 0
    (Faust commits every few seconds), the lag samples, and its health answer."""
    endpoint = metrics_url(log_path)
    deadline = time.monotonic() + 30
    lag_key = {"group": settings.app_id, "topic": settings.topics.transactions}
    measured: list[float] = []
    while time.monotonic() < deadline:
        samples = scrape(endpoint)
        measured = [
            value
            for (name, labels), value in samples.items()
            if name == "streamml_consumer_lag" and lag_key.items() <= dict(labels).items()
        ]
        if len(measured) == settings.topic_partitions and sum(measured) == 0:
            break
        time.sleep(1)
    with urllib.request.urlopen(f"{endpoint}/healthz", timeout=10) as response:
        return samples, measured, (response.status, json.loads(response.read()))
