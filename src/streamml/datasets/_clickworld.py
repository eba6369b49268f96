"""The world of :mod:`streamml.datasets.clickstream`: settings, customers, who visits when.

What happens during each visit is :mod:`streamml.datasets._clicksessions`'.
"""

from __future__ import annotations

import bisect
import enum
import heapq
import itertools
import math
import random
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from streamml.errors import ConfigurationError

DAY = 86_400.0
HOURLY_ACTIVITY = tuple(
    0.1 + math.exp(-0.5 * ((hour + 0.5 - 13.5) / 4.5) ** 2) for hour in range(24)
)
"""Relative session arrival rate per UTC hour: busiest early afternoon, quiet at night."""


class Scenario(enum.IntEnum):
    """Why a payment is fraudulent (``GENUINE`` when it is not); 1 to 3 are the handbook's.

    When several apply, the session's own scenario wins, then a compromised terminal, then
    a large amount.
    """

    GENUINE = 0
    LARGE_AMOUNT = 1
    COMPROMISED_TERMINAL = 2
    COMPROMISED_CARD = 3
    ACCOUNT_TAKEOVER = 4
    BOT = 5
    CARD_TESTING = 6


@dataclass(frozen=True, slots=True)
class ClickstreamConfig:
    """The world to simulate; the defaults give about 1 % fraudulent payments.

    ``terminals`` defaults to twice the customers (the handbook's 10,000 for 5,000);
    ``days=None`` never ends. Session scenario rates are shares of all sessions;
    compromise rates are the expected share of terminals (cards) compromised per day,
    the handbook's 2 of 10,000 terminals and 3 of 5,000 cards. ``sessions_per_day`` is
    the mean over customers (each draws its own between 0.1 and twice the mean).
    """

    customers: int = 1_000
    terminals: int | None = None
    days: float | None = 30.0
    start: datetime = datetime(2024, 1, 1, tzinfo=UTC)
    seed: int = 0
    sessions_per_day: float = 3.0
    takeover_rate: float = 0.001
    bot_rate: float = 0.001
    card_testing_rate: float = 0.0001
    terminal_compromise_rate: float = 0.0002
    card_compromise_rate: float = 0.0006
    terminal_compromise_days: float = 28.0
    card_compromise_days: float = 14.0
    large_amount: float = 220.0
    label_delay: timedelta = timedelta(days=7)

    def __post_init__(self) -> None:
        if self.customers < 1 or (self.terminals is not None and self.terminals < 1):
            raise ConfigurationError("a clickstream needs at least one customer and terminal")
        if self.days is not None and self.days <= 0:
            raise ConfigurationError(f"days must be positive, not {self.days}")
        if self.sessions_per_day <= 0.1:
            raise ConfigurationError("sessions_per_day must be above 0.1")
        if self.start.tzinfo is None:
            raise ConfigurationError("start must be timezone-aware")
        attacks = self.takeover_rate + self.bot_rate + self.card_testing_rate
        rates = (self.takeover_rate, self.bot_rate, self.card_testing_rate)
        if min(rates) < 0 or attacks >= 1:
            raise ConfigurationError("session scenario rates must be >= 0 and sum below 1")

    @property
    def terminal_count(self) -> int:
        return 2 * self.customers if self.terminals is None else self.terminals


@dataclass(slots=True)
class Customer:
    """A customer's habits; ``devices`` and ``ips`` are (web, app) ids, devices mutable."""

    index: int
    mean_amount: float
    pos_share: float
    app_share: float
    buy_prob: float
    log_pace: float  # log of the median seconds between two clicks
    terminals: tuple[int, ...]
    devices: list[int]
    ips: tuple[int, int]
    payments_per_day: float


@dataclass(slots=True)
class Session:
    """One visit. ``steps`` are (seconds after start, event kind, amount)."""

    customer: Customer
    channel: str
    terminal: int
    scenario: Scenario
    device: int = -1
    ip: int = -1
    steps: list[tuple[float, int, float]] = field(default_factory=list)


class Draws:
    """The world's random generator, with the ids and terminals the session scripts draw.

    Device and IP ids: a customer ``c`` starts with devices and IPs ``2c`` and ``2c + 1``;
    attackers' IPs come from a shared pool above those; fresh ids (new phones, one-off
    devices, attackers' devices) follow.
    """

    def __init__(self, config: ClickstreamConfig) -> None:
        self.rng = random.Random(config.seed)
        self.terminals = config.terminal_count
        self.attacker_ips = range(2 * config.customers, 2 * config.customers + 256)
        self._fresh = itertools.count(2 * config.customers + 256)

    def fresh_id(self) -> int:
        return next(self._fresh)

    def attacker_ip(self) -> int:
        return self.rng.choice(self.attacker_ips)

    def any_terminal(self) -> int:
        return self.rng.randrange(self.terminals)


