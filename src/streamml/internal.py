"""Messages between the worker's own stages. Private to streamml (JSON, versioned by field
names), unlike the public contracts in ``schemas/``."""

from __future__ import annotations

import json
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
        tx = self.tx
        return json.dumps(
            {
                "id": tx.event_id,
                "t": _ms(tx.event_time),
                "c": tx.customer_id,
                "m": tx.terminal_id,
                "a": tx.amount,
                "ch": tx.channel,
                "s": tx.session_id,
                "x": self.x,
                "f": self.card_flagged,
                "p": self.payment,
            }
        ).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Enriched:
        v: dict[str, Any] = json.loads(raw)
        tx = Transaction(v["id"], _time(v["t"]), v["c"], v["m"], v["a"], v["ch"], v["s"])
        return cls(tx, v["x"], bool(v["f"]), bool(v.get("p", True)))


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
