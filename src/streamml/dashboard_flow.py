"""The dashboard's processes table: what each process's ``/metrics`` endpoint says
(records in and out per second, consumer lag, model versions)."""

from __future__ import annotations

import time
import urllib.request
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families
from rich.table import Table

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str, timeout: float = 2.0) -> Samples:
    """Every sample of a ``/metrics`` endpoint; empty while it does not answer."""
    try:
        with urllib.request.urlopen(f"{url}/metrics", timeout=timeout) as response:
            text = response.read().decode()
    except OSError:
        return {}
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


@dataclass
class Rates:
    """Per-second rates from successive counter readings."""

    last: dict[str, tuple[float, float]] = field(default_factory=dict)

    def rate(self, key: str, value: float, now: float) -> float:
        before = self.last.get(key)
        self.last[key] = (now, value)
        if before is None or now <= before[0]:
            return 0.0
        return max(0.0, (value - before[1]) / (now - before[0]))


def flow_table(endpoints: dict[str, str], rates: Rates) -> Table:
    """Each process's rates, lag and model versions, from its ``/metrics``."""
    now = time.monotonic()
    flow = Table("process", "records in/s", "out/s", "lag", "model versions", title="processes")
    for role, url in endpoints.items():
        samples = scrape(url)
        if not samples:
            flow.add_row(role, "-", "-", "-", "starting")
            continue
        got = rates.rate(f"{role}-in", total(samples, "streamml_events_in_total"), now)
        sent = total(samples, "streamml_events_out_total")
        sent += total(samples, "streamml_sink_records_total")
        versions = ", ".join(
            f"{dict(ls)['task']} v{int(v)}"
            for (n, ls), v in sorted(samples.items(), key=lambda kv: sorted(kv[0][1]))
            if n == "streamml_model_version"
        )
        lag = total(samples, "streamml_consumer_lag")
        flow.add_row(
            role,
            f"{got:,.0f}",
            f"{rates.rate(f'{role}-out', sent, now):,.0f}",
            f"{lag:,.0f}",
            versions or "-",
        )
    return flow
