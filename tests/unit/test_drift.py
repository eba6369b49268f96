"""Drift detectors and monitors on synthetic streams."""

from __future__ import annotations

import dataclasses
import math
import pickle
import random
from datetime import UTC, datetime, timedelta

import pytest

from streamml.contracts import decode_record, encode_record, validate
from streamml.drift import (
    FRAUD_CONFIG,
    DriftMonitor,
    MonitorConfig,
    QuantileDetector,
    ShareIncreaseDetector,
    TextStatistics,
    WindowSpec,
)
from streamml.drift.stats import chi2_homogeneity, chi2_threshold, fisher_log_tail
from streamml.records import DriftAlert

T0 = datetime(2024, 1, 1, tzinfo=UTC)
SMALL = MonitorConfig(
    data=WindowSpec(1_000, 300, 50),
    prediction=WindowSpec(1_000, 300, 50),
    concept=WindowSpec(1_000, 300, 50),
)


def feed(monitor: DriftMonitor, values: list[float], start: int = 0) -> list[DriftAlert]:
    alerts: list[DriftAlert] = []
    for i, v in enumerate(values, start=start):
        when = T0 + timedelta(seconds=i)
        alerts += monitor.on_features({"a": v, "b": -v}, when, offset=i, model_version="v1")
    return alerts


