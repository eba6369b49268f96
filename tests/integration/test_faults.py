"""Faults survived on the real broker: a scorer killed with SIGKILL mid-stream and
restarted loses nothing; with exactly-once, read_committed readers see each prediction
exactly once."""

from __future__ import annotations

import re
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from confluent_kafka import Consumer

from streamml.admin import ensure_topics
from streamml.contracts import decode_record
from streamml.datasets import SourceOptions, get_source
from streamml.produce import replay
from streamml.records import Prediction, Transaction
from streamml.settings import Settings
from streamml.snapshots import verify
from tests.integration.worker_process import (
    predictions_of,
    read_topics,
    start_worker,
    wait_until_ready,
)

pytestmark = pytest.mark.integration


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
    duplicates = sum(counts.values()) - len(counts)
    # The figures docs/RELIABILITY.md quotes (pytest -s shows them).
    print(
        f"\nscorer SIGKILL ({'exactly-once' if exactly_once else 'at-least-once'}): "
        f"{len(txs)} events, {len(missing)} lost, {duplicates} duplicates"
    )
    assert not missing, f"{len(missing)} events without a prediction"
    if exactly_once:
        assert max(counts.values()) == 1, "a committed prediction came twice"


def snapshot_versions(settings: Settings, key: bytes) -> list[int]:
    """Fraud snapshot versions on the snapshot topic, in the order they were published."""
    topic = settings.topics.model_snapshots
    seen = read_topics(settings, [topic], lambda c: False, timeout=5)
    versions = [verify(raw, key) for raw in seen[topic]]
    return [s.version for s in versions if s.task == "fraud"]


def test_a_killed_trainer_resumes_from_its_newest_snapshot_and_versions_never_go_back(
    settings_factory: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = settings_factory(state_dir=tmp_path / "state")
    ensure_topics(settings)
    key = settings.model_signing_key.get_secret_value().encode()
    options = SourceOptions(end=datetime(2018, 4, 5, tzinfo=UTC), label_delay=timedelta(days=1))
    records = list(get_source("fraud", settings, options).records())
    txs = [r for r in records if isinstance(r, Transaction)]
    every = {"STREAMML_SNAPSHOT_EVERY_EXAMPLES": "2000", "STREAMML_SNAPSHOT_EVERY_SECONDS": "3600"}
    scorer = start_worker(settings, tmp_path / "scorer.log", STREAMML_ROLE="scorer")
    trainer = start_worker(settings, tmp_path / "trainer1.log", STREAMML_ROLE="trainer", **every)
    wait_until_ready(tmp_path / "scorer.log", scorer, role="scorer")
    wait_until_ready(tmp_path / "trainer1.log", trainer, role="trainer")
    producing = threading.Thread(
        target=replay, args=(settings, records), kwargs={"rate": 6000, "progress": False}
    )
    producing.start()
    try:
        deadline = time.monotonic() + 180
        while len(snapshot_versions(settings, key)) < 2 and time.monotonic() < deadline:
            time.sleep(1)
        assert len(snapshot_versions(settings, key)) >= 2, "the trainer published no snapshots"
        trainer.send_signal(signal.SIGKILL)
        trainer.wait(30)
        before = snapshot_versions(settings, key)  # what it had published when it died
        trainer = start_worker(
            settings, tmp_path / "trainer2.log", STREAMML_ROLE="trainer", **every
        )
        producing.join(120)
        counts = predictions_of(settings, {t.event_id for t in txs}, False)
        deadline = time.monotonic() + 120
        while len(snapshot_versions(settings, key)) <= len(before) and time.monotonic() < deadline:
            time.sleep(1)
    finally:
        producing.join(120)
        for process in (scorer, trainer):
            process.send_signal(signal.SIGTERM)
            process.wait(60)
    versions = snapshot_versions(settings, key)
    resumed = (tmp_path / "trainer2.log").read_text(errors="replace")
    assert re.search(rf"trainer resumed from fraud-v{before[-1]}\b", resumed), resumed[-2000:]
    assert len(versions) > len(before), "the restarted trainer published nothing"
    assert versions == sorted(set(versions)), f"a version went back or came twice: {versions}"
    assert set(counts) == {t.event_id for t in txs}
    for partition, versions_served in served_versions(settings).items():
        assert versions_served == sorted(versions_served), f"partition {partition} went back"


def served_versions(settings: Settings) -> dict[int, list[int]]:
    """The model version of each prediction, per partition in offset order (one scorer
    produces them all, so each partition follows its swaps in order)."""
    topic = settings.topics.fraud_predictions
    consumer = Consumer(
        {
            **settings.kafka_client_config(),
            "group.id": f"{settings.topic_prefix}versions-{time.monotonic_ns()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    found: dict[int, list[tuple[int, int]]] = {}
    quiet_since = time.monotonic()
    try:
        while time.monotonic() - quiet_since < 5:
            for message in consumer.consume(5000, timeout=1.0):
                if message.error() is None and message.value() is not None:
                    quiet_since = time.monotonic()
                    version = decode_record(Prediction, message.value() or b"").model_version
                    found.setdefault(message.partition() or 0, []).append(
                        (message.offset() or 0, int(version.rsplit("-v", 1)[1]))
                    )
    finally:
        consumer.close()
    return {p: [v for _, v in sorted(pairs)] for p, pairs in found.items()}
