"""The text stage and what every stage shares, without Kafka (the in-memory worker
routes texts to the scorer, examples to each task's trainer and snapshots back)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from streamml.contracts import decode_record, encode_record
from streamml.emit import Output
from streamml.process import LABEL_REFUSED_FLAG, TextStage
from streamml.records import DeadLetter, Label, Origin, Prediction, TextEvent
from streamml.settings import EmotionTask, Settings
from streamml.testing import InMemoryWorker

WHEN = datetime(2018, 4, 2, 12, tzinfo=UTC)


def new_worker(**overrides: object) -> InMemoryWorker:
    options: dict[str, object] = {"snapshot_every_examples": 1, **overrides}
    return InMemoryWorker(Settings(**options))  # type: ignore[arg-type]


@pytest.fixture
def worker() -> InMemoryWorker:
    return new_worker()


@pytest.fixture
def stage(worker: InMemoryWorker) -> TextStage:
    return worker.texts


def origin(topic: str, offset: int = 0) -> Origin:
    return Origin(topic, 0, offset)


def only(outputs: list[Output]) -> Output:
    assert len(outputs) == 1
    return outputs[0]


def send(
    worker: InMemoryWorker,
    i: int,
    text: str,
    label: str | None = None,
    taxonomy: str | None = None,
) -> Prediction | None:
    """Send one text; its prediction, or ``None`` when it was dead-lettered."""
    topics = worker.texts.topics
    event = TextEvent(f"t{i}", WHEN, text, "test", label=label, taxonomy=taxonomy)
    before = len(worker.outputs[topics.emotion_predictions])
    worker.send(topics.texts, encode_record(event, "json"), f"t{i}".encode())
    made = worker.outputs[topics.emotion_predictions][before:]
    if not made:
        return None
    out = only(made)
    assert out.key == f"t{i}".encode()
    return decode_record(Prediction, out.value)


def letters(worker: InMemoryWorker) -> list[DeadLetter]:
    return [
        decode_record(DeadLetter, o.value) for o in worker.outputs[worker.texts.topics.dead_letters]
    ]


def test_a_malformed_text_becomes_a_dead_letter_with_its_origin(stage: TextStage) -> None:
    out = only(stage.on_text(b"\x00junk", origin("texts", 17), b"k"))
    letter = decode_record(DeadLetter, out.value)
    assert out.topic == stage.topics.dead_letters
    assert (letter.source_topic, letter.source_offset, letter.raw) == ("texts", 17, b"\x00junk")
    assert letter.error_kind and letter.message and letter.key == b"k"
    assert stage.counts["dead_letters"] == 1


def test_labelled_texts_teach_their_taxonomy_and_new_classes(worker: InMemoryWorker) -> None:
    for i in range(20):
        send(worker, i, "so happy and glad", "joy")
        send(worker, 100 + i, "furious and angry", "anger")
        send(worker, 200 + i, "what a wonderful surprise", "awe", "emotion13")  # a new class
    happy = send(worker, 300, "happy glad")
    assert happy is not None and happy.predicted_class == "joy" and happy.task == "emotion6"
    prediction = send(worker, 301, "wonderful surprise", None, "emotion13")
    assert prediction is not None
    assert prediction.task == "emotion13" and prediction.predicted_class == "awe"
    assert prediction.probabilities is not None
    assert abs(sum(prediction.probabilities.values()) - 1.0) < 1e-6
    # Each task learned only its own examples, and its version counts its snapshots.
    assert prediction.model_version == "emotion13-v20" and happy.model_version == "emotion6-v40"


def test_an_untrained_task_predicts_nothing_rather_than_guessing(worker: InMemoryWorker) -> None:
    prediction = send(worker, 1, "hello there")
    assert prediction is not None
    assert prediction.model_version == "emotion6-v0" and prediction.predicted_class is None


def test_a_late_label_teaches_with_the_text_kept_at_scoring(worker: InMemoryWorker) -> None:
    send(worker, 1, "i am terrified of the dark")
    topics = worker.texts.topics
    label = Label("t1", "emotion6", "fear", WHEN)
    worker.send(topics.emotion_labels, encode_record(label, "avro"))
    example = json.loads(only(worker.outputs[topics.emotion_training]).value)
    assert (example["x"], example["y"], example["task"]) == (
        "i am terrified of the dark",
        "fear",
        "emotion6",
    )
    terrified = send(worker, 2, "terrified")
    assert terrified is not None and terrified.predicted_class == "fear"


def test_a_label_for_an_unknown_text_is_counted_not_learned(stage: TextStage) -> None:
    label = Label("never-seen", "emotion6", "joy", WHEN)
    assert stage.on_label(encode_record(label, "avro"), origin("emotion-labels"), None) == []
    assert stage.counts["labels_without_features"] == 1


def test_a_text_of_an_unconfigured_taxonomy_is_dead_lettered(worker: InMemoryWorker) -> None:
    assert send(worker, 1, "hello", None, "emotion99") is None
    (letter,) = letters(worker)
    assert letter.error_kind == "unknown-task" and "emotion99" in letter.message
    assert "emotion6" in letter.message  # names what is configured


def test_a_closed_taxonomy_refuses_other_labels_but_still_scores_the_text() -> None:
    tasks = {"emotion6": EmotionTask(labels=("joy", "sadness"), closed=True)}
    worker = new_worker(emotion_tasks=tasks)
    prediction = send(worker, 1, "so glad", "glee")
    assert prediction is not None and prediction.flags == [LABEL_REFUSED_FLAG]
    label = Label("t2", "emotion6", "rage", WHEN)
    send(worker, 2, "so cross")
    worker.send(worker.texts.topics.emotion_labels, encode_record(label, "avro"))
    assert [x.error_kind for x in letters(worker)] == ["label-not-in-taxonomy"] * 2
    assert "'glee'" in letters(worker)[0].message and "joy, sadness" in letters(worker)[0].message
    assert worker.outputs[worker.texts.topics.emotion_training] == []
    ok = send(worker, 3, "so glad", "joy")
    assert ok is not None and ok.flags == []
    assert len(worker.outputs[worker.texts.topics.emotion_training]) == 1


def test_a_closed_task_must_list_its_labels() -> None:
    with pytest.raises(ValueError, match="closed task needs its labels"):
        EmotionTask(closed=True)


def test_the_default_taxonomy_must_be_a_configured_task() -> None:
    with pytest.raises(ValueError, match="STREAMML_EMOTION_DEFAULT_TAXONOMY"):
        Settings(emotion_default_taxonomy="nope")


@pytest.mark.parametrize(
    ("text", "kind"),
    [("", "empty-field"), (" \t\n ", "empty-field"), ("x" * 1_000_000, "field-too-long")],
)
def test_empty_blank_and_huge_texts_are_dead_lettered(
    worker: InMemoryWorker, text: str, kind: str
) -> None:
    # Built by hand: encode_record refuses to write such a record.
    wire = {"event_id": "t1", "event_time": "2018-04-02T12:00:00Z", "text": text, "source": "s"}
    worker.send(worker.texts.topics.texts, json.dumps(wire).encode())
    assert worker.outputs[worker.texts.topics.emotion_predictions] == []
    (letter,) = letters(worker)
    assert letter.error_kind == kind and "TextEvent.text" in letter.message


@pytest.mark.parametrize("fmt", ["json", "avro"])
def test_invalid_utf8_is_dead_lettered_with_its_bytes(worker: InMemoryWorker, fmt: str) -> None:
    good = encode_record(TextEvent("t1", WHEN, "caf\u00e9 MARKER", "test"), fmt)  # type: ignore[arg-type]
    marker = "\u00e9 MARKER".encode()
    raw = good.replace(marker, b"\xff\xfe MARKER")
    assert raw != good
    worker.send(worker.texts.topics.texts, raw)
    (letter,) = letters(worker)
    assert letter.raw == raw and letter.error_kind
    assert worker.outputs[worker.texts.topics.emotion_predictions] == []


@pytest.mark.parametrize(
    "text",
    [
        "control\x00chars\x07and\x1b[31mescapes\u200b",
        "私はとても幸せです",  # other scripts
        "أنا سعيد جدا",
        "😀😀😀 🎉",
        "!!!???...",
        "a",
    ],
)
def test_odd_but_valid_texts_are_scored(worker: InMemoryWorker, text: str) -> None:
    for i in range(10):
        send(worker, 100 + i, "so happy and glad", "joy")
        send(worker, 200 + i, "so sad and down", "sadness")
    prediction = send(worker, 1, text)
    assert prediction is not None and prediction.predicted_class in {"joy", "sadness"}
    assert prediction.probabilities is not None
    assert abs(sum(prediction.probabilities.values()) - 1.0) < 1e-6
    assert letters(worker) == []


def test_a_training_example_of_an_unknown_task_is_dead_lettered(worker: InMemoryWorker) -> None:
    raw = json.dumps({"id": "e", "task": "mystery", "x": "hi", "y": "joy", "t": 0, "lt": 0})
    worker.send(worker.texts.topics.emotion_training, raw.encode())
    (letter,) = letters(worker)
    assert letter.error_kind == "unknown-task" and "mystery" in letter.message


def test_a_stage_failing_on_one_record_dead_letters_it(worker: InMemoryWorker) -> None:
    class Broken:
        def predict_proba_one(self, x: object) -> dict[str, float]:
            raise ArithmeticError("model blew up")

    worker.emotion.swap("emotion6", Broken(), "emotion6-v9")
    assert send(worker, 1, "hello") is None
    (letter,) = letters(worker)
    assert letter.error_kind == "processing-error" and "model blew up" in letter.message


def test_a_concept_change_raises_one_drift_alert_from_the_trainer() -> None:
    from pathlib import Path

    from streamml.datasets.emotion6 import file_name, read_emotion6
    from streamml.records import DriftAlert

    data = Path(__file__).resolve().parents[3] / "shared" / "datasets"
    texts = list(read_emotion6(data / file_name("train"), "train", limit=5000))
    worker = new_worker(snapshot_every_examples=1000)
    swap = {"joy": "sadness", "sadness": "joy"}
    for i, text in enumerate(texts):
        label = swap.get(text.label or "", text.label) if i >= 3500 else text.label
        send(worker, i, text.text, label)
    alerts = [
        decode_record(DriftAlert, o.value) for o in worker.outputs[worker.texts.topics.drift_alerts]
    ]
    started = [a for a in alerts if a.state == "started"]
    assert [(a.task, a.kind) for a in started] == [("emotion6", "concept")], alerts
    assert started[0].window_end_offset is not None and started[0].window_end_offset >= 3500
    assert started[0].model_version.startswith("emotion6-v")
