"""Customer-side fraud features, computed per transaction from a small per-card state.

The state holds the card's transactions (time, amount) of the last 30 days in time
order and the time its first fraud label arrived. Each transaction adds itself, drops
what no window can reach any more, and reads its windows by binary search; nothing
re-reads history. The same functions serve the Faust worker (the state lives in a table
keyed by customer id, as :meth:`CustomerState.to_bytes`) and offline evaluation.
"""

from __future__ import annotations

import math
import struct
from bisect import bisect_left, bisect_right, insort
from dataclasses import dataclass, field
from datetime import datetime

from streamml.features.eventtime import DAY, HOUR, event_micros
from streamml.features.session import NOT_MODEL_INPUTS
from streamml.records import Transaction

SATURDAY = 5
NIGHT_LAST_HOUR = 6
WINDOW_DAYS = (1, 7, 30)
HORIZON = 30 * DAY
"""Entries at or before ``latest - HORIZON`` are outside every window and are pruned."""
HORIZON_HOURS = HORIZON / HOUR
HIGH_AMOUNT_FACTOR = 3.0
MIN_AMOUNT = 0.01  # one cent: the floor of a mean or median used as a denominator

HANDBOOK_CUSTOMER_FEATURES: tuple[str, ...] = (
    "TX_DURING_WEEKEND",
    "TX_DURING_NIGHT",
    *(
        f"CUSTOMER_ID_{kind}_{days}DAY_WINDOW"
        for days in WINDOW_DAYS
        for kind in ("NB_TX", "AVG_AMOUNT")
    ),
)
CUSTOMER_EXTRA_FEATURES: tuple[str, ...] = (
    "TX_AMOUNT",
    "TX_LOG_AMOUNT",
    "CUSTOMER_ID_AMOUNT_RATIO_30DAY_WINDOW",
    "CUSTOMER_ID_AMOUNT_MEDIAN_RATIO_30DAY_WINDOW",
    "CUSTOMER_ID_HIGH_AMOUNT_SHARE_30DAY_WINDOW",
    "CUSTOMER_ID_NB_TX_1HOUR_WINDOW",
    "CUSTOMER_ID_HOURS_SINCE_LAST_TX",
)

_VERSION = 1
_HEADER = struct.Struct("<BIq")  # version, entries, fraud_known_at
_NO_FRAUD = -(2**63)


@dataclass(slots=True)
class CustomerState:
    """One card's transactions of the last 30 days and when a fraud on it became known.

    ``times`` (event time, integer microseconds, ascending) and ``amounts`` are parallel;
    ``fraud_known_at`` is the earliest ``label_time`` of a fraud label, in microseconds.
    ``ordered`` holds the same amounts sorted by value, for the median in constant time;
    it is derived (rebuilt from ``amounts`` when absent), never serialized.

    Examples
    --------
    >>> state = CustomerState([1_000_000, 2_000_000], [10.0, 12.5], fraud_known_at=None)
    >>> len(state.to_bytes())
    45
    >>> CustomerState.from_bytes(state.to_bytes()) == state
    True
    """

    times: list[int] = field(default_factory=list)
    amounts: list[float] = field(default_factory=list)
    fraud_known_at: int | None = None
    ordered: list[float] = field(default_factory=list, compare=False, repr=False)

    def __post_init__(self) -> None:
        if len(self.ordered) != len(self.amounts):
            self.ordered = sorted(self.amounts)

    def to_bytes(self) -> bytes:
        """Compact little-endian encoding: 13-byte header, then 16 bytes per entry."""
        n = len(self.times)
        known = _NO_FRAUD if self.fraud_known_at is None else self.fraud_known_at
        header = _HEADER.pack(_VERSION, n, known)
        return header + struct.pack(f"<{n}q{n}d", *self.times, *self.amounts)

    @classmethod
    def from_bytes(cls, data: bytes) -> CustomerState:
        """Decode :meth:`to_bytes`; raise ``ValueError`` on anything else."""
        if len(data) < _HEADER.size:
            raise ValueError(f"customer state: {len(data)} bytes is shorter than its header")
        version, n, known = _HEADER.unpack_from(data)
        if version != _VERSION or len(data) != _HEADER.size + 16 * n:
            raise ValueError(f"customer state: version {version}, {n} entries, {len(data)} bytes")
        values = struct.unpack_from(f"<{n}q{n}d", data, _HEADER.size)
        times = list(values[:n])
        amounts = list(values[n:])
        return cls(times, amounts, None if known == _NO_FRAUD else known)


