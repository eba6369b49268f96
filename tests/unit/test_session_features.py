"""Session features on hand-made sessions, and the state's bytes for the worker's table."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from streamml.features.session import (
    DEVICE_ID,
    EVENT_KIND,
    IP_ID,
    MAX_OPEN,
    SESSION_FEATURES,
    EventKind,
    SessionState,
    session_features,
)
from streamml.records import Transaction

T0 = datetime(2024, 3, 1, 12, tzinfo=UTC)
K = EventKind


def event(
    seconds: float,
    kind: int | None = K.PAGE_VIEW,
    session: str | None = "s1",
    device: int | None = 1,
    ip: int | None = 10,
    *,
    amount: float = 0.0,
) -> Transaction:
    extra: dict[str, float] = {}
    if kind is not None:
        extra[EVENT_KIND] = float(kind)
    if device is not None:
        extra[DEVICE_ID] = float(device)
    if ip is not None:
        extra[IP_ID] = float(ip)
    when = T0 + timedelta(seconds=seconds)
    return Transaction(f"e{seconds}", when, "c1", "m1", amount, "web", session, extra)


def play(state: SessionState, events: list[Transaction]) -> dict[str, float]:
    x: dict[str, float] = {}
    for tx in events:
        x = session_features(state, tx)
    return x


def visits(state: SessionState, device: int, ip: int, count: int, start: float) -> float:
    """``count`` separate sessions, an hour apart, on one device and IP; the next start."""
    for n in range(count):
        t = start + n * 3600
        play(state, [event(t, K.LOGIN, f"v{t}", device, ip), event(t + 60, session=f"v{t}")])
    return start + count * 3600


def test_takeover_like_session_counts_failed_logins_time_since_login_and_payments() -> None:
    session = [
        event(0, K.PAGE_VIEW),
        event(4, K.FAILED_LOGIN),
        event(9, K.FAILED_LOGIN),
        event(15, K.LOGIN),
        event(25, K.ADD_TO_CART),
        event(32, K.CHECKOUT),
        event(45, K.PAYMENT, amount=310.0),
    ]

    x = play(SessionState(), session)

    assert list(x) == list(SESSION_FEATURES)
    assert x["SESSION_EVENTS"] == 7
    assert x["SESSION_PAYMENTS"] == 1
    assert x["SESSION_FAILED_LOGINS"] == 2
    assert x["SESSION_LOGGED_IN"] == 1
    assert x["SESSION_SECONDS_SINCE_LOGIN"] == 30.0
    assert x["SESSION_CLICK_RATE"] == pytest.approx(6 / (45 / 60))


def test_without_login_time_counts_from_the_session_start_and_rate_has_a_floor() -> None:
    state = SessionState()
    first = session_features(state, event(0, K.CHECKOUT))
    burst = play(state, [event(2, K.PAYMENT), event(4, K.PAYMENT), event(6, K.PAYMENT)])

    assert first["SESSION_CLICK_RATE"] == 0.0
    assert (burst["SESSION_LOGGED_IN"], burst["SESSION_SECONDS_SINCE_LOGIN"]) == (0.0, 6.0)
    assert burst["SESSION_PAYMENTS"] == 3
    assert burst["SESSION_CLICK_RATE"] == 18.0  # 3 events in 6 s, measured over 10 s


def test_event_without_kind_is_a_payment_and_without_session_has_no_features() -> None:
    state = SessionState()

    assert session_features(state, event(0, kind=None))["SESSION_PAYMENTS"] == 1
    before = state.to_bytes()
    assert session_features(state, event(5, session=None)) == {}
    assert state.to_bytes() == before


def test_device_and_ip_change_against_the_customer_usual_ones() -> None:
    state = SessionState()
    t = visits(state, device=1, ip=10, count=3, start=0)

    usual = play(state, [event(t, session="a", device=1, ip=10)])
    stranger = play(state, [event(t + 7200, session="b", device=99, ip=77)])
    same_device_new_ip = play(state, [event(t + 14400, session="c", device=1, ip=55)])

    assert (usual["SESSION_DEVICE_CHANGED"], usual["SESSION_IP_CHANGED"]) == (0.0, 0.0)
    assert (stranger["SESSION_DEVICE_CHANGED"], stranger["SESSION_IP_CHANGED"]) == (1.0, 1.0)
    assert same_device_new_ip["SESSION_DEVICE_CHANGED"] == 0.0
    assert same_device_new_ip["SESSION_IP_CHANGED"] == 1.0


def test_a_first_session_changes_nothing_and_a_new_phone_becomes_usual() -> None:
    state = SessionState()
    assert play(state, [event(0, device=5)])["SESSION_DEVICE_CHANGED"] == 0.0
    t = visits(state, device=5, ip=10, count=4, start=3600)

    t = visits(state, device=6, ip=10, count=2, start=t)
    after = play(state, [event(t, session="later", device=6)])

    assert after["SESSION_DEVICE_CHANGED"] == 0.0


def test_concurrent_sessions_keep_their_own_counters() -> None:
    state = SessionState()
    play(state, [event(0, K.LOGIN, "own"), event(30, K.PAGE_VIEW, "own")])

    attacker = play(
        state,
        [event(40, K.FAILED_LOGIN, "evil", 9, 66), event(45, K.LOGIN, "evil", 9, 66)],
    )
    own = session_features(state, event(60, K.PAGE_VIEW, "own"))

    assert (attacker["SESSION_EVENTS"], attacker["SESSION_FAILED_LOGINS"]) == (2, 1)
    assert (own["SESSION_EVENTS"], own["SESSION_FAILED_LOGINS"]) == (3, 0)
    assert own["SESSION_SECONDS_SINCE_LOGIN"] == 60.0


def test_idle_sessions_end_and_too_many_open_ones_close_the_oldest() -> None:
    state = SessionState()
    play(state, [event(0, session="s"), event(10, session="s")])

    resumed = session_features(state, event(10 + 31 * 60, session="s"))
    for n in range(MAX_OPEN + 1):
        session_features(state, event(4000 + n, session=f"x{n}"))

    assert resumed["SESSION_EVENTS"] == 1  # 31 idle minutes: a new visit
    assert len(state.open) == MAX_OPEN
    assert state.devices == {1: pytest.approx(2.71)}  # 3 finished sessions on device 1


def test_out_of_order_event_never_gives_negative_times() -> None:
    state = SessionState()
    x = play(state, [event(100, K.LOGIN), event(90, K.PAGE_VIEW)])

    assert x["SESSION_SECONDS_SINCE_LOGIN"] == 0.0
    assert x["SESSION_CLICK_RATE"] >= 0.0


def test_bytes_round_trip_continues_exactly_like_the_original() -> None:
    state = SessionState()
    t = visits(state, device=1, ip=10, count=5, start=0)
    play(state, [event(t, K.FAILED_LOGIN, "now"), event(t + 3, K.LOGIN, "now")])
    play(state, [event(t + 5, K.PAGE_VIEW, "other", 4, 40)])
    restored = SessionState.from_bytes(state.to_bytes())

    assert restored == state
    assert len(state.to_bytes()) < 200
    following = event(t + 20, K.PAYMENT, "now", amount=12.0)
    assert session_features(restored, following) == session_features(state, following)
    assert restored == state


@pytest.mark.parametrize(
    "damage",
    [
        lambda raw: raw[:-1],
        lambda raw: raw + b"\x00",
        lambda raw: b"\x09" + raw[1:],
        lambda raw: b"",
    ],
)
def test_corrupt_bytes_are_refused(damage: Callable[[bytes], bytes]) -> None:
    state = SessionState()
    play(state, [event(0), event(5, K.LOGIN)])
    raw = state.to_bytes()

    with pytest.raises(ValueError, match="session state"):
        SessionState.from_bytes(damage(raw))


def test_empty_state_is_four_bytes() -> None:
    assert SessionState.from_bytes(SessionState().to_bytes()) == SessionState()
    assert len(SessionState().to_bytes()) == 4
