"""``streamml evaluate``: offline, Kafka-free replays through the worker's own code."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import click

from streamml.clitools import StreamMLGroup
from streamml.datasets.clickstream import ClickstreamConfig
from streamml.datasets.fraud_handbook import DEFAULT_LABEL_DELAY
from streamml.evaluate.emotion import DATASETS
from streamml.evaluate.sources import (
    CsvSource,
    EvaluationSource,
    GeneratedClickstream,
    HandbookSource,
    run_evaluation,
)
from streamml.settings import Settings

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
@click.option(
    "--test-week-only",
    is_flag=True,
    help="--data: score only the test week (the model learns the same): its figures, "
    "nothing else, in a fraction of the time.",
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
    test_week_only: bool,
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
    if test_week_only:
        if not isinstance(source, HandbookSource):
            raise click.UsageError("--test-week-only goes with --data")
        start = datetime.combine(source.split.test_start, time(), UTC)
        source = dataclasses.replace(source, score_from=start)
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


@evaluate.command("emotion")
@click.option("--dataset", type=click.Choice(DATASETS), required=True, help="The corpus.")
@click.option(
    "--data-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="The directory holding the corpus's files.  [default: STREAMML_DATA_DIR]",
)
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def emotion(
    ctx: click.Context, *, dataset: str, data_dir: Path | None, json_out: Path | None
) -> None:
    """Stream the texts through the worker's emotion model, then score a held-out test.

    Each stream text is predicted, then learned; the test is scored without learning.
    A TF-IDF + linear SVM baseline, fitted once, scores the same test. emotion6: stream
    train+val, test on test, baseline fitted on train. crowdflower: stream the first
    80 % by tweet_id, test on the last 20 %, baseline fitted on the first 80 %.
    """
    from streamml.evaluate.emotion import evaluate_emotion, load_corpus
    from streamml.models.emotion import emotion_model

    settings = ctx.obj if isinstance(ctx.obj, Settings) else Settings()
    corpus = load_corpus(dataset, data_dir or settings.data_dir)
    report = evaluate_emotion(corpus, emotion_model)
    if json_out is not None:
        json_out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    click.echo(_emotion_headline(report))


def _emotion_headline(report: dict[str, Any]) -> str:
    test, base = report["test"], report["baseline"]
    return "\n".join(
        [
            f"{report['dataset']} test: n={test['n']} accuracy={test['accuracy']} "
            f"macro_f1={test['macro_f1']} (prequential accuracy "
            f"{report['prequential']['accuracy']} over {report['learned']} texts)",
            f"baseline tf-idf + LinearSVC: accuracy={base['accuracy']} "
            f"macro_f1={base['macro_f1']} (fit {base['fit_seconds']} s "
            f"on {base['train_texts']} texts)",
            f"ratio macro_f1 online/baseline={report['ratio_macro_f1']}",
            f"online {report['texts_per_second']} texts/s (predict+learn), test "
            f"{test['texts_per_second']} texts/s; wall {report['wall_seconds']} s, "
            f"peak {report['peak_memory_mib']} MiB",
        ]
    )


@evaluate.command("drift")
@click.option(
    "--data-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="The directory holding the handbook, emotion6 and CrowdFlower files.  "
    "[default: STREAMML_DATA_DIR]",
)
@click.option(
    "--workers", type=click.IntRange(min=1), default=2, show_default=True, help="Processes."
)
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_context
def drift(
    ctx: click.Context, *, data_dir: Path | None, workers: int, json_out: Path | None
) -> None:
    """Replay the fraud and emotion streams through the drift monitors, as they are and
    with injected changes; report detection delays, duplicates and false alarms (ADR 0012).
    """
    from streamml.evaluate.drift import evaluate_drift, headline

    settings = ctx.obj if isinstance(ctx.obj, Settings) else Settings()
    report = evaluate_drift(data_dir or settings.data_dir, workers=workers)
    if json_out is not None:
        json_out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    click.echo(headline(report))
