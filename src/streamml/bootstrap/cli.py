"""``streamml bootstrap``: warm-start a deployment from history (files or the lake)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import click

from streamml.bootstrap.history import FraudColumns
from streamml.bootstrap.run import FRAUD_SOURCES, BootstrapPlan, run_bootstrap
from streamml.bootstrap.texts import TEXT_SOURCES
from streamml.replay_cli import parse_when
from streamml.settings import Settings

_DEFAULT = FraudColumns()


@click.command()
@click.option(
    "--until",
    required=True,
    help="The cut-off (date or ISO date-time, UTC): history before it is read, and only "
    "labels known before it are learned. Replay live from it.",
)
@click.option(
    "--fraud",
    "fraud",
    default="handbook",
    show_default=True,
    help=f"Fraud history: {', '.join(FRAUD_SOURCES)} ($STREAMML_LAKE_URL), or a CSV or "
    "Parquet file of transactions with labels (columns named below).",
)
@click.option(
    "--texts",
    type=click.Choice(TEXT_SOURCES),
    default="emotion6",
    show_default=True,
    help="Labelled texts: a data set's history (emotion6: train and val; crowdflower: "
    "the first 80 %), the lake's texts and emotion labels before --until, or none.",
)
@click.option("--id-column", default=_DEFAULT.event_id, show_default=True)
@click.option("--time-column", default=_DEFAULT.time, show_default=True)
@click.option("--customer-column", default=_DEFAULT.customer, show_default=True)
@click.option("--terminal-column", default=_DEFAULT.terminal, show_default=True)
@click.option("--amount-column", default=_DEFAULT.amount, show_default=True)
@click.option(
    "--label-column",
    default=_DEFAULT.label,
    show_default=True,
    help="0/1 (or true/false); an empty cell is a transaction without a label.",
)
@click.option(
    "--label-time-column",
    default=None,
    help="When each label became known; without it, --label-delay-days after the event.",
)
@click.option("--label-delay-days", type=click.FloatRange(min=0), default=7.0, show_default=True)
@click.option(
    "--dry-run", is_flag=True, help="Read and learn, report, write nothing (no Kafka needed)."
)
@click.option(
    "--force",
    is_flag=True,
    help="Write state even though the scorer group already consumed input.",
)
@click.option(
    "--cache",
    is_flag=True,
    help="Keep the pass over a file in $STREAMML_CACHE_DIR/bootstrap: the same history "
    "bootstrapped again (another app id, a demo) skips it.",
)
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path))
@click.pass_obj
def bootstrap(
    settings: Settings,
    *,
    until: str,
    fraud: str,
    texts: str,
    id_column: str,
    time_column: str,
    customer_column: str,
    terminal_column: str,
    amount_column: str,
    label_column: str,
    label_time_column: str | None,
    label_delay_days: float,
    dry_run: bool,
    force: bool,
    cache: bool,
    json_out: Path | None,
) -> None:
    """Read history up to --until; write every card's, terminal's and session's feature
    state into the scorers' changelogs (app id $STREAMML_APP_ID) and publish one model
    per task as a signed snapshot (topic and registry). Scorers started afterwards score
    as if they had run all along; running it twice leaves the same state."""
    columns = FraudColumns(
        event_id=id_column,
        time=time_column,
        customer=customer_column,
        terminal=terminal_column,
        amount=amount_column,
        label=label_column or None,
        label_time=label_time_column,
        label_delay=timedelta(days=label_delay_days),
    )
    plan = BootstrapPlan(
        until=parse_when(until),
        fraud=fraud,
        texts=texts,
        columns=columns,
        write=not dry_run,
        force=force,
        cache_dir=settings.cache_dir / "bootstrap" if cache else None,
    )
    report = run_bootstrap(settings, plan)
    text = json.dumps(report, indent=2)
    if json_out is not None:
        json_out.write_text(text + "\n", encoding="utf-8")
    click.echo(text)
