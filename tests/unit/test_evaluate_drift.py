"""The drift evaluation: its injected changes, its figures and its command."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner

from streamml.cli import main
from streamml.datasets.fraud_handbook import COLUMNS, FILE_NAME
from streamml.evaluate.drift import (
    RunLog,
    duplicate_alerts,
    false_alarms,
    flip_labels,
    mix_in,
    scale_amounts,
    scenario_frauds,
    swap_labels,
)
from streamml.records import DriftAlert, Label, TextEvent, Transaction

T0 = datetime(2018, 6, 1, tzinfo=UTC)


def tx(i: int, customer: str, amount: float) -> Transaction:
    return Transaction(str(i), T0 + timedelta(hours=i), customer, "t", amount)


def test_amounts_scale_for_the_segment_from_the_change_on() -> None:
    records = [tx(0, "5", 10.0), tx(1, "5", 10.0), tx(2, "6", 10.0)]
    out = list(scale_amounts(records, T0 + timedelta(hours=1), 3.0))
    assert [r.amount for r in out if isinstance(r, Transaction)] == [10.0, 30.0, 10.0]


def test_labels_of_the_flipped_frauds_turn_genuine_from_the_change_on() -> None:
    labels = [
        Label(str(i), "fraud", "1", T0 + timedelta(days=7, hours=i), T0 + timedelta(hours=i))
        for i in range(3)
    ]
    out = list(flip_labels(labels, T0 + timedelta(hours=1), {"1", "2"}))
    assert [r.label for r in out if isinstance(r, Label)] == ["1", "0", "0"]


def texts(labels: list[str], source: str = "e") -> list[TextEvent]:
    return [
        TextEvent(f"{source}{i}", T0, f"text {i}", source, label=y) for i, y in enumerate(labels)
    ]


def test_labels_swap_from_the_change_on() -> None:
    out = swap_labels(texts(["joy", "sadness", "joy", "fear"]), 2, ("joy", "sadness"))
    assert [t.label for t in out] == ["joy", "sadness", "sadness", "fear"]


def test_mixing_in_keeps_the_order_and_adds_the_share_after_the_change() -> None:
    own, others = texts(["joy"] * 4000), texts(["worry"] * 4000, "c")
    out = mix_in(own, others, 1000, 0.25)
    assert [t.event_id for t in out if t.source == "e"] == [t.event_id for t in own]
    assert all(t.source == "e" for t in out[:1000])
    share = sum(t.source == "c" for t in out[1000:]) / len(out[1000:])
    assert 0.22 < share < 0.28


def alert(subject: str, state: str, episode: int = 1) -> DriftAlert:
    return DriftAlert(
        f"fraud-data-{subject}-{episode}",
        "fraud",
        "data",
        "chi2",
        subject,
        2.0,
        1.0,
        state,
        "info",
        T0,
        T0,
        "v1",
        T0,
    )


def test_duplicates_and_false_alarms_are_counted_per_kind() -> None:
    log = RunLog("fraud-stationary", events=200_000, labels=100_000)
    for position, a in enumerate(
        [alert("a", "started"), alert("a", "ended"), alert("a", "started", 2)]
    ):
        log.alerts.append((position, position, a))
    assert duplicate_alerts(log) == 0
    assert false_alarms(log)["per_100k"]["data"] == 1.0
    log.alerts.append((9, 9, alert("a", "started", 3)))
    assert duplicate_alerts(log) == 1


def write_tiny_data(directory: Path) -> None:
    rows = [",".join(COLUMNS)]
    start = datetime(2018, 4, 1)
    for i in range(300):
        when = start + timedelta(hours=14 * i)
        fraud = int(i % 50 == 0)
        rows.append(
            f"{i},{when:%Y-%m-%d %H:%M:%S},{i % 7},{i % 11},{10 + i % 13}.5,0,0,{fraud},{2 * fraud}"
        )
    with gzip.open(directory / FILE_NAME, "wt", encoding="utf-8") as handle:
        handle.write("\n".join(rows) + "\n")
    for split in ("train", "val", "test"):
        lines = [f"i feel text {i};{('joy', 'sadness')[i % 2]}\n" for i in range(20)]
        (directory / f"emotion6_nlp_{split}.txt").write_text("".join(lines), encoding="utf-8")
    tweets = ["tweet_id,sentiment,author,content"] + [
        f"{i},worry,a,tweet {i}" for i in range(1, 20)
    ]
    (directory / "crowdflower_text_emotion.csv").write_text(
        "\n".join(tweets) + "\n", encoding="utf-8"
    )


def test_scenario_frauds_are_read_from_the_file(tmp_path: Path) -> None:
    write_tiny_data(tmp_path)
    frauds = scenario_frauds(tmp_path / FILE_NAME, "2", datetime(2018, 4, 10, tzinfo=UTC))
    assert frauds and all(int(i) % 50 == 0 for i in frauds) and "0" not in frauds


def test_the_command_reports_on_tiny_inputs(tmp_path: Path) -> None:
    write_tiny_data(tmp_path)
    out = tmp_path / "drift.json"
    args = ["evaluate", "drift", "--data-dir", str(tmp_path), "--workers", "1", "--json", str(out)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text(encoding="utf-8"))
    assert set(report["runs"]) == {
        "fraud-stationary",
        "fraud-changes",
        "emotion-stationary",
        "emotion-changes-concept",
        "emotion-changes-data",
    }
    assert report["duplicate_alerts"] == 0
    assert "fraud-stationary" in report["stationary"]
