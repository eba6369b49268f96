"""The prequential replay: what the model saw, when it learned, and the reports."""

from __future__ import annotations

import csv
import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from streamml.cli import main
from streamml.evaluate.fraud import CarriedFeatures, replay
from streamml.evaluate.sources import HandbookSource, run_evaluation
from streamml.records import Label, Transaction

T0 = datetime(2024, 1, 1, tzinfo=UTC)


class Recorder:
    """A River-protocol stub that logs every call and scores the feature ``s``."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, float], Any]] = []

    def predict_proba_one(self, x: dict[str, float]) -> dict[bool, float]:
        self.calls.append(("predict", x, None))
        return {True: x.get("s", 0.0), False: 1 - x.get("s", 0.0)}

    def learn_one(self, x: dict[str, float], y: bool) -> None:
        self.calls.append(("learn", x, y))


def tx(i: int, minutes: float, customer: str = "c", s: float = 0.5) -> Transaction:
    when = T0 + timedelta(minutes=minutes)
    return Transaction(f"e{i}", when, customer, "t", 1.0, features={"s": s, "i": float(i)})


def label(i: int, minutes: float, fraud: bool, delay: float = 10.0) -> Label:
    when = T0 + timedelta(minutes=minutes)
    return Label(f"e{i}", "fraud", "1" if fraud else "0", when + timedelta(minutes=delay), when)


def test_labels_are_learned_at_their_label_time_with_the_scored_features() -> None:
    stream = [tx(0, 0), label(0, 0, True), tx(1, 5), label(1, 5, False), tx(2, 10)]
    model = Recorder()
    log = replay(stream, CarriedFeatures(), model)
    kinds = [(kind, x["i"]) for kind, x, _ in model.calls]
    # e0's label is due at minute 10: after e1 was scored, before e2 is.
    assert kinds == [("predict", 0), ("predict", 1), ("learn", 0), ("predict", 2), ("learn", 1)]
    predicted = {x["i"]: x for kind, x, _ in model.calls if kind == "predict"}
    assert all(x is predicted[x["i"]] for kind, x, _ in model.calls if kind == "learn")
    assert log.arrays()["fraud"].tolist() == [1, 0, -1]


def test_known_fraud_flags_customers_whose_fraud_label_had_arrived() -> None:
    stream = [
        tx(0, 0, "a"),
        label(0, 0, True),
        tx(1, 5, "a"),
        tx(2, 10, "a"),
        tx(3, 11, "b"),
        label(1, 5, False),
        label(2, 10, False),
        label(3, 11, False),
    ]
    log = replay(stream, CarriedFeatures(), Recorder())
    assert log.arrays()["known_fraud"].tolist() == [False, False, True, False]
    assert (log.labels, log.learned, log.unmatched_labels) == (4, 4, 0)


def test_unmatched_labels_are_counted_not_learned() -> None:
    log = replay([label(9, 0, True)], CarriedFeatures(), Recorder())
    assert (log.labels, log.learned, log.unmatched_labels) == (1, 0, 1)


def write_handbook_file(path: Path) -> None:
    """A tiny file in the handbook's format from 2018-07-20 to 2018-08-15 (60 cards)."""
    rng = np.random.default_rng(1)
    start = datetime(2018, 4, 1)
    rows, seconds = [], int((datetime(2018, 7, 20) - start).total_seconds())
    end = int((datetime(2018, 8, 15) - start).total_seconds())
    i = 0
    while seconds < end:
        seconds += int(rng.integers(300, 1500))
        amount = float(rng.gamma(2.0, 30.0))
        fraud = int(amount > 150)
        when = start + timedelta(seconds=seconds)
        customer, terminal = int(rng.integers(60)), int(rng.integers(40))
        rows.append([i, when.strftime("%Y-%m-%d %H:%M:%S"), customer, terminal,
                     round(amount, 2), seconds, seconds // 86400, fraud, fraud])  # fmt: skip
        i += 1
    with gzip.open(path, "wt", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["TRANSACTION_ID", "TX_DATETIME", "CUSTOMER_ID", "TERMINAL_ID",
                         "TX_AMOUNT", "TX_TIME_SECONDS", "TX_TIME_DAYS", "TX_FRAUD",
                         "TX_FRAUD_SCENARIO"])  # fmt: skip
        writer.writerows(rows)


def test_handbook_source_reports_the_test_week_and_weekly_figures(tmp_path: Path) -> None:
    data = tmp_path / "hb.csv.gz"
    write_handbook_file(data)
    from streamml.models.fraud import fraud_model

    report = run_evaluation(HandbookSource(data), fraud_model())
    week = report["test_week"]
    assert week["week_start"] == "2018-08-08"
    assert 0 < week["n"] < report["transactions"]
    assert week["frauds"] > 0
    for key in ("auc_roc", "average_precision", "card_precision_at_100"):
        assert 0.0 <= week[key] <= 1.0
    assert len(week["card_precision_per_day"]) == 7
    assert report["test_week_known_at_scoring"]["n"] > 0
    weeks = [w["week_start"] for w in report["weekly"]]
    assert weeks == ["2018-07-25", "2018-08-01", "2018-08-08"]  # complete weeks, aligned
    assert report["events_per_second"] > 0
    assert report["peak_memory_mib"] > 0
    assert report["label_delay_seconds"] == 7 * 86400


def test_scoring_only_the_test_week_gives_the_same_test_week(tmp_path: Path) -> None:
    """--test-week-only: the model learns the same, so the test week's figures are the
    full run's, and nothing else is reported."""
    data = tmp_path / "hb.csv.gz"
    write_handbook_file(data)
    from streamml.models.fraud import fraud_model

    full = run_evaluation(HandbookSource(data), fraud_model())
    start = datetime(2018, 8, 8, tzinfo=UTC)
    quick = run_evaluation(HandbookSource(data, score_from=start), fraud_model())
    assert quick["test_week"] == full["test_week"]
    assert quick["learned"] == full["learned"]
    assert "weekly" not in quick and "prequential" not in quick


def write_csv(path: Path, n: int = 2000) -> None:
    rng = np.random.default_rng(0)
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(3 * x1 - 3)))).astype(int)
    times = rng.permutation(n) + 1_600_000_000
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["x1", "x2", "when", "name", "label"])
        for row in zip(x1, x2, times, ["a"] * n, y, strict=True):
            writer.writerow(row)


