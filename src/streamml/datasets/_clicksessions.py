"""What happens in each kind of session: the events, their spacing, devices and amounts.

Each script returns a :class:`Session` whose steps are (seconds after its start, event
kind, amount). Genuine behaviour overlaps every attack a little (typos at login, new
phones, fast shoppers, guest checkouts) so that no single feature gives a scenario away.
"""

from __future__ import annotations

import math
import random

from streamml.datasets._clickworld import Customer, Draws, Scenario, Session
from streamml.features.session import EventKind

PAGE_VIEW = int(EventKind.PAGE_VIEW)
LOGIN = int(EventKind.LOGIN)
FAILED_LOGIN = int(EventKind.FAILED_LOGIN)
ADD_TO_CART = int(EventKind.ADD_TO_CART)
CHECKOUT = int(EventKind.CHECKOUT)
PAYMENT = int(EventKind.PAYMENT)

Steps = list[tuple[float, int, float]]
Gap = tuple[float, float]  # the least and most seconds between two events


def genuine(draws: Draws, who: Customer) -> Session:
    """The customer's own visit: a POS payment, or browsing that may end in a payment."""
    rng = draws.rng
    if rng.random() < who.pos_share:
        session = Session(who, "pos", rng.choice(who.terminals), Scenario.GENUINE)
        session.steps.append((0.0, PAYMENT, amount(rng, who)))
        return session
    app = int(rng.random() < who.app_share)
    channel = "app" if app else "web"
    device, ip = _own_device(draws, who, app), _own_ip(draws, who, app)
    session = Session(who, channel, rng.choice(who.terminals), Scenario.GENUINE, device, ip)
    if app and rng.random() < 0.03:
        # In-app purchases (game credits, top-ups): several small payments in one visit.
        t = _login(rng, session.steps, 0.0, 0, (2.0, 10.0))
        amounts = [rng.choice((0.99, 1.99, 2.99, 4.99)) for _ in range(rng.randint(2, 6))]
        _checkout(rng, session.steps, t, amounts, (5.0, 60.0))
    else:
        _browse(rng, who, session.steps)
    return session


def takeover(draws: Draws, who: Customer) -> Session:
    """An attacker in the customer's account: failed logins, then a fast, large checkout.

    A new device, or the customer's device spoofed from the attacker's IP. Three in ten
    attackers are careful: they browse at a human pace and buy less.
    """
    rng = draws.rng
    app = int(rng.random() < 0.3)
    spoofed = rng.random() < 0.25
    device = who.devices[app] if spoofed else draws.fresh_id()
    ip = draws.attacker_ip() if spoofed or rng.random() < 0.7 else who.ips[app]
    terminal = draws.any_terminal()
    session = Session(who, "app" if app else "web", terminal, Scenario.ACCOUNT_TAKEOVER, device, ip)
    careful = rng.random() < 0.3
    steps, t = session.steps, 0.0
    t = _views(rng, steps, t, rng.randint(0, 1), (2.0, 8.0))
    failures = rng.choices(range(6), weights=(30, 20, 15, 15, 10, 10))[0]
    t = _login(rng, steps, t, failures, (2.0, 8.0))
    gap = (8.0, 45.0) if careful else (3.0, 15.0)
    t = _views(rng, steps, t, rng.randint(1, 4) if careful else rng.randint(0, 2), gap)
    steps.append((t, ADD_TO_CART, 0.0))
    t += rng.uniform(*gap)
    high = 3.0 if careful else 6.0
    payments = 1 + (rng.random() < 0.3)
    amounts = [round(who.mean_amount * rng.uniform(1.0, high), 2) for _ in range(payments)]
    _checkout(rng, steps, t, amounts, (5.0, 30.0))
    return session


def bot(draws: Draws, who: Customer) -> Session:
    """A script on the customer's account, clicking at an inhuman rate; 60 % of them buy."""
    rng = draws.rng
    device = draws.fresh_id() if rng.random() < 0.8 else who.devices[0]
    session = Session(who, "web", draws.any_terminal(), Scenario.BOT, device, draws.attacker_ip())
    steps = session.steps
    per_second = rng.lognormvariate(math.log(40.0), 0.6) / 60.0
    gap = 1.0 / per_second
    t = _login(rng, steps, 0.0, rng.randint(0, 2), (0.5 * gap, 1.5 * gap))
    for _ in range(rng.randint(5, 80)):
        steps.append((t, PAGE_VIEW, 0.0))
        t += rng.expovariate(per_second)
    if rng.random() < 0.6:
        for _ in range(rng.randint(1, 4)):
            steps.append((t, ADD_TO_CART, 0.0))
            t += rng.expovariate(per_second)
        _checkout(rng, steps, t, [round(rng.uniform(15.0, 250.0), 2)], (0.5 * gap, 2.0 * gap))
    return session


