"""The clickstream generator: deterministic, ordered, valid, and every scenario labelled."""

from __future__ import annotations

import itertools
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner

from streamml import replay_cli
from streamml.contracts import decode_record, encode_record, validate
from streamml.datasets import ReplayRecord, SourceOptions, get_source, record_time
from streamml.datasets.clickstream import (
    CHANNELS,
    ClickEvent,
    ClickstreamConfig,
    Scenario,
    clickstream_records,
    generate_clickstream,
    generate_events,
)
from streamml.errors import ConfigurationError
from streamml.features.session import DEVICE_ID, EVENT_KIND, IP_ID, EventKind
from streamml.produce import ReplaySummary
from streamml.records import Label, Transaction
from streamml.settings import Settings

# Attacks far more often than by default, so that a small world shows every scenario.
RICH = ClickstreamConfig(
    customers=200,
    days=20,
    seed=11,
    takeover_rate=0.01,
    bot_rate=0.01,
    card_testing_rate=0.004,
    terminal_compromise_rate=0.002,
    card_compromise_rate=0.005,
)
START = RICH.start


@pytest.fixture(scope="module")
def rich() -> list[ClickEvent]:
    return list(generate_events(RICH))


def payments(events: list[ClickEvent]) -> list[ClickEvent]:
    return [e for e in events if e.is_payment]


def kind(event: ClickEvent) -> int:
    assert event.transaction.features is not None
    return int(event.transaction.features[EVENT_KIND])


def test_same_seed_same_records_other_seed_others() -> None:
    def run(seed: int) -> list[Transaction | Label]:
        config = ClickstreamConfig(customers=50, seed=seed)
        return list(generate_clickstream(config, limit=3_000))

    assert run(1) == run(1)
    assert run(1) != run(2)


