"""The scorer's data plane: batches on librdkafka, tables with changelogs, owned commits."""

from streamml.engine.runner import EngineOptions, Route, StreamEngine
from streamml.engine.tables import ChangelogTable

__all__ = ["ChangelogTable", "EngineOptions", "Route", "StreamEngine"]
