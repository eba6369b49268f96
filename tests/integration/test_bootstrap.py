"""A deployment bootstrapped from history, then fed live from the cut-off through the real
broker and worker, scores as if it had run all along: every feature equals one
uninterrupted offline pass from the file's start, and the bootstrap's model serves the
first prediction."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from streamml.admin import ensure_topics
from streamml.contracts import decode_record
from streamml.datasets import SourceOptions, get_source
from streamml.features.fraud import FEATURE_NAMES
from streamml.follow import latest_snapshots
from streamml.internal import Example
from streamml.produce import replay
from streamml.records import Prediction, Transaction
from streamml.settings import Settings
from tests.integration.test_fraud_worker import offline_features, settled
from tests.integration.worker_process import (
    read_topics,
    start_worker,
    streamml_env,
    wait_until_ready,
)

pytestmark = pytest.mark.integration

CUTOFF = datetime(2018, 4, 8, tzinfo=UTC)
END = datetime(2018, 4, 11, tzinfo=UTC)
DELAY_DAYS = 1.0


def bootstrap(settings: Settings, tmp_path: Path, *args: str) -> dict[str, object]:
    out = tmp_path / "bootstrap.json"
    done = subprocess.run(
        [sys.executable, "-m", "streamml", "bootstrap", "--json", str(out), *args],
        env=streamml_env(settings, STREAMML_DATA_DIR=str(settings.data_dir)),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report: dict[str, object] = json.loads(out.read_text())
    return report


def test_bootstrapped_scorer_continues_history_exactly(
    settings_factory: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = settings_factory()
    ensure_topics(settings)
    until = ["--until", CUTOFF.isoformat(), "--label-delay-days", str(DELAY_DAYS)]
    first = bootstrap(settings, tmp_path, *until, "--texts", "emotion6")
    fraud = first["fraud"]
    assert isinstance(fraud, dict)
    assert fraud["bad_rows"] == {} and fraud["examples_learned"] > 50_000
    assert sum(fraud["state"]["records"].values()) == fraud["cards"] + fraud["terminals"]
    assert first["snapshots"] == {"fraud": "fraud-v1", "emotion6": "emotion6-v1"}
    # A second run leaves the same state and publishes nothing new.
    again = bootstrap(settings, tmp_path, *until, "--texts", "emotion6")
    assert again["snapshots"] == first["snapshots"]
    served = latest_snapshots(settings)
    assert (
        served["fraud"].version == 1 and served["fraud"].provenance["until"] == CUTOFF.isoformat()
    )

    options = SourceOptions(
        start=CUTOFF, end=END, label_delay=timedelta(days=DELAY_DAYS), earlier_labels=True
    )
    records = list(get_source("fraud", settings, options).records())
    transactions = [r for r in records if isinstance(r, Transaction)]
    assert min(t.event_time for t in transactions) >= CUTOFF
    log_path = tmp_path / "scorer.log"
    worker = start_worker(settings, log_path, STREAMML_ROLE="scorer")
    try:
        wait_until_ready(log_path, worker, role="scorer")
        assert replay(settings, records, rate=8000, progress=False).failed == 0
        topics = settings.topics
        preds, training = topics.fraud_predictions, topics.fraud_training
        seen = read_topics(settings, [preds], lambda c: c[preds] >= len(transactions), timeout=300)
        seen |= read_topics(settings, [training], settled(training), timeout=120)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(60)
    log = log_path.read_text(errors="replace")
    assert re.search(r"restored \d+ table partitions from [1-9]\d* changelog records", log), log[
        -3000:
    ]

    predictions = [decode_record(Prediction, v) for v in seen[topics.fraud_predictions]]
    counts = Counter(p.event_id for p in predictions)
    assert set(counts) == {t.event_id for t in transactions} and max(counts.values()) == 1
    # The bootstrap's model serves from the first record: never the untrained v0.
    assert {p.model_version for p in predictions} == {"fraud-v1"}

    examples = {e.event_id: e for e in map(Example.from_bytes, seen[topics.fraud_training])}
    assert len(examples) > 15_000, "too few examples to compare"
    expected = offline_features(
        settings, tmp_path / "features.csv", "2018-04-10", DELAY_DAYS, FEATURE_NAMES
    )
    for event_id, example in examples.items():
        used = {name: example.x[name] for name in FEATURE_NAMES}
        assert used == pytest.approx(expected[event_id], rel=1e-9, abs=1e-9), event_id
    assert sum(e.x["TERMINAL_ID_RISK_7DAY_WINDOW"] > 0 for e in examples.values()) >= 20
    assert sum(e.x["CUSTOMER_ID_NB_TX_30DAY_WINDOW"] > 7 for e in examples.values()) > 1000
