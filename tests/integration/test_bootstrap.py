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
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from streamml.admin import ensure_topics
from streamml.contracts import decode_record
from streamml.datasets import SourceOptions, get_source
from streamml.features.fraud import FEATURE_NAMES
from streamml.follow import latest_snapshots
from streamml.internal import Example
from streamml.lakefiles import lake_rows
from streamml.produce import replay
from streamml.records import Label, Prediction, Transaction
from streamml.registry import ModelRegistry
from streamml.settings import Settings
from streamml.store import open_store
from tests.containers import S3Endpoint
from tests.integration.test_fraud_worker import offline_features, settled
from tests.integration.test_lake_sink import lake_env, lake_settings
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
KEY = b"streamml-development-key"  # Settings' default signing key


def bootstrap(settings: Settings, tmp_path: Path, *args: str, **env: str) -> dict[str, Any]:
    out = tmp_path / "bootstrap.json"
    done = subprocess.run(
        [sys.executable, "-m", "streamml", "bootstrap", "--json", str(out), *args],
        env=streamml_env(settings, STREAMML_DATA_DIR=str(settings.data_dir), **env),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report: dict[str, Any] = json.loads(out.read_text())
    return report


def test_bootstrapped_scorer_continues_history_exactly(
    settings_factory: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = settings_factory()
    ensure_topics(settings)
    until = ["--until", CUTOFF.isoformat(), "--label-delay-days", str(DELAY_DAYS)]
    lake = {"STREAMML_LAKE_URL": f"file://{tmp_path}/lake"}
    first = bootstrap(settings, tmp_path, *until, "--texts", "emotion6", **lake)
    fraud = first["fraud"]
    assert isinstance(fraud, dict)
    assert fraud["bad_rows"] == {} and fraud["examples_learned"] > 50_000
    assert sum(fraud["state"]["records"].values()) == fraud["cards"] + fraud["terminals"]
    assert first["snapshots"] == {"fraud": "fraud-v1", "emotion6": "emotion6-v1"}
    # A second run leaves the same state and publishes nothing new.
    again = bootstrap(settings, tmp_path, *until, "--texts", "emotion6", **lake)
    assert again["snapshots"] == first["snapshots"]
    # The registry holds the same version, with what it learned from and its figures.
    registry = ModelRegistry(open_store(lake["STREAMML_LAKE_URL"]), KEY)
    assert registry.versions("fraud") == [1]
    meta = registry.meta("fraud", 1)
    assert meta["provenance"]["first_event"].startswith("2018-04-01")
    assert meta["provenance"]["rows"] == fraud["rows"] and "roc_auc" in meta["metrics"]
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


TEST_WEEK = datetime(2018, 8, 8, tzinfo=UTC)
AFTER_TEST_WEEK = datetime(2018, 8, 15, tzinfo=UTC)


def evaluate_fraud(settings: Settings, out: Path) -> subprocess.Popen[bytes]:
    """`streamml evaluate fraud` to the end of the handbook's test week, in the background."""
    data = settings.data_dir / "fraud_handbook_sim_raw_2018-04-01_2018-09-30.csv.gz"
    until = ["--until", "2018-08-15", "--test-week-only", "--json", str(out)]
    return subprocess.Popen(
        [sys.executable, "-m", "streamml", "evaluate", "fraud", "--data", str(data), *until],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def handbook_week_figures(settings: Settings, scores: dict[str, float]) -> dict[str, float]:
    """The handbook's test-week figures (with its exclusions) of ``scores``."""
    from streamml.evaluate.protocol import HandbookSplit
    from streamml.evaluate.report import handbook_test_week

    since = SourceOptions(start=datetime(2018, 7, 25, tzinfo=UTC), end=AFTER_TEST_WEEK)
    rows = list(get_source("fraud", settings, since).records())
    fraud = {r.event_id: int(r.label == "1") for r in rows if isinstance(r, Label)}
    txs = [r for r in rows if isinstance(r, Transaction)]
    cards = {c: i for i, c in enumerate(sorted({t.customer_id for t in txs}))}
    cols = {
        "seconds": np.array([t.event_time.timestamp() for t in txs]),
        "customer": np.array([cards[t.customer_id] for t in txs]),
        "score": np.array([scores.get(t.event_id, 0.0) for t in txs]),
        "fraud": np.array([fraud[t.event_id] for t in txs], dtype=np.int8),
    }
    week = handbook_test_week(cols, HandbookSplit())
    return {k: week[k] for k in ("n", "frauds", "auc_roc", "average_precision")}


@pytest.mark.timeout(1500)  # two months of history, twice, on two cores
def test_the_test_week_after_a_bootstrap_scores_as_the_offline_protocol(
    settings_factory: Callable[..., Settings], tmp_path: Path
) -> None:
    """Bootstrapped to 2018-08-08 and fed the test week live, the deployment's predictions
    score as `streamml evaluate fraud` does on that week (within 0.01 AUC, 0.02 AP)."""
    settings = settings_factory()
    ensure_topics(settings)
    reference = evaluate_fraud(settings, tmp_path / "evaluate.json")
    try:
        report = bootstrap(settings, tmp_path, "--until", TEST_WEEK.isoformat(), "--texts", "none")
        options = SourceOptions(start=TEST_WEEK, end=AFTER_TEST_WEEK, earlier_labels=True)
        records = [
            r
            for r in get_source("fraud", settings, options).records()
            if not isinstance(r, Label) or r.label_time < AFTER_TEST_WEEK
        ]
        week = [r for r in records if isinstance(r, Transaction)]
        log_path = tmp_path / "scorer.log"
        worker = start_worker(settings, log_path, STREAMML_ROLE="scorer")
        try:
            wait_until_ready(log_path, worker, role="scorer")
            assert replay(settings, records, progress=False).failed == 0
            preds = settings.topics.fraud_predictions
            seen = read_topics(settings, [preds], lambda c: c[preds] >= len(week), timeout=600)
        finally:
            worker.send_signal(signal.SIGTERM)
            worker.wait(60)
        assert reference.wait(1800) == 0, "streamml evaluate fraud failed"
    finally:
        if reference.poll() is None:
            reference.kill()
    predictions = [decode_record(Prediction, v) for v in seen[preds]]
    assert {p.model_version for p in predictions} == {"fraud-v1"}
    live = handbook_week_figures(settings, {p.event_id: p.score or 0.0 for p in predictions})
    offline = json.loads((tmp_path / "evaluate.json").read_text())["test_week"]
    print(json.dumps({"bootstrap": report["fraud"], "live": live, "evaluate": offline}))
    assert (live["n"], live["frauds"]) == (offline["n"], offline["frauds"])
    assert live["auc_roc"] == pytest.approx(offline["auc_roc"], abs=0.01)
    assert live["average_precision"] == pytest.approx(offline["average_precision"], abs=0.02)


def landed_rows(settings: Settings) -> int:
    """Rows the sink landed so far, over every topic."""
    store = settings.lake()
    return sum(lake_rows(store.get(key) or b"", key) for key in store.list("topic="))


def test_the_lake_the_sink_landed_bootstraps_as_the_files_do(
    settings_factory: Callable[..., Settings], s3_endpoint: S3Endpoint, tmp_path: Path
) -> None:
    """History read back from the lake on MinIO (as the sink landed it) gives the same
    pass as the data file: same transactions, labels and examples, the same feature state
    byte for byte; and the texts the sink landed teach the emotion model."""
    settings = lake_settings(settings_factory, s3_endpoint, "lake")
    ensure_topics(settings)
    end, until = datetime(2018, 4, 5, tzinfo=UTC), datetime(2018, 4, 4, tzinfo=UTC)
    options = SourceOptions(end=end, label_delay=timedelta(days=DELAY_DAYS))
    fraud = list(get_source("fraud", settings, options).records())
    # Texts carry no time of their own: give them times inside the history.
    at = SourceOptions(limit=600, start=datetime(2018, 4, 1, tzinfo=UTC))
    texts = list(get_source("emotion6", settings, at).records())
    assert replay(settings, [*fraud, *texts], progress=False).failed == 0
    landed = ["transactions", "fraud-labels", "texts", "emotion-labels"]
    env = lake_env(settings) | {"STREAMML_SINK_TOPICS": json.dumps(landed)}
    sink = start_worker(settings, tmp_path / "sink.log", STREAMML_ROLE="sink", **env)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and landed_rows(settings) < len(fraud) + len(texts):
            time.sleep(3)
    finally:
        sink.send_signal(signal.SIGTERM)
        sink.wait(60)
    common = ["--until", until.isoformat(), "--label-delay-days", str(DELAY_DAYS), "--dry-run"]
    from_lake = bootstrap(settings, tmp_path, *common, "--fraud", "lake", "--texts", "lake", **env)
    from_file = bootstrap(settings, tmp_path, *common, "--texts", "none")
    same = ("transactions", "labels_known_by_cutoff", "examples_learned", "cards", "terminals")
    same += ("state_sha256",)
    lake_fraud, file_fraud = from_lake["fraud"], from_file["fraud"]
    assert isinstance(lake_fraud, dict) and isinstance(file_fraud, dict)
    assert lake_fraud["bad_rows"] == {} and lake_fraud["transactions"] > 25_000
    assert {k: lake_fraud[k] for k in same} == {k: file_fraud[k] for k in same}
    # The models may differ: events of the same second come in another order.
    lake_texts = from_lake["texts"]
    assert isinstance(lake_texts, dict) and lake_texts["texts"] == 600
    assert lake_texts["tasks"]["emotion6"]["examples"] == 600
