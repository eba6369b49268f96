"""Session features of clickstream events, computed online from the customer's own events.

A clickstream event is a :class:`~streamml.records.Transaction` whose ``features`` map
carries the event kind and opaque device and IP ids (the contract has no field for them):

=================  =====================================================================
``event_kind``     :class:`EventKind` code: 1 page view, 2 login, 3 failed login,
                   4 add to cart, 5 checkout, 6 payment (the default when absent)
``device_id``      small integer id of the device (absent at a POS terminal)
``ip_id``          small integer id of the IP address (absent at a POS terminal)
=================  =====================================================================

The state is kept per customer (the message key of transactions), so it lives beside the
customer's other feature state. It remembers the customer's open sessions (a few: an
attacker's session can run while the customer's own is open) and the devices and IPs of
the customer's finished sessions, scored with a decay so that a new phone becomes usual
after a couple of sessions. Events without a ``session_id`` have no session features.
"""

from __future__ import annotations

import enum
import struct
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from streamml.records import Transaction

EVENT_KIND = "event_kind"
DEVICE_ID = "device_id"
IP_ID = "ip_id"
ID_FEATURES = frozenset({DEVICE_ID, IP_ID})
"""Keys of ``Transaction.features`` that are identifiers, not quantities: no model input."""


NOT_MODEL_INPUTS = ID_FEATURES | {EVENT_KIND}
"""Keys of ``Transaction.features`` that are never copied into a model's inputs."""


def is_payment(tx: Transaction) -> bool:
    """A payment (scored as a fraud candidate, labelled, counted in the windows), as
    opposed to a clickstream event such as a page view. Events without a kind are payments.

    >>> from datetime import UTC, datetime
    >>> t = datetime(2024, 1, 1, tzinfo=UTC)
    >>> is_payment(Transaction("e", t, "c", "m", 5.0))
    True
    >>> is_payment(Transaction("e", t, "c", "m", 0.0, "web", "s", {"event_kind": 1.0}))
    False
    """
    if not tx.features or EVENT_KIND not in tx.features:
        return True
    return int(tx.features[EVENT_KIND]) == EventKind.PAYMENT


class EventKind(enum.IntEnum):
    """The codes of ``features["event_kind"]``."""

    PAGE_VIEW = 1
    LOGIN = 2
    FAILED_LOGIN = 3
    ADD_TO_CART = 4
    CHECKOUT = 5
    PAYMENT = 6


SESSION_FEATURES = (
    "SESSION_EVENTS",
    "SESSION_PAYMENTS",
    "SESSION_FAILED_LOGINS",
    "SESSION_LOGGED_IN",
    "SESSION_SECONDS_SINCE_LOGIN",
    "SESSION_CLICK_RATE",
    "SESSION_DEVICE_CHANGED",
    "SESSION_IP_CHANGED",
)
"""The names :func:`session_features` returns, in this order."""

SESSION_TIMEOUT_MS = 30 * 60 * 1000  # idle this long, a session is over (web analytics' 30 min)
MAX_OPEN = 3
MAX_KNOWN = 4
DECAY = 0.9  # per finished session: a device unused for ~20 sessions is forgotten
USUAL_SCORE = 1.5  # seen in two recent sessions, or regularly
MIN_RATE_MS = 10_000  # the click rate of a session's first seconds is measured over 10 s
NONE = -1
_COUNT_MAX = 0xFFFF
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)

_HEADER = struct.Struct("<BBBB")
_OPEN = struct.Struct("<IqqqHHHqq")
_KNOWN = struct.Struct("<qH")  # score in thousandths (scores stay below 1 / (1 - DECAY))
_VERSION = 1


@dataclass(slots=True)
class OpenSession:
    """Counters of one session so far; times in Unix milliseconds, ``NONE`` when unknown."""

    key: int
    start_ms: int
    last_ms: int
    login_ms: int = NONE
    events: int = 0
    failed_logins: int = 0
    payments: int = 0
    device: int = NONE
    ip: int = NONE

    def values(self) -> tuple[int, ...]:
        """The fields in declaration order (the order of the packed bytes)."""
        return (
            self.key, self.start_ms, self.last_ms, self.login_ms, self.events,
            self.failed_logins, self.payments, self.device, self.ip,
        )  # fmt: skip


