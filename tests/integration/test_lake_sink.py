"""The lake sink on the real broker and the real MinIO: every record exactly once, through
a SIGKILL and a store outage, read back as one Hive-partitioned dataset."""

from __future__ import annotations

import io
import random
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from confluent_kafka import Producer
from pyarrow import fs

from streamml.admin import ensure_topics
from streamml.contracts import encode_record
from streamml.records import Transaction
from streamml.settings import Settings
from streamml.sink import LakeSink
from streamml.store import FileStore, ObjectStore, StoreError
from tests.containers import S3Endpoint
from tests.integration.worker_process import start_worker, wait_until_ready

pytestmark = pytest.mark.integration

N = 20_000
START = datetime(2024, 3, 1, 9, 40, tzinfo=UTC)


def transactions(n: int = N) -> list[Transaction]:
    rng = random.Random(5)
    return [
        Transaction(
            event_id=f"tx-{i:06d}",
            # 20,000 events over about 3 hours: several hour partitions.
            event_time=START + timedelta(milliseconds=537 * i),
            customer_id=f"c{rng.randrange(500)}",
            terminal_id=f"t{rng.randrange(900)}",
            amount=round(rng.lognormvariate(3.5, 1.0), 2),
            channel=rng.choice(["web", "app", "pos"]),
            features={"x": float(i)} if i % 3 == 0 else None,
        )
        for i in range(n)
    ]


def produce(settings: Settings, txs: list[Transaction], rate: float | None = None) -> None:
    """To the 3 partitions by customer, Kafka timestamps set to the event times."""
    producer = Producer({**settings.kafka_client_config(), "linger.ms": 10})
    started = time.monotonic()
    for i, tx in enumerate(txs):
        if rate is not None:
            time.sleep(max(0.0, started + i / rate - time.monotonic()))
        producer.produce(
            settings.topics.transactions,
            encode_record(tx, "avro"),
            tx.customer_id.encode(),
            timestamp=int(tx.event_time.timestamp() * 1000),
        )
        producer.poll(0)
    assert producer.flush(60) == 0


def lake_settings(
    settings_factory: Callable[..., Settings], endpoint: S3Endpoint, name: str, **extra: Any
) -> Settings:
    settings = settings_factory(
        sink_topics=("transactions",),
        sink_idle_seconds=2.0,
        s3_endpoint_url=endpoint.endpoint_url,
        s3_access_key=endpoint.access_key,
        s3_secret_key=endpoint.secret_key,
        s3_region=endpoint.region,
        s3_timeout_seconds=2.0,  # a frozen store fails fast
        # The records carry 2024 timestamps: under the default 7-day retention the broker
        # deletes them at its next retention check (seen in CI as records missing).
        topic_config={"retention.ms": "-1"},
        **extra,
    )
    lake = f"s3://{endpoint.bucket}/{settings.topic_prefix}{name}"
    return settings.model_copy(update={"lake_url": lake})


def lake_env(settings: Settings) -> dict[str, str]:
    assert settings.lake_url is not None and settings.s3_secret_key is not None
    env = {
        "STREAMML_LAKE_URL": settings.lake_url,
        "STREAMML_SINK_TOPICS": '["transactions"]',
        "STREAMML_SINK_IDLE_SECONDS": str(settings.sink_idle_seconds),
        "STREAMML_SINK_MAX_RECORDS": str(settings.sink_max_records),
        "STREAMML_SINK_FORMAT": settings.sink_format,
    }
    if settings.s3_endpoint_url:
        env |= {
            "STREAMML_S3_ENDPOINT_URL": settings.s3_endpoint_url,
            "STREAMML_S3_ACCESS_KEY": settings.s3_access_key or "",
            "STREAMML_S3_SECRET_KEY": settings.s3_secret_key.get_secret_value(),
            "STREAMML_S3_REGION": settings.s3_region or "",
            "STREAMML_S3_TIMEOUT_SECONDS": str(settings.s3_timeout_seconds),
        }
    return env


def filesystem(endpoint: S3Endpoint) -> fs.S3FileSystem:
    scheme, _, host = endpoint.endpoint_url.partition("://")
    return fs.S3FileSystem(
        endpoint_override=host,
        scheme=scheme,
        access_key=endpoint.access_key,
        secret_key=endpoint.secret_key,
        region=endpoint.region,
    )


def read_lake(settings: Settings, endpoint: S3Endpoint) -> pa.Table:
    """The transactions topic of the lake, as pyarrow's Hive-partitioned dataset reads it."""
    assert settings.lake_url is not None
    root = settings.lake_url.removeprefix("s3://")
    path = f"{root}/topic={settings.topics.transactions}"
    try:
        dataset = ds.dataset(path, filesystem=filesystem(endpoint), partitioning="hive")
    except FileNotFoundError:
        return pa.table({"event_id": pa.array([], pa.string())})
    return dataset.to_table()


