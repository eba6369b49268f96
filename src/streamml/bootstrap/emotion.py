"""One pass over labelled texts: each task's model as its trainer would have learned it.

Texts carrying their label teach at once (as the worker makes them examples right after
scoring); a label arriving on its own teaches the text it names, if that text came
first. The trainer's own prequential measures (accuracy, macro-F1, cross-entropy) are
kept, so the snapshot's figures mean what the trainer's do.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from streamml.internal import Example
from streamml.records import Label, TextEvent
from streamml.settings import EmotionTask
from streamml.train import Trainer, multiclass_metrics

logger = logging.getLogger(__name__)

NEVER = 1 << 62
"""A snapshot cadence that never comes: the bootstrap takes one snapshot at the end."""


@dataclass(slots=True)
class TextHistory:
    """Each task's trainer after the pass, and what the pass saw."""

    trainers: dict[str, Trainer]
    first: datetime | None = None
    last: datetime | None = None
    texts: int = 0
    labels: int = 0
    skipped: Counter[str] = field(default_factory=Counter)

    @property
    def rows(self) -> int:
        return self.texts + self.labels


def learn_text_history(
    records: Iterable[TextEvent | Label],
    tasks: Mapping[str, EmotionTask],
    default_taxonomy: str,
    model: Callable[[], Any],
) -> TextHistory:
    """Learn ``records`` (time order) into one trainer per task that has examples.

    Texts of a taxonomy that is not configured, and labels outside a closed taxonomy,
    are counted in :attr:`TextHistory.skipped` by reason, as the worker dead-letters them.

    Examples
    --------
    >>> from datetime import UTC
    >>> from streamml.models.emotion import emotion_model
    >>> t = datetime(2024, 1, 1, tzinfo=UTC)
    >>> texts = [TextEvent(str(i), t, w, "x", label=y) for i, (w, y) in
    ...          enumerate([("so happy", "joy"), ("so sad", "sadness"), ("hi", "pizza")])]
    >>> tasks = {"emotion6": EmotionTask(labels=("joy", "sadness"), closed=True)}
    >>> done = learn_text_history(texts, tasks, "emotion6", emotion_model)
    >>> done.trainers["emotion6"].examples, dict(done.skipped)
    (2, {'label-not-in-taxonomy': 1})
    """
    history = TextHistory({})

    def learn(task: str, text: TextEvent, label: str, when: datetime) -> None:
        if not tasks[task].allows(label):
            history.skipped["label-not-in-taxonomy"] += 1
            return
        trainer = history.trainers.get(task)
        if trainer is None:
            trainer = history.trainers[task] = Trainer(
                task, model(), NEVER, float("inf"), measures=multiclass_metrics
            )
        trainer.learn(Example(text.event_id, text.text, label, text.event_time, when, task))

    waiting: dict[str, tuple[str, TextEvent]] = {}
    for record in records:
        if isinstance(record, TextEvent):
            history.texts += 1
            history.first = history.first or record.event_time
            history.last = record.event_time
            task = record.taxonomy or default_taxonomy
            if task not in tasks:
                history.skipped["unknown-task"] += 1
            elif record.label is None:
                waiting[record.event_id] = (task, record)
            else:
                learn(task, record, record.label, record.event_time)
        elif isinstance(record, Label):
            history.labels += 1
            seen = waiting.pop(record.event_id, None)
            if seen is None or seen[0] != record.task:
                history.skipped["label-without-text"] += 1
            else:
                learn(seen[0], seen[1], record.label, record.label_time)
    return history