@dataclass(slots=True)
class SessionState:
    """A customer's open sessions and the scores of the devices and IPs they used."""

    open: list[OpenSession] = field(default_factory=list)
    devices: dict[int, float] = field(default_factory=dict)
    ips: dict[int, float] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        """Pack the state: 94 bytes with one open session, two devices and two IPs.

        Each further open session takes 50 bytes, each device or IP 10.

        >>> state = SessionState([OpenSession(7, 1000, 2000, events=3)], {5: 2.5}, {9: 1.0})
        >>> SessionState.from_bytes(state.to_bytes()) == state
        True
        """
        parts = [_HEADER.pack(_VERSION, len(self.open), len(self.devices), len(self.ips))]
        parts.extend(_OPEN.pack(*s.values()) for s in self.open)
        for known in (self.devices, self.ips):
            parts.extend(
                _KNOWN.pack(key, min(round(score * 1000), _COUNT_MAX))
                for key, score in known.items()
            )
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes) -> SessionState:
        """Read :meth:`to_bytes` output; raise ``ValueError`` on anything else."""
        try:
            version, n_open, n_devices, n_ips = _HEADER.unpack_from(data)
            if version != _VERSION:
                raise ValueError(f"unknown session state version {version}")
            offset = _HEADER.size
            state = cls()
            for _ in range(n_open):
                state.open.append(OpenSession(*_OPEN.unpack_from(data, offset)))
                offset += _OPEN.size
            for known, count in ((state.devices, n_devices), (state.ips, n_ips)):
                for _ in range(count):
                    key, milli = _KNOWN.unpack_from(data, offset)
                    known[key] = milli / 1000
                    offset += _KNOWN.size
        except struct.error as error:
            raise ValueError(f"corrupt session state: {error}") from None
        if offset != len(data):
            raise ValueError(f"corrupt session state: {len(data) - offset} trailing bytes")
        return state


def session_features(state: SessionState, tx: Transaction) -> dict[str, float]:
    """The features of ``tx`` in its session, after counting ``tx`` into ``state``.

    ``SESSION_SECONDS_SINCE_LOGIN`` counts from the session's start when there was no
    login; ``SESSION_CLICK_RATE`` is events after the first per minute of session;
    ``*_CHANGED`` is 1 when the device (IP) is not one the customer uses regularly.
    Returns ``{}`` for an event without ``session_id`` (and leaves ``state`` alone).

    Examples
    --------
    >>> t0 = datetime(2024, 1, 1, tzinfo=UTC)
    >>> def event(seconds, kind):
    ...     when = t0 + timedelta(seconds=seconds)
    ...     return Transaction("e", when, "c", "t", 0.0, "web", "s1", {EVENT_KIND: kind})
    >>> state = SessionState()
    >>> for seconds, kind in [(0, 3), (5, 2), (20, 5)]:
    ...     _ = session_features(state, event(seconds, kind))
    >>> x = session_features(state, event(50, EventKind.PAYMENT))
    >>> x["SESSION_EVENTS"], x["SESSION_FAILED_LOGINS"], x["SESSION_SECONDS_SINCE_LOGIN"]
    (4.0, 1.0, 45.0)
    >>> x["SESSION_CLICK_RATE"]  # 3 events after the first in 50 s
    3.6
    """
    if tx.session_id is None:
        return {}
    now = (tx.event_time - _EPOCH) // _MS
    _close_idle(state, now)
    session = _session(state, zlib.crc32(tx.session_id.encode()), now)
    extra = tx.features or {}
    device = _id(extra.get(DEVICE_ID))
    ip = _id(extra.get(IP_ID))
    _count(session, int(extra.get(EVENT_KIND, EventKind.PAYMENT)), now, device, ip)
    since = session.login_ms if session.login_ms != NONE else session.start_ms
    elapsed = max(now - session.start_ms, MIN_RATE_MS)
    return {
        "SESSION_EVENTS": float(session.events),
        "SESSION_PAYMENTS": float(session.payments),
        "SESSION_FAILED_LOGINS": float(session.failed_logins),
        "SESSION_LOGGED_IN": float(session.login_ms != NONE),
        "SESSION_SECONDS_SINCE_LOGIN": max(now - since, 0) / 1000.0,
        "SESSION_CLICK_RATE": round((session.events - 1) * 60_000.0 / elapsed, 6),
        "SESSION_DEVICE_CHANGED": _changed(state.devices, device),
        "SESSION_IP_CHANGED": _changed(state.ips, ip),
    }


