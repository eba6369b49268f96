"""What the demo replays: the handbook's payments from a start date (the history before it
is bootstrapped), emotion6's test texts with one drift episode, clickstream sessions.

Everything is built before the replay starts, in the order it is published: labels at
their label time (7 event-days after their payment), texts and clicks spread evenly
among the payments, so that every part of the replay carries texts.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from streamml.datasets import SourceOptions, get_source, interleave_labels, record_time
from streamml.datasets._common import ReplayRecord
from streamml.records import Label, TextEvent
from streamml.settings import Settings

REPLAY_START = datetime(2018, 8, 1, tzinfo=UTC)
"""The handbook's history before this (April to July, 1.17M payments) is bootstrapped."""
ROTATION = {
    "sadness": "joy",
    "joy": "love",
    "love": "anger",
    "anger": "fear",
    "fear": "surprise",
    "surprise": "sadness",
}
"""The drift episode: from a point on, each emotion label becomes the next one, as when an
upstream labelling tool shifts its label list by one. The served model (18,000 texts of
the old meaning) cannot follow quickly; a fresh challenger learns the new one (ADR 0013)."""


@dataclass(frozen=True, slots=True)
class DemoPlan:
    """The demo's span, volumes and rate; the first fields keep the order of the
    original command's, so a positional call still means the same."""

    days: float = 10.0
    texts: int = 2_000
    clicks: int = 1_000
    rate: float = 2_000.0
    keep_services: bool = False
    label_delay: timedelta = timedelta(days=7)
    transactions: int | None = None  # at most this many (None: the whole span)
    start: datetime = REPLAY_START
    bootstrap: bool = True
    """Warm start from the history before ``start``; ``False`` starts cold, as before."""
    drift_from: int | None = 1_000
    """Index of the first text whose label is rotated (``None``: no drift episode)."""
    challenger_window: int = 100
    """Texts a challenger must win over (the test split's 2,000 leave room for few)."""

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=self.days)

    @property
    def first_label_due(self) -> datetime:
        """When the first payment replayed gets its label, in event time."""
        return self.start + self.label_delay


def demo_records(settings: Settings, plan: DemoPlan) -> list[ReplayRecord]:
    """Every record of the replay, in publishing order."""
    fraud = list(interleave_labels(_fraud(settings, plan)))
    texts = rotate_labels(_texts(settings, plan), plan.drift_from)
    clicks = list(
        get_source(
            "clickstream",
            settings,
            SourceOptions(start=plan.start, limit=plan.clicks, customers=200),
        ).records()
    )
    # Each kind spread on its own, so both span the whole replay; texts take their times
    # from the payments around them, clicks keep their own.
    return spread(_in_event_time(spread(fraud, list(texts)), plan.start), clicks)


def _fraud(settings: Settings, plan: DemoPlan) -> list[ReplayRecord]:
    # With a bootstrap, the labels of July's payments that fall due in the span come too:
    # terminal risk features then count them as an uninterrupted pass would have.
    options = SourceOptions(
        start=plan.start,
        end=plan.end,
        limit=plan.transactions,
        label_delay=plan.label_delay,
        earlier_labels=plan.bootstrap,
    )
    # Labels due after the span would arrive after the demo: they are not replayed.
    return [
        r
        for r in get_source("fraud", settings, options).records()
        if not isinstance(r, Label) or r.label_time < plan.end
    ]


def _texts(settings: Settings, plan: DemoPlan) -> list[TextEvent]:
    # The test split: the bootstrap learned train and val, so these texts are new to it.
    options = SourceOptions(split="test", limit=plan.texts)
    return [
        r for r in get_source("emotion6", settings, options).records() if isinstance(r, TextEvent)
    ]


def rotate_labels(texts: list[TextEvent], start: int | None) -> list[TextEvent]:
    """``texts`` with the label of each from index ``start`` on rotated (:data:`ROTATION`).

    >>> from streamml.records import TextEvent
    >>> t = datetime(2024, 1, 1, tzinfo=UTC)
    >>> texts = [TextEvent(str(i), t, "x", "test", label="joy") for i in range(3)]
    >>> [x.label for x in rotate_labels(texts, 1)]
    ['joy', 'love', 'love']
    """
    if start is None:
        return texts
    return [
        dataclasses.replace(t, label=ROTATION.get(t.label, t.label))
        if i >= start and t.label
        else t
        for i, t in enumerate(texts)
    ]


def _in_event_time(records: list[ReplayRecord], start: datetime) -> list[ReplayRecord]:
    """Texts carry no time of their own: each takes the publishing time of the record
    before it (``records`` are in publishing order), so that the replay, which publishes
    each label once the stream reaches its label time, never runs ahead of the labels'
    delay."""
    out: list[ReplayRecord] = []
    now = start
    for record in records:
        if isinstance(record, TextEvent):
            out.append(dataclasses.replace(record, event_time=now))
            continue
        now = max(now, record_time(record))
        out.append(record)
    return out


def spread(base: list[ReplayRecord], others: list[ReplayRecord]) -> list[ReplayRecord]:
    """``others`` evenly among ``base``, each list's order kept.

    >>> spread([1, 2, 3, 4], ["a", "b"])
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
