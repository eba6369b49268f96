"""CrowdFlower "Emotion in Text": 40,000 tweets, 13 noisy labels, no times.

Tweets are replayed in ``tweet_id`` order (ids grow with time on Twitter) with synthetic
event times. Texts are kept exactly as written, mojibake included: repairing them is the
text model's concern, and a replay must show what the data holds.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from streamml.datasets._common import (
    DEFAULT_TEXT_INTERVAL,
    DEFAULT_TEXT_START,
    bad_row,
    synthetic_times,
)
from streamml.records import TextEvent

FILE_NAME = "crowdflower_text_emotion.csv"
COLUMNS = ["tweet_id", "sentiment", "author", "content"]
TAXONOMY = "emotion13"

_Row = tuple[int, str, str, str]


def read_crowdflower(
    path: Path,
    *,
    times: Iterator[datetime] | None = None,
    limit: int | None = None,
) -> Iterator[TextEvent]:
    """Yield the tweets in ``tweet_id`` order as labelled :class:`TextEvent` records.

    The file is read whole (40,000 rows) to sort it. A malformed row (wrong column
    count, non-numeric or duplicate id, blank text or label) raises
    :class:`~streamml.errors.ConfigurationError` naming its line.
    """
    clock = (
        times if times is not None else synthetic_times(DEFAULT_TEXT_START, DEFAULT_TEXT_INTERVAL)
    )
    rows = sorted(load_rows(path))
    if limit is not None:
        rows = rows[:limit]
    for tweet_id, sentiment, author, content in rows:
        yield TextEvent(
            event_id=f"crowdflower-{tweet_id}",
            event_time=next(clock),
            text=content,
            source="crowdflower",
            author=author or None,
            label=sentiment,
            taxonomy=TAXONOMY,
        )


def load_rows(path: Path) -> list[_Row]:
    """Read and check every row as ``(tweet_id, sentiment, author, content)``, file order."""
    rows: list[_Row] = []
    seen: set[int] = set()
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header != COLUMNS:
            raise bad_row(path, 1, f"expected header {','.join(COLUMNS)}, got {header}")
        for row in reader:
            lineno = reader.line_num
            if len(row) != len(COLUMNS):
                raise bad_row(path, lineno, f"expected {len(COLUMNS)} columns, got {len(row)}")
            tweet_id, sentiment, author, content = row
            if not tweet_id.isdigit() or int(tweet_id) in seen:
                raise bad_row(path, lineno, f"tweet_id {tweet_id!r} is not a new integer id")
            if not sentiment.strip() or not content.strip():
                raise bad_row(path, lineno, "blank sentiment or content")
            seen.add(int(tweet_id))
            rows.append((int(tweet_id), sentiment, author, content))
    return rows
