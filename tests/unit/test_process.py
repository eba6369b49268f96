"""The text stage and what every stage shares, without Kafka."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from streamml.contracts import decode_record, encode_record
from streamml.emit import Emitter, Output
from streamml.learn import PendingFeatures
from streamml.models.emotion import emotion_model
from streamml.process import TextStage
from streamml.records import DeadLetter, Label, Origin, Prediction, TextEvent
from streamml.score import EmotionScorer
from streamml.settings import Topics

TOPICS = Topics.with_prefix("")
WHEN = datetime(2018, 4, 2, 12, tzinfo=UTC)


@pytest.fixture
def stage() -> TextStage:
    return TextStage(
        Emitter(TOPICS, "avro"),
        EmotionScorer(emotion_model, "emotion6"),
        PendingFeatures(ttl_seconds=3600, max_entries=100),
    )


def origin(topic: str, offset: int = 0) -> Origin:
    return Origin(topic, 0, offset)


def only(outputs: list[Output]) -> Output:
    assert len(outputs) == 1
    return outputs[0]


def send(
    stage: TextStage, i: int, text: str, label: str | None, taxonomy: str | None
) -> Prediction:
    event = TextEvent(f"t{i}", WHEN, text, "test", label=label, taxonomy=taxonomy)
    out = only(stage.on_text(encode_record(event, "json"), origin("texts", i), None))
    assert out.topic == TOPICS.emotion_predictions and out.key == f"t{i}".encode()
    return decode_record(Prediction, out.value)


def test_a_malformed_text_becomes_a_dead_letter_with_its_origin(stage: TextStage) -> None:
    out = only(stage.on_text(b"\x00junk", origin("texts", 17), b"k"))
    letter = decode_record(DeadLetter, out.value)
    assert out.topic == TOPICS.dead_letters
    assert (letter.source_topic, letter.source_offset, letter.raw) == ("texts", 17, b"\x00junk")
    assert letter.error_kind and letter.message and letter.key == b"k"
    assert stage.counts["dead_letters"] == 1


def test_labelled_texts_teach_their_taxonomy_and_new_classes(stage: TextStage) -> None:
    for i in range(20):
        send(stage, i, "so happy and glad", "joy", None)
        send(stage, 100 + i, "furious and angry", "anger", None)
        send(stage, 200 + i, "what a wonderful surprise", "awe", "emotion13")
    assert send(stage, 300, "happy glad", None, None).predicted_class == "joy"
    prediction = send(stage, 301, "wonderful surprise", None, "emotion13")
    assert prediction.task == "emotion13" and prediction.predicted_class == "awe"
    assert prediction.probabilities is not None
    assert abs(sum(prediction.probabilities.values()) - 1.0) < 1e-6
    assert set(stage.emotion.models) == {"emotion6", "emotion13"}


def test_a_late_label_teaches_with_the_text_kept_at_scoring(stage: TextStage) -> None:
    send(stage, 1, "i am terrified of the dark", None, None)
    label = Label("t1", "emotion6", "fear", WHEN)
    assert stage.on_label(encode_record(label, "avro"), origin("emotion-labels"), None) == []
    assert stage.counts["learned"] == 1
    assert send(stage, 2, "terrified", None, None).predicted_class == "fear"


def test_a_label_for_an_unknown_text_is_counted_not_learned(stage: TextStage) -> None:
    label = Label("never-seen", "emotion6", "joy", WHEN)
    assert stage.on_label(encode_record(label, "avro"), origin("emotion-labels"), None) == []
    assert stage.counts["labels_without_features"] == 1


def test_a_stage_failing_on_one_record_dead_letters_it(stage: TextStage) -> None:
    class Broken:
        def predict_proba_one(self, x: object) -> dict[str, float]:
            raise ArithmeticError("model blew up")

    stage.emotion.models["emotion6"] = stage.emotion._model("emotion6")
    stage.emotion.models["emotion6"].model = Broken()
    event = TextEvent("t1", WHEN, "hello", "test")
    out = only(stage.on_text(encode_record(event, "avro"), origin("texts", 3), None))
    letter = decode_record(DeadLetter, out.value)
    assert letter.error_kind == "processing-error" and "model blew up" in letter.message