def test_events_are_ordered_valid_and_survive_both_wire_formats(rich: list[ClickEvent]) -> None:
    times = [e.transaction.event_time for e in rich]
    assert times == sorted(times)
    assert times[0] >= START and times[-1] < START + timedelta(days=RICH.days or 0)
    assert len({e.transaction.event_id for e in rich}) == len(rich)
    for event in rich[:: len(rich) // 300]:
        tx = event.transaction
        validate(tx)
        for fmt in ("avro", "json"):
            assert decode_record(Transaction, encode_record(tx, fmt)) == tx
        assert tx.channel in CHANNELS
        assert tx.event_time.microsecond % 1000 == 0


def test_event_codes_amounts_and_devices_follow_the_documented_encoding(
    rich: list[ClickEvent],
) -> None:
    kinds = Counter(kind(e) for e in rich)
    assert set(kinds) == set(EventKind)
    assert kinds[EventKind.PAGE_VIEW] > kinds[EventKind.PAYMENT] > kinds[EventKind.FAILED_LOGIN]
    for event in rich:
        tx = event.transaction
        assert (tx.amount > 0) == (kind(event) == EventKind.PAYMENT)
        assert tx.features is not None
        online = tx.channel != "pos"
        assert (DEVICE_ID in tx.features) == online == (IP_ID in tx.features)
        assert tx.session_id is not None


def test_every_scenario_is_present_and_fraud_is_a_small_share(rich: list[ClickEvent]) -> None:
    scenarios = Counter(e.scenario for e in payments(rich))

    assert set(scenarios) == set(Scenario)
    default = Counter(e.is_fraud for e in payments(list(generate_events(ClickstreamConfig(300)))))
    assert 0.003 < default[True] / default.total() < 0.03


def test_each_payment_has_one_label_after_the_delay_saying_if_it_is_fraud() -> None:
    records = list(generate_clickstream(RICH, limit=20_000))
    labels = {r.event_id: r for r in records if isinstance(r, Label)}
    events = [r for r in records if isinstance(r, Transaction)]
    truth = {
        e.transaction.event_id: e.is_fraud for e in itertools.islice(generate_events(RICH), 20_000)
    }

    assert len(events) == 20_000
    assert set(labels) == {tx.event_id for tx in events if tx.amount > 0}
    assert any(label.label == "1" for label in labels.values())
    for tx in events:
        label = labels.get(tx.event_id)
        if label is not None:
            assert (label.task, label.event_time) == ("fraud", tx.event_time)
            assert (label.customer_id, label.terminal_id) == (tx.customer_id, tx.terminal_id)
            assert label.label_time == tx.event_time + RICH.label_delay
            assert label.label == ("1" if truth[tx.event_id] else "0")


def test_large_amounts_and_compromised_terminals_are_all_fraud(rich: list[ClickEvent]) -> None:
    paid = payments(rich)
    assert all(e.is_fraud for e in paid if e.transaction.amount > RICH.large_amount)
    windows: dict[str, list[datetime]] = defaultdict(list)
    for e in paid:
        if e.scenario is Scenario.COMPROMISED_TERMINAL:
            windows[e.transaction.terminal_id].append(e.transaction.event_time)
    assert windows
    for terminal, times in windows.items():
        at_terminal = [e for e in paid if e.transaction.terminal_id == terminal]
        inside = [e for e in at_terminal if min(times) <= e.transaction.event_time <= max(times)]
        assert all(e.is_fraud for e in inside)
        assert max(times) - min(times) < timedelta(days=RICH.terminal_compromise_days * 2)


def test_compromised_cards_pay_about_five_times_their_usual_amounts(
    rich: list[ClickEvent],
) -> None:
    by_customer: dict[str, list[ClickEvent]] = defaultdict(list)
    for e in payments(rich):
        by_customer[e.transaction.customer_id].append(e)
    ratios, shares = [], []
    for paid in by_customer.values():
        stolen = [e for e in paid if e.scenario is Scenario.COMPROMISED_CARD]
        own = [e.transaction.amount for e in paid if e.scenario is Scenario.GENUINE]
        if len(stolen) >= 3 and own:
            amounts = [e.transaction.amount for e in stolen]
            ratios.append(statistics.median(amounts) / statistics.median(own))
            first, last = stolen[0].transaction.event_time, stolen[-1].transaction.event_time
            window = [e for e in paid if first <= e.transaction.event_time <= last]
            shares.append(len(stolen) / len(window))
    assert ratios
    assert 3 < statistics.median(ratios) < 8
    assert 0.15 < statistics.median(shares) < 0.7


def sessions_of(events: list[ClickEvent], scenario: Scenario) -> list[list[ClickEvent]]:
    grouped: dict[str | None, list[ClickEvent]] = defaultdict(list)
    for e in events:
        if e.scenario is scenario:
            grouped[e.transaction.session_id].append(e)
    return list(grouped.values())


def test_card_testing_is_a_burst_of_tiny_payments(rich: list[ClickEvent]) -> None:
    bursts = sessions_of(rich, Scenario.CARD_TESTING)
    assert bursts
    for session in bursts:
        paid = payments(session)
        assert len(paid) >= 4
        assert all(e.transaction.amount <= 4.0 for e in paid)
        assert len({e.transaction.terminal_id for e in paid}) == 1
        assert paid[-1].transaction.event_time - paid[0].transaction.event_time < timedelta(
            seconds=40 * len(paid)
        )


def test_takeovers_log_in_from_elsewhere_and_bots_click_inhumanly_fast(
    rich: list[ClickEvent],
) -> None:
    for session in sessions_of(rich, Scenario.ACCOUNT_TAKEOVER):
        tx = session[0].transaction
        assert tx.features is not None
        own = {2 * int(tx.customer_id[1:]), 2 * int(tx.customer_id[1:]) + 1}
        assert tx.features[DEVICE_ID] not in own or tx.features[IP_ID] not in own
        assert EventKind.LOGIN in {kind(e) for e in session}

    def clicks_per_minute(session: list[ClickEvent]) -> float:
        span = session[-1].transaction.event_time - session[0].transaction.event_time
        return (len(session) - 1) / max(span.total_seconds(), 1.0) * 60

    online = [s for s in sessions_of(rich, Scenario.GENUINE) if len(s) > 5]
    human = statistics.median(clicks_per_minute(s) for s in online)
    bots = statistics.median(clicks_per_minute(s) for s in sessions_of(rich, Scenario.BOT))
    assert bots > 8 * human


def test_limit_end_and_days_bound_the_stream() -> None:
    config = ClickstreamConfig(customers=30, days=3, seed=4)
    end = START + timedelta(days=1)

    everything = list(generate_clickstream(config))
    early = list(generate_clickstream(config, end=end))

    assert all(
        record_time(r) < START + timedelta(days=3) for r in everything if isinstance(r, Transaction)
    )
    cut = next(
        i for i, r in enumerate(everything) if isinstance(r, Transaction) and r.event_time >= end
    )
    assert early == everything[:cut]
    assert sum(isinstance(r, Transaction) for r in generate_clickstream(config, limit=7)) == 7


def test_records_for_replay_are_in_publication_order_with_every_label() -> None:
    config = ClickstreamConfig(customers=40, days=10, seed=2)
    records = list(clickstream_records(config))
    times = [record_time(r) for r in records]

    assert times == sorted(times)
    assert Counter(type(r) for r in records) == Counter(
        type(r) for r in generate_clickstream(config)
    )


def test_invalid_configurations_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="customer"):
        ClickstreamConfig(customers=0)
    with pytest.raises(ConfigurationError, match="sum below 1"):
        ClickstreamConfig(takeover_rate=0.6, bot_rate=0.5)
    with pytest.raises(ConfigurationError, match="timezone"):
        ClickstreamConfig(start=datetime(2024, 1, 1))