def customer_features(state: CustomerState, tx: Transaction) -> dict[str, float]:
    """Add ``tx`` to its card's state and return the card's features at ``tx.event_time``.

    Windows cover ``(t - w, t]``, the current transaction included (with equal times,
    the ones added earlier count, later ones not: pandas' rolling windows do the same).
    Returns the calendar flags, the six handbook customer windows, ``TX_AMOUNT`` and the
    extras of :data:`CUSTOMER_EXTRA_FEATURES`, then ``EVENT_<name>`` for each numeric
    feature carried by the event. (For an event older than the card's newest one, the
    median and the high-amount share also see the newer amounts.)

    Examples
    --------
    >>> from datetime import UTC, timedelta
    >>> t0 = datetime(2018, 4, 7, 6, 59, tzinfo=UTC)  # a Saturday
    >>> state = CustomerState()
    >>> _ = customer_features(state, Transaction("a", t0, "c", "t", 10.0))
    >>> x = customer_features(state, Transaction("b", t0 + timedelta(days=1), "c", "t", 30.0))
    >>> x["TX_DURING_WEEKEND"], x["TX_DURING_NIGHT"]
    (1.0, 1.0)
    >>> x["CUSTOMER_ID_NB_TX_1DAY_WINDOW"], x["CUSTOMER_ID_AVG_AMOUNT_7DAY_WINDOW"]
    (1.0, 20.0)
    >>> x["CUSTOMER_ID_AMOUNT_RATIO_30DAY_WINDOW"], x["CUSTOMER_ID_HOURS_SINCE_LAST_TX"]
    (3.0, 24.0)
    """
    when = tx.event_time
    now = event_micros(when)
    amount = tx.amount
    pos = _add(state, now, amount)
    times, amounts = state.times, state.amounts
    hi = pos + 1
    edge30 = now - 30 * DAY
    # After pruning, only an out-of-order event can find entries at or before its edge.
    lo30 = bisect_right(times, edge30, 0, pos) if times[0] <= edge30 else 0
    lo7 = bisect_right(times, now - 7 * DAY, lo30, pos)
    lo1 = bisect_right(times, now - DAY, lo7, pos)
    # Each part is summed once; the windows' sums differ from pandas' by rounding only.
    previous1 = sum(amounts[lo1:pos])
    previous7 = sum(amounts[lo7:lo1]) + previous1
    previous = sum(amounts[lo30:lo7]) + previous7
    x = {
        "TX_DURING_WEEKEND": 1.0 if when.weekday() >= SATURDAY else 0.0,
        "TX_DURING_NIGHT": 1.0 if when.hour <= NIGHT_LAST_HOUR else 0.0,
        "CUSTOMER_ID_NB_TX_1DAY_WINDOW": float(hi - lo1),
        "CUSTOMER_ID_AVG_AMOUNT_1DAY_WINDOW": (previous1 + amount) / (hi - lo1),
        "CUSTOMER_ID_NB_TX_7DAY_WINDOW": float(hi - lo7),
        "CUSTOMER_ID_AVG_AMOUNT_7DAY_WINDOW": (previous7 + amount) / (hi - lo7),
        "CUSTOMER_ID_NB_TX_30DAY_WINDOW": float(hi - lo30),
        "CUSTOMER_ID_AVG_AMOUNT_30DAY_WINDOW": (previous + amount) / (hi - lo30),
        "TX_AMOUNT": amount,
        "TX_LOG_AMOUNT": math.log1p(amount),
    }
    mean = previous / (pos - lo30) if pos > lo30 else amount
    _amount_extras(x, state.ordered, amount, mean)
    since = (now - times[pos - 1]) / HOUR if pos else HORIZON_HOURS
    x["CUSTOMER_ID_NB_TX_1HOUR_WINDOW"] = float(hi - bisect_right(times, now - HOUR, lo1, pos))
    x["CUSTOMER_ID_HOURS_SINCE_LAST_TX"] = min(since, HORIZON_HOURS)
    if tx.features:
        for name, value in tx.features.items():
            if name not in NOT_MODEL_INPUTS:  # ids and codes are not quantities
                x[f"EVENT_{name}"] = float(value)
    return x


