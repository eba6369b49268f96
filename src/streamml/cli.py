"""The ``streamml`` command line: the one place that builds :class:`Settings`."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import click

from streamml.clitools import StreamMLGroup
from streamml.settings import Settings

LAYERS = "streamml.config-layers"


@click.group(cls=StreamMLGroup)
@click.option("-v", "--verbose", is_flag=True, help="Log at DEBUG level.")
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A TOML file of settings (default: $STREAMML_CONFIG_FILE).",
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="NAME=VALUE",
    help="Override one setting, not a secret (repeatable); wins over file and environment.",
)
@click.pass_context
def main(
    ctx: click.Context, verbose: bool, config_file: Path | None, overrides: tuple[str, ...]
) -> None:
    """streamml: streaming ML on Kafka. Settings: defaults, then --config FILE, then files
    in STREAMML_SECRETS_DIR, then STREAMML_* environment variables, then --set NAME=VALUE.
    Secrets come only from the environment or STREAMML_SECRETS_DIR."""
    from streamml.config import load_settings, parse_flags

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    settings, layers = load_settings(config_file, parse_flags(overrides))
    ctx.obj = settings
    ctx.meta[LAYERS] = layers


@main.command()
@click.option("--loglevel", default="info", show_default=True)
@click.pass_obj
def worker(settings: Settings, loglevel: str) -> None:
    """Run the stream worker (scores, learns, dead-letters) until SIGINT/SIGTERM."""
    from streamml.worker import run_worker

    run_worker(settings, loglevel)


@main.group(cls=StreamMLGroup)
def topics() -> None:
    """Manage streamml's topics."""


@topics.command("create")
@click.pass_obj
def topics_create(settings: Settings) -> None:
    """Create every topic streamml uses that does not exist yet."""
    from streamml.admin import ensure_topics

    created = ensure_topics(settings)
    click.echo(f"created {len(created)} topic(s): {', '.join(created) or '-'}")


@main.group(cls=StreamMLGroup)
def config() -> None:
    """Inspect the effective configuration."""


@config.command("show")
@click.pass_context
def config_show(ctx: click.Context) -> None:
    """Print every setting with its effective value and where it came from (secrets
    masked)."""
    from streamml.config import show

    settings = ctx.find_object(Settings)
    assert settings is not None, "the main group builds the settings"
    click.echo(show(settings, ctx.meta[LAYERS], os.environ))


def _register() -> None:
    from streamml.bootstrap.cli import bootstrap
    from streamml.demo_cli import demo
    from streamml.evaluate.cli import evaluate
    from streamml.features.cli import features
    from streamml.registry_cli import models
    from streamml.replay_cli import produce, tail
    from streamml.report.cli import report
    from streamml.services.cli import services

    main.add_command(services)
    main.add_command(produce)
    main.add_command(tail)
    main.add_command(evaluate)
    main.add_command(features)
    main.add_command(models)
    main.add_command(report)
    main.add_command(bootstrap)
    main.add_command(demo)


_register()
