"""Event time as integer microseconds, the unit every per-entity feature state keeps.

Integers make the window edges exact: ``t - w`` never rounds, so a transaction exactly
one window old is out of the window whatever its time (pandas' time-based rolling
windows are ``(t - w, t]`` and the handbook's features are defined with them).
"""

from __future__ import annotations

from datetime import datetime, timedelta

SECOND = 1_000_000
HOUR = 3600 * SECOND
DAY = 24 * HOUR


def event_micros(moment: datetime) -> int:
    """Microseconds since the Unix epoch of an aware datetime, exactly.

    ``timestamp()`` is the correctly rounded number of seconds, and a float holds
    microseconds of any date before year 2255 to better than a quarter of one, so
    rounding recovers the exact count (and is several times faster than timedelta
    arithmetic).

    Examples
    --------
    >>> from datetime import UTC
    >>> event_micros(datetime(1970, 1, 1, 0, 0, 1, 7, tzinfo=UTC))
    1000007
    >>> event_micros(datetime(2018, 4, 1, tzinfo=UTC)) // DAY
    17622
    """
    return round(moment.timestamp() * SECOND)


def micros(span: timedelta) -> int:
    """A duration in integer microseconds.

    Examples
    --------
    >>> micros(timedelta(days=7)) == 7 * DAY
    True
    """
    return span // timedelta(microseconds=1)
