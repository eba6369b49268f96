"""``streamml demo``: the whole system on one machine, started and stopped by itself.

Kafka as a local process; a scorer, a trainer and a lake sink as three worker processes
(each with its own metrics endpoint); the handbook's transactions over a span of days
(labels 7 event-days late) interleaved with emotion texts and clickstream sessions,
replayed at a set rate; a live dashboard (:mod:`streamml.dashboard`) while it runs; then
everything stopped and a report written from the lake.
"""

from __future__ import annotations

import dataclasses
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from confluent_kafka import Producer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from streamml import dashboard
from streamml.admin import ensure_topics
from streamml.datasets import SourceOptions, get_source
from streamml.datasets._common import ReplayRecord
from streamml.lakefiles import lake_rows
from streamml.produce import replay
from streamml.records import Label, TextEvent, Transaction
from streamml.services.kafka import LocalKafka
from streamml.settings import Settings

console = Console(stderr=True)

ROLES = ("scorer", "trainer", "sink")
FRAUD_START = datetime(2018, 4, 1, tzinfo=UTC)
STALL_SECONDS = 30.0
"""After the replay, the dashboard waits for the last outputs while they keep coming."""

# A few records no contract accepts, so the dead-letter path shows up in the demo.
MALFORMED = [b"", b"not avro, not json", b'{"event_id": "x"}', b"\xc3\x01" + b"\x00" * 8 + b"\x02"]


@dataclass(frozen=True, slots=True)
class DemoPlan:
    days: float
    texts: int
    clicks: int
    rate: float
    keep_services: bool
    label_delay: timedelta = timedelta(days=7)
    transactions: int | None = None  # at most this many (None: the whole span)


class Counted:
    """Records handed to the replay, counted for the dashboard."""

    def __init__(self, records: list[ReplayRecord]) -> None:
        self.records = records
        self.handed = 0

    def __iter__(self) -> Iterator[ReplayRecord]:
        for record in self.records:
            self.handed += 1
            yield record


def run_demo(settings: Settings, plan: DemoPlan) -> None:
    """Run the demo; Ctrl-C at any point still stops the processes and the broker.

    Each run uses its own topics and consumer groups (unless ``STREAMML_TOPIC_PREFIX`` is
    set) and its own lake, so what it shows is exactly what this run produced.
    """
    _interrupt_on(signal.SIGINT, signal.SIGTERM)
    if not settings.topic_prefix:
        run = f"demo-{time.strftime('%Y%m%d-%H%M%S')}-"
        settings = settings.model_copy(update={"topic_prefix": run, "app_id": f"{run}worker"})
    run_name = settings.topic_prefix.rstrip("-")
    if settings.lake_url is None:  # zero setup: this run's lake in a local directory
        lake = (settings.state_dir / "lake" / run_name).resolve()
        settings = settings.model_copy(update={"lake_url": f"file://{lake}"})
    kafka = LocalKafka(settings)
    started_kafka = not kafka.status().running
    kafka.up()
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        ensure_topics(settings)
        for i, role in enumerate(ROLES):
            processes[role] = _start_process(settings, role, settings.metrics_port + i)
        records = Counted(_records(settings, plan))
        expected = sum(1 for r in records.records if not isinstance(r, Label)) + len(MALFORMED)
        _watch(settings, plan, records, expected, processes)
        _stop(processes)  # the sink flushes its open batches as it stops
        _report_lake(settings)
        _write_report(settings, run_name)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: stopping cleanly[/yellow]")
    finally:
        _stop(processes)
        if started_kafka and not plan.keep_services:
            kafka.down()


def _interrupt_on(*signals: signal.Signals) -> None:
    """Ctrl-C and SIGTERM both stop the demo through the same cleanup path."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    for number in signals:
        signal.signal(number, interrupt)


def _log_path(settings: Settings, role: str) -> Path:
    return settings.state_dir / f"demo-{role}.log"


def _start_process(settings: Settings, role: str, port: int) -> subprocess.Popen[bytes]:
    log_path = _log_path(settings, role)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "STREAMML_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "STREAMML_TOPIC_PREFIX": settings.topic_prefix,
        "STREAMML_APP_ID": settings.app_id,
        "STREAMML_ROLE": role,
        "STREAMML_METRICS_PORT": str(port),
        "STREAMML_LAG_INTERVAL_SECONDS": "2",
        # A short demo sees a few thousand labels: publish snapshots often enough to show.
        "STREAMML_SNAPSHOT_EVERY_EXAMPLES": "500",
        "STREAMML_SNAPSHOT_EVERY_SECONDS": "5",
        "STREAMML_LAKE_URL": settings.lake_url or "",
        "STREAMML_SINK_ENABLED": str(role == "sink").lower(),  # only the sink lands
    }
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "streamml", "worker"], stdout=log, stderr=log, env=env
        )


def _endpoints(settings: Settings) -> dict[str, str]:
    """Each process's metrics address, as its log names it (once it has started)."""
    found = {}
    for role in ROLES:
        path = _log_path(settings, role)
        text = path.read_text("utf-8", errors="replace") if path.exists() else ""
        match = re.search(r"metrics on (http://[\d.]+:\d+)/metrics", text)
        if match:
            found[role] = match.group(1)
    return found


def _stop(processes: dict[str, subprocess.Popen[bytes]]) -> None:
    for process in processes.values():
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for role, process in list(processes.items()):
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        console.print(f"{role} stopped (exit code {process.returncode})")
        del processes[role]


