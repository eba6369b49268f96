"""The handbook's split: its test week, its exclusions and the weeks around it."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np

from streamml.evaluate.protocol import HandbookSplit, day_number


def handbook_loop(
    days: list[int], customers: list[int], fraud: list[int], split: HandbookSplit
) -> list[bool]:
    """The handbook's ``get_train_test_set`` loop, written out literally."""
    first = day_number(split.train_start)
    known = {
        c
        for d, c, f in zip(days, customers, fraud, strict=True)
        if f and first <= d < first + split.train_days
    }
    keep = [False] * len(days)
    for test_day in range(split.test_days):
        delay_day = first + split.train_days + test_day - 1
        known |= {c for d, c, f in zip(days, customers, fraud, strict=True) if f and d == delay_day}
        today = first + split.train_days + split.delay_days + test_day
        for i, (d, c) in enumerate(zip(days, customers, strict=True)):
            if d == today and c not in known:
                keep[i] = True
    return keep


def test_default_split_is_the_handbooks() -> None:
    split = HandbookSplit()
    assert split.train_start == date(2018, 7, 25)
    assert (split.test_start, split.test_end) == (date(2018, 8, 8), date(2018, 8, 15))


def test_exclusions_match_the_handbooks_loop_on_random_streams() -> None:
    rng = np.random.default_rng(3)
    split = HandbookSplit.for_test_week(date(2018, 8, 8))
    first = day_number(date(2018, 7, 20))
    for _ in range(20):
        n = 600
        days = (first + rng.integers(0, 30, n)).tolist()
        customers = rng.integers(0, 40, n).tolist()
        fraud = (rng.random(n) < 0.05).astype(int).tolist()
        mask = split.test_mask(days, customers, fraud)
        assert mask.tolist() == handbook_loop(days, customers, fraud, split)


def test_a_fraud_on_the_last_delay_day_excludes_nobody() -> None:
    # The handbook adds delay days one per test day, lagging by one: the last delay
    # day (the day before the test week) is never added.
    split = HandbookSplit()
    day_before = day_number(split.test_start - timedelta(days=1))
    test_day = day_number(split.test_start)
    mask = split.test_mask([day_before, test_day], [5, 5], [1, 0])
    assert mask.tolist() == [False, True]


def test_frauds_before_the_training_week_do_not_exclude() -> None:
    split = HandbookSplit()
    before = day_number(split.train_start - timedelta(days=1))
    test_day = day_number(split.test_start)
    assert split.test_mask([before, test_day], [5, 5], [1, 0]).tolist() == [False, True]


def test_for_test_week_keeps_lengths() -> None:
    split = HandbookSplit.for_test_week(date(2018, 5, 2))
    assert split.train_start == date(2018, 4, 18)
    assert split.test_end == date(2018, 5, 9)
