"""The dashboard's bookkeeping, without Kafka: latency, rolling quality, rates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rich.console import Console

from streamml import dashboard
from streamml.contracts import encode_record
from streamml.records import DeadLetter, DriftAlert, Label, Prediction, TextEvent, Transaction
from streamml.settings import Settings

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def test_predictions_meet_their_labels_in_either_order_and_give_latency() -> None:
    settings = Settings()
    topics = settings.topics
    view = dashboard.RunView(settings)
    produced = int(T0.timestamp() * 1000)
    for i in range(40):
        tx = Transaction(f"tx-{i}", T0, "c1", "t1", 10.0)
        view.add(topics.transactions, encode_record(tx), produced)
        fraud = i % 4 == 0
        label = Label(tx.event_id, "fraud", "1" if fraud else "0", T0)
        p = Prediction(
            f"tx-{i}",
            "fraud",
            "fraud-v3",
            T0,
            T0 + timedelta(milliseconds=40 + i),
            score=0.9 if fraud else 0.1,
        )
        first, second = (label, p) if i % 2 else (p, label)  # labels before or after
        for record in (first, second):
            topic = topics.fraud_labels if isinstance(record, Label) else topics.fraud_predictions
            view.add(topic, encode_record(record), produced)
    text = TextEvent("t-1", T0, "so glad", "test", label="joy")
    view.add(topics.texts, encode_record(text), produced)
    guess = Prediction(
        "t-1", "emotion6", "emotion6-v1", T0, T0, predicted_class="joy", probabilities={"joy": 1.0}
    )
    view.add(topics.emotion_predictions, encode_record(guess), produced)
    letter = DeadLetter("transactions", 0, 5, "empty", "the value is empty", b"", T0)
    view.add(topics.dead_letters, encode_record(letter), produced)
    view.add(topics.transactions, b"not a record", produced)  # shown by its dead letter
    assert view.quality["fraud"].figures() == {"AUC": 1.0, "AP": 1.0}
    assert view.quality["emotion6"].figures() == {"accuracy": 1.0, "macro-F1": 1.0}
    p50, p99 = view.latency_ms() or (0, 0)
    assert 40 <= p50 <= 80 and p99 <= 80
    assert view.versions == {"fraud": "fraud-v3", "emotion6": "emotion6-v1"}
    assert view.dead_letters == {"empty": 1}
    # And it renders, with the processes that do not answer yet marked as starting.
    console = Console(width=150, record=True)
    console.print(dashboard.render(view, {"scorer": "http://127.0.0.1:9"}, dashboard.Rates(), 5, 9))
    shown = console.export_text()
    assert "replayed 5 of 9 records" in shown and "starting" in shown
    assert "AUC 1.000" in shown and "empty 1" in shown


def test_rates_are_per_second_between_readings() -> None:
    rates = dashboard.Rates()
    assert rates.rate("x", 100, now=10.0) == 0.0
    assert rates.rate("x", 400, now=12.0) == 150.0


def test_until_the_first_label_is_due_the_dashboard_says_when_it_will_be() -> None:
    settings = Settings()
    topics = settings.topics
    view = dashboard.RunView(settings, label_delay=timedelta(days=7))
    produced = int(T0.timestamp() * 1000)
    for hours in (0, 30):
        tx = Transaction(f"tx-{hours}", T0 + timedelta(hours=hours), "c1", "t1", 10.0)
        view.add(topics.transactions, encode_record(tx), produced)
        p = Prediction(tx.event_id, "fraud", "fraud-v1", tx.event_time, T0, score=0.2)
        view.add(topics.fraud_predictions, encode_record(p), produced)
    console = Console(width=200, record=True)
    console.print(dashboard.render(view, {}, dashboard.Rates(), 2, 9))
    shown = console.export_text()
    assert "no labelled prediction yet: labels come 7 days after each payment" in shown
    assert "first due 2024-01-08 00:00, replay at 2024-01-02 06:00" in shown
    # A first label, genuine: no AUC until a fraud is among them either.
    view.add(topics.fraud_labels, encode_record(Label("tx-0", "fraud", "0", T0)), produced)
    assert view.waiting_note("fraud") == "all 1 labelled so far are of one class"


def test_text_quality_rolls_over_the_last_texts_and_alerts_are_counted_by_state() -> None:
    settings = Settings()
    topics = settings.topics
    view = dashboard.RunView(settings)
    produced = int(T0.timestamp() * 1000)
    for i in range(dashboard.ROLLING_CLASSES * 2):
        right = i < dashboard.ROLLING_CLASSES  # the second half all wrong: a drift
        text = TextEvent(f"t-{i}", T0, "so glad", "test", label="joy")
        view.add(topics.texts, encode_record(text), produced)
        guess = "joy" if right else "fear"
        p = Prediction(text.event_id, "emotion6", "emotion6-v1", T0, T0, predicted_class=guess)
        view.add(topics.emotion_predictions, encode_record(p), produced)
    assert view.quality["emotion6"].figures()["accuracy"] == 0.0
    assert view.labelled["emotion6"] == 2 * dashboard.ROLLING_CLASSES
    for state in ("started", "promoted"):
        alert = DriftAlert(
            f"emotion6-{state}", "emotion6", "concept", "challenger", "loss", 0.7, 0.3,
            state, "info", T0, T0, "emotion6-v2", T0,
        )  # fmt: skip
        view.add(topics.drift_alerts, encode_record(alert), produced)
    console = Console(width=200, record=True)
    console.print(dashboard.render(view, {}, dashboard.Rates(), 2, 9))
    shown = console.export_text()
    assert "drift alerts: 1 promoted, 1 started" in shown and "accuracy 0.000" in shown
