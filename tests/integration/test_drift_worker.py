"""A concept change in a replay through the real broker: exactly one drift alert."""

from __future__ import annotations

import dataclasses
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from streamml.admin import ensure_topics
from streamml.contracts import decode_record
from streamml.datasets.emotion6 import file_name, read_emotion6
from streamml.produce import replay
from streamml.records import DriftAlert
from streamml.settings import Settings
from tests.integration.worker_process import read_topics, start_worker, wait_until_ready

pytestmark = pytest.mark.integration

CHANGE = 3500
SWAP = {"joy": "sadness", "sadness": "joy"}


def test_a_label_swap_in_a_replay_raises_exactly_one_alert(
    settings_factory: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = settings_factory(state_dir=tmp_path / "state")
    ensure_topics(settings)
    texts = list(read_emotion6(settings.data_dir / file_name("train"), "train", limit=5000))
    changed = [
        dataclasses.replace(t, label=SWAP.get(t.label or "", t.label)) if i >= CHANGE else t
        for i, t in enumerate(texts)
    ]
    log_path = tmp_path / "worker.log"
    worker = start_worker(settings, log_path)
    wait_until_ready(log_path, worker)
    topic = settings.topics.drift_alerts
    try:
        assert replay(settings, changed, rate=1500, progress=False).failed == 0
        read_topics(settings, [topic], lambda c: c[topic] >= 1, timeout=120)
        time.sleep(10)  # a duplicate would come now, as the rest of the change is learned
        seen = read_topics(settings, [topic], lambda c: False, timeout=5)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(60)
    log = log_path.read_text(errors="replace")[-3000:]
    alerts = [decode_record(DriftAlert, v) for v in seen[topic]]
    started = [a for a in alerts if a.state == "started"]
    assert len(started) == 1, (alerts, log)
    (alert,) = started
    assert (alert.task, alert.kind) == ("emotion6", "concept")
    assert alert.statistic > alert.threshold and alert.window_start_time <= alert.window_end_time
