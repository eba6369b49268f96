"""The metrics endpoint and the health check, without Kafka."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from streamml import metrics


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def health() -> metrics.Health:
    return metrics.Health(stall_seconds=60, clock=Clock())


def advance(health: metrics.Health, seconds: float) -> None:
    clock = health.clock
    assert isinstance(clock, Clock)
    clock.now += seconds


def test_waiting_records_with_a_committed_offset_that_does_not_move_is_a_stall(
    health: metrics.Health,
) -> None:
    health.observe("g", "transactions", 0, committed=100, lag=5)
    advance(health, 59)
    health.observe("g", "transactions", 0, committed=100, lag=9)
    assert health.stalled() == []
    advance(health, 2)
    assert health.stalled() == ["g/transactions[0] lag 9"]
    health.observe("g", "transactions", 0, committed=109, lag=3)  # it moved again
    assert health.stalled() == []


def test_an_idle_partition_is_not_a_stall(health: metrics.Health) -> None:
    health.observe("g", "texts", 1, committed=50, lag=0)
    advance(health, 3600)
    health.observe("g", "texts", 1, committed=50, lag=0)
    assert health.stalled() == []


def test_only_the_partitions_a_process_owns_count(health: metrics.Health) -> None:
    health.owned = lambda: [("texts", 0)]
    health.observe("g", "texts", 1, committed=50, lag=7)
    advance(health, 120)
    assert health.stalled() == []
    health.observe("g", "texts", 0, committed=50, lag=7)
    advance(health, 120)
    assert health.stalled() == ["g/texts[0] lag 7"]


@pytest.fixture
def endpoint(health: metrics.Health) -> Iterator[str]:
    server = metrics.serve("127.0.0.1", 0, health)
    host, port = server.server_address[:2]
    yield f"http://{host}:{port}"
    server.shutdown()


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_metrics_are_served_in_prometheus_text_format(endpoint: str) -> None:
    metrics.EVENTS_IN.labels("unit-test-topic").inc(3)
    metrics.DEAD_LETTERS.labels("unit-test-reason").inc()
    status, body = get(f"{endpoint}/metrics")
    text = body.decode()
    assert status == 200
    assert 'streamml_events_in_total{topic="unit-test-topic"} 3.0' in text
    assert 'streamml_dead_letters_total{reason="unit-test-reason"} 1.0' in text
    assert "# TYPE streamml_event_to_output_seconds histogram" in text


def test_health_turns_503_when_the_process_stalls(endpoint: str, health: metrics.Health) -> None:
    assert get(f"{endpoint}/healthz") == (200, b'{"status": "ok", "stalled": []}')
    health.observe("g", "transactions", 2, committed=10, lag=4)
    advance(health, 61)
    status, body = get(f"{endpoint}/healthz")
    assert status == 503
    assert json.loads(body) == {"status": "stalled", "stalled": ["g/transactions[2] lag 4"]}
    assert get(f"{endpoint}/nothing-here")[0] == 404