def wait_for_lake(settings: Settings, endpoint: S3Endpoint, n: int, timeout: float) -> pa.Table:
    """The lake once it holds ``n`` rows and nothing more arrives for a few seconds."""
    deadline = time.monotonic() + timeout
    table = read_lake(settings, endpoint)
    while time.monotonic() < deadline:
        time.sleep(3)
        table = read_lake(settings, endpoint)
        if table.num_rows >= n:
            time.sleep(settings.sink_idle_seconds + 3)  # late duplicates would show now
            return read_lake(settings, endpoint)
    return table


def assert_exactly(table: pa.Table, txs: list[Transaction]) -> None:
    ids = table.column("event_id").to_pylist()
    assert len(ids) == len(set(ids)), f"{len(ids) - len(set(ids))} duplicates"
    assert set(ids) == {t.event_id for t in txs}, f"{len(set(ids))} of {len(txs)} ids"


@pytest.fixture
def running() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test starts; killed at the end whatever happens."""
    processes: list[subprocess.Popen[bytes]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait(30)


def start(
    settings: Settings, log: Path, running: list[subprocess.Popen[bytes]], role: str = "sink"
) -> subprocess.Popen[bytes]:
    process = start_worker(settings, log, STREAMML_ROLE=role, **lake_env(settings))
    running.append(process)
    return process


def test_every_event_lands_once_and_reads_back_as_a_hive_dataset(
    settings_factory: Callable[..., Settings],
    s3_endpoint: S3Endpoint,
    tmp_path: Path,
    running: list[subprocess.Popen[bytes]],
) -> None:
    settings = lake_settings(settings_factory, s3_endpoint, "lake", sink_max_records=3000)
    ensure_topics(settings)
    txs = transactions()
    produce(settings, txs)
    started = time.monotonic()
    sink = start(settings, tmp_path / "sink.log", running)
    table = wait_for_lake(settings, s3_endpoint, N, timeout=180)
    seconds = time.monotonic() - started
    log = (tmp_path / "sink.log").read_text(errors="replace")[-3000:]
    assert sink.poll() is None, log
    assert_exactly(table, txs)
    print(f"sink: {N} records into MinIO in {seconds:.1f} s (process start included)")

    # Fields intact, and each row under its Kafka timestamp's day and hour.
    by_id = {t.event_id: t for t in txs}
    for row in table.slice(0, 2000).to_pylist():
        tx = by_id[row["event_id"]]
        assert (row["customer_id"], row["terminal_id"], row["amount"]) == (
            tx.customer_id,
            tx.terminal_id,
            tx.amount,
        )
        assert row["event_time"] == tx.event_time and row["kafka_timestamp"] == tx.event_time
        assert row["features"] == (list(tx.features.items()) if tx.features else None)
        assert (row["dt"], int(row["hour"])) == (f"{tx.event_time:%Y-%m-%d}", tx.event_time.hour)
    assert set(table.column("kafka_partition").to_pylist()) == {0, 1, 2}

    # The file:// lake of the same topic: the same object names and the same bytes.
    local = tmp_path / "lake"
    file_settings = settings.model_copy(
        update={"lake_url": f"file://{local}", "app_id": f"{settings.app_id}-file"}
    )
    start(file_settings, tmp_path / "file-sink.log", running)
    s3_store, file_store = settings.lake(), file_settings.lake()
    keys = s3_store.list("")
    deadline = time.monotonic() + 120
    while file_store.list("") != keys and time.monotonic() < deadline:
        time.sleep(2)
    assert file_store.list("") == keys
    assert all(file_store.get(k) == s3_store.get(k) for k in keys)


def test_a_worker_killed_mid_batch_and_restarted_lands_each_event_once(
    settings_factory: Callable[..., Settings],
    s3_endpoint: S3Endpoint,
    tmp_path: Path,
    running: list[subprocess.Popen[bytes]],
) -> None:
    settings = lake_settings(settings_factory, s3_endpoint, "lake", sink_max_records=2500)
    ensure_topics(settings)
    txs = transactions()
    worker = start(settings, tmp_path / "first.log", running, role="all")
    wait_until_ready(tmp_path / "first.log", worker)
    producing = threading.Thread(target=produce, args=(settings, txs, 4000.0))
    producing.start()
    # Kill once some batches are written and others are open.
    deadline = time.monotonic() + 60
    while read_lake(settings, s3_endpoint).num_rows < 2500 and time.monotonic() < deadline:
        time.sleep(0.5)
    worker.send_signal(signal.SIGKILL)
    worker.wait(30)
    landed = read_lake(settings, s3_endpoint).num_rows
    assert 0 < landed < N, "the kill did not come in the middle of the stream"
    producing.join()
    restarted = start(settings, tmp_path / "second.log", running, role="all")
    table = wait_for_lake(settings, s3_endpoint, N, timeout=240)
    assert restarted.poll() is None
    assert_exactly(table, txs)


def test_the_store_down_for_30_seconds_loses_and_duplicates_nothing(
    settings_factory: Callable[..., Settings],
    s3_endpoint: S3Endpoint,
    tmp_path: Path,
    running: list[subprocess.Popen[bytes]],
) -> None:
    if s3_endpoint.outage is None:
        pytest.skip("the tests do not control this S3 endpoint (STREAMML_TEST_S3_ENDPOINT)")
    settings = lake_settings(settings_factory, s3_endpoint, "lake", sink_max_records=1000)
    ensure_topics(settings)
    txs = transactions()
    sink = start(settings, tmp_path / "sink.log", running)
    producing = threading.Thread(target=produce, args=(settings, txs, 500.0))
    producing.start()
    time.sleep(8)
    memory: list[int] = []
    outage = threading.Thread(target=s3_endpoint.outage, args=(30.0,))
    outage.start()
    while outage.is_alive():
        memory.append(rss_kib(sink.pid))
        time.sleep(1)
    producing.join()
    table = wait_for_lake(settings, s3_endpoint, N, timeout=240)
    log = (tmp_path / "sink.log").read_text(errors="replace")
    assert sink.poll() is None, log[-3000:]
    assert "consumption paused" in log and "consumption resumed" in log
    assert_exactly(table, txs)
    # Bounded: the paused sink holds its open batches and librdkafka's fetch queue only.
    assert max(memory) < 600 * 1024, f"peak RSS {max(memory)} KiB during the outage"


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


class FailingStore(FileStore):
    """A real directory store that refuses writes while ``down`` is set."""

    def __init__(self, root: Path, down: threading.Event) -> None:
        super().__init__(f"file://{root}", root)
        self.down = down

    def put(self, key: str, data: bytes) -> None:
        if self.down.is_set():
            raise StoreError(f"{self.url}: {key}: the store is down")
        super().put(key, data)


def landed_ids(store: ObjectStore) -> list[str]:
    ids: list[str] = []
    for key in store.list(""):
        ids += pq.read_table(io.BytesIO(store.get(key) or b"")).column("event_id").to_pylist()
    return ids


def test_sinks_joining_and_leaving_their_group_through_store_outages_land_each_record_once(
    settings_factory: Callable[..., Settings], tmp_path: Path
) -> None:
    """Rebalances while batches are open and while writes wait for the store: every
    partition moves between two sinks several times, and each record lands once."""
    settings = settings_factory(
        sink_topics=("transactions",),
        sink_max_records=700,
        sink_idle_seconds=1.5,
        topic_config={"retention.ms": "-1"},
        lake_url=f"file://{tmp_path / 'lake'}",
    )
    ensure_topics(settings)
    txs = transactions()
    down = threading.Event()
    rng = random.Random(11)

    def sink() -> tuple[threading.Thread, threading.Event]:
        stop = threading.Event()
        lake_sink = LakeSink(settings, FailingStore(tmp_path / "lake", down))
        thread = threading.Thread(target=lake_sink.run, args=(stop,), daemon=True)
        thread.start()
        return thread, stop

    producing = threading.Thread(target=produce, args=(settings, txs, 1000.0))
    producing.start()
    first = sink()
    while producing.is_alive():  # about 20 s
        second = sink()
        time.sleep(rng.uniform(1.0, 4.0))
        down.set()  # an outage while the group rebalances
        time.sleep(rng.uniform(0.5, 3.0))
        second[1].set()
        time.sleep(rng.uniform(0.5, 2.0))
        down.clear()
        second[0].join(60)
        assert not second[0].is_alive(), "a sink did not stop"
    store = settings.lake()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if len(set(landed_ids(store))) >= N:
            time.sleep(settings.sink_idle_seconds + 2)  # late duplicates would show now
            break
        time.sleep(2)
    first[1].set()
    first[0].join(60)
    ids = landed_ids(store)
    assert len(ids) == len(set(ids)), f"{len(ids) - len(set(ids))} duplicates"
    assert set(ids) == {t.event_id for t in txs}, f"{len(set(ids))} of {len(txs)} ids"
