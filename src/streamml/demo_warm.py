"""The demo's warm start: bootstrap the history before the replayed span into this run's
changelogs and snapshot topic, then wait until the scorer has restored it.

Replaying before the scorer is ready would queue records behind its start-up and show
that queue as latency; the demo measures the steady state a user's deployment runs in.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from streamml.bootstrap.history import FraudColumns
from streamml.bootstrap.run import BootstrapPlan, run_bootstrap
from streamml.demo_plan import DemoPlan
from streamml.engine.runner import READY
from streamml.errors import ServiceError
from streamml.settings import Settings

READY_SECONDS = 120.0
"""How long the scorer may take to restore its state and load the models."""


def bootstrap_history(settings: Settings, plan: DemoPlan, console: Console) -> dict[str, Any]:
    """Learn the handbook's history before ``plan.start`` and emotion6's train and val
    splits; write the feature state and publish the models for this run's app id."""
    console.print(
        f"[bold]bootstrap[/bold]: the handbook's payments before {plan.start:%Y-%m-%d} "
        "and emotion6's train+val texts (a cached fraud pass takes seconds, the first "
        "one a few minutes; progress below)"
    )
    cache = settings.cache_dir / "bootstrap"
    report = run_bootstrap(
        settings,
        BootstrapPlan(
            until=plan.start,
            fraud="handbook",
            texts="emotion6",
            columns=FraudColumns(label_delay=plan.label_delay),
            cache_dir=cache,
        ),
    )
    console.print(summary_table(report))
    return report


def summary_table(report: dict[str, Any]) -> Table:
    """What the bootstrap learned and published, one row per task."""
    table = Table(
        "task", "history", "learned", "quality at the cut-off", "served as", title="bootstrap"
    )
    served = report.get("snapshots", {})
    fraud = report.get("fraud")
    if fraud:
        metrics = fraud.get("metrics", {})
        table.add_row(
            "fraud",
            f"{fraud['transactions']:,} payments, {fraud['cards']:,} cards, "
            f"{fraud['terminals']:,} terminals",
            f"{fraud['examples_learned']:,} labels",
            f"AUC {metrics.get('roc_auc', float('nan')):.3f}, "
            f"AP {metrics.get('average_precision', float('nan')):.3f} (last 14 days)",
            served.get("fraud", "-"),
        )
    for task, figures in report.get("texts", {}).get("tasks", {}).items():
        metrics = figures.get("metrics", {})
        table.add_row(
            task,
            f"{report['texts']['texts']:,} texts",
            f"{figures['examples']:,} texts",
            f"accuracy {metrics.get('accuracy', float('nan')):.3f} (prequential)",
            served.get(task, "-"),
        )
    table.caption = f"{report.get('seconds', 0):.1f} s"
    return table


def wait_until_ready(
    log: Path,
    processes: dict[str, subprocess.Popen[bytes]],
    console: Console,
    timeout: float = READY_SECONDS,
) -> float:
    """Wait for the scorer's log to say its state is restored; the seconds waited."""
    began = time.monotonic()
    with console.status("waiting for the scorer to restore the bootstrapped state"):
        while READY not in _text(log):
            stopped = [role for role, p in processes.items() if p.poll() is not None]
            if stopped:
                raise ServiceError(f"{', '.join(stopped)} exited while starting; see {log.parent}")
            if time.monotonic() - began > timeout:
                raise ServiceError(f"the scorer was not ready after {timeout:.0f} s; see {log}")
            time.sleep(0.25)
    waited = time.monotonic() - began
    console.print(f"scorer ready after {waited:.1f} s")
    return waited


def _text(path: Path) -> str:
    return path.read_text("utf-8", errors="replace") if path.exists() else ""
