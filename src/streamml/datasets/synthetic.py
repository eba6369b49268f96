"""A seeded generator of clickstream sessions and payments with labelled fraud scenarios.

For demos and load tests of any size. The same configuration (seed included) always
yields the same events. Each session is one visit of a customer through ``web``, ``app``
or ``pos``; it carries clickstream features (page views, dwell time, new device) and ends
in one payment, or in a burst of small ones when a stolen card is being tested.

Fraud scenarios, in the spirit of the Fraud Detection Handbook's simulator:

- ``AMOUNT_SPIKE``: a payment 5 to 15 times the customer's usual amount.
- ``COMPROMISED_TERMINAL``: every payment on a compromised POS terminal for 14 days.
- ``COMPROMISED_CARD``: a third of a compromised card's payments for 14 days, 2 to 5
  times larger, online ones from a new device.
- ``RAPID_BURST``: card testing, 5 to 20 small web payments seconds apart.
"""

from __future__ import annotations

import enum
import heapq
import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from streamml.records import Label, Transaction

CHANNELS = ("web", "app", "pos")


class Scenario(enum.IntEnum):
    """Why a payment is fraudulent; ``GENUINE`` when it is not."""

    GENUINE = 0
    AMOUNT_SPIKE = 1
    COMPROMISED_TERMINAL = 2
    COMPROMISED_CARD = 3
    RAPID_BURST = 4


@dataclass(frozen=True, slots=True)
class SyntheticConfig:
    """The world to simulate; the defaults give about 1 % fraud."""

    seed: int = 0
    start: datetime = datetime(2024, 1, 1, tzinfo=UTC)
    customers: int = 2_000
    terminals: int = 1_000
    merchants: int = 200
    sessions_per_day: float = 10_000.0
    amount_spike_rate: float = 0.002
    burst_rate: float = 0.0002
    compromised_terminals_per_day: int = 1
    compromised_cards_per_day: int = 1
    compromise_days: float = 14.0
    label_delay: timedelta = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class SyntheticPayment:
    """One generated payment and the scenario behind it (the label's explanation)."""

    transaction: Transaction
    scenario: Scenario

    @property
    def is_fraud(self) -> bool:
        return self.scenario is not Scenario.GENUINE


@dataclass(frozen=True, slots=True)
class _Profile:
    mean_amount: float
    channel_weights: tuple[float, float, float]
    terminals: tuple[int, ...]


@dataclass(slots=True)
class _Session:
    index: int
    start: datetime
    customer: int
    channel: str
    features: dict[str, float] = field(default_factory=dict)