def card_testing(draws: Draws, who: Customer) -> Session:
    """A stolen card tried with a burst of tiny payments at one merchant, seconds apart."""
    rng = draws.rng
    device = draws.fresh_id() if rng.random() < 0.9 else who.devices[0]
    session = Session(
        who, "web", draws.any_terminal(), Scenario.CARD_TESTING, device, draws.attacker_ip()
    )
    steps = session.steps
    t = _views(rng, steps, 0.0, rng.randint(0, 1), (2.0, 10.0))
    if rng.random() < 0.2:
        t = _login(rng, steps, t, rng.randint(0, 3), (2.0, 6.0))
    amounts = [round(rng.uniform(0.5, 4.0), 2) for _ in range(rng.randint(4, 20))]
    _checkout(rng, steps, t, amounts, (1.5, 10.0) if rng.random() < 0.7 else (5.0, 40.0))
    return session


def stolen_card(draws: Draws, who: Customer) -> Session:
    """The thief of a compromised card: one payment five times the usual amount.

    At one of the customer's terminals with a cloned card, or online as a guest.
    """
    rng = draws.rng
    value = round(amount(rng, who) * 5, 2)
    if rng.random() < 0.4:
        session = Session(who, "pos", rng.choice(who.terminals), Scenario.COMPROMISED_CARD)
        session.steps.append((0.0, PAYMENT, value))
        return session
    device = draws.fresh_id() if rng.random() < 0.7 else who.devices[0]
    ip = draws.attacker_ip() if rng.random() < 0.6 else who.ips[0]
    terminal = rng.choice(who.terminals) if rng.random() < 0.5 else draws.any_terminal()
    session = Session(who, "web", terminal, Scenario.COMPROMISED_CARD, device, ip)
    steps = session.steps
    t = _views(rng, steps, 0.0, rng.randint(1, 5), (5.0, 40.0))
    steps.append((t, ADD_TO_CART, 0.0))
    _checkout(rng, steps, t + rng.uniform(5.0, 30.0), [value], (10.0, 60.0))
    return session


def amount(rng: random.Random, who: Customer) -> float:
    """A genuine amount, drawn as the handbook does (normal, redrawn uniform if negative).

    >>> from streamml.datasets._clickworld import ClickstreamConfig, profile
    >>> who = profile(ClickstreamConfig(), 0, 2.0)
    >>> 0 < amount(random.Random(1), who) < 10 * who.mean_amount
    True
    """
    value = rng.gauss(who.mean_amount, who.mean_amount / 2)
    if value <= 0:
        value = rng.uniform(0.0, 2 * who.mean_amount)
    return max(0.01, round(value, 2))


def _browse(rng: random.Random, who: Customer, steps: Steps) -> None:
    """Page views and carts at the customer's pace; a login at the start or at checkout."""
    logged_in = rng.random() < 0.85
    login_first = rng.random() < 0.6
    draw = rng.random()
    typos = 0 if draw < 0.95 else 1 if draw < 0.985 else rng.randint(2, 3)
    t = 0.0
    if logged_in and login_first:
        t = _login(rng, steps, t, typos, (3.0, 12.0))
    pace = who.log_pace
    for _ in range(1 + int(rng.expovariate(0.2))):
        steps.append((t, PAGE_VIEW, 0.0))
        t += rng.lognormvariate(pace, 0.7)
    buys = rng.random() < who.buy_prob
    if buys or rng.random() < 0.3:
        for _ in range(1 + int(rng.expovariate(1.5))):
            steps.append((t, ADD_TO_CART, 0.0))
            t += rng.lognormvariate(pace, 0.7)
    if buys:
        if logged_in and not login_first:
            t = _login(rng, steps, t, typos, (3.0, 12.0))
        _checkout(rng, steps, t, [amount(rng, who)], (10.0, 90.0))


def _own_device(draws: Draws, who: Customer, app: int) -> int:
    """Usually the customer's device for the channel; now and then a new or borrowed one."""
    draw = draws.rng.random()
    if draw < 0.01:
        who.devices[app] = draws.fresh_id()  # a new phone or laptop, used from now on
    elif draw < 0.03:
        return draws.fresh_id()  # someone else's, once
    elif draw < 0.08:
        return who.devices[1 - app]
    return who.devices[app]


def _own_ip(draws: Draws, who: Customer, app: int) -> int:
    """Home or mobile network, mostly the channel's own; sometimes elsewhere."""
    draw = draws.rng.random()
    if draw < 0.05:
        return draws.fresh_id()
    return who.ips[app] if draw < 0.75 else who.ips[1 - app]


def _views(rng: random.Random, steps: Steps, t: float, n: int, gap: Gap) -> float:
    for _ in range(n):
        steps.append((t, PAGE_VIEW, 0.0))
        t += rng.uniform(*gap)
    return t


def _login(rng: random.Random, steps: Steps, t: float, failures: int, gap: Gap) -> float:
    for _ in range(failures):
        steps.append((t, FAILED_LOGIN, 0.0))
        t += rng.uniform(*gap)
    steps.append((t, LOGIN, 0.0))
    return t + rng.uniform(*gap)


def _checkout(rng: random.Random, steps: Steps, t: float, amounts: list[float], gap: Gap) -> None:
    steps.append((t, CHECKOUT, 0.0))
    for value in amounts:
        t += rng.uniform(*gap)
        steps.append((t, PAYMENT, value))
