"""The bootstrap's passes over history, without Kafka: what a table yields, which bad rows
it counts, which labels count by the cut-off, and that the state left equals a live
pass's."""

from __future__ import annotations

import dataclasses
import pickle
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from river import linear_model

from streamml.bootstrap.cache import PassCache
from streamml.bootstrap.emotion import learn_text_history
from streamml.bootstrap.fraud import learn_fraud_history
from streamml.bootstrap.history import FraudColumns, fraud_table_records, load_table
from streamml.bootstrap.learner import ProcessLearner
from streamml.bootstrap.run import BootstrapPlan, run_bootstrap
from streamml.datasets import interleave_labels
from streamml.errors import ConfigurationError
from streamml.features.store import FraudFeatureStore
from streamml.models.emotion import emotion_model
from streamml.models.fraud import fraud_model
from streamml.records import Label, TextEvent, Transaction
from streamml.settings import EmotionTask, Settings
from streamml.snapshots import encode_model

T0 = datetime(2018, 4, 1, tzinfo=UTC)


def table(rows: list[tuple[str, str, str, str, str, str]]) -> pd.DataFrame:
    names = ["id", "when", "card", "shop", "amount", "fraud"]
    return pd.DataFrame(rows, columns=names)


COLUMNS = FraudColumns(
    event_id="id",
    time="when",
    customer="card",
    terminal="shop",
    amount="amount",
    label="fraud",
    label_delay=timedelta(days=1),
)


def test_every_bad_row_is_counted_by_reason_and_left_out() -> None:
    frame = table(
        [
            ("a", "2018-04-01T10:00:00Z", "c1", "t1", "12.5", "0"),
            ("b", "not a time", "c1", "t1", "3", "0"),
            ("", "2018-04-01T11:00:00Z", "c1", "t1", "3", "0"),
            ("c", "2018-04-01T11:00:00Z", "", "t1", "3", "0"),
            ("d", "2018-04-01T12:00:00Z", "c2", "t2", "twelve", "0"),
            ("e", "2018-04-01T12:00:00Z", "c2", "t2", "-4", "0"),
            ("f", "2018-04-01T12:00:00Z", "c2", "t2", "inf", "0"),
            ("g", "2018-04-01T13:00:00Z", "c2", "t2", "4", "maybe"),
            ("a", "2018-04-01T14:00:00Z", "c2", "t2", "4", "1"),
            ("h", "2018-04-01T09:00:00Z", "c3", "t3", "7", ""),
        ]
    )
    bad: Counter[str] = Counter()
    records, span = fraud_table_records(frame, COLUMNS, datetime(2019, 1, 1, tzinfo=UTC), bad)
    got = list(records)
    assert bad == Counter(
        {
            "unparseable-time": 1,
            "missing-id": 2,
            "non-numeric-amount": 2,
            "negative-amount": 1,
            "bad-label": 1,
            "duplicate-event-id": 1,
        }
    )
    # In event-time order; "h" has no label (an empty cell), "a" has its own.
    assert [(type(r).__name__, r.event_id) for r in got] == [
        ("Transaction", "h"),
        ("Transaction", "a"),
        ("Label", "a"),
    ]
    label = got[2]
    assert isinstance(label, Label) and label.label_time == got[1].event_time + timedelta(days=1)
    assert (span.first.hour, span.last.hour, span.rows) == (9, 10, 2)


def test_label_times_from_a_column_and_labels_before_their_event(tmp_path: Path) -> None:
    frame = table(
        [
            ("a", "1522576800", "c1", "t1", "1", "1"),  # 2018-04-01 10:00 as epoch seconds
            ("b", "1522580400", "c1", "t1", "1", "0"),
        ]
    )
    frame["known"] = ["2018-04-03 00:00:00", "2018-04-01 00:00:00"]
    path = tmp_path / "history.parquet"
    frame.to_parquet(path)
    columns = dataclasses.replace(COLUMNS, label_time="known")
    bad: Counter[str] = Counter()
    records, _ = fraud_table_records(
        load_table(path, columns), columns, datetime(2019, 1, 1, tzinfo=UTC), bad
    )
    labels = [r for r in records if isinstance(r, Label)]
    assert [(lb.event_id, lb.label_time.day) for lb in labels] == [("a", 3)]
    assert bad == Counter({"label-before-event": 1})


def test_a_table_without_the_named_columns_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("x,y\n1,2\n")
    with pytest.raises(ConfigurationError, match=r"no column.*id.*name them"):
        load_table(path, COLUMNS)


def stream(days: int) -> list[Transaction | Label]:
    """A small labelled stream: two cards, three terminals, a fraud every fifth event."""
    out: list[Transaction | Label] = []
    for i in range(days * 24):
        when = T0 + timedelta(hours=i)
        tx = Transaction(str(i), when, f"c{i % 2}", f"t{i % 3}", float(i % 50) + 1)
        out.append(tx)
        fraud = "1" if i % 5 == 0 else "0"
        out.append(
            Label(
                str(i),
                "fraud",
                fraud,
                when + timedelta(days=2),
                when,
                tx.customer_id,
                tx.terminal_id,
            )
        )
    return out


