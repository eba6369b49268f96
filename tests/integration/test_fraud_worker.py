"""Two weeks of the handbook's transactions, labels 7 event-days late, through the real
broker and the worker: one prediction per transaction, the features the worker learned
from equal what `streamml features fraud` computes, and model versions advance."""

from __future__ import annotations

import csv
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from streamml.admin import ensure_topics
from streamml.contracts import decode_record
from streamml.datasets import ReplayRecord, SourceOptions, get_source
from streamml.features.fraud import HANDBOOK_FEATURES
from streamml.internal import Example
from streamml.produce import replay
from streamml.records import Prediction, Transaction
from streamml.settings import Settings
from tests.integration.worker_process import read_topics, start_worker, wait_until_ready

pytestmark = pytest.mark.integration

FROM, TO = "2018-04-01", "2018-04-14"


def offline_features(
    settings: Settings,
    out: Path,
    to: str = TO,
    label_delay_days: float = 7.0,
    names: tuple[str, ...] = HANDBOOK_FEATURES,
) -> dict[str, dict[str, float]]:
    data = settings.data_dir / "fraud_handbook_sim_raw_2018-04-01_2018-09-30.csv.gz"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "streamml",
            "features",
            "fraud",
            "--data",
            str(data),
            "--from",
            FROM,
            "--to",
            to,
            "--out",
            str(out),
            "--label-delay-days",
            str(label_delay_days),
        ],
        check=True,
        capture_output=True,
    )
    with out.open() as handle:
        return {
            row["TRANSACTION_ID"]: {name: float(row[name]) for name in names}
            for row in csv.DictReader(handle)
        }


