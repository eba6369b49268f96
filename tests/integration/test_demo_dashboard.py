"""The demo as a user runs it: in a real terminal (tmux), its live dashboard read off the
pane while it runs, then a clean end with the report written."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.containers import free_port

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def pane(session: str, history: bool = False) -> str:
    """What the terminal shows (with ``history``, everything it has shown)."""
    scrollback = ["-S", "-"] if history else []
    return subprocess.run(
        ["tmux", "capture-pane", "-p", *scrollback, "-t", session],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def wait_for(session: str, predicate: object, timeout: float) -> str:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    text = pane(session)
    while not predicate(text) and time.monotonic() < deadline:
        time.sleep(0.5)
        text = pane(session)
    return text


def test_the_demo_shows_a_live_dashboard_and_ends_cleanly(tmp_path: Path) -> None:
    session = f"streamml-demo-{uuid.uuid4().hex[:8]}"
    kafka, controller, metrics = free_port(), free_port(), free_port()
    env = {
        "STREAMML_KAFKA_PORT": str(kafka),
        "STREAMML_KAFKA_CONTROLLER_PORT": str(controller),
        "STREAMML_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{kafka}",
        "STREAMML_METRICS_PORT": str(metrics),
        "STREAMML_STATE_DIR": str(tmp_path / "state"),
        "STREAMML_DATA_DIR": str(REPO.parent / "shared" / "datasets"),
    }
    demo = [
        sys.executable, "-m", "streamml", "demo", "--days", "1.5", "--label-delay-days",
        "0.25", "--texts", "1500", "--clicks", "300", "--rate", "3000",
    ]  # fmt: skip
    command = " ".join(
        [*(f"{k}={shlex.quote(v)}" for k, v in env.items()), *map(shlex.quote, demo)]
    )
    script = f"cd {shlex.quote(str(REPO))} && {command}; echo DEMO-EXIT-$?; sleep 600"
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", session, "-x", "170", "-y", "60", script],
        check=True,
        env={**os.environ, "TERM": "xterm-256color"},
    )
    try:
        # While it runs: the three processes with their rates, fraud's rolling quality
        # (emotion's shows once the trainer's first snapshot is served, which a fast
        # replay may not wait for), the latency.
        live = wait_for(
            session,
            lambda t: "records in/s" in t and "AUC" in t and "p50" in t and "emotion6" in t,
            timeout=240,
        )
        assert "streamml demo" in live and "replayed" in live, live
        for role in ("scorer", "trainer", "sink"):
            assert any(line.strip("│┃ ").startswith(role) for line in live.splitlines()), live
        assert "fraud" in live and "emotion6" in live, live
        wait_for(session, lambda t: "DEMO-EXIT-" in t, timeout=300)
        done = pane(session, history=True)
    finally:
        final = pane(session, history=True)
        subprocess.run(["tmux", "kill-session", "-t", session], check=False)
    assert "DEMO-EXIT-0" in done, final
    assert "interrupted" not in done
    assert "dead letters: " in done and "empty 1" in done.replace("\n", " "), done
    assert "outputs for" in done and "outputs missing" not in done, done
    reports = list((tmp_path / "state" / "report").glob("*/index.html"))
    assert len(reports) == 1, done
    page = reports[0].read_text()
    assert "<h2>fraud</h2>" in page and "<h2>emotion6</h2>" in page