def test_the_pass_learns_only_labels_known_by_the_cutoff_and_leaves_the_live_state() -> None:
    records = stream(10)
    until = T0 + timedelta(days=6)
    history = learn_fraud_history(
        records, until, linear_model.LogisticRegression(), snapshot_every=10
    )
    assert history.transactions == 6 * 24
    # A label is known two days after its transaction: four days' worth by the cut-off.
    assert history.learned == history.labels == 4 * 24
    assert history.store.awaiting_labels == 2 * 24
    # The state equals that of one live pass over the same records up to the cut-off.
    live = FraudFeatureStore()
    for record in interleave_labels(records):
        when = record.label_time if isinstance(record, Label) else record.event_time
        if when >= until:
            break
        if isinstance(record, Transaction):
            live.on_transaction(record)
        else:
            live.on_label(record)
    assert {k: s.to_bytes() for k, s in history.store.customers.items()} == {
        k: s.to_bytes() for k, s in live.customers.items()
    }
    assert {k: s.to_bytes() for k, s in history.store.terminals.items()} == {
        k: s.to_bytes() for k, s in live.terminals.items()
    }
    metrics = history.metrics()
    assert metrics["examples"] == 96 and 0.0 <= metrics["roc_auc"] <= 1.0


def test_texts_learn_once_each_and_labels_join_their_text() -> None:
    tasks = {"emotion6": EmotionTask(labels=("joy", "sadness"), closed=True)}
    texts = [
        TextEvent("1", T0, "what a happy day", "s", label="joy"),
        TextEvent("2", T0, "so sad and alone", "s"),
        TextEvent("3", T0, "hello", "s", taxonomy="nope"),
        Label("2", "emotion6", "sadness", T0),
        Label("9", "emotion6", "joy", T0),
    ]
    done = learn_text_history(texts, tasks, "emotion6", emotion_model)
    assert done.trainers["emotion6"].examples == 2
    assert done.skipped == Counter({"unknown-task": 1, "label-without-text": 1})


def test_the_pass_cache_returns_what_was_saved_and_ignores_garbage(tmp_path: Path) -> None:
    source = tmp_path / "history.csv"
    source.write_text("x\n")
    cache = PassCache.for_file(tmp_path / "cache", source, "plan", 2000)
    assert cache is not None and cache.load() is None
    history = learn_fraud_history(
        stream(3), T0 + timedelta(days=3), linear_model.LogisticRegression(), snapshot_every=5
    )
    cache.save((history, Counter({"missing-id": 2})))
    found = cache.load()
    assert found is not None and found[0].learned == history.learned
    assert found[1] == Counter({"missing-id": 2})
    # Another plan is another entry; a corrupt entry is ignored, not trusted.
    other = PassCache.for_file(tmp_path / "cache", source, "other plan", 2000)
    assert other is not None and other.path != cache.path
    cache.path.write_bytes(pickle.dumps("x")[:3])
    assert cache.load() is None


def test_a_dry_run_on_a_csv_reports_without_kafka(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "id": [str(i) for i in range(200)],
            "when": [(T0 + timedelta(hours=i)).isoformat() for i in range(200)],
            "card": [f"c{i % 7}" for i in range(200)],
            "shop": [f"t{i % 5}" for i in range(200)],
            "amount": ["x" if i == 3 else str(i) for i in range(200)],
            "fraud": ["1" if i % 9 == 0 else "0" for i in range(200)],
        }
    )
    path = tmp_path / "history.csv"
    frame.to_csv(path, index=False)
    settings = Settings(data_dir=tmp_path)
    until = T0 + timedelta(days=6)
    plan = BootstrapPlan(until=until, fraud=str(path), texts="none", columns=COLUMNS, write=False)
    report = run_bootstrap(settings, plan)
    fraud = report["fraud"]
    assert fraud["bad_rows"] == {"non-numeric-amount": 1}
    assert fraud["transactions"] == 6 * 24 - 1
    assert fraud["cards"] == 7 and fraud["terminals"] == 5
    assert report["snapshots"] == {"fraud": "(not published: --dry-run)"}
    # With a cache, a second run reads the pass back instead of redoing it.
    cached = dataclasses.replace(plan, cache_dir=tmp_path / "cache")
    assert run_bootstrap(settings, cached)["fraud"]["state_sha256"] == fraud["state_sha256"]
    assert len(list((tmp_path / "cache").glob("fraud-pass-*.pickle"))) == 1
    path.write_text("not the history any more\n")  # the key names the file's size and time
    with pytest.raises(ConfigurationError, match="no column"):
        run_bootstrap(settings, cached)
    frame.to_csv(path, index=False)
    with pytest.raises(ConfigurationError, match="outside the history"):
        run_bootstrap(settings, dataclasses.replace(plan, until=T0 + timedelta(days=30)))


def test_learning_in_another_process_trains_the_same_model_and_scores() -> None:
    """The sampler draws here and the forest learns there: the result is the same."""
    records = stream(12)
    until = T0 + timedelta(days=11)
    local = learn_fraud_history(records, until, fraud_model(), snapshot_every=20)
    beside = learn_fraud_history(
        records, until, fraud_model(), snapshot_every=20, learner=ProcessLearner
    )
    assert beside.learned == local.learned > 0
    assert encode_model(beside.model) == encode_model(local.model)
    assert beside.metrics() == local.metrics()
    assert beside._scores == local._scores and len(local._scores) > 100
