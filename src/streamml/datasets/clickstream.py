"""A seeded generator of clickstream sessions, payments and labelled fraud, at any scale.

Every event is a :class:`~streamml.records.Transaction` for the ``transactions`` topic,
keyed by customer; ``channel`` is ``web``, ``app`` or ``pos`` and ``session_id`` names the
visit. The contract has no field for the kind of event, so ``features`` carries it, with
the device and IP as small integer ids (no device or IP at a POS terminal):

- ``features["event_kind"]``: 1 page view, 2 login, 3 failed login, 4 add to cart,
  5 checkout, 6 payment (:class:`~streamml.features.session.EventKind`);
- ``features["device_id"]``, ``features["ip_id"]``: opaque ids, meaningful only as equal
  or different (:mod:`streamml.features.session` turns them into change flags).

Only payments have an ``amount`` above 0 and only payments get a fraud label, due
``label_delay`` after the payment: the worker scores every event, but only payments
train the model (``docs/adr/0007``). Fraud scenarios (:class:`Scenario`):

- the handbook's three: a payment above 220 (``LARGE_AMOUNT``); every payment at a few
  terminals for 28 days (``COMPROMISED_TERMINAL``); a thief making a third of a card's
  payments for 14 days, at five times the usual amount (``COMPROMISED_CARD``);
- ``ACCOUNT_TAKEOVER``: a new device or IP, failed logins, then a fast, large checkout;
- ``BOT``: a script clicking tens of pages a minute; most of them then pay;
- ``CARD_TESTING``: a burst of 4 to 20 tiny payments seconds apart.

The same configuration (seed included) always yields the same events, about 100,000 a
second on one core; 1,000 customers over 30 days make about 550,000 events, 60,000
payments, 1 % of them fraudulent. Event times are whole milliseconds, as on the wire.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from streamml.datasets import _clicksessions as scripts
from streamml.datasets._clickworld import (
    ClickstreamConfig,
    Customer,
    Draws,
    Scenario,
    Session,
    World,
)
from streamml.datasets.timeline import interleave_labels
from streamml.features.session import DEVICE_ID, EVENT_KIND, IP_ID, EventKind
from streamml.records import Label, Transaction

CHANNELS = ("web", "app", "pos")
SCRIPTS: dict[Scenario, Callable[[Draws, Customer], Session]] = {
    Scenario.GENUINE: scripts.genuine,
    Scenario.COMPROMISED_CARD: scripts.stolen_card,
    Scenario.ACCOUNT_TAKEOVER: scripts.takeover,
    Scenario.BOT: scripts.bot,
    Scenario.CARD_TESTING: scripts.card_testing,
}
"""What happens in each kind of visit the world draws."""
_PAYMENT = int(EventKind.PAYMENT)
_Pending = tuple[int, int, int, Session, int, float, Scenario]
"""An event waiting for its time: ms, order, session number, session, kind, amount, label."""
_MS = timedelta(milliseconds=1)


@dataclass(frozen=True, slots=True)
class ClickEvent:
    """One event and its scenario: a payment's label, the session's for other events."""

    transaction: Transaction
    scenario: Scenario

    @property
    def is_payment(self) -> bool:
        return self.transaction.amount > 0

    @property
    def is_fraud(self) -> bool:
        return self.is_payment and self.scenario is not Scenario.GENUINE


def generate_events(config: ClickstreamConfig | None = None) -> Iterator[ClickEvent]:
    """Every event of the simulation in event-time order, each with its scenario.

    Ends after ``config.days`` (never when ``None``).

    >>> events = generate_events(ClickstreamConfig(customers=10, seed=3))
    >>> first = next(events).transaction
    >>> first.event_id, first.channel in CHANNELS, first.features is not None
    ('cs3-0000000000', True, True)
    """
    config = config or ClickstreamConfig()
    world = World(config)
    draws = world.draws
    horizon = None if config.days is None else round(config.days * 86_400_000)
    pending: list[_Pending] = []
    order = itertools.count()
    release = _Release(config)
    for number, (start, scenario, who) in enumerate(world.sessions()):
        session = SCRIPTS[scenario](draws, who)
        start_ms = int(start * 1000)
        while pending and pending[0][0] <= start_ms:
            yield release(heapq.heappop(pending))
        if horizon is not None and start_ms >= horizon:
            break
        for offset, kind, amount in session.steps:
            ms = int((start + offset) * 1000)
            # Labelled now: the world knows every compromise up to the next day.
            label = (
                world.payment_scenario(session, ms / 1000, amount) if kind == _PAYMENT else scenario
            )
            heapq.heappush(pending, (ms, next(order), number, session, kind, amount, label))
    while pending and (horizon is None or pending[0][0] < horizon):
        yield release(heapq.heappop(pending))


class _Release:
    """Turns a pending event into its record; ids are given in time order, as released."""

    def __init__(self, config: ClickstreamConfig) -> None:
        self.start = config.start
        self.prefix = f"cs{config.seed}-"
        self.count = itertools.count()

    def __call__(self, item: _Pending) -> ClickEvent:
        ms, _, number, session, kind, amount, scenario = item
        if session.device >= 0:
            features = {
                EVENT_KIND: float(kind),
                DEVICE_ID: float(session.device),
                IP_ID: float(session.ip),
            }
        else:
            features = {EVENT_KIND: float(kind)}
        transaction = Transaction(
            event_id=f"{self.prefix}{next(self.count):010d}",
            event_time=self.start + ms * _MS,
            customer_id=f"C{session.customer.index:06d}",
            terminal_id=f"T{session.terminal:06d}",
            amount=amount,
            channel=session.channel,
            session_id=f"{self.prefix}s{number:09d}",
            features=features,
        )
        return ClickEvent(transaction, scenario)


def generate_clickstream(
    config: ClickstreamConfig | None = None,
    *,
    limit: int | None = None,
    end: datetime | None = None,
) -> Iterator[Transaction | Label]:
    """Yield each event, each payment followed at once by its fraud label.

    Labels name the payment's customer and terminal (the worker routes them by terminal).

    Stops after ``limit`` events, at ``end`` (exclusive) or after ``config.days``,
    whichever comes first. Labels are due ``config.label_delay`` after their payment.

    >>> records = list(generate_clickstream(ClickstreamConfig(customers=5, seed=1), limit=40))
    >>> sum(isinstance(r, Transaction) for r in records)
    40
    >>> records == list(generate_clickstream(ClickstreamConfig(customers=5, seed=1), limit=40))
    True
    """
    config = config or ClickstreamConfig()
    delay = config.label_delay
    for event in itertools.islice(generate_events(config), limit):
        tx = event.transaction
        if end is not None and tx.event_time >= end:
            return
        yield tx
        if tx.amount > 0:
            yield Label(
                tx.event_id,
                "fraud",
                "1" if event.scenario is not Scenario.GENUINE else "0",
                tx.event_time + delay,
                tx.event_time,
                customer_id=tx.customer_id,
                terminal_id=tx.terminal_id,
            )


def clickstream_records(
    config: ClickstreamConfig | None = None,
    *,
    limit: int | None = None,
    end: datetime | None = None,
) -> Iterator[Transaction | Label]:
    """:func:`generate_clickstream` with each label moved to its label time: a replay.

    >>> from streamml.datasets.timeline import record_time
    >>> records = list(clickstream_records(ClickstreamConfig(customers=20, days=9)))
    >>> times = [record_time(r) for r in records]
    >>> times == sorted(times), isinstance(records[-1], Label)
    (True, True)
    """
    records = interleave_labels(generate_clickstream(config, limit=limit, end=end))
    return cast(Iterator[Transaction | Label], records)  # it only reorders what it is given


__all__ = [
    "CHANNELS",
    "ClickEvent",
    "ClickstreamConfig",
    "Scenario",
    "clickstream_records",
    "generate_clickstream",
    "generate_events",
]
