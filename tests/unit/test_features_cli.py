"""``streamml features fraud``: a date range of a handbook-format file, as CSV."""

from __future__ import annotations

import csv
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from streamml.cli import main
from streamml.datasets import interleave_labels
from streamml.datasets.fraud_handbook import COLUMNS, read_fraud_handbook
from streamml.features.fraud import FEATURE_NAMES, FraudFeatureStore
from streamml.records import Label, Transaction

START = datetime(2018, 4, 1, tzinfo=UTC)


def handbook_file(path: Path, rows: int = 400, seed: int = 3) -> Path:
    rng = random.Random(seed)
    seconds = sorted(rng.randrange(20 * 86400) for _ in range(rows))
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for i, second in enumerate(seconds):
            when = START + timedelta(seconds=second)
            is_fraud = int(rng.random() < 0.1)
            writer.writerow(
                [
                    i,
                    f"{when:%Y-%m-%d %H:%M:%S}",
                    rng.randrange(8),
                    rng.randrange(5),
                    round(rng.uniform(1, 150), 2),
                    second,
                    second // 86400,
                    is_fraud,
                    is_fraud,
                ]
            )
    return path


def expected(path: Path, first: datetime, stop: datetime) -> dict[str, list[str]]:
    store = FraudFeatureStore()
    rows = {}
    for record in interleave_labels(read_fraud_handbook(path)):
        if isinstance(record, Label):
            store.on_label(record)
            continue
        assert isinstance(record, Transaction)
        x = store.on_transaction(record)
        if first <= record.event_time < stop:
            rows[record.event_id] = [repr(x[name]) for name in FEATURE_NAMES]
    return rows


def test_writes_the_range_with_history_from_the_file_start(tmp_path: Path) -> None:
    data = handbook_file(tmp_path / "tx.csv")
    out = tmp_path / "features.csv"
    args = ["features", "fraud", "--data", str(data), "--from", "2018-04-10"]
    result = CliRunner().invoke(main, [*args, "--to", "2018-04-12", "--out", str(out)])
    assert result.exit_code == 0, result.output
    with out.open(newline="") as handle:
        header, *rows = list(csv.reader(handle))
    assert header == ["TRANSACTION_ID", *FEATURE_NAMES]
    want = expected(data, datetime(2018, 4, 10, tzinfo=UTC), datetime(2018, 4, 13, tzinfo=UTC))
    assert {row[0]: row[1:] for row in rows} == want
    assert len(rows) == len(want) > 0
    assert any(
        float(row[1 + FEATURE_NAMES.index("TERMINAL_ID_RISK_7DAY_WINDOW")]) > 0 for row in rows
    )
    assert "wrote" in result.output


def fraud_command(*args: str) -> list[str]:
    return ["features", "fraud", "--no-progress", *args]


def test_missing_files_and_reversed_dates_are_one_line_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    dates = ["--from", "2018-04-02", "--to", "2018-04-03", "--out", str(tmp_path / "f.csv")]
    missing = runner.invoke(main, fraud_command("--data", str(tmp_path / "no.csv"), *dates))
    assert missing.exit_code == 2
    assert "does not exist" in missing.output
    monkeypatch.setenv("STREAMML_DATA_DIR", str(tmp_path))
    default = runner.invoke(main, fraud_command(*dates))
    assert default.exit_code == 1
    assert "dataset file not found" in default.output
    data = str(handbook_file(tmp_path / "tx.csv", rows=10))
    reversed_dates = ["--from", "2018-04-05", "--to", "2018-04-03", "--out", str(tmp_path / "f")]
    reversed_ = runner.invoke(main, fraud_command("--data", data, *reversed_dates))
    assert reversed_.exit_code == 2
    assert "--to" in reversed_.output
