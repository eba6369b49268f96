"""``streamml report``: what landed in the lake, as an HTML page with PNG plots.

Reads the lake's files (never the worker's memory): predictions joined with their labels
give quality over event time per task, drift alerts and promotions are marked on it;
predictions joined with their source records give latency and throughput; emotion tasks
get a confusion matrix, fraud a precision/recall curve.
"""

from __future__ import annotations

from streamml.report.lake import LakeTables, read_lake
from streamml.report.page import write_report

__all__ = ["LakeTables", "read_lake", "write_report"]
