"""``streamml services``: start, stop and inspect the local Kafka and MinIO."""

from __future__ import annotations

import click

from streamml.clitools import StreamMLGroup
from streamml.services.base import BaseLocalService
from streamml.services.binaries import kafka_jars, minio_binary
from streamml.services.kafka import LocalKafka
from streamml.services.minio import LocalMinio
from streamml.services.process import ServiceStatus
from streamml.settings import Settings


def _progress(message: str) -> None:
    click.echo(message, err=True)


def _settings(ctx: click.Context) -> Settings:
    settings = ctx.find_object(Settings)
    if settings is None:  # the group was invoked without the streamml main group
        settings = Settings()
    return settings


def _all(settings: Settings) -> list[BaseLocalService]:
    return [LocalKafka(settings, _progress), LocalMinio(settings, _progress)]


def _describe(status: ServiceStatus) -> str:
    state = f"running (pid {status.pid})" if status.running else "stopped"
    return f"{status.name:<6} {state:<22} {status.address:<16} log: {status.log_path}"


@click.group(cls=StreamMLGroup)
def services() -> None:
    """Local Kafka and MinIO processes for the demo and development (no containers)."""


@services.command()
@click.option("--kafka/--no-kafka", default=True, help="Start the Kafka broker.")
@click.option("--minio/--no-minio", default=True, help="Start the MinIO object store.")
@click.pass_context
def up(ctx: click.Context, kafka: bool, minio: bool) -> None:
    """Start the services (no-op for those already running) and wait until they answer."""
    settings = _settings(ctx)
    chosen: list[BaseLocalService] = []
    if kafka:
        chosen.append(LocalKafka(settings, _progress))
    if minio:
        chosen.append(LocalMinio(settings, _progress))
    for service in chosen:
        click.echo(_describe(service.up()))


@services.command()
@click.pass_context
def down(ctx: click.Context) -> None:
    """Stop every local service that is running."""
    for service in _all(_settings(ctx)):
        if not service.down():
            _progress(f"{service.title} was not running.")


@services.command()
@click.pass_context
def status(ctx: click.Context) -> None:
    """Show whether each local service is running, where, and its log file."""
    for service in _all(_settings(ctx)):
        click.echo(_describe(service.status()))


@services.command()
@click.pass_context
def jars(ctx: click.Context) -> None:
    """Print the directory of Kafka's jars, resolving them with Maven if needed."""
    click.echo(str(kafka_jars(_settings(ctx), _progress)))


@services.command("minio-bin")
@click.pass_context
def minio_bin(ctx: click.Context) -> None:
    """Print the path of the MinIO binary, building it with Go if needed."""
    click.echo(str(minio_binary(_settings(ctx), _progress)))
