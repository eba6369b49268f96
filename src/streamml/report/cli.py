"""``streamml report --out DIR``."""

from __future__ import annotations

from pathlib import Path

import click

from streamml.clitools import StreamMLCommand
from streamml.settings import Settings


@click.command("report", cls=StreamMLCommand)
@click.option(
    "--out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Directory."
)
@click.option("--lake", "lake_url", help="s3://bucket/prefix or file://path (default: the lake).")
@click.pass_obj
def report(settings: Settings, out: Path, lake_url: str | None) -> None:
    """Read what the sink landed in the lake; write an HTML page with PNG plots."""
    from streamml.report.page import write_report

    if lake_url is not None:
        settings = settings.model_copy(update={"lake_url": lake_url})
    page = write_report(settings.lake(), settings.topics, out)
    click.echo(f"report: {page}")
