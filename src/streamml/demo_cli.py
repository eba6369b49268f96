"""``streamml demo``: its options, defaults chosen to finish within four minutes on two
cores with the fraud bootstrap cached."""

from __future__ import annotations

from datetime import timedelta

import click

from streamml.clitools import StreamMLCommand
from streamml.demo_plan import REPLAY_START, DemoPlan
from streamml.replay_cli import parse_when
from streamml.settings import Settings

_DEFAULT = DemoPlan()


@click.command("demo", cls=StreamMLCommand)
@click.option(
    "--start",
    default=REPLAY_START.date().isoformat(),
    show_default=True,
    help="First replayed day; the handbook's history before it is bootstrapped.",
)
@click.option("--days", default=_DEFAULT.days, show_default=True, help="Days replayed.")
@click.option("--transactions", type=int, help="At most this many transactions of the span.")
@click.option("--label-delay-days", default=7.0, show_default=True, help="Fraud label delay.")
@click.option(
    "--texts", default=_DEFAULT.texts, show_default=True, help="emotion6 test texts replayed."
)
@click.option(
    "--clicks", default=_DEFAULT.clicks, show_default=True, help="Clickstream events replayed."
)
@click.option(
    "--rate", default=_DEFAULT.rate, show_default=True, help="Records per second (all kinds)."
)
@click.option(
    "--drift-from",
    default=_DEFAULT.drift_from,
    show_default=True,
    help="Index of the first text whose emotion label is rotated (-1: no drift).",
)
@click.option(
    "--challenger-window",
    default=_DEFAULT.challenger_window,
    show_default=True,
    help="Examples a challenger must beat the served model over.",
)
@click.option("--cold", is_flag=True, help="No bootstrap: start from untrained models.")
@click.option("--keep-services", is_flag=True, help="Leave Kafka running afterwards.")
@click.pass_obj
def demo(
    settings: Settings,
    *,
    start: str,
    days: float,
    transactions: int | None,
    label_delay_days: float,
    texts: int,
    clicks: int,
    rate: float,
    drift_from: int,
    challenger_window: int,
    cold: bool,
    keep_services: bool,
) -> None:
    """Start Kafka, bootstrap the history before --start, start a scorer, a trainer and a
    sink; replay real data with a drift episode and a live dashboard; stop everything
    and write a report from the lake."""
    from streamml.demo import run_demo

    plan = DemoPlan(
        days=days,
        texts=texts,
        clicks=clicks,
        rate=rate,
        keep_services=keep_services,
        label_delay=timedelta(days=label_delay_days),
        transactions=transactions,
        start=parse_when(start),
        bootstrap=not cold,
        drift_from=drift_from if drift_from >= 0 else None,
        challenger_window=challenger_window,
    )
    run_demo(settings, plan)