def _id(value: float | None) -> int:
    """A device or IP id as an integer; ``NONE`` when absent or not a 63-bit id.

    >>> _id(12.0), _id(None), _id(-3.0), _id(1e30)
    (12, -1, -1, -1)
    """
    if value is None or not 0 <= value < 2.0**63:
        return NONE
    return int(value)


def _session(state: SessionState, key: int, now: int) -> OpenSession:
    """The open session ``key``, opened now if new (closing the oldest when full)."""
    for session in state.open:
        if session.key == key:
            return session
    if len(state.open) >= MAX_OPEN:
        oldest = min(state.open, key=lambda s: s.last_ms)
        state.open.remove(oldest)
        _fold(state, oldest)
    session = OpenSession(key, now, now)
    state.open.append(session)
    return session


def _count(session: OpenSession, kind: int, now: int, device: int, ip: int) -> None:
    session.events = min(session.events + 1, _COUNT_MAX)
    session.last_ms = max(session.last_ms, now)
    if kind == EventKind.FAILED_LOGIN:
        session.failed_logins = min(session.failed_logins + 1, _COUNT_MAX)
    elif kind == EventKind.LOGIN:
        session.login_ms = now
    elif kind == EventKind.PAYMENT:
        session.payments = min(session.payments + 1, _COUNT_MAX)
    if session.device == NONE:
        session.device = device
    if session.ip == NONE:
        session.ip = ip


def _close_idle(state: SessionState, now: int) -> None:
    """Finish the sessions idle for longer than :data:`SESSION_TIMEOUT_MS`."""
    for session in state.open:
        if now - session.last_ms > SESSION_TIMEOUT_MS:
            break
    else:
        return
    for session in [s for s in state.open if now - s.last_ms > SESSION_TIMEOUT_MS]:
        state.open.remove(session)
        _fold(state, session)


def _fold(state: SessionState, session: OpenSession) -> None:
    """Credit a finished session's device and IP to the customer's history."""
    _credit(state.devices, session.device)
    _credit(state.ips, session.ip)


def _credit(known: dict[int, float], key: int) -> None:
    """Decay every score and add one to ``key``'s; a new key evicts the weakest.

    >>> known = {1: 3.0}
    >>> _credit(known, 2); known
    {1: 2.7, 2: 1.0}
    """
    if key == NONE:
        return
    for other, score in known.items():
        known[other] = round(score * DECAY, 3)
    if key not in known and len(known) >= MAX_KNOWN:
        del known[min(known, key=known.__getitem__)]
    known[key] = round(known.get(key, 0.0) + 1.0, 3)  # thousandths: bytes round-trip exactly


def _changed(known: dict[int, float], key: int) -> float:
    """1.0 when the customer has usual devices (IPs) and ``key`` is not one of them.

    >>> _changed({1: 3.0, 2: 1.0}, 2), _changed({1: 3.0}, 1), _changed({}, 5)
    (1.0, 0.0, 0.0)
    """
    if key == NONE or max(known.values(), default=0.0) < USUAL_SCORE:
        return 0.0
    return float(known.get(key, 0.0) < USUAL_SCORE)
