"""Running ``streamml worker`` as a child process against the test broker, and reading
what it publishes."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from confluent_kafka import Consumer
from prometheus_client.parser import text_string_to_metric_families

from streamml.contracts import decode_record
from streamml.records import Prediction
from streamml.settings import Settings


def start_worker(
    settings: Settings, log_path: Path, *, debug: bool = False, **env: str
) -> subprocess.Popen[bytes]:
    """``python -m streamml worker`` on ``settings``' broker, topics and state directory;
    ``env`` adds ``STREAMML_*`` settings; ``debug`` logs everything at DEBUG level.
    Output goes to ``log_path``."""
    environment = streamml_env(settings, **env)
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "streamml", *(["-v"] if debug else []), "worker"]
            + (["--loglevel", "debug"] if debug else []),
            stdout=log,
            stderr=log,
            env=environment,
        )


def streamml_env(settings: Settings, **env: str) -> dict[str, str]:
    """The environment of a ``streamml`` command on ``settings``' broker, topics, app id
    and state directory, with ``env`` on top."""
    return {
        **os.environ,
        "STREAMML_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "STREAMML_TOPIC_PREFIX": settings.topic_prefix,
        "STREAMML_APP_ID": settings.app_id,
        "STREAMML_STATE_DIR": str(settings.state_dir),
        # The topics the worker creates itself (changelogs) are made like the test's.
        "STREAMML_TOPIC_PARTITIONS": str(settings.topic_partitions),
        "STREAMML_TOPIC_REPLICATION_FACTOR": str(settings.topic_replication_factor),
        "STREAMML_TOPIC_CONFIG": json.dumps(settings.topic_config),
        **env,
    }


READY = {"scorer": ("engine ready",), "trainer": ("Worker]: Ready",)}
READY["all"] = READY["scorer"] + READY["trainer"]


def wait_until_ready(
    log_path: Path, worker: subprocess.Popen[bytes], timeout: float = 90, role: str = "all"
) -> None:
    """Until the worker's parts for ``role`` said they are ready (the scorer once its
    first partitions are assigned and restored, the Faust trainer once started)."""
    deadline = time.monotonic() + timeout
    while not all(m in log_path.read_text(errors="replace") for m in READY[role]):
        assert worker.poll() is None, log_path.read_text(errors="replace")[-3000:]
        assert time.monotonic() < deadline, "the worker did not start"
        time.sleep(0.5)


def read_topics(
    settings: Settings,
    topics: list[str],
    enough: Callable[[Counter[str]], bool],
    timeout: float,
    read_committed: bool = False,
) -> dict[str, list[bytes]]:
    """Every message of ``topics`` from the start, until ``enough(counts)`` or ``timeout``
    (``read_committed``: only those of committed transactions)."""
    consumer = Consumer(
        {
            **settings.kafka_client_config(),
            "group.id": f"{settings.topic_prefix}checker-{time.monotonic_ns()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "isolation.level": "read_committed" if read_committed else "read_uncommitted",
        }
    )
    consumer.subscribe(topics)
    seen: dict[str, list[bytes]] = {t: [] for t in topics}
    counts: Counter[str] = Counter()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and not enough(counts):
            for message in consumer.consume(5000, timeout=1.0):
                topic, value = message.topic(), message.value()
                if message.error() is None and topic is not None and value is not None:
                    seen[topic].append(value)
                    counts[topic] += 1
    finally:
        consumer.close()
    return seen


def metrics_url(log_path: Path, timeout: float = 30) -> str:
    """The worker's metrics endpoint, as its log names it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(r"metrics on (http://[\d.]+:\d+)/metrics", log_path.read_text("utf-8"))
        if found:
            return found.group(1)
        time.sleep(0.5)
    raise AssertionError(f"no metrics endpoint in {log_path}")


def scrape(base_url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of ``GET /metrics``, by name and labels."""
    with urllib.request.urlopen(f"{base_url}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def sample(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


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


def listening_addresses(pid: int) -> set[tuple[str, int]]:
    """The (host, port) of every TCP socket process ``pid`` listens on (Linux /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    found = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                found.add(_socket_address(fields[1]))
    return found


def _socket_address(text: str) -> tuple[str, int]:
    """/proc/net/tcp's ``0100007F:1F90`` is 127.0.0.1:8080: the address in host (little
    endian) order, 32-bit word by word; the port in hex."""
    host, port = text.split(":")
    raw = bytes.fromhex(host)
    address = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(address)), int(port, 16)
