"""The ``produce`` and ``tail`` commands (registered on the main group in :mod:`cli`)."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime, timedelta

import click

from streamml.admin import ensure_topics
from streamml.clitools import StreamMLCommand
from streamml.datasets import SOURCE_NAMES, SourceOptions, get_source
from streamml.datasets._common import as_utc
from streamml.datasets.registry import GENERATOR_NAMES
from streamml.produce import ReplaySummary, replay
from streamml.records import Label
from streamml.settings import Settings, Topics, WireFormat
from streamml.tail import tail as tail_topic

EXIT_INTERRUPTED = 130


def parse_when(text: str, *, end: bool = False) -> datetime:
    """Read ``--from``/``--to``: a date means its whole day, a date and time is exact (UTC
    unless it says otherwise). For ``end``, a date is the day after (``--to`` is inclusive).

    >>> parse_when("2018-08-08").isoformat()
    '2018-08-08T00:00:00+00:00'
    >>> parse_when("2018-08-14", end=True).isoformat()
    '2018-08-15T00:00:00+00:00'
    >>> parse_when("2018-08-14T12:30", end=True).isoformat()
    '2018-08-14T12:30:00+00:00'
    """
    try:
        day = date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        day = None
    if day is not None:
        midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
        return midnight + timedelta(days=1) if end else midnight
    try:
        return as_utc(datetime.fromisoformat(text))
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a date (YYYY-MM-DD) or ISO date-time") from None


def resolve_topic(name: str, topics: Topics) -> str:
    """Accept a topic's full name or its name without the configured prefix.

    >>> resolve_topic("fraud-labels", Topics.with_prefix("demo."))
    'demo.fraud-labels'
    >>> resolve_topic("other", Topics.with_prefix("demo."))
    'other'
    """
    known = topics.all()
    if name in known:
        return name
    unprefixed = Topics.with_prefix("").all()
    return known[unprefixed.index(name)] if name in unprefixed else name


def source_name(source: str | None, generator: str | None, customers: int | None) -> str:
    """The source ``produce`` reads: ``--generator`` is ``--source`` for simulated traffic.

    >>> source_name(None, None, None), source_name(None, "clickstream", 50)
    ('fraud', 'clickstream')
    >>> source_name("fraud", None, 50)
    Traceback (most recent call last):
    ...
    click.exceptions.UsageError: --customers applies to a generator (synthetic, clickstream)
    """
    if source is not None and generator is not None and source != generator:
        raise click.UsageError(f"--source {source} and --generator {generator} disagree")
    name = generator or source or "fraud"
    if customers is not None and name not in GENERATOR_NAMES:
        raise click.UsageError(f"--customers applies to a generator ({', '.join(GENERATOR_NAMES)})")
    return name


def _settings(ctx: click.Context) -> Settings:
    return ctx.obj if isinstance(ctx.obj, Settings) else Settings()


@click.command("produce", cls=StreamMLCommand)
@click.option("--source", type=click.Choice(SOURCE_NAMES), help="What to replay.  [default: fraud]")
@click.option(
    "--generator",
    type=click.Choice(GENERATOR_NAMES),
    help="Simulated traffic instead of a data set (same as --source NAME).",
)
@click.option(
    "--customers",
    type=click.IntRange(min=1),
    help="Customers simulated by --generator.  [default: the generator's]",
)
@click.option(
    "--split",
    type=click.Choice(["train", "val", "test", "all"]),
    default="train",
    show_default=True,
    help="emotion6 split.",
)
@click.option("--from", "start", help="First event time (date or ISO date-time, UTC).")
@click.option("--to", "end", help="Last day (inclusive) or date-time (exclusive).")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many events.")
@click.option(
    "--rate",
    type=click.FloatRange(min=0, min_open=True),
    help="Records per second, labels included.  [default: as fast as possible]",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["avro", "json"]),
    help="Wire format.  [default: STREAMML_OUTPUT_FORMAT, avro]",
)
@click.option("--label-delay-days", type=click.FloatRange(min=0), default=7.0, show_default=True)
@click.option("--no-labels", is_flag=True, help="Events only: no ground truth is sent.")
@click.option(
    "--with-earlier-labels",
    is_flag=True,
    help="fraud: also send the labels of transactions before --from that fall due from "
    "--from on (the live continuation of `streamml bootstrap --until FROM`).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Generator seed.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
@click.option("--create-topics/--no-create-topics", default=True, show_default=True)
@click.pass_context
def produce(
    ctx: click.Context,
    *,
    source: str | None,
    generator: str | None,
    customers: int | None,
    split: str,
    start: str | None,
    end: str | None,
    limit: int | None,
    rate: float | None,
    fmt: WireFormat | None,
    label_delay_days: float,
    no_labels: bool,
    with_earlier_labels: bool,
    seed: int,
    no_progress: bool,
    create_topics: bool,
) -> None:
    """Replay a data set (or synthetic traffic) into the input topics.

    Transactions, texts and labels go to their topics in event-time order; each fraud
    label is published once the replay reaches its label time (event time plus the
    label delay). --limit counts events; labels come on top. The generators
    (--generator synthetic or clickstream) run until Ctrl-C unless given --limit or --to.
    Ctrl-C stops after flushing.
    """
    settings = _settings(ctx)
    name = source_name(source, generator, customers)
    options = SourceOptions(
        split=split,
        start=parse_when(start) if start else None,
        end=parse_when(end, end=True) if end else None,
        limit=limit,
        label_delay=timedelta(days=label_delay_days),
        seed=seed,
        customers=customers,
        earlier_labels=with_earlier_labels,
    )
    data = get_source(name, settings, options)
    if create_topics:
        ensure_topics(settings)
    records = data.records()
    if no_labels:
        records = (r for r in records if not isinstance(r, Label))
    summary = replay(
        settings,
        records,
        rate=rate,
        progress=not no_progress,
        fmt=fmt or settings.output_format,
        total=None if no_labels else data.total(),
    )
    _report(summary)


def _report(summary: ReplaySummary) -> None:
    click.echo(
        f"sent {summary.sent:,} records, {summary.failed:,} failed, in {summary.seconds:.1f} s "
        f"({summary.rate:,.0f} records/s)",
        err=True,
    )
    if summary.interrupted:
        click.echo("interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    if summary.failed:
        reasons = "; ".join(f"{count:,} x {reason}" for reason, count in summary.errors.items())
        raise click.ClickException(f"{summary.failed:,} records were not delivered: {reasons}")


@click.command("tail", cls=StreamMLCommand)
@click.argument("topic")
@click.option(
    "-n",
    "--records",
    "n",
    type=click.IntRange(min=0),
    default=10,
    show_default=True,
    help="How many records to show; 0 = all.",
)
@click.option("--from-beginning", is_flag=True, help="Show the oldest records, not the newest.")
@click.option("-f", "--follow", is_flag=True, help="Then print new records until Ctrl-C.")
@click.pass_context
def tail(ctx: click.Context, topic: str, n: int, from_beginning: bool, follow: bool) -> None:
    """Print records of TOPIC as JSON lines, decoded by the topic's contract.

    Shows the newest N records of the topic (by timestamp, across partitions), or the
    oldest N with --from-beginning. Dead letters show their reason and origin;
    undecodable values show the error and a hex prefix. Commits no offsets. TOPIC may
    omit the configured topic prefix.
    """
    settings = _settings(ctx)
    tail_topic(settings, resolve_topic(topic, settings.topics), n or None, from_beginning, follow)
