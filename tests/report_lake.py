"""A lake for report tests: a stream run through the in-memory worker, landed as the
sink lands it (Hive layout, Parquet)."""

from __future__ import annotations

import random
import struct
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

from streamml.contracts import decode_record, encode_record
from streamml.emit import Output
from streamml.lakefiles import encode_batch, lake_row, record_class
from streamml.records import DriftAlert, Label, TextEvent, Transaction
from streamml.settings import Settings
from streamml.sink import Batch
from streamml.store import FileStore
from streamml.testing import InMemoryWorker

START = datetime(2018, 4, 1, tzinfo=UTC)
WORDS = {"joy": "happy wonderful glad", "sadness": "sad lonely tears", "anger": "angry mad"}


def run_stream(settings: Settings) -> InMemoryWorker:
    rng = random.Random(3)
    worker = InMemoryWorker(settings)
    topics = settings.topics
    for i in range(1500):
        when = START + timedelta(minutes=7 * i)
        amount = round(rng.lognormvariate(3.5, 1.0), 2)
        tx = Transaction(f"tx-{i}", when, f"c{rng.randrange(80)}", f"t{rng.randrange(50)}", amount)
        worker.send(topics.transactions, encode_record(tx), tx.customer_id.encode())
        fraud = "1" if amount > 150 else "0"
        label = Label(tx.event_id, "fraud", fraud, when, when, tx.customer_id, tx.terminal_id)
        worker.send(topics.fraud_labels, encode_record(label), tx.terminal_id.encode())
    for i in range(900):
        feeling = list(WORDS)[i % 3]
        text = f"i feel {rng.choice(WORDS[feeling].split())} today"
        event = TextEvent(f"text-{i}", START + timedelta(minutes=i), text, "test", label=feeling)
        worker.send(topics.texts, encode_record(event), event.event_id.encode())
    for i in range(4):
        worker.send(topics.texts, b"\x00not a record" + bytes([i]))
    return worker


def land(settings: Settings, worker: InMemoryWorker, store: FileStore, produced: int) -> int:
    """Write the worker's outputs as the sink would: per topic, Hive layout, Kafka
    timestamps from ``produced`` (ms) on."""
    landed = 0
    for topic in settings.sink_topic_names():
        rows = defaultdict(list)
        cls = record_class(settings.topics, topic)
        for offset, out in enumerate(worker.outputs.get(topic, [])):
            try:
                record = decode_record(cls, out.value)
            except Exception:
                continue  # undecodable inputs are landed through their dead letters
            rows[0].append(lake_row(record, 0, offset, produced))
        for partition, batch_rows in rows.items():
            batch = Batch(topic, partition, 0, produced)
            store.put(batch.key("parquet"), encode_batch(cls, batch_rows, "parquet"))
            landed += len(batch_rows)
    return landed


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def build_lake(tmp_path: Path) -> tuple[Settings, FileStore]:
    """A lake with 1,500 labelled transactions, 900 labelled texts, 4 dead letters, one
    drift alert (fraud) and one promotion (emotion6)."""
    settings = Settings(snapshot_every_examples=200, lake_url=f"file://{tmp_path / 'lake'}")
    store = FileStore(settings.lake_url or "", tmp_path / "lake")
    produced = int(time.time() * 1000) - 2000  # the sources came 2 s before the run
    worker = run_stream(settings)
    alert = DriftAlert(
        "fraud-concept-loss-1",
        "fraud",
        "concept",
        "bernstein-mean",
        "loss",
        0.3,
        0.2,
        "started",
        "warning",
        START + timedelta(days=2),
        START + timedelta(days=3),
        "fraud-v2",
        datetime(2024, 1, 1, tzinfo=UTC),
    )
    promotion = DriftAlert(
        "emotion6-promotion-1",
        "emotion6",
        "concept",
        "challenger",
        "error_rate",
        0.2,
        0.6,
        "promoted",
        "info",
        START + timedelta(minutes=300),
        START + timedelta(minutes=600),
        "emotion6-v3",
        datetime(2024, 1, 1, tzinfo=UTC),
    )
    for record in (alert, promotion):
        worker.outputs[settings.topics.drift_alerts].append(
            Output(settings.topics.drift_alerts, None, encode_record(record))
        )
    assert land(settings, worker, store, produced) > 3000
    return settings, store
