"""``streamml demo``: the whole system on one machine, started and stopped by itself.

Kafka as a local process (or the one running); the handbook's history before the
replayed span bootstrapped into this run's state and models (:mod:`streamml.demo_warm`);
a scorer, a trainer and a lake sink as worker processes (:mod:`streamml.demo_processes`);
the span's payments (labels 7 event-days late) with emotion6's test texts, which drift
half-way, and clickstream sessions, replayed at a set rate (:mod:`streamml.demo_plan`);
a live dashboard (:mod:`streamml.dashboard`) while it runs; then everything stopped and
a report written from the lake.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Iterator

from confluent_kafka import Producer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from streamml import dashboard
from streamml.admin import ensure_topics
from streamml.datasets._common import ReplayRecord
from streamml.demo_plan import DemoPlan, demo_records
from streamml.demo_processes import ROLES, endpoints, log_path, start_process, stop
from streamml.demo_warm import bootstrap_history, wait_until_ready
from streamml.lakefiles import lake_rows
from streamml.produce import replay
from streamml.records import Label
from streamml.services.kafka import LocalKafka
from streamml.settings import Settings

__all__ = ["DemoPlan", "run_demo"]

console = Console(stderr=True)

STALL_SECONDS = 30.0
"""After the replay, the dashboard waits for the last outputs while they keep coming."""

# A few records no contract accepts, so the dead-letter path shows up in the demo.
MALFORMED = [b"", b"not avro, not json", b'{"event_id": "x"}', b"\xc3\x01" + b"\x00" * 8 + b"\x02"]


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

    Each run uses its own topics, consumer groups and app id (unless
    ``STREAMML_TOPIC_PREFIX`` is set) and its own lake, so what it shows is exactly what
    this run produced, and the bootstrap writes state no scorer consumed past.
    """
    _interrupt_on(signal.SIGINT, signal.SIGTERM)
    began = time.monotonic()
    settings = _run_settings(settings)
    run_name = settings.topic_prefix.rstrip("-")
    kafka = LocalKafka(settings)
    started_kafka = not kafka.status().running
    kafka.up()
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        ensure_topics(settings)
        records = Counted(demo_records(settings, plan))
        if plan.bootstrap:
            bootstrap_history(settings, plan, console)
        for i, role in enumerate(ROLES):
            processes[role] = start_process(settings, plan, role, settings.metrics_port + i)
        wait_until_ready(log_path(settings, "scorer"), processes, console)
        expected = sum(1 for r in records.records if not isinstance(r, Label)) + len(MALFORMED)
        _watch(settings, plan, records, expected, processes)
        stop(processes, console.print)  # the sink flushes its open batches as it stops
        _report_lake(settings)
        _write_report(settings, run_name)
        console.print(f"demo done in {time.monotonic() - began:.0f} s")
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: stopping cleanly[/yellow]")
    finally:
        stop(processes, console.print)
        if started_kafka and not plan.keep_services:
            kafka.down()


def _run_settings(settings: Settings) -> Settings:
    """This run's prefix, app id and (zero setup) lake in a local directory."""
    if not settings.topic_prefix:
        run = f"demo-{time.strftime('%Y%m%d-%H%M%S')}-"
        settings = settings.model_copy(update={"topic_prefix": run, "app_id": f"{run}worker"})
    if settings.lake_url is None:
        lake = (settings.state_dir / "lake" / settings.topic_prefix.rstrip("-")).resolve()
        settings = settings.model_copy(update={"lake_url": f"file://{lake}"})
    return settings


def _interrupt_on(*signals: signal.Signals) -> None:
    """Ctrl-C and SIGTERM both stop the demo through the same cleanup path."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    for number in signals:
        signal.signal(number, interrupt)


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
        f"replaying {len(records.records):,} records from {plan.start:%Y-%m-%d} "
        f"({plan.days:g} days) at {plan.rate:,.0f}/s "
        f"(logs: {settings.state_dir}/demo-<role>.log)"
    )
    failed: list[BaseException] = []
    producing = threading.Thread(
        target=_replay, args=(settings, records, plan.rate, failed), daemon=True
    )
    producing.start()
    view = dashboard.RunView(settings, label_delay=plan.label_delay)
    _show(
        settings,
        view,
        records=records,
        expected=expected,
        processes=processes,
        producing=producing,
        failed=failed,
    )
    _conclude(view, expected, processes, failed)


def _show(
    settings: Settings,
    view: dashboard.RunView,
    *,
    records: Counted,
    expected: int,
    processes: dict[str, subprocess.Popen[bytes]],
    producing: threading.Thread,
    failed: list[BaseException],
) -> None:
    """Refresh the dashboard until every output is in (or none came for a while)."""
    rates = dashboard.Rates()
    consumer = dashboard.run_consumer(settings)
    last_output, outputs_seen = time.monotonic(), 0
    try:
        with Live(console=console, refresh_per_second=2, transient=False) as live:
            while True:
                dashboard.poll(consumer, view, 1.0)
                live.update(
                    dashboard.render(
                        view, endpoints(settings), rates, records.handed, len(records.records)
                    )
                )
                outputs = view.outputs()
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


def _conclude(
    view: dashboard.RunView,
    expected: int,
    processes: dict[str, subprocess.Popen[bytes]],
    failed: list[BaseException],
) -> None:
    if failed:
        raise failed[0]
    for role, process in processes.items():
        if process.poll() is not None:
            console.print(f"[red]{role} exited ({process.returncode}); see its log[/red]")
    outputs = view.outputs()
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
