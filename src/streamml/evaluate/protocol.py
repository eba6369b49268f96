"""The Fraud Detection Handbook's evaluation protocol: which transactions a test week scores.

The handbook (``get_train_test_set``) trains on a week, waits a delay period of a week for
the labels, and tests on the week after. Customers known to be defrauded are removed from
the test set: those with a fraud in the training week and, for each test day, those with a
fraud on the delay-period day before it (cumulatively). Days are UTC calendar days,
counted as whole days since the Unix epoch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import numpy as np
import numpy.typing as npt

SECONDS_PER_DAY = 86_400
_EPOCH = date(1970, 1, 1)

BoolArray = npt.NDArray[np.bool_]


def day_number(moment: date | datetime) -> int:
    """Whole UTC days since 1970-01-01.

    >>> day_number(date(1970, 1, 3)), day_number(datetime(2018, 8, 8, 23, tzinfo=UTC))
    (2, 17751)
    """
    if isinstance(moment, datetime):  # a naive datetime is read as UTC
        moment = moment.replace(tzinfo=moment.tzinfo or UTC).astimezone(UTC).date()
    return (moment - _EPOCH).days


def day_of(seconds: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """The day number of each epoch time in seconds.

    >>> day_of([0, 86_399.5, 86_400]).tolist()
    [0, 0, 1]
    """
    return np.floor_divide(np.asarray(seconds, dtype=np.float64), SECONDS_PER_DAY).astype(np.int64)


@dataclass(frozen=True, slots=True)
class HandbookSplit:
    """Training week, delay period and test week (the handbook's ``delta_*`` in days).

    The default is the handbook's: trained on 2018-07-25..31, tested on 2018-08-08..14.

    >>> split = HandbookSplit()
    >>> split.test_start, split.test_end
    (datetime.date(2018, 8, 8), datetime.date(2018, 8, 15))
    >>> HandbookSplit.for_test_week(date(2018, 5, 2)).train_start
    datetime.date(2018, 4, 18)
    """

    train_start: date = date(2018, 7, 25)
    train_days: int = 7
    delay_days: int = 7
    test_days: int = 7

    @classmethod
    def for_test_week(
        cls, test_start: date, train_days: int = 7, delay_days: int = 7, test_days: int = 7
    ) -> HandbookSplit:
        """The split whose test period starts on ``test_start``."""
        train_start = test_start - timedelta(days=train_days + delay_days)
        return cls(train_start, train_days, delay_days, test_days)

    @property
    def test_start(self) -> date:
        return self.train_start + timedelta(days=self.train_days + self.delay_days)

    @property
    def test_end(self) -> date:
        """The first day after the test period."""
        return self.test_start + timedelta(days=self.test_days)

    def test_days_mask(self, days: npt.ArrayLike) -> BoolArray:
        """Which day numbers fall in the test period."""
        d = np.asarray(days, dtype=np.int64)
        return (d >= day_number(self.test_start)) & (d < day_number(self.test_end))

    def test_mask(
        self, days: npt.ArrayLike, customers: npt.ArrayLike, fraud: npt.ArrayLike
    ) -> BoolArray:
        """Test-period transactions that the handbook keeps after its exclusions.

        ``days``, ``customers`` and ``fraud`` describe every transaction of the stream
        (at least from the training week on). A test transaction on test day ``d`` is
        dropped when its customer had a fraud between the training week's first day and
        the day ``train_start + train_days + d - 1``: the training week itself, plus one
        more delay-period day per test day, as the handbook's loop adds them.

        >>> split = HandbookSplit(date(1970, 1, 1), train_days=1, delay_days=1, test_days=2)
        >>> days = [0, 1, 2, 2, 3, 3]
        >>> customers = [7, 8, 7, 8, 8, 9]
        >>> fraud = [1, 1, 0, 0, 0, 1]
        >>> split.test_mask(days, customers, fraud).tolist()
        [False, False, False, True, False, True]
        """
        d = np.asarray(days, dtype=np.int64)
        c = np.asarray(customers, dtype=np.int64)
        is_fraud = np.asarray(fraud).astype(bool)
        first_day = day_number(self.train_start)
        # Frauds on or after the training week's first day; each customer's earliest.
        counted = is_fraud & (d >= first_day)
        cards, card_of = np.unique(c, return_inverse=True)
        earliest = np.full(cards.size, np.iinfo(np.int64).max)
        np.minimum.at(earliest, card_of[counted], d[counted])
        known_from = earliest[card_of]
        test = self.test_days_mask(d)
        test_index = d - day_number(self.test_start)
        last_known_day = first_day + self.train_days + test_index - 1
        return test & (known_from > last_known_day)