class World:
    """Customers, terminals and compromises; :meth:`sessions` yields sessions in start order.

    Sessions arrive as one Poisson process over all customers (each weighted by its own
    rate, thinned by :data:`HOURLY_ACTIVITY`), so memory holds only the sessions in
    flight and the profiles of customers seen, whatever the population. Times are seconds
    after ``config.start``.
    """

    def __init__(self, config: ClickstreamConfig) -> None:
        self.config = config
        self.draws = Draws(config)
        rng = self.draws.rng
        high = 2 * config.sessions_per_day - 0.1
        self.rates = array("d", (rng.uniform(0.1, high) for _ in range(config.customers)))
        self.cumulative = array("d", itertools.accumulate(self.rates))
        peak = max(HOURLY_ACTIVITY)
        mean = sum(HOURLY_ACTIVITY) / len(HOURLY_ACTIVITY)
        self.arrival_rate = self.cumulative[-1] / DAY * peak / mean
        self.activity = tuple(a / peak for a in HOURLY_ACTIVITY)
        self.customers: dict[int, Customer] = {}
        self.bad_terminals: dict[int, tuple[float, float]] = {}
        self.scheduled: list[tuple[float, int, int]] = []
        self.order = itertools.count()
        self.day = -1

    def customer(self, index: int) -> Customer:
        known = self.customers.get(index)
        if known is None:
            known = self.customers[index] = profile(self.config, index, self.rates[index])
        return known

    def sessions(self) -> Iterator[tuple[float, Scenario, Customer]]:
        """Sessions forever, in start order: when, whose, and what kind of visit.

        ``COMPROMISED_CARD`` is a thief's visit, the other fraud scenarios an attack
        session, ``GENUINE`` the customer's own visit.
        """
        rng, activity = self.draws.rng, self.activity
        config = self.config
        takeover, bot, card_testing = itertools.accumulate(
            (config.takeover_rate, config.bot_rate, config.card_testing_rate)
        )
        total = self.cumulative[-1]
        t = 0.0
        while True:
            t += rng.expovariate(self.arrival_rate)
            if rng.random() >= activity[int(t // 3600.0) % 24]:
                continue
            self._advance_to(t)
            while self.scheduled and self.scheduled[0][0] <= t:
                start, _, index = heapq.heappop(self.scheduled)
                yield start, Scenario.COMPROMISED_CARD, self.customer(index)
            who = self.customer(bisect.bisect_right(self.cumulative, rng.random() * total))
            draw = rng.random()
            if draw < takeover:
                yield t, Scenario.ACCOUNT_TAKEOVER, who
            elif draw < bot:
                yield t, Scenario.BOT, who
            elif draw < card_testing:
                yield t, Scenario.CARD_TESTING, who
            else:
                yield t, Scenario.GENUINE, who

    def payment_scenario(self, session: Session, when: float, amount: float) -> Scenario:
        """The label of a payment of ``session`` made at ``when``."""
        if session.scenario is not Scenario.GENUINE:
            return session.scenario
        window = self.bad_terminals.get(session.terminal)
        if window is not None and window[0] <= when < window[1]:
            return Scenario.COMPROMISED_TERMINAL
        if amount > self.config.large_amount:
            return Scenario.LARGE_AMOUNT
        return Scenario.GENUINE

    def _advance_to(self, t: float) -> None:
        """Draw the compromised terminals and cards of each new day, as the handbook does.

        A day ahead, so that a session running past midnight meets the next day's
        compromises; expired ones are kept a day longer for the same reason.
        """
        config, rng = self.config, self.draws.rng
        while self.day <= t // DAY:
            self.day += 1
            day_start = self.day * DAY
            until = day_start + config.terminal_compromise_days * DAY
            for _ in range(poisson(rng, config.terminal_compromise_rate * config.terminal_count)):
                terminal = rng.randrange(config.terminal_count)
                since, end = self.bad_terminals.get(terminal, (day_start, day_start))
                # Compromised again while still compromised: one longer window.
                self.bad_terminals[terminal] = (since if end > day_start else day_start, until)
            expired = [k for k, (_, end) in self.bad_terminals.items() if end < day_start - DAY]
            for terminal in expired:
                del self.bad_terminals[terminal]
            for _ in range(poisson(rng, config.card_compromise_rate * config.customers)):
                self._compromise_card(day_start)

    def _compromise_card(self, day_start: float) -> None:
        """Schedule the thief's sessions: half as many as the owner's payments meanwhile."""
        rng = self.draws.rng
        who = self.customer(rng.randrange(self.config.customers))
        days = self.config.card_compromise_days
        for _ in range(poisson(rng, who.payments_per_day * days / 2)):
            start = day_start + rng.random() * days * DAY
            heapq.heappush(self.scheduled, (start, next(self.order), who.index))


def profile(config: ClickstreamConfig, index: int, sessions_per_day: float) -> Customer:
    """Customer ``index``'s habits, from its own generator: the same whenever drawn."""
    rng = random.Random(f"{config.seed}/{index}")
    pos_share = rng.uniform(0.0, 0.6)
    buy_prob = rng.uniform(0.3, 0.8)
    terminals = config.terminal_count
    return Customer(
        index=index,
        mean_amount=rng.uniform(5.0, 100.0),
        pos_share=pos_share,
        app_share=rng.random(),
        buy_prob=buy_prob,
        log_pace=rng.gauss(math.log(20.0), 0.6),
        terminals=tuple(rng.sample(range(terminals), k=min(terminals, rng.randint(3, 12)))),
        devices=[2 * index, 2 * index + 1],
        ips=(2 * index, 2 * index + 1),
        payments_per_day=sessions_per_day * (pos_share + (1 - pos_share) * buy_prob),
    )


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw: Knuth's product of uniforms, or a normal one for large means.

    >>> rng = random.Random(0)
    >>> [round(sum(poisson(rng, m) for _ in range(10_000)) / 10_000 / m, 2) for m in (2.0, 400.0)]
    [1.0, 1.0]
    """
    if mean > 50:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    threshold, count, product = math.exp(-mean), 0, rng.random()
    while product > threshold:
        count += 1
        product *= rng.random()
    return count