def _records(settings: Settings, plan: DemoPlan) -> list[ReplayRecord]:
    """The span's transactions and labels, with texts and clicks spread among them."""
    end = FRAUD_START + timedelta(days=plan.days)
    options = SourceOptions(
        start=FRAUD_START, end=end, limit=plan.transactions, label_delay=plan.label_delay
    )
    # Labels due after the span would arrive after the demo: they are not replayed.
    fraud = [
        r
        for r in get_source("fraud", settings, options).records()
        if not isinstance(r, Label) or r.label_time < end
    ]
    texts = list(get_source("emotion6", settings, SourceOptions(limit=plan.texts)).records())
    clicks = list(
        get_source(
            "clickstream",
            settings,
            SourceOptions(start=FRAUD_START, limit=plan.clicks, customers=200),
        ).records()
    )
    return _in_event_time(_spread(fraud, [*texts, *clicks]))


def _in_event_time(records: list[ReplayRecord]) -> list[ReplayRecord]:
    """Texts carry no time of their own: each takes the time of the payment before it, so
    that the replay, which publishes each label once the stream reaches its label time,
    never runs ahead of the fraud labels' delay."""
    out: list[ReplayRecord] = []
    now = FRAUD_START
    for record in records:
        if isinstance(record, TextEvent):
            out.append(dataclasses.replace(record, event_time=now))
            continue
        if isinstance(record, Transaction):
            now = max(now, record.event_time)
        out.append(record)
    return out


def _spread(base: list[ReplayRecord], others: list[ReplayRecord]) -> list[ReplayRecord]:
    """``others`` evenly among ``base``, each list's order kept.

    >>> _spread([1, 2, 3, 4], ["a", "b"])
    [1, 2, 'a', 3, 4, 'b']
    """
    if not base or not others:
        return [*base, *others]
    out: list[ReplayRecord] = []
    step = len(base) / len(others)
    taken = 0
    for i, record in enumerate(base, start=1):
        out.append(record)
        while taken < len(others) and (taken + 1) * step <= i:
            out.append(others[taken])
            taken += 1
    return out + others[taken:]


def _replay(settings: Settings, records: Counted, rate: float, failed: list[BaseException]) -> None:
    try:
        replay(settings, records, rate=rate, progress=False, fmt=settings.output_format)
        producer = Producer(settings.kafka_client_config())
        for raw in MALFORMED:
            producer.produce(settings.topics.transactions, raw)
        producer.flush(30)
    except BaseException as error:  # shown by the dashboard loop, which stops
        failed.append(error)


def _watch(
    settings: Settings,
    plan: DemoPlan,
    records: Counted,
    expected: int,
    processes: dict[str, subprocess.Popen[bytes]],
) -> None:
    """Replay in the background; show the dashboard until every output is in."""
    console.print(
        f"replaying {len(records.records):,} records at {plan.rate:,.0f}/s "
        f"(logs: {settings.state_dir}/demo-<role>.log)"
    )
    failed: list[BaseException] = []
    producing = threading.Thread(
        target=_replay, args=(settings, records, plan.rate, failed), daemon=True
    )
    producing.start()
    view, rates = dashboard.RunView(settings), dashboard.Rates()
    consumer = dashboard.run_consumer(settings)
    last_output, outputs_seen = time.monotonic(), 0
    try:
        with Live(console=console, refresh_per_second=2, transient=False) as live:
            while True:
                dashboard.poll(consumer, view, 1.0)
                live.update(
                    dashboard.render(
                        view, _endpoints(settings), rates, records.handed, len(records.records)
                    )
                )
                outputs = sum(view.predictions.values()) + sum(view.dead_letters.values())
                if failed or any(p.poll() is not None for p in processes.values()):
                    break
                if outputs > outputs_seen:
                    last_output, outputs_seen = time.monotonic(), outputs
                if not producing.is_alive() and (
                    outputs >= expected or time.monotonic() - last_output > STALL_SECONDS
                ):
                    break
    finally:
        consumer.close()
    if failed:
        raise failed[0]
    for role, process in processes.items():
        if process.poll() is not None:
            console.print(f"[red]{role} exited ({process.returncode}); see its log[/red]")
    outputs = sum(view.predictions.values()) + sum(view.dead_letters.values())
    console.print(f"{outputs:,} outputs for {expected:,} events")
    if outputs < expected:
        console.print(
            f"[red]{expected - outputs:,} outputs missing after {STALL_SECONDS:.0f} s without "
            "progress; see the processes' logs[/red]"
        )


def _report_lake(settings: Settings) -> None:
    """What this run landed in the lake: objects and rows per topic."""
    store = settings.lake()
    table = Table(title=f"lake {store.url}")
    for column in ("topic", "objects", "rows"):
        table.add_column(column)
    for topic in settings.sink_topic_names():
        keys = store.list(f"topic={topic}/")
        rows = sum(lake_rows(store.get(k) or b"", k) for k in keys)
        table.add_row(topic.removeprefix(settings.topic_prefix), str(len(keys)), str(rows))
    console.print(table)


def _write_report(settings: Settings, run_name: str) -> None:
    from streamml.report import write_report

    page = write_report(settings.lake(), settings.topics, settings.state_dir / "report" / run_name)
    console.print(f"report: {page}")
