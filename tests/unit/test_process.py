"""The worker's per-record flow, without Kafka."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from streamml.contracts import decode_record, encode_record
from streamml.emit import Emitter, Output
from streamml.learn import PendingFeatures
from streamml.models.emotion import emotion_model
from streamml.models.fraud import fraud_model
from streamml.process import Processor
from streamml.records import DeadLetter, Label, Origin, Prediction, TextEvent, Transaction
from streamml.score import EmotionScorer, FraudScorer
from streamml.settings import Topics

TOPICS = Topics.with_prefix("")
WHEN = datetime(2018, 4, 2, 12, tzinfo=UTC)


@pytest.fixture
def processor() -> Processor:
    return Processor(
        Emitter(TOPICS, "avro"),
        FraudScorer(fraud_model()),
        EmotionScorer(emotion_model, "emotion6"),
        PendingFeatures(ttl_seconds=3600, max_entries=100),
    )


def origin(topic: str, offset: int = 0) -> Origin:
    return Origin(topic, 0, offset)


def only(outputs: list[Output]) -> Output:
    assert len(outputs) == 1
    return outputs[0]


def test_a_valid_transaction_yields_one_fraud_prediction(processor: Processor) -> None:
    tx = Transaction("e1", WHEN, "c1", "t1", 42.0)
    out = only(processor.on_transaction(encode_record(tx, "json"), origin("transactions"), b"c1"))
    prediction = decode_record(Prediction, out.value)
    assert out.topic == TOPICS.fraud_predictions and out.key == b"e1"
    assert prediction.task == "fraud" and prediction.event_id == "e1"
    assert prediction.score is not None and 0.0 <= prediction.score <= 1.0


def test_a_malformed_record_becomes_a_dead_letter_with_its_origin(processor: Processor) -> None:
    out = only(processor.on_transaction(b"\x00junk", origin("transactions", 17), b"k"))
    letter = decode_record(DeadLetter, out.value)
    assert out.topic == TOPICS.dead_letters
    assert (letter.source_topic, letter.source_offset, letter.raw) == (
        "transactions",
        17,
        b"\x00junk",
    )
    assert letter.error_kind and letter.message
    assert processor.counts["dead_letters"] == 1


def test_a_late_label_trains_on_the_features_seen_at_scoring(processor: Processor) -> None:
    for i in range(50):
        tx = Transaction(f"e{i}", WHEN, "c1", "t1", 900.0 if i % 2 else 5.0)
        processor.on_transaction(encode_record(tx, "avro"), origin("transactions", i), None)
    for i in range(50):
        label = Label(f"e{i}", "fraud", "1" if i % 2 else "0", WHEN)
        assert (
            processor.on_label(encode_record(label, "avro"), origin("fraud-labels", i), None) == []
        )
    assert processor.fraud.online.learned == 50
    assert len(processor.pending) == 0
    big = Transaction("new-big", WHEN, "c2", "t2", 900.0)
    small = Transaction("new-small", WHEN, "c2", "t2", 5.0)
    score = {
        tx.event_id: decode_record(
            Prediction,
            only(
                processor.on_transaction(encode_record(tx, "avro"), origin("transactions"), None)
            ).value,
        ).score
        for tx in (big, small)
    }
    assert score["new-big"] > score["new-small"]  # type: ignore[operator]


def test_a_label_for_an_unknown_event_is_counted_not_learned(processor: Processor) -> None:
    label = Label("never-seen", "fraud", "1", WHEN)
    assert processor.on_label(encode_record(label, "avro"), origin("fraud-labels"), None) == []
    assert processor.counts["labels_without_features"] == 1
    assert processor.fraud.online.learned == 0


def test_labelled_texts_teach_their_taxonomy_and_new_classes(processor: Processor) -> None:
    def send(i: int, text: str, label: str | None, taxonomy: str | None) -> Prediction:
        event = TextEvent(f"t{i}", WHEN, text, "test", label=label, taxonomy=taxonomy)
        out = only(processor.on_text(encode_record(event, "json"), origin("texts", i), None))
        return decode_record(Prediction, out.value)

    for i in range(20):
        send(i, "so happy and glad", "joy", None)
        send(100 + i, "furious and angry", "anger", None)
        send(200 + i, "what a wonderful surprise", "awe", "emotion13")
    assert send(300, "happy glad", None, None).predicted_class == "joy"
    prediction = send(301, "wonderful surprise", None, "emotion13")
    assert prediction.task == "emotion13" and prediction.predicted_class == "awe"
    assert set(processor.emotion.models) == {"emotion6", "emotion13"}


def test_a_stage_failing_on_one_record_dead_letters_it(processor: Processor) -> None:
    class Broken:
        def predict_proba_one(self, x: object) -> dict[bool, float]:
            raise ArithmeticError("model blew up")

    processor.fraud.online.model = Broken()
    tx = Transaction("e1", WHEN, "c1", "t1", 1.0)
    out = only(processor.on_transaction(encode_record(tx, "avro"), origin("transactions", 3), None))
    letter = decode_record(DeadLetter, out.value)
    assert letter.error_kind == "processing-error" and "model blew up" in letter.message
