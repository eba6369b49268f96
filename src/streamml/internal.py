"""Messages between the worker's own stages. Private to streamml (JSON, versioned by field
names), unlike the public contracts in ``schemas/``."""

from __future__ import annotations

import json
import struct
from array import array
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from streamml.records import Transaction


def _ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def _time(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


@dataclass(frozen=True, slots=True)
class Enriched:
    """A transaction with its customer-side features, on its way to the terminal stage."""

    tx: Transaction
    x: dict[str, float]
    card_flagged: bool
    payment: bool = True

    def to_bytes(self) -> bytes:
        """Binary: the transaction's fields as JSON, then the feature names and their
        values as doubles (JSON's float formatting was a fifth of a scorer's time).

        >>> from datetime import UTC, datetime
        >>> tx = Transaction("e1", datetime(2024, 1, 1, tzinfo=UTC), "c1", "t1", 9.5, "web")
        >>> back = Enriched.from_bytes(Enriched(tx, {"A": 1.5, "B": float("inf")}, True).to_bytes())
        >>> back.tx == tx, back.x, back.card_flagged, back.payment
        (True, {'A': 1.5, 'B': inf}, True, True)
        """
        tx = self.tx
        head = json.dumps(
            [
                tx.event_id,
                _ms(tx.event_time),
                tx.customer_id,
                tx.terminal_id,
                tx.amount,
                tx.channel,
                tx.session_id,
                self.card_flagged,
                self.payment,
            ]
        ).encode()
        names = "\x00".join(self.x).encode()
        values = array("d", self.x.values()).tobytes()
        return _ENRICHED_V2 + _LENGTHS.pack(len(head), len(names)) + head + names + values

    @classmethod
    def from_bytes(cls, raw: bytes) -> Enriched:
        if raw[:1] != _ENRICHED_V2:
            return cls._from_json(raw)  # written by a scorer of an earlier release
        head_size, names_size = _LENGTHS.unpack_from(raw, 1)
        start = 1 + _LENGTHS.size
        h = json.loads(raw[start : start + head_size])
        tx = Transaction(h[0], _time(h[1]), h[2], h[3], h[4], h[5], h[6])
        names = _feature_names(raw[start + head_size : start + head_size + names_size])
        values = array("d")
        values.frombytes(raw[start + head_size + names_size :])
        if len(values) != len(names):
            raise ValueError(f"{len(names)} feature names but {len(values)} values")
        return cls(tx, dict(zip(names, values, strict=True)), bool(h[7]), bool(h[8]))

    @classmethod
    def _from_json(cls, raw: bytes) -> Enriched:
        v: dict[str, Any] = json.loads(raw)
        tx = Transaction(v["id"], _time(v["t"]), v["c"], v["m"], v["a"], v["ch"], v["s"])
        return cls(tx, v["x"], bool(v["f"]), bool(v.get("p", True)))


_ENRICHED_V2 = b"\x02"
_LENGTHS = struct.Struct("<II")
_NAMES: dict[bytes, tuple[str, ...]] = {}


def _feature_names(blob: bytes) -> tuple[str, ...]:
    """The names in ``blob``; the few distinct sets a worker sees are parsed once."""
    names = _NAMES.get(blob)
    if names is None:
        names = tuple(blob.decode().split("\x00")) if blob else ()
        if len(_NAMES) < 256:
            _NAMES[blob] = names
    return names


@dataclass(frozen=True, slots=True)
class Example:
    """A labelled training example: exactly what a scorer scored, and the truth.

    Fraud examples carry the features (``x`` a dict, ``y`` a bool); text examples the
    text (``x`` a str, ``y`` the class name). ``task`` names the trainer that learns it.

    >>> from datetime import UTC, datetime
    >>> t = datetime(2024, 1, 1, tzinfo=UTC)
    >>> Example.from_bytes(Example("e1", "so glad", "joy", t, t, "emotion6").to_bytes()).y
    'joy'
    """

    event_id: str
    x: Any
    y: Any
    event_time: datetime
    label_time: datetime
    task: str = "fraud"

    def to_bytes(self) -> bytes:
        return json.dumps(
            {
                "id": self.event_id,
                "task": self.task,
                "x": self.x,
                "y": self.y,
                "t": _ms(self.event_time),
                "lt": _ms(self.label_time),
            }
        ).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Example:
        v: dict[str, Any] = json.loads(raw)
        task = v.get("task", "fraud")
        return cls(v["id"], v["x"], v["y"], _time(v["t"]), _time(v["lt"]), task)


@dataclass(frozen=True, slots=True)
class CardFraud:
    """A customer's card had a fraud, known from ``label_time`` on."""

    customer_id: str
    label_time: datetime

    def to_bytes(self) -> bytes:
        return json.dumps({"c": self.customer_id, "lt": _ms(self.label_time)}).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> CardFraud:
        v: dict[str, Any] = json.loads(raw)
        return cls(v["c"], _time(v["lt"]))
