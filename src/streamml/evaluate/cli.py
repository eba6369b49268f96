"""``streamml evaluate``: offline, Kafka-free replays through the worker's own code."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from streamml.clitools import StreamMLGroup
from streamml.datasets.clickstream import ClickstreamConfig
from streamml.datasets.fraud_handbook import DEFAULT_LABEL_DELAY
from streamml.evaluate.sources import (
    CsvSource,
    EvaluationSource,
    GeneratedClickstream,
    HandbookSource,
    run_evaluation,
)

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.group("evaluate", cls=StreamMLGroup)
def evaluate() -> None:
    """Replay labelled data through features and model; report prequential metrics."""


@evaluate.command("fraud")
@click.option("--data", type=_FILE, help="The handbook's raw transactions (csv or csv.gz).")
@click.option("--csv", "csv_path", type=_FILE, help="Any CSV of numeric columns.")
@click.option(
    "--generator",
    type=click.Choice(["clickstream"]),
    help="Generated sessions and payments with labelled fraud scenarios.",
)
@click.option(
    "--customers",
    type=click.IntRange(min=1),
    default=2000,
    show_default=True,
    help="--generator: customers (terminals: twice as many).",
)
@click.option(
    "--days",
    type=click.FloatRange(min=21),
    default=91.0,
    show_default=True,
    help="--generator: days of event time.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="--generator: its seed.")
@click.option("--label-column", help="--csv: the 0/1 label column.")
@click.option("--time-column", help="--csv: the time column (epoch seconds or date-times).")
@click.option(
    "--delay",
    type=click.FloatRange(min=0),
    help="Seconds from an event to its label.  [default: 7 days, 0 for --csv]",
)
@click.option(
    "--until",
    type=click.DateTime(["%Y-%m-%d"]),
    help="--data: stop before this day (UTC), for a quicker run.",
)
@click.option("--model", "model_name", default="default", show_default=True, help="See ADR 0007.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path))
def fraud(
    *,
    data: Path | None,
    csv_path: Path | None,
    generator: str | None,
    customers: int,
    days: float,
    seed: int,
    label_column: str | None,
    time_column: str | None,
    delay: float | None,
    until: datetime | None,
    model_name: str,
    json_out: Path | None,
) -> None:
    """Score every event, learn each label when it arrives, report the metrics.

    With --data: the Fraud Detection Handbook's test week (2018-08-08..14, its
    exclusions), every week from May on, and cost. With --generator: the same figures,
    the test week being the stream's last. With --csv: prequential AUC ROC and average
    precision.
    """
    from streamml.models.fraud import fraud_model_named

    source = _source(
        data=data,
        csv_path=csv_path,
        generated=_generated(generator, customers, days, seed, delay),
        label_column=label_column,
        time_column=time_column,
        delay=delay,
        until=until,
    )
    model = fraud_model_named(model_name)
    report = run_evaluation(source, model)
    report["model_name"] = model_name
    if json_out is not None:
        json_out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    click.echo(_headline(report))


def _source(
    *,
    data: Path | None,
    csv_path: Path | None,
    generated: EvaluationSource | None,
    label_column: str | None,
    time_column: str | None,
    delay: float | None,
    until: datetime | None,
) -> EvaluationSource:
    """The one source the options name (add new sources here)."""
    if [data, csv_path, generated].count(None) != 2:
        raise click.UsageError("give exactly one of --data, --csv or --generator")
    if generated is not None:
        return generated
    span = None if delay is None else timedelta(seconds=delay)
    if data is not None:
        end = None if until is None else until.replace(tzinfo=UTC)
        return HandbookSource(data, label_delay=span or DEFAULT_LABEL_DELAY, end=end)
    if not (label_column and time_column):
        raise click.UsageError("--csv needs --label-column and --time-column")
    assert csv_path is not None
    return CsvSource(csv_path, label_column, time_column, span or timedelta(0))


def _generated(
    name: str | None, customers: int, days: float, seed: int, delay: float | None
) -> EvaluationSource | None:
    if name is None:
        return None
    config = ClickstreamConfig(
        customers=customers,
        days=days,
        seed=seed,
        label_delay=DEFAULT_LABEL_DELAY if delay is None else timedelta(seconds=delay),
    )
    return GeneratedClickstream(config)


def _headline(report: dict[str, Any]) -> str:
    lines = []
    for section in ("test_week", "test_week_known_at_scoring", "prequential"):
        if section in report:
            m = report[section]
            line = f"{section}: n={m['n']} auc_roc={m['auc_roc']} ap={m['average_precision']}"
            if "card_precision_at_100" in m:
                line += f" card_precision@100={m['card_precision_at_100']}"
            lines.append(line)
    lines.append(
        f"{report['transactions']} transactions (+{report['other_events']} other events) "
        f"in {report['seconds']} s "
        f"({report['events_per_second']} events/s, model {report['model_us_per_event']} µs, "
        f"peak {report['peak_memory_mib']} MiB)"
    )
    return "\n".join(lines)
