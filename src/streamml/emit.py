"""Emit stage: typed outputs become (topic, key, bytes) ready for any producer."""

from __future__ import annotations

from dataclasses import dataclass

from streamml.contracts import encode_record
from streamml.records import DeadLetter, DriftAlert, Prediction
from streamml.settings import Topics, WireFormat


@dataclass(frozen=True, slots=True)
class Output:
    """One message to publish."""

    topic: str
    key: bytes | None
    value: bytes


class Emitter:
    """Encodes predictions and dead letters for their topics in the configured wire format."""

    def __init__(self, topics: Topics, fmt: WireFormat) -> None:
        self.topics = topics
        self.fmt = fmt

    def prediction(self, prediction: Prediction) -> Output:
        topic = (
            self.topics.fraud_predictions
            if prediction.task == "fraud"
            else self.topics.emotion_predictions
        )
        return Output(topic, prediction.event_id.encode(), encode_record(prediction, self.fmt))

    def drift_alert(self, alert: DriftAlert) -> Output:
        return Output(self.topics.drift_alerts, alert.task.encode(), encode_record(alert, self.fmt))

    def dead_letter(self, letter: DeadLetter) -> Output:
        # Dead letters are always Avro: their raw bytes field survives any content.
        return Output(self.topics.dead_letters, letter.key, encode_record(letter, "avro"))
