"""The ``features`` command group (registered on the main group in :mod:`streamml.cli`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import click

from streamml.clitools import StreamMLGroup
from streamml.replay_cli import parse_when
from streamml.settings import Settings

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID


@click.group("features", cls=StreamMLGroup)
def features() -> None:
    """Compute online features offline, exactly as the worker would."""


@features.command("fraud")
@click.option(
    "--data",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The handbook's transactions (CSV, .gz ok).  [default: in STREAMML_DATA_DIR]",
)
@click.option("--from", "start", required=True, help="First day (or ISO date-time, UTC).")
@click.option("--to", "end", required=True, help="Last day (inclusive) or date-time (exclusive).")
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="CSV to write."
)
@click.option("--label-delay-days", type=click.FloatRange(min=0), default=7.0, show_default=True)
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@click.pass_context
def fraud(
    ctx: click.Context,
    *,
    data: Path | None,
    start: str,
    end: str,
    out: Path,
    label_delay_days: float,
    no_progress: bool,
) -> None:
    """Write the fraud features of every transaction from --from to --to as CSV.

    Streams the file from its start through the online feature code, in event time,
    each label arriving --label-delay-days after its transaction; writes TRANSACTION_ID,
    the handbook's fourteen features, then TX_AMOUNT and streamml's own.
    """
    from streamml.datasets import interleave_labels
    from streamml.datasets._common import reading, require_file
    from streamml.datasets.fraud_handbook import FILE_NAME, read_fraud_handbook
    from streamml.features.export import write_fraud_features

    settings = ctx.obj if isinstance(ctx.obj, Settings) else Settings()
    path = data or require_file(settings.data_dir, FILE_NAME)
    first, stop = parse_when(start), parse_when(end, end=True)
    if stop <= first:
        raise click.BadParameter(f"--to {end} ends before --from {start} starts")
    delay = timedelta(days=label_delay_days)
    records = interleave_labels(read_fraud_handbook(path, end=stop, label_delay=delay))
    with (
        _progress(stop, enabled=not no_progress) as report,
        reading(path),
        out.open("w", encoding="utf-8", newline="") as handle,
    ):
        summary = write_fraud_features(records, handle, start=first, end=stop, progress=report)
    click.echo(
        f"wrote {summary.written:,} rows to {out}; streamed {summary.transactions:,} "
        f"transactions in {summary.seconds:.1f} s ({summary.rate:,.0f} tx/s)",
        err=True,
    )


@contextmanager
def _progress(stop: datetime, *, enabled: bool) -> Iterator[_EventTimeBar | None]:
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (
        TextColumn("fraud features"),
        BarColumn(),
        TextColumn("{task.fields[day]}  {task.fields[count]:>10,} tx"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True)) as bar:
        task = bar.add_task("features", total=None, day="", count=0)
        yield _EventTimeBar(bar, task, stop)


class _EventTimeBar:
    """Moves a bar over event time, from the first transaction seen to ``stop``."""

    def __init__(self, bar: Progress, task: TaskID, stop: datetime) -> None:
        self.bar = bar
        self.task = task
        self.stop = stop
        self.origin: datetime | None = None

    def __call__(self, when: datetime, count: int) -> None:
        if self.origin is None:
            self.origin = when
            self.bar.update(self.task, total=(self.stop - when).total_seconds())
        done = (when - self.origin).total_seconds()
        self.bar.update(self.task, completed=done, day=f"{when:%Y-%m-%d}", count=count)
