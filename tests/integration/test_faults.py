"""Faults survived on the real broker: a scorer killed with SIGKILL mid-stream and
restarted loses nothing; with exactly-once, read_committed readers see each prediction
exactly once."""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from confluent_kafka import Consumer

from streamml.admin import ensure_topics
from streamml.contracts import decode_record
from streamml.datasets import SourceOptions, get_source
from streamml.produce import replay
from streamml.records import Prediction, Transaction
from streamml.settings import Settings
from tests.integration.worker_process import read_topics, start_worker, wait_until_ready

pytestmark = pytest.mark.integration


def predictions_of(settings: Settings, ids: set[str], read_committed: bool) -> Counter[str]:
    """Predictions per event id, read until every one of ``ids`` has one (or 300 s)."""
    topic = settings.topics.fraud_predictions
    consumer = Consumer(
        {
            **settings.kafka_client_config(),
            "group.id": f"{settings.topic_prefix}faults-{time.monotonic_ns()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "isolation.level": "read_committed" if read_committed else "read_uncommitted",
        }
    )
    consumer.subscribe([topic])
    counts: Counter[str] = Counter()
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline and not ids <= counts.keys():
            for message in consumer.consume(5000, timeout=1.0):
                if message.error() is None and message.value() is not None:
                    counts[decode_record(Prediction, message.value() or b"").event_id] += 1
        # A moment more: a duplicate may still be on its way.
        end = time.monotonic() + 3
        while time.monotonic() < end:
            for message in consumer.consume(5000, timeout=0.5):
                if message.error() is None and message.value() is not None:
                    counts[decode_record(Prediction, message.value() or b"").event_id] += 1
    finally:
        consumer.close()
    return counts


@pytest.mark.parametrize("exactly_once", [False, True], ids=["at-least-once", "exactly-once"])
def test_a_scorer_killed_mid_stream_and_restarted_loses_no_event(
    settings_factory: Callable[..., Settings], tmp_path: Path, exactly_once: bool
) -> None:
    settings = settings_factory(state_dir=tmp_path / "state", exactly_once=exactly_once)
    ensure_topics(settings)
    options = SourceOptions(end=datetime(2018, 4, 3, tzinfo=UTC))
    txs = [
        r for r in get_source("fraud", settings, options).records() if isinstance(r, Transaction)
    ]
    env = {"STREAMML_ROLE": "scorer", "STREAMML_EXACTLY_ONCE": str(exactly_once).lower()}
    topic = settings.topics.fraud_predictions
    first = start_worker(settings, tmp_path / "first.log", **env)
    wait_until_ready(tmp_path / "first.log", first, role="scorer")
    producing = threading.Thread(
        target=replay, args=(settings, txs), kwargs={"rate": 4000, "progress": False}
    )
    producing.start()
    try:
        # Killed once a quarter of the stream is scored, with more on its way.
        read_topics(settings, [topic], lambda c: c[topic] >= len(txs) // 4, timeout=120)
        first.send_signal(signal.SIGKILL)
        first.wait(30)
        second = start_worker(settings, tmp_path / "second.log", **env)
        try:
            producing.join(120)
            counts = predictions_of(settings, {t.event_id for t in txs}, exactly_once)
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(60) == 0
    finally:
        producing.join(120)
    missing = {t.event_id for t in txs} - set(counts)
    assert not missing, f"{len(missing)} events without a prediction"
    if exactly_once:
        assert max(counts.values()) == 1, "a committed prediction came twice"