def test_csv_replay_reports_prequential_metrics(tmp_path: Path) -> None:
    data, out = tmp_path / "d.csv", tmp_path / "out.json"
    write_csv(data)
    args = ["evaluate", "fraud", "--csv", str(data), "--label-column", "label"]
    args += ["--time-column", "when", "--json", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["prequential"]["n"] == 2000
    assert report["prequential"]["auc_roc"] > 0.8
    assert report["label_delay_seconds"] == 0.0
    assert "test_week" not in report
    delayed = CliRunner().invoke(main, [*args, "--delay", "600"])
    assert delayed.exit_code == 0, delayed.output
    assert json.loads(out.read_text())["label_delay_seconds"] == 600.0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "exactly one of --data, --csv or --generator"),
        (["--label-column", "label"], "--time-column"),
    ],
)
def test_csv_usage_errors(tmp_path: Path, extra: list[str], message: str) -> None:
    data = tmp_path / "d.csv"
    write_csv(data, n=10)
    args = ["evaluate", "fraud", *extra]
    if extra:
        args += ["--csv", str(data)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert message in result.output


def test_csv_with_a_non_binary_label_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "d.csv"
    data.write_text("t,x,y\n1,0.5,2\n")
    args = ["evaluate", "fraud", "--csv", str(data), "--label-column", "y", "--time-column", "t"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    assert "only 0 and 1" in result.output


def test_clickstream_events_update_features_but_only_payments_are_scored() -> None:
    click = Transaction("v", T0, "c", "t", 0.0, "web", "s", {"event_kind": 1.0, "s": 0.9})
    payment = Transaction("p", T0 + timedelta(seconds=5), "c", "t", 9.0, "web", "s", {"s": 0.2})
    model = Recorder()
    log = replay([click, payment, label_for(payment)], CarriedFeatures(), model)
    assert [kind for kind, _, _ in model.calls] == ["predict", "learn"]
    assert len(log) == 1 and log.other_events == 1
    assert log.arrays()["score"].tolist() == [0.2]


def label_for(payment: Transaction) -> Label:
    return Label(payment.event_id, "fraud", "0", payment.event_time + timedelta(days=1))


def test_generated_clickstream_reports_the_handbook_figures(tmp_path: Path) -> None:
    out = tmp_path / "cs.json"
    args = ["evaluate", "fraud", "--generator", "clickstream", "--customers", "60"]
    args += ["--days", "28", "--model", "logistic", "--json", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["protocol"]["test_start"] == "2024-01-22"
    assert report["generator"] == {"customers": 60, "terminals": 120, "days": 28.0, "seed": 0}
    assert report["other_events"] > report["transactions"] > 0
    assert report["test_week"]["n"] > 0 and report["test_week"]["frauds"] > 0
    # Every payment is labelled: those of the last 7 days after the stream ends.
    assert report["learned"] == report["transactions"] == report["labels"]
    assert {"auc_roc", "average_precision", "card_precision_at_100"} <= set(report["test_week"])


def test_a_generated_stream_shorter_than_three_weeks_is_refused() -> None:
    args = ["evaluate", "fraud", "--generator", "clickstream", "--days", "14"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert "--days" in result.output
