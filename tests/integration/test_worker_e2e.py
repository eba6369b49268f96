"""The end-to-end slice on the real broker: every valid event gets exactly one prediction
(each delivery of a duplicate one), every malformed record exactly one dead letter naming
its origin and reason, and labels early, unknown or garbled break nothing."""

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
from streamml.decode import MAX_DEAD_LETTER_RAW
from streamml.internal import Example
from streamml.produce import key_for
from streamml.records import DeadLetter, Label, Prediction, TextEvent, Transaction
from streamml.settings import Settings
from tests.integration.worker_process import (
    metrics_url,
    read_topics,
    sample,
    scrape,
    start_worker,
)

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


BIG = 10 * 1024 * 1024  # a 10 MB record; the test's topics take messages up to 16 MiB
MAX_MESSAGE = 16 * 1024 * 1024


def malformed(settings: Settings, valid_tx: Transaction) -> list[tuple[str, bytes]]:
    """Records no contract accepts, of sixteen kinds (five of each but the 10 MB one),
    with the topic each goes to."""
    topics = settings.topics
    avro = encode_record(valid_tx, "avro")
    bad_json = json.loads(encode_record(valid_tx, "json"))

    def changed(**fields: Any) -> bytes:
        return json.dumps({**bad_json, **fields}).encode()

    negative = changed(amount=-5.0)
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
        (topics.transactions, changed(amount=float("nan"))),  # json.dumps writes NaN
        (topics.transactions, changed(amount=float("-inf"))),
        (topics.transactions, changed(amount="ten")),
        (topics.transactions, changed(event_time="9999-12-31T23:59:59Z")),
        (topics.transactions, changed(event_id="x\udcff").replace(b"\\udcff", b"\xff")),
    ]
    big = (topics.transactions, changed(customer_id="c" * BIG))
    return [kind for kind in kinds for _ in range(5)] + [big]


def hostile_but_valid(valid_tx: Transaction) -> list[bytes]:
    """Transactions a contract accepts though they look odd: an unknown field (ignored), a
    timestamp a century ahead (inside 1970..2200), and a duplicate event id (each
    delivery is scored)."""
    fields = json.loads(encode_record(valid_tx, "json"))
    return [
        json.dumps({**fields, "event_id": "odd-unknown-field", "colour": "red"}).encode(),
        json.dumps(
            {**fields, "event_id": "odd-far-future", "event_time": "2150-01-01T00:00:00Z"}
        ).encode(),
        encode_record(valid_tx, "avro"),
    ]


def odd_labels(early: Transaction) -> list[tuple[bytes, bytes]]:
    """(key, value) of fraud labels: one for ``early`` sent before its event, five for
    events that never come."""

    def label(tx_id: str, terminal: str) -> Label:
        return Label(tx_id, "fraud", "1", START, START + timedelta(days=1), None, terminal)

    labels = [label(early.event_id, early.terminal_id)]
    labels += [label(f"never-sent-{i}", f"t{i}") for i in range(5)]
    return [(key_for(x), encode_record(x, "json")) for x in labels]


