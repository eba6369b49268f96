"""Replay routing, pacing and delivery accounting, with a fake producer (no Kafka here).

The broker-backed check of the same path is ``streamml produce`` against a real cluster.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from confluent_kafka import KafkaError

from streamml import replay_cli
from streamml.contracts import decode_record, encode_record
from streamml.datasets import ReplayRecord
from streamml.datasets.synthetic import SyntheticConfig, generate_synthetic
from streamml.produce import ReplaySummary, pacing_batch, pacing_delay, replay
from streamml.records import DeadLetter, Label, TextEvent, Transaction
from streamml.settings import Settings
from streamml.tail import describe, json_line

T0 = datetime(2018, 4, 1, tzinfo=UTC)
SETTINGS = Settings(topic_prefix="t.")


class FakeProducer:
    """Keeps what was produced; acknowledges on poll/flush, failing chosen topics."""

    def __init__(self, fail_topic: str | None = None, full_once: bool = False) -> None:
        self.messages: list[tuple[str, bytes, bytes]] = []
        self.unacked: list[tuple[str, Any]] = []
        self.fail_topic = fail_topic
        self.full_once = full_once
        self.polls = 0

    def produce(self, topic: str, value: bytes, key: bytes, *, on_delivery: Any) -> None:
        if self.full_once:
            self.full_once = False
            raise BufferError("Local: Queue full")
        self.messages.append((topic, key, value))
        self.unacked.append((topic, on_delivery))

    def poll(self, timeout: float) -> int:
        self.polls += 1
        served, self.unacked = self.unacked, []
        for topic, callback in served:
            failed = topic == self.fail_topic
            callback(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE) if failed else None, None)
        return len(served)

    def flush(self, timeout: float) -> int:
        self.poll(timeout)
        return 0


def tx(i: int, minutes: float = 0.0, customer: str = "c1") -> Transaction:
    return Transaction(f"t{i}", T0 + timedelta(minutes=minutes), customer, "m1", 10.0)


def run(records: Iterable[ReplayRecord], producer: FakeProducer, **kwargs: Any) -> ReplaySummary:
    return replay(SETTINGS, records, progress=False, producer=producer, **kwargs)


# --- pacing -----------------------------------------------------------------------------


def test_pacing_delay_targets_the_schedule_from_the_start() -> None:
    assert pacing_delay(sent=1000, elapsed=0.02, rate=10_000) == pytest.approx(0.08)
    assert pacing_delay(sent=1000, elapsed=0.2, rate=10_000) == 0.0
    assert pacing_batch(10_000) == 100
    assert pacing_batch(0.5) == 1
    assert pacing_batch(1e7) == 1000


def test_paced_replay_sleeps_per_batch_and_totals_count_over_rate() -> None:
    now = [0.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    records: list[ReplayRecord] = [tx(i, i / 1000) for i in range(20_000)]
    summary = run(records, FakeProducer(), rate=10_000, sleep=sleep, clock=lambda: now[0])

    assert len(sleeps) == 200  # one per batch of 100, not one per record
    assert sum(sleeps) == pytest.approx(2.0)
    assert summary.sent == 20_000 and summary.rate == pytest.approx(10_000)


def test_paced_replay_holds_10k_per_second_in_real_time() -> None:
    records: list[ReplayRecord] = [tx(i) for i in range(3000)]
    started = time.monotonic()

    summary = run(records, FakeProducer(), rate=10_000)

    elapsed = time.monotonic() - started
    assert 0.28 <= elapsed < 1.0  # generous: shared CI machines stall
    assert summary.sent == 3000


# --- routing and ordering ---------------------------------------------------------------


def test_records_go_to_their_topics_keys_and_formats() -> None:
    text = TextEvent("x1", T0, "so happy", "emotion6", label="joy", taxonomy="emotion6")
    records: list[ReplayRecord] = [
        tx(1, customer="c9"),
        Label("t1", "fraud", "1", T0, T0),
        text,
        Label("x1", "emotion6", "joy", T0),
    ]
    producer = FakeProducer()

    summary = run(records, producer, fmt="json")

    assert [(topic, key) for topic, key, _ in producer.messages] == [
        ("t.transactions", b"c9"),
        ("t.fraud-labels", b"t1"),
        ("t.texts", b"x1"),
        ("t.emotion-labels", b"x1"),
    ]
    assert json.loads(producer.messages[2][2])["text"] == "so happy"
    assert decode_record(TextEvent, producer.messages[2][2]) == text
    assert (summary.sent, summary.failed, summary.interrupted) == (4, 0, False)


def test_fraud_labels_are_published_after_the_following_week_of_transactions() -> None:
    config = SyntheticConfig(seed=5, sessions_per_day=200)
    records = list(generate_synthetic(config, end=config.start + timedelta(days=10)))
    producer = FakeProducer()

    run(records, producer)

    seen_until = config.start
    for topic, _, value in producer.messages:
        if topic == "t.transactions":
            seen_until = decode_record(Transaction, value).event_time
        else:
            label = decode_record(Label, value)
            assert label.event_time is not None
            assert label.label_time == label.event_time + timedelta(days=7)
            # Published once the stream reached its label time (or at the very end).
            assert seen_until <= label.label_time
    first_label = next(i for i, m in enumerate(producer.messages) if m[0] == "t.fraud-labels")
    first_tx_time = decode_record(Transaction, producer.messages[0][2]).event_time
    before = decode_record(Transaction, producer.messages[first_label - 1][2]).event_time
    assert before - first_tx_time >= timedelta(days=6, hours=23)


# --- delivery accounting ----------------------------------------------------------------


def test_delivery_errors_and_invalid_records_are_counted_by_reason() -> None:
    bad = Transaction("t9", T0, "c1", "m1", float("nan"))
    records: list[ReplayRecord] = [tx(1), Label("t1", "fraud", "0", T0, T0), bad]

    summary = run(records, FakeProducer(fail_topic="t.fraud-labels", full_once=True))

    assert (summary.sent, summary.failed) == (1, 2)
    assert summary.errors == {
        "invalid record (non-finite-number)": 1,
        KafkaError(KafkaError.MSG_SIZE_TOO_LARGE).str(): 1,
    }


def test_ctrl_c_stops_reading_flushes_and_reports_interrupted() -> None:
    def records() -> Iterator[ReplayRecord]:
        yield from (tx(i) for i in range(5))
        raise KeyboardInterrupt

    producer = FakeProducer()
    summary = run(records(), producer)

    assert summary.interrupted
    assert summary.sent == 5 and not producer.unacked


# --- tail rendering ---------------------------------------------------------------------


def test_tail_shows_dead_letter_reason_origin_and_payload() -> None:
    letter = DeadLetter(
        "transactions", 2, 41, "unknown-format", "neither Avro nor JSON", b"junk", T0
    )

    shown = describe(encode_record(letter), DeadLetter)

    assert shown["reason"] == "unknown-format: neither Avro nor JSON"
    assert shown["origin"] == "transactions[2]@41"
    assert shown["raw"] == "junk"
    assert json.loads(json_line(shown))["failed_time"] == "2018-04-01T00:00:00+00:00"


def test_tail_shows_records_as_json_and_garbage_as_error_with_hex() -> None:
    label = Label("t1", "fraud", "1", T0)

    assert json.loads(json_line(describe(encode_record(label), Label)))["value"]["label"] == "1"
    garbage = describe(b"\x00garbage", Transaction)
    assert garbage["error"].startswith("unknown-format")
    assert garbage["value_hex"] == b"\x00garbage".hex()


# --- command line -----------------------------------------------------------------------


def test_produce_command_builds_options_and_reports(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "emotion6_nlp_test.txt").write_text("a;joy\nb;fear\nc;love\n")
    calls: list[dict[str, Any]] = []

    def fake_replay(settings: Settings, records: Iterator[ReplayRecord], **kw: Any) -> Any:
        calls.append({"records": list(records), **kw})
        return ReplaySummary(sent=2, failed=0, seconds=1.0, rate=2.0)

    monkeypatch.setattr(replay_cli, "replay", fake_replay)
    args = ["--source", "emotion6", "--split", "test", "--to", "2024-01-01", "--limit", "2"]
    args += ["--rate", "50", "--format", "json", "--no-progress", "--no-create-topics"]

    result = CliRunner().invoke(replay_cli.produce, args, obj=Settings(data_dir=tmp_path))

    assert result.exit_code == 0, result.output
    assert "sent 2 records, 0 failed" in result.output
    (call,) = calls
    assert [r.event_id for r in call["records"]] == ["emotion6-test-1", "emotion6-test-2"]
    assert (call["rate"], call["fmt"], call["progress"], call["total"]) == (50.0, "json", False, 2)


def test_commands_turn_streamml_errors_into_one_line_and_exit_1(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, kafka_bootstrap_servers="127.0.0.1:1")

    result = CliRunner().invoke(replay_cli.produce, ["--source", "fraud"], obj=settings)

    assert result.exit_code == 1
    assert result.output.count("\n") == 1
    assert "STREAMML_DATA_DIR" in result.output


@pytest.mark.parametrize(
    ("summary", "code", "says"),
    [
        (ReplaySummary(1, 2, 1.0, 1.0, errors={"Broker: boom": 2}), 1, "2 x Broker: boom"),
        (ReplaySummary(5, 0, 1.0, 5.0, interrupted=True), 130, "interrupted"),
    ],
)
def test_produce_command_exit_codes_say_what_went_wrong(
    monkeypatch: pytest.MonkeyPatch, summary: ReplaySummary, code: int, says: str
) -> None:
    monkeypatch.setattr(replay_cli, "replay", lambda *args, **kw: summary)
    args = ["--source", "synthetic", "--limit", "3", "--no-create-topics"]

    result = CliRunner().invoke(replay_cli.produce, args, obj=Settings())

    assert result.exit_code == code
    assert says in result.output


def test_produce_no_labels_sends_the_events_only(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    sent: dict[bool, list[ReplayRecord]] = {}

    def fake_replay(settings: Settings, records: Iterator[ReplayRecord], **kw: Any) -> Any:
        sent[bool(kw["total"] is None)] = list(records)
        return ReplaySummary(sent=1, failed=0, seconds=1.0, rate=1.0)

    monkeypatch.setattr(replay_cli, "replay", fake_replay)
    args = ["--generator", "synthetic", "--limit", "300", "--no-progress", "--no-create-topics"]
    for extra in ([], ["--no-labels"]):
        result = CliRunner().invoke(replay_cli.produce, args + extra, obj=Settings())
        assert result.exit_code == 0, result.output
    with_labels, events_only = sent[False], sent[True]
    assert any(isinstance(r, Label) for r in with_labels)
    assert not any(isinstance(r, Label) for r in events_only)
    assert events_only == [r for r in with_labels if not isinstance(r, Label)]