def test_registry_source_takes_seed_start_customers_and_limit() -> None:
    start = datetime(2025, 6, 1, tzinfo=UTC)
    options = SourceOptions(limit=500, seed=3, start=start, customers=25)
    source = get_source("clickstream", Settings(), options)

    records = list(source.records())

    events = [r for r in records if isinstance(r, Transaction)]
    assert (source.name, len(events)) == ("clickstream", 500)
    assert events[0].event_time >= start
    assert {int(tx.customer_id[1:]) for tx in events} <= set(range(25))
    assert records == list(get_source("clickstream", Settings(), options).records())


def test_produce_generator_clickstream_with_customers(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[ReplayRecord]] = []

    def fake_replay(settings: Settings, records: Iterator[ReplayRecord], **kw: Any) -> Any:
        calls.append(list(records))
        return ReplaySummary(sent=1, failed=0, seconds=1.0, rate=1.0)

    monkeypatch.setattr(replay_cli, "replay", fake_replay)
    args = ["--generator", "clickstream", "--customers", "12", "--limit", "300"]
    args += ["--rate", "1000", "--no-progress", "--no-create-topics"]

    result = CliRunner().invoke(replay_cli.produce, args, obj=Settings())

    assert result.exit_code == 0, result.output
    (records,) = calls
    events = [r for r in records if isinstance(r, Transaction)]
    assert len(events) == 300
    assert {int(tx.customer_id[1:]) for tx in events} <= set(range(12))


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--source", "fraud", "--customers", "5"], "--customers applies to a generator"),
        (["--source", "fraud", "--generator", "clickstream"], "disagree"),
    ],
)
def test_produce_refuses_contradictory_options(args: list[str], says: str) -> None:
    result = CliRunner().invoke(replay_cli.produce, [*args, "--no-create-topics"], obj=Settings())

    assert result.exit_code == 2
    assert says in result.output


def test_a_single_customer_world_runs_its_days_and_labels_its_payments() -> None:
    records = list(clickstream_records(ClickstreamConfig(customers=1, days=10, seed=5)))

    events = [r for r in records if isinstance(r, Transaction)]
    labels = [r for r in records if isinstance(r, Label)]
    assert events
    assert {tx.customer_id for tx in events} == {"C000000"}
    assert len(labels) == sum(tx.amount > 0 for tx in events)
