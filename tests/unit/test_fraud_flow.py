"""The fraud stages wired in memory: one prediction per transaction, late labels become
training examples with the exact features used, snapshots hot-swap, cards get flagged."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from streamml.contracts import decode_record, encode_record
from streamml.datasets import interleave_labels
from streamml.datasets.clickstream import ClickstreamConfig, clickstream_records
from streamml.datasets.fraud_handbook import read_fraud_handbook
from streamml.features.fraud import HANDBOOK_FEATURES, FraudFeatureStore
from streamml.features.session import is_payment
from streamml.fraud_flow import KNOWN_FRAUD_FLAG, NOT_A_PAYMENT_FLAG
from streamml.internal import Example
from streamml.records import DeadLetter, Label, Prediction, Transaction
from streamml.settings import Settings
from streamml.testing import InMemoryWorker

DATA = Path(__file__).resolve().parents[3] / "shared" / "datasets"
FRAUD_FILE = DATA / "fraud_handbook_sim_raw_2018-04-01_2018-09-30.csv.gz"
T0 = datetime(2018, 4, 2, 12, tzinfo=UTC)


def worker(**overrides: object) -> InMemoryWorker:
    options: dict[str, object] = {"snapshot_every_examples": 5, **overrides}
    return InMemoryWorker(Settings(**options))  # type: ignore[arg-type]


def send(w: InMemoryWorker, record: Transaction | Label) -> None:
    topics = w.customers.topics
    if isinstance(record, Transaction):
        w.send(topics.transactions, encode_record(record, "avro"), record.customer_id.encode())
    else:
        w.send(topics.fraud_labels, encode_record(record, "avro"), record.event_id.encode())


def predictions(w: InMemoryWorker) -> list[Prediction]:
    return [
        decode_record(Prediction, o.value) for o in w.outputs[w.customers.topics.fraud_predictions]
    ]


def tx(i: int, customer: str = "c1", terminal: str = "t1", days: float = 0.0) -> Transaction:
    return Transaction(f"e{i}", T0 + timedelta(days=days, minutes=i), customer, terminal, 10.0 + i)


def test_every_valid_transaction_gets_one_prediction_and_bad_ones_a_dead_letter() -> None:
    w = worker()
    for i in range(20):
        send(w, tx(i, customer=f"c{i % 3}", terminal=f"t{i % 4}"))
    w.send(w.customers.topics.transactions, b"garbage")
    assert sorted(p.event_id for p in predictions(w)) == sorted(f"e{i}" for i in range(20))
    letters = [
        decode_record(DeadLetter, o.value) for o in w.outputs[w.customers.topics.dead_letters]
    ]
    assert [d.raw for d in letters] == [b"garbage"]
    assert all(p.model_version == "fraud-v0" for p in predictions(w))


def test_labels_teach_the_trainer_whose_snapshots_the_scorer_swaps_in() -> None:
    w = worker()
    for i in range(12):
        send(w, tx(i))
    for i in range(12):
        send(w, Label(f"e{i}", "fraud", str(i % 2), T0 + timedelta(days=7), None, "c1", "t1"))
    examples = [Example.from_bytes(o.value) for o in w.outputs[w.customers.topics.fraud_training]]
    assert [e.event_id for e in examples] == [f"e{i}" for i in range(12)]
    assert w.scorer.version == "fraud-v2"  # a snapshot every 5 examples
    send(w, tx(99))
    assert predictions(w)[-1].model_version == "fraud-v2"


def test_a_card_with_a_known_fraud_is_flagged_from_the_label_time_on() -> None:
    w = worker()
    send(w, tx(1, customer="victim"))
    send(w, Label("e1", "fraud", "1", T0 + timedelta(days=7), None, "victim", "t1"))
    send(w, tx(2, customer="victim", days=8))
    send(w, tx(3, customer="other", days=8))
    flags = {p.event_id: p.flags for p in predictions(w)}
    assert flags == {"e1": [], "e2": [KNOWN_FRAUD_FLAG], "e3": []}


@pytest.mark.skipif(not FRAUD_FILE.exists(), reason=f"{FRAUD_FILE} is not there")
def test_the_worker_learns_from_exactly_the_features_the_offline_code_computes() -> None:
    records = list(
        interleave_labels(
            itertools.takewhile(
                lambda r: (
                    r.event_time < datetime(2018, 4, 11, tzinfo=UTC)
                    if isinstance(r, Transaction)
                    else True
                ),
                read_fraud_handbook(FRAUD_FILE, end=datetime(2018, 4, 11, tzinfo=UTC)),
            )
        )
    )
    w, offline, expected = worker(snapshot_every_examples=500), FraudFeatureStore(), {}
    for record in records:
        send(w, record)
        if isinstance(record, Transaction):
            expected[record.event_id] = offline.on_transaction(record)
        else:
            offline.on_label(record)
    examples = [Example.from_bytes(o.value) for o in w.outputs[w.customers.topics.fraud_training]]
    assert len(examples) > 40_000
    risky = 0
    for example in examples:
        offline = expected[example.event_id]
        wrong = [
            n for n in HANDBOOK_FEATURES if not math.isclose(example.x[n], offline[n], abs_tol=1e-9)
        ]
        assert not wrong, (example.event_id, wrong)
        risky += example.x["TERMINAL_ID_RISK_7DAY_WINDOW"] > 0
    assert risky > 0, "no terminal risk ever seen: the labels did not reach the terminal state"
    versions = {p.model_version for p in predictions(w)}
    assert len(versions) > 5


def test_a_label_that_overtakes_its_transaction_still_becomes_one_example() -> None:
    w = worker()
    send(w, Label("e1", "fraud", "1", T0 + timedelta(days=7), T0, "c1", "t1"))
    send(w, tx(1))
    examples = [Example.from_bytes(o.value) for o in w.outputs[w.customers.topics.fraud_training]]
    assert [(e.event_id, e.y) for e in examples] == [("e1", True)]
    notices = w.outputs[w.customers.topics.fraud_customer_frauds]
    assert len(notices) == 1, "the card's fraud is announced once, not again at the join"


def test_clickstream_payments_carry_session_features_and_other_events_no_score() -> None:
    config = ClickstreamConfig(customers=60, days=10.0, seed=5)
    w, offline, expected = worker(snapshot_every_examples=200), FraudFeatureStore(), {}
    for record in clickstream_records(config):
        send(w, record)
        if isinstance(record, Transaction):
            expected[record.event_id] = (offline.on_transaction(record), is_payment(record))
        else:
            offline.on_label(record)
    by_id = {p.event_id: p for p in predictions(w)}
    assert set(by_id) == set(expected)
    for event_id, (_, payment) in expected.items():
        assert (by_id[event_id].score is not None) is payment
        assert (NOT_A_PAYMENT_FLAG in by_id[event_id].flags) is (not payment)
    examples = [Example.from_bytes(o.value) for o in w.outputs[w.customers.topics.fraud_training]]
    assert examples and all(expected[e.event_id][1] for e in examples)
    assert any(e.x.get("SESSION_EVENTS", 0) > 1 for e in examples)
    for example in examples:
        assert example.x == pytest.approx(expected[example.event_id][0])
