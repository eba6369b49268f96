"""Stages of the worker as plain synchronous Python (no Kafka here).

Each handler takes one message's bytes and returns the messages it owes (predictions,
dead letters, messages to the next stage); the Faust agents only move bytes. This module
holds what every stage shares and the text (emotion) stage; the fraud stages are in
:mod:`streamml.fraud_flow`.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable

from streamml.decode import dead_letter, decode
from streamml.emit import Emitter, Output
from streamml.errors import Action, policy
from streamml.learn import PendingFeatures
from streamml.records import DeadLetter, Label, Origin, TextEvent
from streamml.score import EmotionScorer

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
        return self.emitter.dead_letter(letter)

    def guarded(
        self, handler: Handler, raw: bytes | None, origin: Origin, key: bytes | None
    ) -> list[Output]:
        try:
            return handler(raw, origin, key)
        except Exception as error:
            if policy(error) is Action.CRASH:
                raise
            logger.exception("processing failed for %s; dead-lettering it", origin)
            return [self.dead(dead_letter(origin, raw, "processing-error", repr(error), key))]


class TextStage(BaseStage):
    """Texts: every valid one yields exactly one emotion prediction; labels teach.

    A text carrying its label is learned right after it is scored (prequential); a label
    arriving later on ``emotion-labels`` teaches with the text kept at scoring time.
    """

    def __init__(self, emitter: Emitter, emotion: EmotionScorer, pending: PendingFeatures) -> None:
        super().__init__(emitter)
        self.emotion = emotion
        self.pending = pending

    def on_text(self, raw: bytes | None, origin: Origin, key: bytes | None) -> list[Output]:
        return self.guarded(self._text, raw, origin, key)

    def on_label(self, raw: bytes | None, origin: Origin, key: bytes | None) -> list[Output]:
        return self.guarded(self._label, raw, origin, key)

    def _text(self, raw: bytes | None, origin: Origin, key: bytes | None) -> list[Output]:
        text = decode(TextEvent, raw, origin, key)
        if isinstance(text, DeadLetter):
            return [self.dead(text)]
        prediction = self.emotion.score(text)
        taxonomy = self.emotion.taxonomy_of(text)
        if text.label is not None:
            self.emotion.learn(taxonomy, text.text, text.label)
            self.counts["learned"] += 1
        else:
            self.pending.put(text.event_id, taxonomy, text.text)
        self.counts["predictions"] += 1
        return [self.emitter.prediction(prediction)]

    def _label(self, raw: bytes | None, origin: Origin, key: bytes | None) -> list[Output]:
        label = decode(Label, raw, origin, key)
        if isinstance(label, DeadLetter):
            return [self.dead(label)]
        seen = self.pending.pop(label.event_id)
        if seen is None or seen.task != label.task:
            # Normal when the text was scored elsewhere or long ago; counted, not an error.
            self.counts["labels_without_features"] += 1
            return []
        self.emotion.learn(label.task, seen.x, label.label)
        self.counts["learned"] += 1
        return []
