"""The demo's worker processes: a scorer, a trainer and a lake sink, each with its own
log and metrics endpoint, configured for this run through their environment."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from streamml.demo_plan import DemoPlan
from streamml.settings import Settings

ROLES = ("scorer", "trainer", "sink")


def log_path(settings: Settings, role: str) -> Path:
    return settings.state_dir / f"demo-{role}.log"


def start_process(
    settings: Settings, plan: DemoPlan, role: str, port: int
) -> subprocess.Popen[bytes]:
    log = log_path(settings, role)
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "STREAMML_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "STREAMML_TOPIC_PREFIX": settings.topic_prefix,
        "STREAMML_APP_ID": settings.app_id,
        "STREAMML_ROLE": role,
        "STREAMML_METRICS_PORT": str(port),
        "STREAMML_LAG_INTERVAL_SECONDS": "2",
        # Often enough for the served versions to move visibly, rarely enough that
        # signing and loading the fraud forest's 3 MB snapshots does not hold the
        # replay back (a promotion is published at once anyway).
        "STREAMML_SNAPSHOT_EVERY_EXAMPLES": "5000",
        "STREAMML_SNAPSHOT_EVERY_SECONDS": "10",
        # The drift episode's reaction: a challenger, judged over a window the test
        # split's 2,000 texts leave room for.
        "STREAMML_DRIFT_CHALLENGER": "true",
        "STREAMML_CHALLENGER_WINDOW": str(plan.challenger_window),
        "STREAMML_LAKE_URL": settings.lake_url or "",
        "STREAMML_SINK_ENABLED": str(role == "sink").lower(),  # only the sink lands
    }
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "streamml", "worker"], stdout=out, stderr=out, env=env
        )


def endpoints(settings: Settings) -> dict[str, str]:
    """Each process's metrics address, as its log names it (once it has started)."""
    found = {}
    for role in ROLES:
        path = log_path(settings, role)
        text = path.read_text("utf-8", errors="replace") if path.exists() else ""
        match = re.search(r"metrics on (http://[\d.]+:\d+)/metrics", text)
        if match:
            found[role] = match.group(1)
    return found


def stop(processes: dict[str, subprocess.Popen[bytes]], say: Callable[[str], None]) -> None:
    """SIGTERM each process (the sink flushes its open batches), then wait for it."""
    for process in processes.values():
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for role, process in list(processes.items()):
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        say(f"{role} stopped (exit code {process.returncode})")
        del processes[role]
