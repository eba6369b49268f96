"""streamml: streaming ML on Kafka with River, Faust and an object-store lake."""

from __future__ import annotations

__version__ = "0.1.0"
