"""Online fraud features on hand-made streams: every window edge, label timing, state size.

The handbook defines customer windows as ``(t - w, t]`` with the current transaction, and
terminal windows as ``(t - d - w, t - d]`` with fraud known by ``t``; a model trained
offline on these features sees exactly what the worker computes online.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from streamml.features.fraud import (
    FEATURE_NAMES,
    HANDBOOK_FEATURES,
    CustomerState,
    FraudFeatureStore,
    TerminalState,
    customer_features,
    customer_known_fraud,
    mark_customer_fraud,
    record_terminal_fraud,
    terminal_features,
    transaction_features,
)
from streamml.records import Label, Transaction

MONDAY = datetime(2018, 4, 2, 12, tzinfo=UTC)
US = timedelta(microseconds=1)
DAY = timedelta(days=1)
DELAY = timedelta(days=7)


def tx(
    at: datetime,
    amount: float = 10.0,
    *,
    customer: str = "c",
    terminal: str = "t",
    event_id: str | None = None,
    features: dict[str, float] | None = None,
) -> Transaction:
    return Transaction(
        event_id or at.isoformat(), at, customer, terminal, amount, "card", None, features
    )


def fraud(event_id: str, label_time: datetime) -> Label:
    return Label(event_id, "fraud", "1", label_time)


def customer_run(*txs: Transaction) -> tuple[CustomerState, dict[str, float]]:
    state = CustomerState()
    x: dict[str, float] = {}
    for t in txs:
        x = customer_features(state, t)
    return state, x


def terminal_at(times: list[datetime], now: datetime) -> dict[str, float]:
    state = TerminalState()
    for when in times:
        terminal_features(state, tx(when))
    return terminal_features(state, tx(now))


HANDBOOK_NAMES = (
    "TX_DURING_WEEKEND",
    "TX_DURING_NIGHT",
    "CUSTOMER_ID_NB_TX_1DAY_WINDOW",
    "CUSTOMER_ID_AVG_AMOUNT_1DAY_WINDOW",
    "CUSTOMER_ID_NB_TX_7DAY_WINDOW",
    "CUSTOMER_ID_AVG_AMOUNT_7DAY_WINDOW",
    "CUSTOMER_ID_NB_TX_30DAY_WINDOW",
    "CUSTOMER_ID_AVG_AMOUNT_30DAY_WINDOW",
    "TERMINAL_ID_NB_TX_1DAY_WINDOW",
    "TERMINAL_ID_RISK_1DAY_WINDOW",
    "TERMINAL_ID_NB_TX_7DAY_WINDOW",
    "TERMINAL_ID_RISK_7DAY_WINDOW",
    "TERMINAL_ID_NB_TX_30DAY_WINDOW",
    "TERMINAL_ID_RISK_30DAY_WINDOW",
)


def test_handbook_names_and_order() -> None:
    assert HANDBOOK_FEATURES == HANDBOOK_NAMES
    assert FEATURE_NAMES[:14] == HANDBOOK_FEATURES
    assert FEATURE_NAMES[14] == "TX_AMOUNT"
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES)


def test_store_returns_exactly_the_feature_names_plus_event_features() -> None:
    store = FraudFeatureStore()
    x = store.on_transaction(tx(MONDAY))
    assert set(x) == set(FEATURE_NAMES)
    y = store.on_transaction(tx(MONDAY + DAY, features={"score": 0.5, "n": 3}))
    assert set(y) - set(FEATURE_NAMES) == {"EVENT_score", "EVENT_n"}
    assert y["EVENT_n"] == 3.0


@pytest.mark.parametrize(
    ("when", "weekend", "night"),
    [
        (datetime(2018, 4, 6, 23, 59, 59, tzinfo=UTC), 0.0, 0.0),  # Friday night, late
        (datetime(2018, 4, 7, 0, 0, tzinfo=UTC), 1.0, 1.0),  # Saturday starts
        (datetime(2018, 4, 8, 23, 59, 59, 999999, tzinfo=UTC), 1.0, 0.0),  # Sunday ends
        (datetime(2018, 4, 9, 0, 0, tzinfo=UTC), 0.0, 1.0),  # Monday
        (datetime(2018, 4, 9, 6, 59, 59, 999999, tzinfo=UTC), 0.0, 1.0),  # hour 6 is night
        (datetime(2018, 4, 9, 7, 0, tzinfo=UTC), 0.0, 0.0),  # hour 7 is not
    ],
)
def test_weekend_and_night_edges(when: datetime, weekend: float, night: float) -> None:
    _, x = customer_run(tx(when))
    assert (x["TX_DURING_WEEKEND"], x["TX_DURING_NIGHT"]) == (weekend, night)


def test_first_transaction_counts_itself() -> None:
    _, x = customer_run(tx(MONDAY, 42.0))
    for w in (1, 7, 30):
        assert x[f"CUSTOMER_ID_NB_TX_{w}DAY_WINDOW"] == 1.0
        assert x[f"CUSTOMER_ID_AVG_AMOUNT_{w}DAY_WINDOW"] == 42.0


@pytest.mark.parametrize("days", [1, 7, 30])
def test_customer_window_is_open_at_t_minus_w(days: int) -> None:
    w = timedelta(days=days)
    _, at_edge = customer_run(tx(MONDAY, 10.0), tx(MONDAY + w, 30.0))
    assert at_edge[f"CUSTOMER_ID_NB_TX_{days}DAY_WINDOW"] == 1.0
    assert at_edge[f"CUSTOMER_ID_AVG_AMOUNT_{days}DAY_WINDOW"] == 30.0
    _, inside = customer_run(tx(MONDAY, 10.0), tx(MONDAY + w - US, 30.0))
    assert inside[f"CUSTOMER_ID_NB_TX_{days}DAY_WINDOW"] == 2.0
    assert inside[f"CUSTOMER_ID_AVG_AMOUNT_{days}DAY_WINDOW"] == 20.0


def test_equal_times_count_the_earlier_arrivals_only() -> None:
    state = CustomerState()
    first = customer_features(state, tx(MONDAY, 10.0, event_id="a"))
    second = customer_features(state, tx(MONDAY, 20.0, event_id="b"))
    assert first["CUSTOMER_ID_NB_TX_1DAY_WINDOW"] == 1.0
    assert second["CUSTOMER_ID_NB_TX_1DAY_WINDOW"] == 2.0
    assert second["CUSTOMER_ID_AVG_AMOUNT_1DAY_WINDOW"] == 15.0


def test_out_of_order_event_sees_its_own_window() -> None:
    state = CustomerState()
    customer_features(state, tx(MONDAY, 10.0))
    customer_features(state, tx(MONDAY + 2 * DAY, 20.0))
    late = customer_features(state, tx(MONDAY + DAY, 40.0))
    assert late["CUSTOMER_ID_NB_TX_1DAY_WINDOW"] == 1.0  # the one at MONDAY is a day old
    assert late["CUSTOMER_ID_NB_TX_7DAY_WINDOW"] == 2.0  # the later one is not counted
    assert state.times == sorted(state.times)
    assert late["CUSTOMER_ID_HOURS_SINCE_LAST_TX"] == 24.0


def test_terminal_excludes_the_current_transaction_and_zero_count_risk_is_zero() -> None:
    x = terminal_at([MONDAY], MONDAY)  # same time: inside the delay
    for w in (1, 7, 30):
        assert x[f"TERMINAL_ID_NB_TX_{w}DAY_WINDOW"] == 0.0
        assert x[f"TERMINAL_ID_RISK_{w}DAY_WINDOW"] == 0.0
    assert terminal_at([], MONDAY)["TERMINAL_ID_NB_TX_30DAY_WINDOW"] == 0.0


@pytest.mark.parametrize(
    ("age", "counts"),
    [
        (DELAY - US, (0, 0, 0)),  # still inside the delay
        (DELAY, (1, 1, 1)),  # exactly t - d: in every window
        (DELAY + DAY - US, (1, 1, 1)),
        (DELAY + DAY, (0, 1, 1)),  # exactly t - d - 1 day: out of the 1-day window
        (DELAY + 7 * DAY - US, (0, 1, 1)),
        (DELAY + 7 * DAY, (0, 0, 1)),
        (DELAY + 30 * DAY - US, (0, 0, 1)),
        (DELAY + 30 * DAY, (0, 0, 0)),
    ],
)
def test_terminal_window_is_t_minus_d_minus_w_to_t_minus_d(
    age: timedelta, counts: tuple[int, int, int]
) -> None:
    x = terminal_at([MONDAY], MONDAY + age)
    got = tuple(int(x[f"TERMINAL_ID_NB_TX_{w}DAY_WINDOW"]) for w in (1, 7, 30))
    assert got == counts


def test_risk_counts_frauds_whose_label_arrived_by_t() -> None:
    state = TerminalState()
    for i in range(3):
        terminal_features(state, tx(MONDAY + i * timedelta(hours=1)))
    now = MONDAY + DELAY + timedelta(hours=3)
    record_terminal_fraud(state, MONDAY, now)  # arrives exactly at t: counts
    record_terminal_fraud(state, MONDAY + timedelta(hours=1), now + US)  # after t: not yet
    x = terminal_features(state, tx(now))
    assert x["TERMINAL_ID_NB_TX_1DAY_WINDOW"] == 3.0
    assert x["TERMINAL_ID_RISK_1DAY_WINDOW"] == pytest.approx(1 / 3, abs=1e-15)
    later = terminal_features(state, tx(now + US))
    assert later["TERMINAL_ID_RISK_30DAY_WINDOW"] == pytest.approx(2 / 3, abs=1e-15)


def test_fraud_in_the_delay_is_known_but_not_in_any_risk_window() -> None:
    state = TerminalState()
    terminal_features(state, tx(MONDAY))
    record_terminal_fraud(state, MONDAY, MONDAY + DAY)  # an early label
    x = terminal_features(state, tx(MONDAY + 2 * DAY))
    assert x["TERMINAL_ID_RISK_30DAY_WINDOW"] == 0.0
    assert x["TERMINAL_ID_DAYS_SINCE_KNOWN_FRAUD"] == 2.0


def test_repeated_label_is_counted_once_but_two_frauds_at_one_time_twice() -> None:
    state = TerminalState()
    terminal_features(state, tx(MONDAY, event_id="a"))
    terminal_features(state, tx(MONDAY, event_id="b"))
    for _ in range(3):
        record_terminal_fraud(state, MONDAY, MONDAY + DELAY)
    assert state.fraud_times == [state.times[0]] * 2
    x = terminal_features(state, tx(MONDAY + DELAY))
    assert x["TERMINAL_ID_RISK_1DAY_WINDOW"] == 1.0


def test_customer_state_is_pruned_past_thirty_days() -> None:
    state, _ = customer_run(tx(MONDAY), tx(MONDAY + 30 * DAY - US))
    assert len(state.times) == 2
    state, _ = customer_run(tx(MONDAY), tx(MONDAY + 30 * DAY))
    assert len(state.times) == len(state.amounts) == len(state.ordered) == 1


def test_terminal_state_is_pruned_past_delay_plus_thirty_days() -> None:
    state = TerminalState()
    terminal_features(state, tx(MONDAY))
    record_terminal_fraud(state, MONDAY, MONDAY + DELAY)
    terminal_features(state, tx(MONDAY + 37 * DAY - US))
    assert len(state.times) == 2
    assert len(state.fraud_times) == 1
    terminal_features(state, tx(MONDAY + 37 * DAY))
    assert len(state.times) == 2  # the first one went, the new one came
    assert state.fraud_times == state.fraud_label_times == []
    record_terminal_fraud(state, MONDAY, MONDAY + 40 * DAY)  # too old to matter
    assert state.fraud_times == []


def test_states_round_trip_through_bytes_and_keep_computing_the_same() -> None:
    customer, terminal = CustomerState(), TerminalState()
    stream = [tx(MONDAY + i * timedelta(hours=7), 5.0 + i) for i in range(40)]
    for t in stream[:30]:
        customer_features(customer, t)
        terminal_features(terminal, t)
    record_terminal_fraud(terminal, stream[3].event_time, MONDAY + 8 * DAY)
    mark_customer_fraud(customer, MONDAY + 8 * DAY)
    customer2 = CustomerState.from_bytes(customer.to_bytes())
    terminal2 = TerminalState.from_bytes(terminal.to_bytes())
    assert (customer2, terminal2) == (customer, terminal)
    assert len(customer.to_bytes()) == 13 + 16 * len(customer.times)
    assert len(terminal.to_bytes()) == 9 + 8 * len(terminal.times) + 16
    for t in stream[30:]:
        assert customer_features(customer2, t) == customer_features(customer, t)
        assert terminal_features(terminal2, t) == terminal_features(terminal, t)
    assert CustomerState.from_bytes(CustomerState().to_bytes()) == CustomerState()


@pytest.mark.parametrize("cls", [CustomerState, TerminalState])
def test_bad_state_bytes_are_refused(cls: type[CustomerState] | type[TerminalState]) -> None:
    good = cls().to_bytes()
    for bad in (b"", good[:-1], good + b"\0", b"\x09" + good[1:]):
        with pytest.raises(ValueError, match="state"):
            cls.from_bytes(bad)


def test_known_fraud_from_the_earliest_label_time() -> None:
    state = CustomerState()
    assert not customer_known_fraud(state, MONDAY)
    mark_customer_fraud(state, MONDAY + 2 * DAY)
    mark_customer_fraud(state, MONDAY + DAY)
    mark_customer_fraud(state, MONDAY + 3 * DAY)
    assert not customer_known_fraud(state, MONDAY + DAY - US)
    assert customer_known_fraud(state, MONDAY + DAY)


def test_store_applies_fraud_labels_to_terminal_and_card() -> None:
    store = FraudFeatureStore()
    store.on_transaction(tx(MONDAY, customer="c1", terminal="t1", event_id="a"))
    store.on_transaction(tx(MONDAY, customer="c2", terminal="t1", event_id="b"))
    store.on_label(Label("b", "fraud", "0", MONDAY + DELAY))
    store.on_label(fraud("a", MONDAY + DELAY))
    store.on_label(fraud("a", MONDAY + DELAY))  # redelivered: the wait is over, ignored
    store.on_label(Label("a", "emotion6", "joy", MONDAY + DELAY))  # another task
    assert store.unmatched_labels == 1
    assert store.known_fraud("c1", MONDAY + DELAY)
    assert not store.known_fraud("c2", MONDAY + DELAY)
    assert not store.known_fraud("nobody", MONDAY + DELAY)
    x = store.on_transaction(tx(MONDAY + DELAY, customer="c3", terminal="t1"))
    assert x["TERMINAL_ID_NB_TX_1DAY_WINDOW"] == 2.0
    assert x["TERMINAL_ID_RISK_1DAY_WINDOW"] == 0.5
    assert store.awaiting_labels == 1


def test_label_applied_after_t_is_not_seen_at_t() -> None:
    store = FraudFeatureStore()
    store.on_transaction(tx(MONDAY, terminal="t1", event_id="a"))
    before = store.on_transaction(tx(MONDAY + DELAY, customer="d", terminal="t1"))
    store.on_label(fraud("a", MONDAY + DELAY + US))
    after = store.on_transaction(tx(MONDAY + DELAY + US, customer="d", terminal="t1"))
    assert before["TERMINAL_ID_RISK_1DAY_WINDOW"] == 0.0
    assert after["TERMINAL_ID_RISK_1DAY_WINDOW"] == 1.0


def test_store_forgets_transactions_after_the_ttl() -> None:
    store = FraudFeatureStore(ttl=timedelta(days=4))
    store.on_transaction(tx(MONDAY, event_id="old"))
    for day in range(1, 10):
        store.on_transaction(tx(MONDAY + day * DAY, event_id=f"d{day}"))
    assert store.awaiting_labels <= 5
    store.on_label(fraud("old", MONDAY + 10 * DAY))
    assert store.unmatched_labels == 1
    assert not store.known_fraud("c", MONDAY + 10 * DAY)
    with pytest.raises(ValueError, match="ttl"):
        FraudFeatureStore(ttl=timedelta(0))


def test_amount_extras_compare_with_the_previous_thirty_days() -> None:
    history = [
        tx(MONDAY + i * timedelta(hours=10), amount) for i, amount in enumerate([10, 20, 30])
    ]
    _, x = customer_run(*history, tx(MONDAY + 30 * timedelta(hours=1), 100.0))
    assert x["TX_AMOUNT"] == 100.0
    assert x["TX_LOG_AMOUNT"] == math.log1p(100.0)
    assert x["CUSTOMER_ID_AMOUNT_RATIO_30DAY_WINDOW"] == 5.0  # 100 / mean(10, 20, 30)
    assert x["CUSTOMER_ID_AMOUNT_MEDIAN_RATIO_30DAY_WINDOW"] == 5.0
    assert x["CUSTOMER_ID_HIGH_AMOUNT_SHARE_30DAY_WINDOW"] == 0.0
    assert x["CUSTOMER_ID_HOURS_SINCE_LAST_TX"] == 10.0
    assert x["CUSTOMER_ID_NB_TX_1HOUR_WINDOW"] == 1.0
    # The share of previous amounts above three medians: 100 > 3 * median(10, 20, 30, 100).
    _, y = customer_run(*history, tx(MONDAY + DAY, 100.0), tx(MONDAY + DAY + US, 20.0))
    assert y["CUSTOMER_ID_HIGH_AMOUNT_SHARE_30DAY_WINDOW"] == 0.25
    assert y["CUSTOMER_ID_AMOUNT_MEDIAN_RATIO_30DAY_WINDOW"] == 20.0 / 25.0
    assert y["CUSTOMER_ID_NB_TX_1HOUR_WINDOW"] == 2.0


def test_extras_without_history_are_neutral() -> None:
    _, x = customer_run(tx(MONDAY, 0.0))
    assert x["CUSTOMER_ID_AMOUNT_RATIO_30DAY_WINDOW"] == 1.0
    assert x["CUSTOMER_ID_AMOUNT_MEDIAN_RATIO_30DAY_WINDOW"] == 1.0
    assert x["CUSTOMER_ID_HIGH_AMOUNT_SHARE_30DAY_WINDOW"] == 0.0
    assert x["CUSTOMER_ID_HOURS_SINCE_LAST_TX"] == 720.0
    _, y = customer_run(tx(MONDAY, 0.0), tx(MONDAY + DAY, 5.0))
    assert y["CUSTOMER_ID_AMOUNT_RATIO_30DAY_WINDOW"] == 500.0  # a one-cent floor, not 1/0
    assert terminal_at([], MONDAY)["TERMINAL_ID_DAYS_SINCE_KNOWN_FRAUD"] == 37.0


def test_transaction_features_stays_stateless() -> None:
    x = transaction_features(tx(MONDAY, 20.0, features={"k": 1.5}))
    assert x["TX_AMOUNT"] == 20.0
    assert x["EVENT_k"] == 1.5
