"""The per-record flow of the worker, as plain synchronous Python (no Kafka here).

decode → features → score → emit for events; decode → join pending features → learn for
labels. Each handler returns the messages to publish; the Faust agents only move bytes.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable

from streamml.decode import dead_letter, decode
from streamml.emit import Emitter, Output
from streamml.errors import Action, policy
from streamml.features.fraud import transaction_features
from streamml.learn import PendingFeatures
from streamml.records import DeadLetter, Label, Origin, TextEvent, Transaction
from streamml.score import EmotionScorer, FraudScorer

logger = logging.getLogger(__name__)

Handler = Callable[[bytes | None, Origin, bytes | None], list[Output]]


class Processor:
    """Turns one input record into the outputs it owes: a prediction or a dead letter.

    Every valid event yields exactly one prediction; every invalid one exactly one dead
    letter. A failure inside a stage on one record dead-letters that record
    (``processing-error``) instead of stalling its partition; see :func:`errors.policy`.
    """

    def __init__(
        self,
        emitter: Emitter,
        fraud: FraudScorer,
        emotion: EmotionScorer,
        pending: PendingFeatures,
    ) -> None:
        self.emitter = emitter
        self.fraud = fraud
        self.emotion = emotion
        self.pending = pending
        self.counts: Counter[str] = Counter()

    def on_transaction(self, raw: bytes | None, origin: Origin, key: bytes | None) -> list[Output]:
        return self._guarded(self._transaction, raw, origin, key)

    def on_text(self, raw: bytes | None, origin: Origin, key: bytes | None) -> list[Output]:
        return self._guarded(self._text, raw, origin, key)

    def on_label(self, raw: bytes | None, origin: Origin, key: bytes | None) -> list[Output]:
        return self._guarded(self._label, raw, origin, key)

    def _transaction(self, raw: bytes | None, origin: Origin, key: bytes | None) -> list[Output]:
        tx = decode(Transaction, raw, origin, key)
        if isinstance(tx, DeadLetter):
            return [self._dead(tx)]
        x = transaction_features(tx)
        prediction = self.fraud.score(tx, x)
        self.pending.put(tx.event_id, self.fraud.task, x)
        self.counts["predictions"] += 1
        return [self.emitter.prediction(prediction)]

    def _text(self, raw: bytes | None, origin: Origin, key: bytes | None) -> list[Output]:
        text = decode(TextEvent, raw, origin, key)
        if isinstance(text, DeadLetter):
            return [self._dead(text)]
        prediction = self.emotion.score(text)
        taxonomy = self.emotion.taxonomy_of(text)
        if text.label is not None:
            # Prequential: the prediction above was made before learning this label.
            self.emotion.learn(taxonomy, text.text, text.label)
            self.counts["learned"] += 1
        else:
            self.pending.put(text.event_id, taxonomy, text.text)
        self.counts["predictions"] += 1
        return [self.emitter.prediction(prediction)]

    def _label(self, raw: bytes | None, origin: Origin, key: bytes | None) -> list[Output]:
        label = decode(Label, raw, origin, key)
        if isinstance(label, DeadLetter):
            return [self._dead(label)]
        seen = self.pending.pop(label.event_id)
        if seen is None or seen.task != label.task:
            # Normal when the event was scored elsewhere or long ago; counted, not an error.
            self.counts["labels_without_features"] += 1
            return []
        if label.task == self.fraud.task:
            self.fraud.learn(seen.x, label.label)
        else:
            self.emotion.learn(label.task, seen.x, label.label)
        self.counts["learned"] += 1
        return []

    def _dead(self, letter: DeadLetter) -> Output:
        self.counts["dead_letters"] += 1
        return self.emitter.dead_letter(letter)

    def _guarded(
        self, handler: Handler, raw: bytes | None, origin: Origin, key: bytes | None
    ) -> list[Output]:
        try:
            return handler(raw, origin, key)
        except Exception as error:
            if policy(error) is Action.CRASH:
                raise
            logger.exception("processing failed for %s; dead-lettering it", origin)
            letter = dead_letter(origin, raw, "processing-error", repr(error), key)
            return [self._dead(letter)]
