"""``streamml report`` reads a lake and shows what landed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from streamml.cli import main
from streamml.settings import Settings
from streamml.store import FileStore
from tests.report_lake import build_lake, png_size


@pytest.fixture
def lake(tmp_path: Path) -> tuple[Settings, FileStore]:
    return build_lake(tmp_path)


def test_the_report_shows_quality_alerts_latency_and_dead_letters(
    lake: tuple[Settings, FileStore], tmp_path: Path
) -> None:
    settings, _ = lake
    out = tmp_path / "report"
    result = CliRunner().invoke(
        main, ["--set", f"lake_url={settings.lake_url}", "report", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    page = (out / "index.html").read_text()
    summary = json.loads((out / "report.json").read_text())
    # Every labelled prediction of both tasks, from the lake's files.
    assert summary["fraud"]["labelled_predictions"] == 1500
    assert summary["emotion6"]["labelled_predictions"] == 900
    assert summary["rows"]["dead_letters"] == 4 and "Dead letters (4)" in page
    assert 0.5 < summary["emotion6"]["accuracy"] <= 1.0  # the words give the label away
    assert 0.5 < summary["fraud"]["AUC ROC"] <= 1.0  # the amount gives fraud away
    assert "Drift alerts (2)" in page and "bernstein" not in page  # listed by kind and subject
    assert 2000 <= summary["latency"]["p50_ms"] < 60_000
    # Per slice of event time, as plotted: fraud slices hold enough frauds for an AUC.
    slices = summary["fraud"]["slices"]
    assert len(slices) >= 2 and sum(s["labelled_predictions"] for s in slices) == 1500
    assert all(s["positives"] >= 30 and s["figures"]["AUC ROC"] > 0.5 for s in slices)
    assert [s["from"] for s in slices] == sorted(s["from"] for s in slices)
    texts = summary["emotion6"]["slices"]
    assert len(texts) == 18 and texts[-1]["figures"]["accuracy"] > 0.9  # the words give it away
    # The alert and the promotion, each on its task's plot.
    assert [m["state"] for m in summary["fraud"]["markers"]] == ["started"]
    promoted = summary["emotion6"]["markers"]
    assert [(m["state"], m["model_version"]) for m in promoted] == [("promoted", "emotion6-v3")]
    assert summary["latency"]["over_time"][0]["predictions"] > 0
    for name in (
        "quality-fraud.png",
        "pr-fraud.png",
        "quality-emotion6.png",
        "confusion-emotion6.png",
        "latency.png",
        "throughput.png",
    ):
        assert f'src="{name}"' in page
        width, height = png_size(out / name)
        assert width >= 300 and height >= 200


def test_an_empty_lake_gives_a_page_that_says_so(tmp_path: Path) -> None:
    out = tmp_path / "report"
    lake = f"file://{tmp_path / 'empty'}"
    result = CliRunner().invoke(main, ["report", "--out", str(out), "--lake", lake])
    assert result.exit_code == 0, result.output
    page = (out / "index.html").read_text()
    assert "Drift alerts</h2><p>none" in page and "no latency" not in page
    assert png_size(out / "latency.png")[0] > 0
