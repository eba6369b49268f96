"""The trainer's reaction to concept drift: a challenger from the drift point, promoted
once it beats the champion, the promotion published as an event and a snapshot."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from river import naive_bayes

from streamml.challenger import ChallengerPolicy
from streamml.contracts import decode_record, encode_record
from streamml.drift import DriftMonitor, MonitorConfig, WindowSpec
from streamml.internal import Example
from streamml.records import DriftAlert
from streamml.snapshots import Snapshot
from streamml.train import Trainer
from streamml.watch import DriftWatch

T0 = datetime(2024, 1, 1, tzinfo=UTC)
SMALL = MonitorConfig(
    data=WindowSpec(1_000, 300, 50),
    prediction=WindowSpec(1_000, 300, 50),
    concept=WindowSpec(1_000, 300, 50),
)
FLIP_AT = 3_000


def stream(n: int, seed: int) -> list[Example]:
    """``y`` is ``x > 0`` until :data:`FLIP_AT`, then ``x < 0``."""
    rng, out = random.Random(seed), []
    for i in range(n):
        x = rng.gauss(0.0, 1.0)
        y = x > 0 if i < FLIP_AT else x < 0
        when = T0 + timedelta(seconds=i)
        out.append(Example(f"e{i}", {"x": x}, y, when, when))
    return out


def trainer(challenge: bool) -> Trainer:
    # GaussianNB never forgets: after the flip the champion stays wrong for long.
    return Trainer(
        "toy",
        naive_bayes.GaussianNB(),
        every_examples=10**9,
        every_seconds=10**9,
        watch=DriftWatch(DriftMonitor("toy", SMALL)),
        challenge_with=naive_bayes.GaussianNB if challenge else None,
        challenger_policy=ChallengerPolicy(window=300),
    )


def run(t: Trainer, examples: list[Example]) -> tuple[list[DriftAlert], list[tuple[int, Snapshot]]]:
    alerts, snapshots = [], []
    for i, example in enumerate(examples):
        snapshot = t.learn(example, offset=i)
        if snapshot is not None:
            snapshots.append((i, snapshot))
        alerts += t.alerts
        t.alerts.clear()
    return alerts, snapshots


def test_a_challenger_started_at_concept_drift_is_promoted_and_published() -> None:
    t = trainer(challenge=True)
    alerts, snapshots = run(t, stream(4_500, seed=1))
    concept = [a for a in alerts if a.kind == "concept" and a.state == "started"]
    promoted = [a for a in alerts if a.state == "promoted"]
    assert concept and concept[0].window_end_offset is not None
    assert concept[0].window_end_offset >= FLIP_AT
    assert len(promoted) == 1
    promotion = promoted[0]
    assert promotion.detector == "challenger" and promotion.statistic < promotion.threshold
    assert promotion.window_start_offset == concept[0].window_end_offset
    assert decode_record(DriftAlert, encode_record(promotion)) == promotion
    # The promoted model is published at once, under the version the event names.
    (at, snapshot), *_ = snapshots
    assert at == promotion.window_end_offset and snapshot.name == promotion.model_version
    # And it has the new concept, where the champion had not yet unlearned the old one.
    assert t.model.predict_one({"x": -1.0}) is True


def test_without_the_reaction_the_champion_stays() -> None:
    t = trainer(challenge=False)
    alerts, snapshots = run(t, stream(4_500, seed=1))
    assert any(a.kind == "concept" and a.state == "started" for a in alerts)
    assert not any(a.state == "promoted" for a in alerts) and snapshots == []
    assert t.model.predict_one({"x": -1.0}) is False


def test_a_challenger_that_never_wins_is_dropped() -> None:
    t = trainer(challenge=True)
    t._start_challenger(stream(1, seed=2)[0], 0)  # a false alarm on a stationary stream
    alerts, _ = run(t, stream(FLIP_AT, seed=3))
    assert t.challenger is None and not any(a.state == "promoted" for a in alerts)
