"""What the demo replays: the span after the bootstrap's cut-off, in publishing order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from streamml.datasets import record_time
from streamml.demo_cli import demo
from streamml.demo_plan import ROTATION, DemoPlan, demo_records
from streamml.records import Label, TextEvent, Transaction
from streamml.settings import Settings
from tests.conftest import DATA_DIR

PLAN = DemoPlan(days=1.0, texts=300, clicks=0, drift_from=200)


def test_the_span_comes_in_publishing_order_with_the_labels_due_in_it() -> None:
    records = demo_records(Settings(data_dir=DATA_DIR), PLAN)
    times = [record_time(r) for r in records]
    assert times == sorted(times)  # texts take the time of the payments around them
    payments = {r.event_id for r in records if isinstance(r, Transaction)}
    labels = [r for r in records if isinstance(r, Label)]
    assert all(PLAN.start <= t < PLAN.end for t in times)
    # Within a day, no payment's own label is due (7 days): every label is one of the
    # payments before the cut-off, which the bootstrap left awaiting it.
    assert len(labels) > 5_000 and not payments & {r.event_id for r in labels}
    assert all(r.event_time < PLAN.start <= r.label_time for r in labels)


def test_texts_are_the_test_split_spread_over_the_span_and_rotated_from_the_drift() -> None:
    records = demo_records(Settings(data_dir=DATA_DIR), PLAN)
    texts = [r for r in records if isinstance(r, TextEvent)]
    assert len(texts) == 300 and all(t.event_id.startswith("emotion6-test-") for t in texts)
    assert texts[0].event_time < PLAN.start + timedelta(hours=2)
    assert texts[-1].event_time > PLAN.end - timedelta(hours=2)
    plain = demo_records(Settings(data_dir=DATA_DIR), DemoPlan(days=0.2, texts=300, clicks=0))
    truth = {r.event_id: r.label for r in plain if isinstance(r, TextEvent)}
    assert all(t.label == truth[t.event_id] for t in texts[:200])
    assert all(t.label == ROTATION[truth[t.event_id] or ""] for t in texts[200:])


def test_a_cold_demo_replays_no_label_of_the_history_before_it() -> None:
    cold = DemoPlan(days=1.0, texts=10, clicks=0, bootstrap=False)
    records = demo_records(Settings(data_dir=DATA_DIR), cold)
    assert not any(isinstance(r, Label) for r in records)


def test_the_command_line_builds_the_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    plans: list[DemoPlan] = []
    monkeypatch.setattr("streamml.demo.run_demo", lambda settings, plan: plans.append(plan))
    args = ["--start", "2018-05-01", "--days", "4", "--drift-from", "-1", "--cold"]
    result = CliRunner().invoke(demo, args, obj=Settings())
    assert result.exit_code == 0, result.output
    assert plans == [
        DemoPlan(
            days=4.0,
            start=datetime(2018, 5, 1, tzinfo=UTC),
            bootstrap=False,
            drift_from=None,
        )
    ]
    assert plans[0].first_label_due == datetime(2018, 5, 8, tzinfo=UTC)
