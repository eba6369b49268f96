"""Stages of the worker as plain synchronous Python (no Kafka here).

Each handler takes one message's bytes and returns the messages it owes (predictions,
dead letters, messages to the next stage); the Faust agents only move bytes. This module
holds what every stage shares and the text (emotion) stage; the fraud stages are in
:mod:`streamml.fraud_flow`.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping

from streamml import metrics
from streamml.decode import dead_letter, decode
from streamml.emit import Emitter, Output
from streamml.errors import Action, RecordError, ValidationError, policy
from streamml.internal import Example
from streamml.learn import PendingFeatures
from streamml.records import DeadLetter, Label, Origin, TextEvent
from streamml.score import EmotionScorer
from streamml.settings import EmotionTask, Topics

logger = logging.getLogger(__name__)

Handler = Callable[[bytes | None, Origin, bytes | None], list[Output]]


class BaseStage:
    """Counts what a stage did and turns a failure on one record into its dead letter.

    A failure inside a stage on one record dead-letters that record
    (``processing-error``) instead of stalling its partition; infrastructure errors
    propagate and stop the worker (see :func:`streamml.errors.policy`).
    """

    def __init__(self, emitter: Emitter) -> None:
        self.emitter = emitter
        self.counts: Counter[str] = Counter()

    def dead(self, letter: DeadLetter) -> Output:
        self.counts["dead_letters"] += 1
        metrics.DEAD_LETTERS.labels(letter.error_kind).inc()
        return self.emitter.dead_letter(letter)

    def guarded(
        self, handler: Handler, raw: bytes | None, origin: Origin, key: bytes | None
    ) -> list[Output]:
        try:
            return handler(raw, origin, key)
        except Exception as error:
            if policy(error) is Action.CRASH:
                raise
            if isinstance(error, RecordError):  # the record is at fault: say why, no trace
                logger.warning("dead-lettering %s: %s", origin, error.message)
                return [self.dead(dead_letter(origin, raw, error.kind, error.message, key))]
            logger.exception("processing failed for %s; dead-lettering it", origin)
            return [self.dead(dead_letter(origin, raw, "processing-error", repr(error), key))]


LABEL_REFUSED_FLAG = "label-refused"
"""On a prediction whose text carried a label outside its closed taxonomy."""


class TextStage(BaseStage):
    """Texts: every valid one of a configured task yields exactly one emotion prediction;
    labels become training examples for that task's trainer.

    A text carrying its label becomes an example right after it is scored (prequential);
    a label arriving later on ``emotion-labels`` joins the text kept at scoring time. A
    text naming a taxonomy that is not configured is dead-lettered (``unknown-task``); so
    is a label outside a closed taxonomy (``label-not-in-taxonomy``; its text is still
    scored, flagged ``label-refused``).
    """

    def __init__(
        self,
        emitter: Emitter,
        topics: Topics,
        emotion: EmotionScorer,
        tasks: Mapping[str, EmotionTask],
        pending: PendingFeatures,
    ) -> None:
        super().__init__(emitter)
        self.topics = topics
        self.emotion = emotion
        self.tasks = tasks
        self.pending = pending

    def on_text(self, raw: bytes | None, origin: Origin, key: bytes | None) -> list[Output]:
        return self.guarded(self._text, raw, origin, key)

    def on_label(self, raw: bytes | None, origin: Origin, key: bytes | None) -> list[Output]:
        return self.guarded(self._label, raw, origin, key)

    def _text(self, raw: bytes | None, origin: Origin, key: bytes | None) -> list[Output]:
        text = decode(TextEvent, raw, origin, key)
        if isinstance(text, DeadLetter):
            return [self.dead(text)]
        task = self._task(self.emotion.taxonomy_of(text))
        refused = text.label is not None and not self.tasks[task].allows(text.label)
        prediction = self.emotion.score(text, task, [LABEL_REFUSED_FLAG] if refused else [])
        self.counts["predictions"] += 1
        outputs = [self.emitter.prediction(prediction)]
        if text.label is None:
            self.pending.put(text.event_id, task, text.text)
        elif refused:
            problem = self._refusal(task, text.label) + "; the text was scored"
            letter = dead_letter(origin, raw, "label-not-in-taxonomy", problem, key)
            outputs.append(self.dead(letter))
        else:
            outputs.append(self._example(text.event_id, task, text.text, text.label, text))
        return outputs

    def _label(self, raw: bytes | None, origin: Origin, key: bytes | None) -> list[Output]:
        label = decode(Label, raw, origin, key)
        if isinstance(label, DeadLetter):
            return [self.dead(label)]
        task = self._task(label.task)
        if not self.tasks[task].allows(label.label):
            raise ValidationError("label-not-in-taxonomy", self._refusal(task, label.label))
        seen = self.pending.pop(label.event_id)
        if seen is None or seen.task != task:
            # Normal when the text was scored elsewhere or long ago; counted, not an error.
            self.counts["labels_without_features"] += 1
            return []
        return [self._example(label.event_id, task, seen.x, label.label, label)]

    def _task(self, taxonomy: str) -> str:
        if taxonomy not in self.tasks:
            known = ", ".join(sorted(self.tasks))
            raise ValidationError(
                "unknown-task", f"taxonomy {taxonomy!r} is not configured (tasks: {known})"
            )
        return taxonomy

    def _refusal(self, task: str, label: str) -> str:
        allowed = ", ".join(self.tasks[task].labels)
        return f"label {label!r} is not in the closed taxonomy {task!r} ({allowed})"

    def _example(
        self, event_id: str, task: str, text: str, label: str, when: TextEvent | Label
    ) -> Output:
        if isinstance(when, TextEvent):
            event_time = label_time = when.event_time
        else:
            label_time = when.label_time
            event_time = when.event_time or label_time
        example = Example(event_id, text, label, event_time, label_time, task)
        self.counts["examples"] += 1
        return Output(self.topics.emotion_training, task.encode(), example.to_bytes())
