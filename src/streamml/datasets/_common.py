"""Pieces every dataset loader shares: the record union, file checks, synthetic clocks."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from streamml.errors import ConfigurationError
from streamml.records import Label, TextEvent, Transaction

ReplayRecord = Transaction | TextEvent | Label
"""What a source yields and :func:`streamml.produce.replay` publishes."""

DEFAULT_TEXT_START = datetime(2024, 1, 1, tzinfo=UTC)
"""First synthetic event time of text sources, whose files carry no time."""

DEFAULT_TEXT_INTERVAL = timedelta(seconds=1)


def require_file(data_dir: Path, name: str) -> Path:
    """Return ``data_dir / name``, or say which file is missing and how to point at it.

    >>> require_file(Path("/nonexistent"), "x.csv")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    streamml.errors.ConfigurationError: dataset file not found: /nonexistent/x.csv (set ...
    """
    path = data_dir / name
    if not path.is_file():
        raise ConfigurationError(
            f"dataset file not found: {path.absolute()} (set STREAMML_DATA_DIR to the "
            f"directory holding {name}; it is now {data_dir})"
        )
    return path


def bad_row(path: Path, lineno: int, reason: str) -> ConfigurationError:
    """The error for a malformed row: a replay must be exact, so it stops, naming the line.

    >>> str(bad_row(Path("d.csv"), 7, "expected 4 columns, got 3"))
    'd.csv:7: bad row: expected 4 columns, got 3'
    """
    return ConfigurationError(f"{path}:{lineno}: bad row: {reason}")


def synthetic_times(start: datetime, interval: timedelta) -> Iterator[datetime]:
    """Increasing event times ``start, start + interval, ...`` for files without times.

    >>> times = synthetic_times(DEFAULT_TEXT_START, timedelta(seconds=2))
    >>> [t.isoformat() for t in (next(times), next(times))]
    ['2024-01-01T00:00:00+00:00', '2024-01-01T00:00:02+00:00']
    """
    current = start
    while True:
        yield current
        current += interval


def as_utc(moment: datetime) -> datetime:
    """Read a naive datetime as UTC; convert an aware one to UTC.

    >>> as_utc(datetime(2018, 4, 1)).isoformat()
    '2018-04-01T00:00:00+00:00'
    """
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


@contextmanager
def reading(path: Path) -> Iterator[None]:
    """Turn an unreadable file (bad UTF-8, truncated gzip) into an error naming it."""
    try:
        yield
    except UnicodeDecodeError as error:
        raise ConfigurationError(f"{path}: not valid UTF-8: {error}") from None
    except (gzip.BadGzipFile, EOFError) as error:
        raise ConfigurationError(f"{path}: corrupt or truncated gzip file: {error}") from None
