"""The demo as a user runs it: in a real terminal (tmux), its live dashboard read off the
pane while it runs, then a clean end with the report written.

A smaller plan than ``make demo``'s keeps it short: April bootstrapped (cached in the
real cache directory after the first run), four days of May replayed with labels two
days late, and every emotion6 test text, rotated from the 1,000th: the bootstrap, the
drift episode and the promotion all happen, and the figures must be the served model's
true quality, not an untrained one's.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.containers import free_port

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
TEXTS, DRIFT_FROM = 2000, 1000
DEMO = [
    "--start", "2018-05-01", "--days", "4", "--label-delay-days", "2", "--texts", str(TEXTS),
    "--clicks", "300", "--rate", "2000", "--drift-from", str(DRIFT_FROM),
    "--challenger-window", "100",
]  # fmt: skip


def pane(session: str, history: bool = False) -> str:
    """What the terminal shows (with ``history``, everything it has shown)."""
    scrollback = ["-S", "-"] if history else []
    return subprocess.run(
        ["tmux", "capture-pane", "-p", *scrollback, "-t", session],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


@dataclass
class Seen:
    """What the dashboard showed at any moment of the run."""

    auc: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    waiting_for_labels: bool = False
    started: bool = False
    promoted: bool = False
    screens: list[str] = field(default_factory=list)

    def read(self, screen: str) -> None:
        self.auc += [float(x) for x in re.findall(r"AUC (\d\.\d{3})", screen)]
        self.accuracy += [float(x) for x in re.findall(r"accuracy (\d\.\d{3})", screen)]
        self.waiting_for_labels |= "no labelled prediction yet" in screen
        alerts = [line for line in screen.splitlines() if "concept" in line]
        self.started |= any("started" in line for line in alerts)
        self.promoted |= any("promoted" in line for line in alerts)
        if "records in/s" in screen and len(self.screens) < 400:
            self.screens.append(screen)


def watch(session: str, seen: Seen, timeout: float) -> str:
    """Read the pane until the demo's command has exited; the whole scrollback then."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        screen = pane(session)
        seen.read(screen)
        if "DEMO-EXIT-" in screen:
            break
        time.sleep(0.5)
    return pane(session, history=True)


def start_demo(session: str, state: Path) -> None:
    kafka, controller, metrics = free_port(), free_port(), free_port()
    env = {
        "STREAMML_KAFKA_PORT": str(kafka),
        "STREAMML_KAFKA_CONTROLLER_PORT": str(controller),
        "STREAMML_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{kafka}",
        "STREAMML_METRICS_PORT": str(metrics),
        "STREAMML_STATE_DIR": str(state),
        "STREAMML_DATA_DIR": str(REPO.parent / "shared" / "datasets"),
    }
    demo = [sys.executable, "-m", "streamml", "demo", *DEMO]
    command = " ".join(
        [*(f"{k}={shlex.quote(v)}" for k, v in env.items()), *map(shlex.quote, demo)]
    )
    script = f"cd {shlex.quote(str(REPO))} && {command}; echo DEMO-EXIT-$?; sleep 600"
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", session, "-x", "170", "-y", "60", script],
        check=True,
        env={**os.environ, "TERM": "xterm-256color"},
    )


def test_the_demo_shows_a_warm_model_a_drift_and_a_promotion_then_ends_cleanly(
    tmp_path: Path,
) -> None:
    session = f"streamml-demo-{uuid.uuid4().hex[:8]}"
    start_demo(session, tmp_path / "state")
    seen = Seen()
    try:
        done = watch(session, seen, timeout=900)
    finally:
        final = pane(session, history=True)
        subprocess.run(["tmux", "kill-session", "-t", session], check=False)
    assert "DEMO-EXIT-0" in done, final
    assert "interrupted" not in done and "bootstrap" in done, done
    live = next((s for s in seen.screens if "emotion6" in s and "fraud" in s), "")
    for role in ("scorer", "trainer", "sink"):
        assert any(line.strip("│┃ ").startswith(role) for line in live.splitlines()), live
    # Until the first label is due, the dashboard says so; then the bootstrapped
    # model's true quality shows, as the offline evaluation measures it.
    assert seen.waiting_for_labels, seen.screens[:3]
    assert seen.auc and max(seen.auc) >= 0.85, (seen.auc[-20:], final)
    assert seen.accuracy and max(seen.accuracy) >= 0.80, (seen.accuracy[-20:], final)
    assert seen.started and seen.promoted, final
    assert "dead letters: " in done and "empty 1" in done.replace("\n", " "), done
    assert "outputs for" in done and "outputs missing" not in done, done
    reports = list((tmp_path / "state" / "report").glob("*/report.json"))
    assert len(reports) == 1, done
    check_report(json.loads(reports[0].read_text()))


def check_report(report: dict[str, Any]) -> None:
    """The report's figures per slice of event time: the fraud model at its offline
    quality throughout, texts before the drift too, then the drop and the promotion."""
    fraud = report["fraud"]
    aucs = [s["figures"]["AUC ROC"] for s in fraud["slices"]]
    assert fraud["AUC ROC"] >= 0.85 and len(aucs) >= 2, fraud
    # A slice holds a few dozen frauds: each one's AUC moves by a few hundredths.
    assert statistics.median(aucs) >= 0.85 and min(aucs) >= 0.75, aucs
    texts = report["emotion6"]
    markers = [(m["state"], m["time"]) for m in texts["markers"]]
    started = min(t for s, t in markers if s == "started")
    promoted = min(t for s, t in markers if s == "promoted")
    assert started < promoted, markers
    # Slices hold equal numbers of texts: those before the drift are the first ones.
    slices = texts["slices"]
    before = [s["figures"]["accuracy"] for s in slices[: len(slices) * DRIFT_FROM // TEXTS]]
    after = [s["figures"]["accuracy"] for s in slices if s["from"] > started]
    assert len(before) >= 5 and statistics.median(before) >= 0.85, texts["slices"]
    assert min(before) >= 0.75, before
    assert min(after) < 0.5, after  # the rotated labels: the drift the alert reports
    latency = report["latency"]
    assert latency["p50_ms"] < 500, latency