def mark_customer_fraud(state: CustomerState, label_time: datetime) -> None:
    """Record that a fraud label for this card arrived at ``label_time`` (earliest wins).

    Examples
    --------
    >>> from datetime import UTC
    >>> state = CustomerState()
    >>> mark_customer_fraud(state, datetime(2018, 4, 9, tzinfo=UTC))
    >>> customer_known_fraud(state, datetime(2018, 4, 8, tzinfo=UTC))
    False
    >>> customer_known_fraud(state, datetime(2018, 4, 9, tzinfo=UTC))
    True
    """
    known = event_micros(label_time)
    if state.fraud_known_at is None or known < state.fraud_known_at:
        state.fraud_known_at = known


def customer_known_fraud(state: CustomerState, at: datetime) -> bool:
    """Whether a fraud on this card was known (its label had arrived) by ``at``."""
    return state.fraud_known_at is not None and state.fraud_known_at <= event_micros(at)


def _add(state: CustomerState, now: int, amount: float) -> int:
    """Prune what the longest window cannot reach, insert ``(now, amount)``, return its index.

    Equal times keep arrival order (the new entry goes after them); an event older than
    the newest entry is inserted in place, so out-of-order events are tolerated. The
    amount is not yet in ``state.ordered``: :func:`_amount_extras` adds it.
    """
    times, amounts = state.times, state.amounts
    if times:
        last = times[-1]
        limit = (now if now > last else last) - HORIZON
        if times[0] <= limit:
            cut = bisect_right(times, limit)
            ordered = state.ordered
            for old in amounts[:cut]:
                del ordered[bisect_left(ordered, old)]
            del times[:cut]
            del amounts[:cut]
    if not times or now >= times[-1]:
        times.append(now)
        amounts.append(amount)
        return len(times) - 1
    pos = bisect_right(times, now)
    times.insert(pos, now)
    amounts.insert(pos, amount)
    return pos


def _amount_extras(x: dict[str, float], ordered: list[float], amount: float, mean: float) -> None:
    """Set how ``amount`` compares with the card's previous 30 days, then add it to
    ``ordered`` (the previous amounts, sorted).

    The median resists the compromised-card scenario, where a third of the card's
    transactions over 14 days are five times the usual amount; the share of previous
    amounts above three medians says whether the card is under such an attack. Without
    history the ratios are 1 (typical) and the share 0.
    """
    n_prev = len(ordered)
    if n_prev == 0:
        x["CUSTOMER_ID_AMOUNT_RATIO_30DAY_WINDOW"] = 1.0
        x["CUSTOMER_ID_AMOUNT_MEDIAN_RATIO_30DAY_WINDOW"] = 1.0
        x["CUSTOMER_ID_HIGH_AMOUNT_SHARE_30DAY_WINDOW"] = 0.0
        ordered.append(amount)
        return
    half = n_prev // 2
    median = ordered[half] if n_prev % 2 else (ordered[half - 1] + ordered[half]) / 2
    n_high = n_prev - bisect_right(ordered, HIGH_AMOUNT_FACTOR * median)
    x["CUSTOMER_ID_AMOUNT_RATIO_30DAY_WINDOW"] = amount / (
        mean if mean > MIN_AMOUNT else MIN_AMOUNT
    )
    x["CUSTOMER_ID_AMOUNT_MEDIAN_RATIO_30DAY_WINDOW"] = amount / (
        median if median > MIN_AMOUNT else MIN_AMOUNT
    )
    x["CUSTOMER_ID_HIGH_AMOUNT_SHARE_30DAY_WINDOW"] = n_high / n_prev
    insort(ordered, amount)