def interleaved(
    settings: Settings,
    txs: list[Transaction],
    txts: list[TextEvent],
    bad: list[tuple[str, bytes]],
    odd: list[bytes],
) -> list[tuple[str, bytes | None, bytes]]:
    """(topic, key, value) of the whole stream: the odd labels first, then transactions
    and texts alternating, half JSON and half Avro, with the malformed records (no key)
    and the odd transactions spread among them."""
    topics = settings.topics
    messages: list[tuple[str, bytes | None, bytes]] = [
        (topics.fraud_labels, key, value) for key, value in odd_labels(txs[-1])
    ]
    every = len(txs) // len(bad)
    for i, (tx, text) in enumerate(zip(txs, txts, strict=True)):
        fmt = "avro" if i % 2 else "json"
        messages.append((topics.transactions, tx.customer_id.encode(), encode_record(tx, fmt)))
        messages.append((topics.texts, text.event_id.encode(), encode_record(text, fmt)))
        if i % every == 0 and i // every < len(bad):
            topic, raw = bad[i // every]
            messages.append((topic, None, raw))
        if i % 300 == 150 and i // 300 < len(odd):
            messages.append((topics.transactions, b"odd", odd[i // 300]))
    return messages


def produce(
    settings: Settings, messages: list[tuple[str, bytes | None, bytes]]
) -> list[tuple[str, int, int]]:
    """Produce and return the (topic, partition, offset) of each message, in order."""
    # Compressed, as many real producers send: the worker must read every codec.
    producer = Producer(
        {
            **settings.kafka_client_config(),
            "linger.ms": 20,
            "compression.type": "lz4",
            "message.max.bytes": MAX_MESSAGE,
            # As the worker: labels meet their terminal's state in the same partition.
            "partitioner": "murmur2_random",
        }
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
    settings = settings_factory(
        state_dir=tmp_path / "state",
        exactly_once=request.param,
        topic_config={"max.message.bytes": str(MAX_MESSAGE)},
    )
    ensure_topics(settings)
    yield settings


def test_one_prediction_per_valid_event_and_one_dead_letter_per_malformed(
    worker_settings: Settings, tmp_path: Path
) -> None:
    settings = worker_settings
    rng = random.Random(7)
    txs, txts = transactions(1000, rng), texts(1000, rng)
    bad = malformed(settings, txs[0])
    odd = hostile_but_valid(txs[0])
    messages = interleaved(settings, txs, txts, bad, odd)
    positions = produce(settings, messages)
    bad_positions = {positions[i] for i, m in enumerate(messages) if m[1] is None}
    assert len(bad_positions) == len(bad) == 76

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
        expected = 2000 + len(odd) + len(bad)
        seen = consume(settings, outputs, lambda s: len(s) >= expected, timeout=180)
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
    valid_ids |= {"odd-unknown-field", "odd-far-future"}
    assert set(counts) == valid_ids, log[-3000:]
    # Each delivery is scored once: the duplicate of tx-0 twice, every other event once.
    assert counts == Counter({**{i: 1 for i in valid_ids}, txs[0].event_id: 2})
    for p in predictions:
        if p.task == "fraud":
            assert p.score is not None and 0.0 <= p.score <= 1.0
        else:
            assert p.task == "emotion6" and p.predicted_class in {"joy", "sadness", "anger"} | {
                None
            }
    assert {(d.source_topic, d.source_partition, d.source_offset) for d in letters} == bad_positions
    assert len(letters) == len(bad)
    assert all(d.error_kind and d.message for d in letters)
    assert len({d.error_kind for d in letters}) >= 6
    # What the metrics endpoint says is what happened.
    bad_transactions = sum(t == topics.transactions for t, *_ in bad_positions)
    assert sample(samples, "streamml_events_in_total", topic=topics.transactions) == (
        1000 + len(odd) + bad_transactions
    )
    assert sample(samples, "streamml_events_out_total", topic=topics.fraud_predictions) == (
        1000 + len(odd)
    )
    assert {
        kind: sample(samples, "streamml_dead_letters_total", reason=kind)
        for kind in {d.error_kind for d in letters}
    } == dict(Counter(d.error_kind for d in letters))
    assert len(measured) == settings.topic_partitions and sum(measured) == 0, measured
    assert health == (200, {"status": "ok", "stalled": []})
    raw_by_position = {positions[i]: m[2] for i, m in enumerate(messages) if m[1] is None}
    for letter in letters:
        raw = raw_by_position[(letter.source_topic, letter.source_partition, letter.source_offset)]
        assert letter.raw == raw[:MAX_DEAD_LETTER_RAW]
    # The label sent before its event taught the trainer once the event was scored; the
    # labels of events that never came taught nothing.
    training = read_topics(settings, [topics.fraud_training], lambda c: False, timeout=5)
    taught = Counter(Example.from_bytes(v).event_id for v in training[topics.fraud_training])
    assert taught[txs[-1].event_id] == 1
    assert not [i for i in taught if i.startswith("never-sent")]


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