def gauss(n: int, mean: float, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [rng.gauss(mean, 1.0) for _ in range(n)]


def test_a_stationary_stream_raises_no_alert() -> None:
    assert feed(DriftMonitor("fraud", SMALL), gauss(20_000, 0.0, 1)) == []


def test_a_mean_shift_raises_one_started_then_one_ended_alert_per_subject() -> None:
    monitor = DriftMonitor("fraud", SMALL)
    alerts = feed(monitor, gauss(3_000, 0.0, 2) + gauss(8_000, 1.0, 3))
    per_subject = {s: [a for a in alerts if a.subject == s] for s in ("a", "b")}
    for subject, mine in per_subject.items():
        assert [a.state for a in mine] == ["started", "ended"]
        assert {a.alert_id for a in mine} == {f"fraud-data-{subject}-1"}
        started = mine[0]
        assert 3_000 < (started.window_end_offset or 0) <= 3_300
        assert started.kind == "data" and started.statistic > started.threshold


def test_alerts_validate_and_round_trip_through_the_avro_contract() -> None:
    alerts = feed(DriftMonitor("fraud", SMALL), gauss(3_000, 0.0, 4) + gauss(5_000, 2.0, 5))
    assert alerts
    for alert in alerts:
        validate(alert)
        assert decode_record(DriftAlert, encode_record(alert)) == alert


def test_a_rising_loss_raises_a_concept_alert_and_an_improving_one_does_not() -> None:
    rng = random.Random(6)
    monitor = DriftMonitor("emotion", SMALL)
    alerts: list[DriftAlert] = []
    for i in range(6_000):
        rate = 0.3 - 0.2 * min(i, 3_000) / 3_000 if i < 4_000 else 0.4
        loss = float(rng.random() < rate)
        alerts += monitor.on_loss(loss, T0 + timedelta(seconds=i), i)
    started = [a for a in alerts if a.state == "started"]
    assert [(a.kind, a.subject) for a in started] == [("concept", "loss")]
    assert 4_000 < (started[0].window_end_offset or 0) < 4_300


def outcomes(
    monitor: DriftMonitor, n: int, genuine_share: float, start: int, seed: int
) -> list[DriftAlert]:
    """``n`` labels of a 1 %-positive stream: the model flags 1.5 % of them (score 0.9),
    of which ``genuine_share`` prove genuine, and misses the rest (score 0.01)."""
    rng, alerts = random.Random(seed), []
    for i in range(start, start + n):
        flagged = rng.random() < 0.015
        positive = rng.random() >= genuine_share if flagged else rng.random() < 0.001
        when = T0 + timedelta(seconds=i)
        alerts += monitor.on_outcome(0.9 if flagged else 0.01, positive, when, i, "v1")
    return alerts


def test_flagged_predictions_that_prove_genuine_raise_one_concept_alert() -> None:
    # A fraud scenario relabelled genuine: the mean Brier score barely moves (1.5 % of
    # labels), the share of flagged ones that prove genuine jumps from 0.15 to 0.6.
    monitor = DriftMonitor("fraud", dataclasses.replace(FRAUD_CONFIG, warm_up=timedelta(0)))
    calm = outcomes(monitor, 200_000, 0.15, 0, seed=8)
    assert calm == []
    changed = outcomes(monitor, 10_000, 0.6, 200_000, seed=9)
    started = [a for a in changed if a.state == "started"]
    assert [(a.kind, a.subject, a.detector) for a in started] == [
        ("concept", "flagged_genuine_share", "fisher-share")
    ]
    alert = started[0]
    assert (alert.window_end_offset or 0) - 200_000 < 5_000, "found within 5,000 labels"
    # The window is dated by the labels it spans, not by its 20 flagged outcomes.
    assert (alert.window_end_offset or 0) - (alert.window_start_offset or 0) > 500
    assert alert.statistic > alert.threshold


def test_the_share_detector_spends_its_budget_per_event() -> None:
    # The same judged outcomes, spread over 10x more events: each check may spend 10x
    # more, so a borderline window becomes significant.
    def first_alarm(every: int) -> int | None:
        detector = ShareIncreaseDetector(reference=200, window=20, alpha=2e-6)
        rng = random.Random(10)
        for i in range(400):
            share = 0.1 if i < 300 else 0.5
            for _ in range(every - 1):
                detector.update(None)
            check = detector.update(float(rng.random() < share))
            if check is not None and check.exceeded:
                return i + 1
        return None

    sparse, dense = first_alarm(50), first_alarm(1)
    assert sparse is not None and sparse > 300
    assert dense is None or dense > sparse


def test_predicted_classes_that_change_raise_a_prediction_alert() -> None:
    rng = random.Random(7)
    monitor = DriftMonitor("emotion", SMALL)
    alerts: list[DriftAlert] = []
    for i in range(4_000):
        classes = ("joy", "sadness") if i < 2_000 else ("joy", "anger")
        alerts += monitor.on_prediction(rng.choice(classes), T0 + timedelta(seconds=i), i)
    assert [(a.kind, a.subject, a.state) for a in alerts][:1] == [
        ("prediction", "predicted_class", "started")
    ]


def test_a_monitor_resumes_identically_after_pickling() -> None:
    values = gauss(2_500, 0.0, 8) + gauss(3_000, 1.5, 9)
    original = DriftMonitor("fraud", SMALL)
    feed(original, values[:2_000])
    restored = pickle.loads(pickle.dumps(original))
    ids = [a.alert_id + a.state for a in feed(original, values[2_000:], 2_000)]
    assert ids and ids == [a.alert_id + a.state for a in feed(restored, values[2_000:], 2_000)]


def test_text_statistics_count_unknown_words_against_the_first_texts() -> None:
    stats = TextStatistics(vocabulary_texts=1)
    assert stats.of("i feel good") is None
    values = stats.of("i feel ΑΒΓ")
    assert values == {
        "length": 3.0,
        "unknown_share": pytest.approx(1 / 3),
        "non_latin_share": 3 / 8,
    }


def test_text_data_drift_is_detected_on_unknown_words() -> None:
    rng = random.Random(10)
    words = [f"w{i}" for i in range(50)]
    monitor = DriftMonitor("emotion", SMALL)
    alerts: list[DriftAlert] = []
    for i in range(5_000):
        pool = words if i < 3_500 else [*words, *(f"new{k}" for k in range(50))]
        text = " ".join(rng.choice(pool) for _ in range(8))
        alerts += monitor.on_text(text, T0 + timedelta(seconds=i), i)
    assert any(a.subject == "unknown_share" and a.state == "started" for a in alerts)


def test_fisher_tail_matches_the_hypergeometric_distribution() -> None:
    # 10 items, 4 successes, 5 drawn: P(X >= 3) = (C(4,3) C(6,2) + C(4,4) C(6,1)) / C(10,5)
    assert math.exp(fisher_log_tail(3, 5, 4, 10)) == pytest.approx((4 * 15 + 6) / 252)
    assert fisher_log_tail(5, 5, 4, 10) == -math.inf
    with pytest.raises(ValueError):
        fisher_log_tail(1, 11, 4, 10)


def test_chi_square_pieces() -> None:
    assert chi2_threshold(2, 0.01) == pytest.approx(9.2103, abs=1e-3)
    assert chi2_homogeneity([10, 0, 10], [10, 0, 10]) == (0.0, 1)
    with pytest.raises(ValueError):
        QuantileDetector(reference=0, window=1, step=1, alpha=0.1)


def test_nothing_is_watched_while_the_features_warm_up() -> None:
    # The fraud monitor's 37 days: 30-day windows looking back from a week ago fill up.
    monitor = DriftMonitor("fraud", dataclasses.replace(SMALL, warm_up=timedelta(days=37)))
    rng = random.Random(11)
    alerts: list[DriftAlert] = []
    for i in range(6_000):
        when = T0 + timedelta(hours=i / 4)  # 62 days
        filling = min(1.0, i / 3_000)  # a feature that grows while its window fills
        x = {"a": rng.gauss(5 * filling, 1.0)}
        alerts += monitor.on_features(x, when, offset=i)
    assert alerts == []
    # Without the warm-up the same stream raises alerts.
    unwarmed = DriftMonitor("fraud", SMALL)
    rng = random.Random(11)
    raised = []
    for i in range(6_000):
        when = T0 + timedelta(hours=i / 4)
        raised += unwarmed.on_features({"a": rng.gauss(5 * min(1.0, i / 3_000), 1.0)}, when, i)
    assert raised