class _World:
    """Customers, terminals and the compromises active at the current day."""

    def __init__(self, config: SyntheticConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.profiles = [self._profile() for _ in range(config.customers)]
        self.bad_terminals: dict[int, datetime] = {}
        self.bad_cards: dict[int, datetime] = {}
        self.day = -1

    def _profile(self) -> _Profile:
        rng = self.rng
        weights = (rng.random(), rng.random(), rng.random())
        terminals = tuple(
            rng.sample(range(self.config.terminals), k=min(20, self.config.terminals))
        )
        return _Profile(rng.uniform(5.0, 100.0), weights, terminals)

    def advance_to(self, moment: datetime) -> None:
        """Draw new compromises at each day boundary; forget expired ones."""
        day = (moment - self.config.start).days
        while self.day < day:
            self.day += 1
            day_start = self.config.start + timedelta(days=self.day)
            until = day_start + timedelta(days=self.config.compromise_days)
            for _ in range(self.config.compromised_terminals_per_day):
                self.bad_terminals[self.rng.randrange(self.config.terminals)] = until
            for _ in range(self.config.compromised_cards_per_day):
                self.bad_cards[self.rng.randrange(self.config.customers)] = until
        for table in (self.bad_terminals, self.bad_cards):
            for key in [k for k, until in table.items() if until <= moment]:
                del table[key]

    def session(self, index: int, start: datetime) -> list[_Draft]:
        """The payments of one session starting at ``start``."""
        rng = self.rng
        customer = rng.randrange(self.config.customers)
        profile = self.profiles[customer]
        channel = rng.choices(CHANNELS, weights=profile.channel_weights)[0]
        session = _Session(index, start, customer, channel)
        if rng.random() < self.config.burst_rate:
            return self._burst(session)
        session.features = {
            "page_views": float(1 + int(rng.expovariate(1 / 6))),
            "dwell_seconds": round(rng.lognormvariate(4.0, 0.8), 1),
            "new_device": 1.0 if rng.random() < 0.05 else 0.0,
        }
        if channel == "pos":
            terminal = f"T{rng.choice(profile.terminals):05d}"
        else:
            terminal = f"M{rng.randrange(self.config.merchants):04d}"
        amount = max(0.5, rng.gauss(profile.mean_amount, profile.mean_amount / 2))
        amount, scenario = self._fraud(session, terminal, amount)
        when = start + timedelta(seconds=session.features["dwell_seconds"])
        return [self._payment(session, when, terminal, amount, scenario)]

    def _fraud(self, session: _Session, terminal: str, amount: float) -> tuple[float, Scenario]:
        rng = self.rng
        if rng.random() < self.config.amount_spike_rate:
            return amount * rng.uniform(5.0, 15.0), Scenario.AMOUNT_SPIKE
        if session.channel == "pos" and int(terminal[1:]) in self.bad_terminals:
            return amount, Scenario.COMPROMISED_TERMINAL
        if session.customer in self.bad_cards and rng.random() < 1 / 3:
            if session.channel != "pos":
                session.features["new_device"] = 1.0
            return amount * rng.uniform(2.0, 5.0), Scenario.COMPROMISED_CARD
        return amount, Scenario.GENUINE

    def _burst(self, session: _Session) -> list[_Draft]:
        rng = self.rng
        session.channel = "web"
        session.features = {
            "page_views": float(rng.randint(1, 2)),
            "dwell_seconds": round(rng.uniform(2.0, 10.0), 1),
            "new_device": 1.0,
        }
        terminal = f"M{rng.randrange(self.config.merchants):04d}"
        when = session.start + timedelta(seconds=session.features["dwell_seconds"])
        payments = []
        for _ in range(rng.randint(5, 20)):
            amount = rng.uniform(0.5, 5.0)
            payments.append(self._payment(session, when, terminal, amount, Scenario.RAPID_BURST))
            when += timedelta(seconds=rng.uniform(1.0, 5.0))
        return payments

    def _payment(
        self, session: _Session, when: datetime, terminal: str, amount: float, scenario: Scenario
    ) -> _Draft:
        return _Draft(when, session, terminal, round(amount, 2), scenario, dict(session.features))


@dataclass(frozen=True, slots=True)
class _Draft:
    """A payment before its id: ids are given in time order, when it is released."""

    when: datetime
    session: _Session
    terminal: str
    amount: float
    scenario: Scenario
    features: dict[str, float]

    def finish(self, seed: int, number: int) -> SyntheticPayment:
        transaction = Transaction(
            event_id=f"syn{seed}-{number:09d}",
            # Whole milliseconds, as on the wire (Avro timestamp-millis); flooring keeps order.
            event_time=self.when.replace(microsecond=self.when.microsecond // 1000 * 1000),
            customer_id=f"C{self.session.customer:05d}",
            terminal_id=self.terminal,
            amount=self.amount,
            channel=self.session.channel,
            session_id=f"syn{seed}-s{self.session.index}",
            features=self.features,
        )
        return SyntheticPayment(transaction, self.scenario)


def generate_payments(config: SyntheticConfig | None = None) -> Iterator[SyntheticPayment]:
    """Yield payments forever, in event-time order, each with its fraud scenario.

    >>> payments = generate_payments(SyntheticConfig(seed=7))
    >>> first = next(payments)
    >>> first.transaction.event_id, first.transaction.channel in CHANNELS
    ('syn7-000000000', True)
    """
    config = config or SyntheticConfig()
    world = _World(config)
    rate = config.sessions_per_day / 86_400.0
    # Payments happen after their session starts, so whatever is due before the next
    # session's start can be released in time order.
    ready: list[tuple[datetime, int, _Draft]] = []
    order = itertools.count()
    released = itertools.count()
    moment = config.start
    for index in itertools.count():
        moment += timedelta(seconds=world.rng.expovariate(rate))
        while ready and ready[0][0] <= moment:
            yield heapq.heappop(ready)[2].finish(config.seed, next(released))
        world.advance_to(moment)
        for draft in world.session(index, moment):
            heapq.heappush(ready, (draft.when, next(order), draft))


def generate_synthetic(
    config: SyntheticConfig | None = None,
    *,
    limit: int | None = None,
    end: datetime | None = None,
) -> Iterator[Transaction | Label]:
    """Yield each generated transaction followed at once by its fraud label.

    Stops after ``limit`` transactions or at ``end`` (exclusive), whichever comes first;
    with neither it never stops. Labels are due ``config.label_delay`` after their event.

    >>> records = list(generate_synthetic(SyntheticConfig(seed=1), limit=2))
    >>> [type(r).__name__ for r in records]
    ['Transaction', 'Label', 'Transaction', 'Label']
    >>> records == list(generate_synthetic(SyntheticConfig(seed=1), limit=2))
    True
    """
    config = config or SyntheticConfig()
    payments = generate_payments(config)
    for payment in itertools.islice(payments, limit):
        transaction = payment.transaction
        if end is not None and transaction.event_time >= end:
            return
        label = "1" if payment.is_fraud else "0"
        when = transaction.event_time
        yield transaction
        yield Label(
            transaction.event_id,
            "fraud",
            label,
            when + config.label_delay,
            when,
            customer_id=transaction.customer_id,
            terminal_id=transaction.terminal_id,
        )
