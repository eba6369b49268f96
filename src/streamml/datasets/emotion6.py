"""The dair-ai/emotion split: ``text;label`` lines, six emotions, no times."""

from __future__ import annotations

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

SPLITS = ("train", "val", "test")
LABELS = frozenset({"sadness", "joy", "love", "anger", "fear", "surprise"})
TAXONOMY = "emotion6"


def file_name(split: str) -> str:
    """The file holding ``split``.

    >>> file_name("val")
    'emotion6_nlp_val.txt'
    """
    return f"emotion6_nlp_{split}.txt"


def parse_line(line: str) -> tuple[str, str] | None:
    """Split one line into ``(text, label)`` at its last ``;``; ``None`` for a blank line.

    >>> parse_line("i feel fine; really;joy\\n")
    ('i feel fine; really', 'joy')
    >>> parse_line("\\n") is None
    True
    >>> parse_line("no label here")
    Traceback (most recent call last):
    ...
    ValueError: no ';' separating text and label
    """
    line = line.rstrip("\r\n")
    if not line.strip():
        return None
    text, separator, label = line.rpartition(";")
    if not separator:
        raise ValueError("no ';' separating text and label")
    if not text.strip():
        raise ValueError("blank text")
    if label not in LABELS:
        raise ValueError(f"label {label!r} is not one of {', '.join(sorted(LABELS))}")
    return text, label


def read_emotion6(
    path: Path,
    split: str,
    *,
    times: Iterator[datetime] | None = None,
    limit: int | None = None,
) -> Iterator[TextEvent]:
    """Yield the labelled texts of one split file, in file order.

    Event ids are ``emotion6-<split>-<line number>`` (1-based, blank lines counted), so
    they stay stable whatever is skipped. Event times come from ``times`` (default: one
    per second from 2024-01-01 UTC). Blank lines are skipped; any other malformed line
    raises :class:`~streamml.errors.ConfigurationError` naming it.
    """
    clock = (
        times if times is not None else synthetic_times(DEFAULT_TEXT_START, DEFAULT_TEXT_INTERVAL)
    )
    emitted = 0
    with path.open(encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, start=1):
            if limit is not None and emitted >= limit:
                return
            try:
                parsed = parse_line(line)
            except ValueError as error:
                raise bad_row(path, lineno, str(error)) from None
            if parsed is None:
                continue
            text, label = parsed
            yield TextEvent(
                event_id=f"emotion6-{split}-{lineno}",
                event_time=next(clock),
                text=text,
                source="emotion6",
                label=label,
                taxonomy=TAXONOMY,
            )
            emitted += 1
