"""Faust agents: move bytes between topics and the synchronous stages.

Outputs are sent inside the agent, so Faust attaches them to the input offset and flushes
the producer before committing it: outputs are at-least-once, never lost.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import faust

from streamml import metrics
from streamml.emit import Output
from streamml.records import Origin

logger = logging.getLogger(__name__)

Handle = Callable[[bytes | None, Origin, bytes | None], list[Output]]


class Router:
    """Registers one agent per input topic, each feeding a stage handler."""

    def __init__(self, app: faust.App) -> None:
        self.app = app
        self._outputs: dict[str, Any] = {}

    def topic(self, name: str, **options: Any) -> Any:
        return self.app.topic(name, key_serializer="raw", value_serializer="raw", **options)

    def route(self, topic_name: str, handle: Handle) -> None:
        agent = _make_agent(self.app, handle, self._output)
        self.app.agent(self.topic(topic_name), name=f"streamml.{topic_name}")(agent)

    def _output(self, name: str) -> Any:
        if name not in self._outputs:
            self._outputs[name] = self.topic(name)
        return self._outputs[name]


def _make_agent(
    app: faust.App, handle: Handle, output_topic: Callable[[str], Any]
) -> Callable[[Any], Awaitable[None]]:
    async def agent(stream: Any) -> None:
        async for event in stream.events():
            message = event.message
            origin = Origin(message.topic, message.partition, message.offset)
            metrics.EVENTS_IN.labels(message.topic).inc()
            try:
                outputs = handle(message.value, origin, message.key)
                for out in outputs:
                    await output_topic(out.topic).send(key=out.key, value=out.value)
                    metrics.EVENTS_OUT.labels(out.topic).inc()
                if outputs and message.timestamp:
                    # From the record's Kafka timestamp (this hop's input) to its outputs.
                    latency = time.time() - float(message.timestamp)
                    metrics.LATENCY.labels(message.topic).observe(max(latency, 0.0))
            except Exception as error:
                # The stages already dead-letter record errors: this is an outage or a
                # bug. Stop the worker loudly rather than let Faust restart the agent.
                logger.critical("worker stopping at %s: %r", origin, error)
                await app.crash(error)
                raise

    return agent
