"""The report's HTML page: a summary, then each plot (PNG files beside it)."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import pandas as pd

from streamml.report import figures
from streamml.report.lake import LakeTables, read_lake
from streamml.settings import Topics
from streamml.store import ObjectStore

# Marks the page once every image has loaded, so a browser test can see what a user sees.
IMAGES_SCRIPT = """<script>
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  document.body.dataset.imagesLoaded = images.filter(i => i.naturalWidth > 0).length;
  document.body.dataset.images = images.length;
});
</script>"""


def write_report(store: ObjectStore, topics: Topics, out: Path) -> Path:
    """Read the lake behind ``store``, write ``out/index.html`` and its PNGs and
    ``out/report.json`` (the figures as numbers); the page's path."""
    out.mkdir(parents=True, exist_ok=True)
    tables = read_lake(store, topics)
    summary: dict[str, Any] = {"lake": store.url, "files": tables.files, "rows": _rows(tables)}
    sections = []
    for o in figures.outcomes(tables):
        summary[o.task], section = _task(o, tables, out)
        sections.append(section)
    summary["latency"] = figures.latency_figure(tables, out / "latency.png")
    summary["throughput"] = figures.throughput_figure(tables, out / "throughput.png")
    sections.append(
        "<h2>Latency and throughput</h2>"
        + _image("latency.png", "latency")
        + _image("throughput.png", "throughput")
    )
    sections.append(_alerts(tables.drift_alerts))
    sections.append(_dead_letters(tables.dead_letters))
    (out / "report.json").write_text(json.dumps(summary, indent=2, default=str))
    page = out / "index.html"
    page.write_text(_page(summary, sections), encoding="utf-8")
    return page


def _task(o: figures.Outcomes, tables: LakeTables, out: Path) -> tuple[dict[str, Any], str]:
    """One task's figures (for ``report.json``) and its section of the page."""
    name = f"quality-{o.task}.png"
    quality = figures.quality_figure(o, tables.drift_alerts, out / name)
    found: dict[str, Any] = {**quality.overall, "labelled_predictions": len(o.frame)}
    if o.binary:
        found.update(figures.precision_recall_figure(o, out / f"pr-{o.task}.png"))
        extra = _image(f"pr-{o.task}.png", f"{o.task} precision/recall")
    else:
        figures.confusion_figure(o, out / f"confusion-{o.task}.png")
        extra = _image(f"confusion-{o.task}.png", f"{o.task} confusion matrix")
    line = ", ".join(f"{k} {v}" if isinstance(v, int) else f"{k} {v:.3f}" for k, v in found.items())
    found.update(slices=quality.slices, markers=quality.markers)
    section = (
        f"<h2>{html.escape(o.task)}</h2><p>{html.escape(line)}</p>{_span(quality.slices)}"
        + _image(name, f"{o.task} quality over time")
        + extra
    )
    return found, section


def _span(slices: list[dict[str, Any]]) -> str:
    """Which predictions the quality covers: late labels leave the last ones out."""
    if not slices:
        return ""
    first, last = slices[0]["from"][:16], slices[-1]["to"][:16]
    return (
        f"<p>Labelled predictions of events from {html.escape(first)} to {html.escape(last)} "
        f"(UTC), in {len(slices)} slices of equal count; events after them await their "
        "labels.</p>"
    )


def _rows(tables: LakeTables) -> dict[str, int]:
    return {
        name: len(getattr(tables, name))
        for name in (
            "transactions",
            "texts",
            "labels",
            "fraud_predictions",
            "emotion_predictions",
            "drift_alerts",
            "dead_letters",
        )
    }


def _image(name: str, alt: str) -> str:
    return f'<figure><img src="{html.escape(name)}" alt="{html.escape(alt)}"></figure>'


def _table(frame: pd.DataFrame, columns: list[str]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(row[c]))}</td>" for c in columns) + "</tr>"
        for _, row in frame.iterrows()
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _alerts(alerts: pd.DataFrame) -> str:
    if not len(alerts):
        return "<h2>Drift alerts</h2><p>none</p>"
    columns = ["task", "kind", "subject", "state", "severity", "window_end_time", "model_version"]
    ordered = alerts.sort_values("created_time")[columns]
    return f"<h2>Drift alerts ({len(alerts)})</h2>" + _table(ordered, columns)


def _dead_letters(letters: pd.DataFrame) -> str:
    if not len(letters):
        return "<h2>Dead letters</h2><p>none</p>"
    counts = letters.groupby("error_kind").size().reset_index(name="records")
    return f"<h2>Dead letters ({len(letters)})</h2>" + _table(counts, ["error_kind", "records"])


def _page(summary: dict[str, Any], sections: list[str]) -> str:
    rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{v}</td></tr>" for k, v in summary["rows"].items()
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>streamml report</title>
<style>
body {{ font-family: sans-serif; margin: 2em; max-width: 980px; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
td, th {{ border: 1px solid #ccc; padding: 2px 8px; text-align: left; }}
img {{ max-width: 100%; }}
</style>{IMAGES_SCRIPT}</head>
<body>
<h1>streamml report</h1>
<p>Read from <code>{html.escape(str(summary["lake"]))}</code>: {summary["files"]} files.</p>
<table><tr><th>lake topic</th><th>rows</th></tr>{rows}</table>
{"".join(sections)}
</body></html>
"""
