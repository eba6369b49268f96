"""The report as a user sees it: rendered by a real headless Chromium."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import matplotlib.image
import pytest
from click.testing import CliRunner

from streamml.cli import main
from tests.report_lake import build_lake

pytestmark = pytest.mark.integration

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def chromium() -> str:
    path = os.environ.get("STREAMML_TEST_CHROMIUM")
    assert path, "STREAMML_TEST_CHROMIUM is unset (scripts/test-tools.sh installs Chromium)"
    return path


def browse(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [chromium, *FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=5000"]
    return subprocess.run(
        [*command, *args], check=False, capture_output=True, text=True, timeout=120
    )


def test_the_report_renders_with_every_plot_loaded(chromium: str, tmp_path: Path) -> None:
    settings, _ = build_lake(tmp_path)
    out = tmp_path / "report"
    result = CliRunner().invoke(
        main, ["report", "--out", str(out), "--lake", settings.lake_url or ""]
    )
    assert result.exit_code == 0, result.output
    # The figures the plots show, as numbers: quality per slice of event time (the
    # lake's fraud is its large amounts, its texts' feelings their words) and the
    # promotion marked on the emotion plot.
    summary = json.loads((out / "report.json").read_text())
    fraud = [s["figures"]["AUC ROC"] for s in summary["fraud"]["slices"]]
    assert len(fraud) >= 2 and min(fraud[1:]) >= 0.85, fraud
    texts = [s["figures"]["accuracy"] for s in summary["emotion6"]["slices"]]
    assert len(texts) >= 10 and min(texts[len(texts) // 2 :]) >= 0.80, texts
    assert [m["state"] for m in summary["emotion6"]["markers"]] == ["promoted"]
    url = (out / "index.html").as_uri()
    dom = browse(chromium, tmp_path / "profile", "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    # The page marks how many of its images the browser decoded.
    marks = re.search(r'data-images-loaded="(\d+)" data-images="(\d+)"', dom.stdout)
    assert marks is not None, dom.stdout[:2000]
    loaded, images = map(int, marks.groups())
    assert images == 6 and loaded == images
    for heading in ("fraud", "emotion6", "Latency and throughput", "Drift alerts (2)"):
        assert f">{heading}</h2>" in dom.stdout
    shot = tmp_path / "report.png"
    taken = browse(
        chromium, tmp_path / "profile", f"--screenshot={shot}", "--window-size=1200,2400", url
    )
    assert taken.returncode == 0 and shot.exists(), taken.stderr[-2000:]
    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[:2] == (2400, 1200)
    # Not a blank or broken page: the plots' lines and fills put many colours on it.
    colours = {tuple(p) for p in (pixels[::4, ::4, :3] * 255).astype(int).reshape(-1, 3)}
    assert len(colours) > 100