def test_two_weeks_of_transactions_through_the_worker(
    settings_factory: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = settings_factory(state_dir=tmp_path / "state", snapshot_every_examples=3000)
    ensure_topics(settings)
    options = SourceOptions(end=datetime(2018, 4, 15, tzinfo=UTC))
    records = list(get_source("fraud", settings, options).records())
    transactions = [r for r in records if isinstance(r, Transaction)]
    log_path = tmp_path / "worker.log"
    worker = start_worker(settings, log_path, STREAMML_SNAPSHOT_EVERY_EXAMPLES="3000")
    wait_until_ready(log_path, worker)
    # Paced so the worker keeps up, as in production: a label then comes 7 event-days
    # after its transaction in wall time too.
    summary = replay(settings, records, rate=4000, progress=False)
    assert summary.failed == 0
    topics = settings.topics
    try:
        seen = read_topics(
            settings,
            [topics.fraud_predictions, topics.fraud_training],
            lambda c: (
                c[topics.fraud_predictions] >= len(transactions)
                and c[topics.fraud_training] >= len(transactions)
            ),
            timeout=900,
        )
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(60)
    log = log_path.read_text(errors="replace")[-4000:]

    predictions = [decode_record(Prediction, v) for v in seen[topics.fraud_predictions]]
    counts = Counter(p.event_id for p in predictions)
    assert set(counts) == {t.event_id for t in transactions}, log
    assert max(counts.values()) == 1, "a transaction was predicted twice"
    by_time = sorted(predictions, key=lambda p: p.event_time)
    versions = [int(p.model_version.rsplit("-v", 1)[1]) for p in by_time]
    assert versions[-1] >= 5, "the trainer's snapshots never reached the scorer"
    assert versions[: len(versions) // 4].count(0) > 0 and versions[-100:].count(0) == 0

    examples = {e.event_id: e for e in map(Example.from_bytes, seen[topics.fraud_training])}
    expected = offline_features(settings, tmp_path / "features.csv")
    sample = random.Random(3).sample(sorted(examples), 2000)
    for event_id in sample:
        used = {name: examples[event_id].x[name] for name in HANDBOOK_FEATURES}
        assert used == pytest.approx(expected[event_id], rel=1e-9, abs=1e-9), event_id
    assert any(examples[e].x["TERMINAL_ID_RISK_7DAY_WINDOW"] > 0 for e in sample)


class Scorers:
    """``streamml worker`` processes of role ``scorer`` on one test's topics and group."""

    def __init__(self, settings: Settings, tmp_path: Path) -> None:
        self.settings, self.tmp_path = settings, tmp_path
        self.running: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str) -> None:
        log_path = self.tmp_path / f"{name}.log"
        self.running[name] = start_worker(self.settings, log_path, STREAMML_ROLE="scorer")
        wait_until_ready(log_path, self.running[name], role="scorer")

    def stop(self, name: str) -> None:
        worker = self.running.pop(name)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(60) == 0, self.log(name)[-3000:]

    def log(self, name: str) -> str:
        return (self.tmp_path / f"{name}.log").read_text(errors="replace")

    def stop_all(self) -> None:
        for name in list(self.running):
            self.stop(name)


def four_days(settings: Settings) -> tuple[list[ReplayRecord], list[Transaction]]:
    """2018-04-01..04: about 38,000 transactions, labels one day late."""
    options = SourceOptions(end=datetime(2018, 4, 5, tzinfo=UTC), label_delay=timedelta(days=1))
    records = list(get_source("fraud", settings, options).records())
    return records, [r for r in records if isinstance(r, Transaction)]


def check_one_prediction_each_and_offline_features(
    settings: Settings,
    seen: dict[str, list[bytes]],
    transactions: list[Transaction],
    compared: set[str],
    out: Path,
) -> None:
    """Each transaction predicted once; the features of every example in ``compared``
    equal one uninterrupted offline pass."""
    topics = settings.topics
    predictions = [decode_record(Prediction, v) for v in seen[topics.fraud_predictions]]
    counts = Counter(p.event_id for p in predictions)
    assert set(counts) == {t.event_id for t in transactions}
    assert max(counts.values()) == 1, "a scorer did not commit what it had scored"
    examples = {e.event_id: e for e in map(Example.from_bytes, seen[topics.fraud_training])}
    checked = compared & set(examples)
    assert len(checked) > 1000, "too few examples to compare"
    expected = offline_features(settings, out, "2018-04-04", 1.0)
    for event_id in sorted(checked):
        used = {name: examples[event_id].x[name] for name in HANDBOOK_FEATURES}
        assert used == pytest.approx(expected[event_id], rel=1e-9, abs=1e-9), event_id


def read_predictions_and_examples(settings: Settings, predicted: int) -> dict[str, list[bytes]]:
    """``predicted`` predictions, then every training example (the topic quiet for 5 s):
    labels join after their transactions, so examples may trail the last prediction."""
    topics = settings.topics
    preds, training = topics.fraud_predictions, topics.fraud_training
    seen = read_topics(settings, [preds], lambda c: c[preds] >= predicted, timeout=300)
    return seen | read_topics(settings, [training], settled(training), timeout=120)


def settled(topic: str, quiet: float = 5.0) -> Callable[[Counter[str]], bool]:
    """A ``read_topics`` condition: ``topic`` has records and no new one for ``quiet`` s."""
    last = {"count": -1, "since": time.monotonic()}

    def enough(counts: Counter[str]) -> bool:
        if counts[topic] != last["count"]:
            last["count"], last["since"] = counts[topic], time.monotonic()
        return counts[topic] > 0 and time.monotonic() - last["since"] > quiet

    return enough


def test_a_restarted_scorer_takes_its_feature_state_from_the_changelogs(
    settings_factory: Callable[..., Settings], tmp_path: Path
) -> None:
    """The per-card and per-terminal state of a stopped scorer comes back in the next
    process: features after the restart equal those of one uninterrupted offline pass."""
    settings = settings_factory(state_dir=tmp_path / "state")
    ensure_topics(settings)
    records, transactions = four_days(settings)
    half = len(records) // 2
    first_half = sum(isinstance(r, Transaction) for r in records[:half])
    scorers = Scorers(settings, tmp_path)
    try:
        scorers.start("first")
        assert replay(settings, records[:half], rate=8000, progress=False).failed == 0
        read_predictions_and_examples(settings, first_half)
        scorers.stop("first")
        scorers.start("second")
        assert replay(settings, records[half:], rate=8000, progress=False).failed == 0
        seen = read_predictions_and_examples(settings, len(transactions))
    finally:
        scorers.stop_all()
    restored = scorers.log("second")
    assert re.search(r"restored \d+ table partitions from [1-9]\d* changelog records", restored)
    after = {t.event_id for t in transactions[first_half:]}
    check_one_prediction_each_and_offline_features(
        settings, seen, transactions, after, tmp_path / "features.csv"
    )


def test_partitions_and_their_state_move_when_a_scorer_joins_and_leaves(
    settings_factory: Callable[..., Settings], tmp_path: Path
) -> None:
    """A second scorer joins mid-stream, then the first leaves: partitions move with
    their per-card and per-terminal state, and every feature equals a single offline pass."""
    settings = settings_factory(state_dir=tmp_path / "state")
    ensure_topics(settings)
    records, transactions = four_days(settings)
    third = len(records) // 3
    scorers = Scorers(settings, tmp_path)
    try:
        scorers.start("a")
        assert replay(settings, records[:third], rate=8000, progress=False).failed == 0
        scorers.start("b")  # joins: the group splits the partitions between a and b
        assert replay(settings, records[third : 2 * third], rate=8000, progress=False).failed == 0
        scorers.stop("a")  # leaves: b takes every partition, with a's state
        assert replay(settings, records[2 * third :], rate=8000, progress=False).failed == 0
        seen = read_predictions_and_examples(settings, len(transactions))
    finally:
        scorers.stop_all()
    log_b = scorers.log("b")
    assert log_b.count("restored ") >= 2, "b never took partitions over"
    assert re.search(r"restored \d+ table partitions from [1-9]\d* changelog records", log_b)
    everything = {t.event_id for t in transactions}
    check_one_prediction_each_and_offline_features(
        settings, seen, transactions, everything, tmp_path / "features.csv"
    )
