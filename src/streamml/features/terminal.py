"""Terminal-side fraud features: the handbook's delayed risk windows, from a small state.

A terminal's risk over ``w`` days is the share of its transactions in
``(t - d - w, t - d]`` that turned out fraudulent, ``d`` being the 7-day delay after
which labels are assumed known. Online, a fraud counts only once its label has arrived
(``label_time <= t``), so the features never use the future even when labels come later
than ``d``. The state keeps the terminal's transaction times of the last ``d + 30`` days
and, apart, the few frauds among them with their label times.
"""

from __future__ import annotations

import struct
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from datetime import datetime

from streamml.features.eventtime import DAY, event_micros
from streamml.records import Transaction

WINDOW_DAYS = (1, 7, 30)
DELAY_DAYS = 7
DELAY = DELAY_DAYS * DAY
HORIZON = DELAY + 30 * DAY
"""Entries at or before ``latest - HORIZON`` are outside every window and are pruned."""
HORIZON_DAYS = float(HORIZON // DAY)

HANDBOOK_TERMINAL_FEATURES: tuple[str, ...] = tuple(
    f"TERMINAL_ID_{kind}_{days}DAY_WINDOW" for days in WINDOW_DAYS for kind in ("NB_TX", "RISK")
)
TERMINAL_EXTRA_FEATURES: tuple[str, ...] = ("TERMINAL_ID_DAYS_SINCE_KNOWN_FRAUD",)

_VERSION = 1
_HEADER = struct.Struct("<BII")  # version, transactions, frauds


@dataclass(slots=True)
class TerminalState:
    """One terminal's transaction times and its known frauds, in integer microseconds.

    ``times`` is ascending. ``fraud_times`` (ascending) and ``fraud_label_times`` are
    parallel: a fraudulent transaction's time and the time its label arrived.

    Examples
    --------
    >>> state = TerminalState([1, 2, 3], [2], [9])
    >>> len(state.to_bytes())
    49
    >>> TerminalState.from_bytes(state.to_bytes()) == state
    True
    """

    times: list[int] = field(default_factory=list)
    fraud_times: list[int] = field(default_factory=list)
    fraud_label_times: list[int] = field(default_factory=list)

    def to_bytes(self) -> bytes:
        """Compact little-endian encoding: 9-byte header, 8 bytes per transaction, 16 per
        fraud."""
        n, m = len(self.times), len(self.fraud_times)
        body = struct.pack(
            f"<{n + 2 * m}q", *self.times, *self.fraud_times, *self.fraud_label_times
        )
        return _HEADER.pack(_VERSION, n, m) + body

    @classmethod
    def from_bytes(cls, data: bytes) -> TerminalState:
        """Decode :meth:`to_bytes`; raise ``ValueError`` on anything else."""
        if len(data) < _HEADER.size:
            raise ValueError(f"terminal state: {len(data)} bytes is shorter than its header")
        version, n, m = _HEADER.unpack_from(data)
        if version != _VERSION or len(data) != _HEADER.size + 8 * (n + 2 * m):
            raise ValueError(f"terminal state: version {version}, {n}+{m} entries, {len(data)} B")
        values = list(struct.unpack_from(f"<{n + 2 * m}q", data, _HEADER.size))
        return cls(values[:n], values[n : n + m], values[n + m :])


def terminal_features(state: TerminalState, tx: Transaction) -> dict[str, float]:
    """The terminal's features at ``tx.event_time``; then record ``tx`` in the state.

    For ``w`` in 1, 7, 30 days: ``TERMINAL_ID_NB_TX_{w}DAY_WINDOW``, the count of the
    terminal's transactions in ``(t - 7d - w, t - 7d]``, and ``TERMINAL_ID_RISK_{w}DAY_WINDOW``,
    the frauds known by ``t`` among them over that count (0 when the count is 0). Extra:
    days from the latest known fraudulent transaction to ``t`` (capped at 37).

    Examples
    --------
    >>> from datetime import UTC, timedelta
    >>> t0 = datetime(2018, 4, 1, tzinfo=UTC)
    >>> state = TerminalState()
    >>> _ = terminal_features(state, Transaction("a", t0, "c", "t", 10.0))
    >>> record_terminal_fraud(state, t0, t0 + timedelta(days=7))
    >>> x = terminal_features(state, Transaction("b", t0 + timedelta(days=7), "c", "t", 5.0))
    >>> x["TERMINAL_ID_NB_TX_1DAY_WINDOW"], x["TERMINAL_ID_RISK_1DAY_WINDOW"]
    (1.0, 1.0)
    >>> x["TERMINAL_ID_DAYS_SINCE_KNOWN_FRAUD"]
    7.0
    """
    now = event_micros(tx.event_time)
    times = state.times
    _prune(state, now)
    top = now - DELAY
    hi = bisect_right(times, top)
    lo1 = bisect_right(times, top - DAY, 0, hi)
    lo7 = bisect_right(times, top - 7 * DAY, 0, lo1)
    edge30 = top - 30 * DAY
    # After pruning, only an out-of-order event can find entries at or before its edge.
    lo30 = bisect_right(times, edge30, 0, lo7) if lo7 and times[0] <= edge30 else 0
    n1, n7, n30 = hi - lo1, hi - lo7, hi - lo30
    if state.fraud_times:
        f1, f7, f30, since = _known_frauds(state, now)
    else:
        f1 = f7 = f30 = 0
        since = HORIZON_DAYS
    x = {
        "TERMINAL_ID_NB_TX_1DAY_WINDOW": float(n1),
        "TERMINAL_ID_RISK_1DAY_WINDOW": f1 / n1 if n1 else 0.0,
        "TERMINAL_ID_NB_TX_7DAY_WINDOW": float(n7),
        "TERMINAL_ID_RISK_7DAY_WINDOW": f7 / n7 if n7 else 0.0,
        "TERMINAL_ID_NB_TX_30DAY_WINDOW": float(n30),
        "TERMINAL_ID_RISK_30DAY_WINDOW": f30 / n30 if n30 else 0.0,
        "TERMINAL_ID_DAYS_SINCE_KNOWN_FRAUD": since,
    }
    if not times or now >= times[-1]:
        times.append(now)
    else:
        times.insert(bisect_right(times, now), now)
    return x


def record_terminal_fraud(state: TerminalState, tx_time: datetime, label_time: datetime) -> None:
    """Record that the terminal's transaction at ``tx_time`` is a fraud, known at
    ``label_time``.

    Idempotent for a redelivered label: a time gets at most as many frauds as the state
    holds transactions at that time (one, if the label overtook its transaction). A fraud
    older than every window is ignored.

    Examples
    --------
    >>> from datetime import UTC
    >>> t0 = datetime(2018, 4, 1, tzinfo=UTC)
    >>> state = TerminalState()
    >>> _ = terminal_features(state, Transaction("a", t0, "c", "t", 10.0))
    >>> record_terminal_fraud(state, t0, t0)
    >>> record_terminal_fraud(state, t0, t0)  # the same label again
    >>> len(state.fraud_times)
    1
    """
    when = event_micros(tx_time)
    times, frauds = state.times, state.fraud_times
    if times and when <= times[-1] - HORIZON:
        return
    n_tx = bisect_right(times, when) - bisect_left(times, when)
    first, last = bisect_left(frauds, when), bisect_right(frauds, when)
    if last - first >= max(n_tx, 1):
        return
    frauds.insert(last, when)
    state.fraud_label_times.insert(last, event_micros(label_time))


def _prune(state: TerminalState, now: int) -> None:
    times = state.times
    if not times:
        return
    last = times[-1]
    limit = (now if now > last else last) - HORIZON
    if times[0] <= limit:
        del times[: bisect_right(times, limit)]
    frauds = state.fraud_times
    if frauds and frauds[0] <= limit:
        cut = bisect_right(frauds, limit)
        del frauds[:cut]
        del state.fraud_label_times[:cut]


def _known_frauds(state: TerminalState, now: int) -> tuple[int, int, int, float]:
    """Frauds known at ``now`` in each delayed window, and days since the latest one."""
    top = now - DELAY
    edge1, edge7, edge30 = top - DAY, top - 7 * DAY, top - 30 * DAY
    f1 = f7 = f30 = 0
    latest: int | None = None
    for when, known in zip(state.fraud_times, state.fraud_label_times, strict=True):
        if known > now or when > now:
            continue
        latest = when  # ascending: the last one kept is the latest
        if edge30 < when <= top:
            f30 += 1
            if when > edge7:
                f7 += 1
                if when > edge1:
                    f1 += 1
    since = HORIZON_DAYS if latest is None else min((now - latest) / DAY, HORIZON_DAYS)
    return f1, f7, f30, since
