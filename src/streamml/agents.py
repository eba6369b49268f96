"""Faust agents: move bytes between topics and the synchronous :class:`Processor`.

Outputs are sent inside the agent, so Faust attaches them to the input offset and flushes
the producer before committing it: outputs are at-least-once, never lost.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import faust

from streamml.emit import Output
from streamml.process import Processor
from streamml.records import Origin
from streamml.settings import Settings

logger = logging.getLogger(__name__)

Handle = Callable[[bytes | None, Origin, bytes | None], list[Output]]


def register_agents(app: faust.App, settings: Settings, processor: Processor) -> None:
    """Register one agent per input topic and a periodic progress log."""
    topics = settings.topics
    outputs: dict[str, Any] = {}

    def output_topic(name: str) -> Any:
        if name not in outputs:
            outputs[name] = app.topic(name, key_serializer="raw", value_serializer="raw")
        return outputs[name]

    routes: dict[str, Handle] = {
        topics.transactions: processor.on_transaction,
        topics.texts: processor.on_text,
        topics.fraud_labels: processor.on_label,
        topics.emotion_labels: processor.on_label,
    }
    for topic_name, handle in routes.items():
        source = app.topic(topic_name, key_serializer="raw", value_serializer="raw")
        agent = _make_agent(app, handle, output_topic)
        app.agent(source, name=f"streamml.{topic_name}")(agent)

    @app.timer(interval=10.0)  # type: ignore[untyped-decorator]
    async def report_progress() -> None:
        logger.info(
            "processed: %s; pending features: %d", dict(processor.counts), len(processor.pending)
        )


def _make_agent(
    app: faust.App, handle: Handle, output_topic: Callable[[str], Any]
) -> Callable[[Any], Awaitable[None]]:
    async def agent(stream: Any) -> None:
        async for event in stream.events():
            message = event.message
            origin = Origin(message.topic, message.partition, message.offset)
            try:
                for out in handle(message.value, origin, message.key):
                    await output_topic(out.topic).send(key=out.key, value=out.value)
            except Exception as error:
                # The processor already dead-letters record errors: this is an outage
                # or a bug. Stop the worker loudly rather than let Faust restart us.
                logger.critical("worker stopping at %s: %r", origin, error)
                await app.crash(error)
                raise

    return agent
