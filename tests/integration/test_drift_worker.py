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
from streamml.records import DriftAlert, Prediction, TextEvent
from streamml.settings import Settings
from tests.integration.worker_process import read_topics, start_worker, wait_until_ready

pytestmark = pytest.mark.integration

CHANGE = 3500
SWAP = {"joy": "sadness", "sadness": "joy"}


def swapped_texts(settings: Settings, limit: int) -> list[TextEvent]:
    """emotion6 train's first ``limit`` texts, joy and sadness swapped from :data:`CHANGE`."""
    texts = read_emotion6(settings.data_dir / file_name("train"), "train", limit=limit)
    return [
        dataclasses.replace(t, label=SWAP.get(t.label or "", t.label)) if i >= CHANGE else t
        for i, t in enumerate(texts)
    ]


def test_a_label_swap_in_a_replay_raises_exactly_one_alert(
    settings_factory: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = settings_factory(state_dir=tmp_path / "state")
    ensure_topics(settings)
    changed = swapped_texts(settings, 5000)
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


def test_with_the_reaction_on_a_challenger_is_promoted_and_served(
    settings_factory: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = settings_factory(state_dir=tmp_path / "state")
    ensure_topics(settings)
    changed = swapped_texts(settings, 7500)
    log_path = tmp_path / "worker.log"
    reaction = {"STREAMML_DRIFT_CHALLENGER": "true", "STREAMML_CHALLENGER_WINDOW": "300"}
    worker = start_worker(settings, log_path, **reaction)
    wait_until_ready(log_path, worker)
    alerts_topic, predictions = settings.topics.drift_alerts, settings.topics.emotion_predictions

    def promoted(values: list[bytes]) -> list[DriftAlert]:
        alerts = [decode_record(DriftAlert, v) for v in values]
        return [a for a in alerts if a.state == "promoted"]

    try:
        assert replay(settings, changed[:7000], rate=1500, progress=False).failed == 0
        deadline = time.monotonic() + 180
        found: list[DriftAlert] = []
        while not found and time.monotonic() < deadline:
            seen = read_topics(settings, [alerts_topic], lambda c: False, timeout=5)
            found = promoted(seen[alerts_topic])
        log = log_path.read_text(errors="replace")[-3000:]
        assert len(found) == 1, log
        (promotion,) = found
        assert (promotion.task, promotion.detector) == ("emotion6", "challenger")
        assert promotion.statistic < promotion.threshold  # its error below the champion's
        # Texts that come after the promotion are scored by the promoted model or later.
        later = [dataclasses.replace(t, event_id=f"after-{t.event_id}") for t in changed[7000:]]
        time.sleep(5)  # the scorers load the published snapshot
        assert replay(settings, later, rate=500, progress=False).failed == 0
        ids = {t.event_id for t in later}

        deadline = time.monotonic() + 60
        scored: list[Prediction] = []
        while len(scored) < len(ids) and time.monotonic() < deadline:
            values = read_topics(settings, [predictions], lambda c: False, timeout=5)[predictions]
            scored = [p for v in values if (p := decode_record(Prediction, v)).event_id in ids]
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(60)
    assert len(scored) == len(ids)
    assert all(version(p.model_version) >= version(promotion.model_version) for p in scored)


def version(name: str) -> int:
    """``emotion6-v12`` -> 12."""
    return int(name.rsplit("-v", 1)[1])
