"""``streamml models``: read and move the registry's serving pointers (ADR 0010)."""

from __future__ import annotations

import json
from typing import Any

import click

from streamml.clitools import StreamMLGroup
from streamml.registry import ModelRegistry, Pointer
from streamml.settings import Settings
from streamml.snapshots import SnapshotError

_JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")


def parse_version(text: str) -> int:
    """Read a version as ``7``, ``v7`` or ``fraud-v7``.

    >>> parse_version("7"), parse_version("v7"), parse_version("emotion6-v12")
    (7, 7, 12)
    """
    digits = text.rsplit("-", 1)[-1].removeprefix("v")
    if not digits.isdigit():
        raise click.BadParameter(f"{text!r} is not a version (7, v7 or TASK-v7)")
    return int(digits)


def _registry(ctx: click.Context) -> ModelRegistry:
    settings = ctx.obj if isinstance(ctx.obj, Settings) else Settings()
    return ModelRegistry(settings.lake(), settings.model_signing_key.get_secret_value().encode())


def _describe(pointer: Pointer | None) -> str:
    if pointer is None:
        return "no version served yet"
    return f"serving v{pointer.version} ({pointer.mode}, since {pointer.updated:%Y-%m-%d %H:%M:%S})"


def _metrics(metrics: dict[str, float]) -> str:
    return " ".join(f"{name}={value:.4g}" for name, value in sorted(metrics.items()))


@click.group("models", cls=StreamMLGroup)
def models() -> None:
    """The model registry in the lake (STREAMML_LAKE_URL): every signed snapshot the
    trainer published, and which version the scorers serve."""


@models.command("list")
@click.argument("task")
@click.option(
    "-n", "--limit", type=click.IntRange(min=0), default=20, show_default=True, help="0 = all."
)
@_JSON
@click.pass_context
def list_versions(ctx: click.Context, task: str, limit: int, as_json: bool) -> None:
    """The newest versions of TASK, the served one marked with '*'."""
    registry = _registry(ctx)
    versions = registry.versions(task)
    if not versions:
        raise registry.unknown_task(task)
    shown = versions[-limit:] if limit else versions
    pointer = registry.serving(task)
    metas = [registry.meta(task, version) for version in reversed(shown)]
    if as_json:
        served = pointer.to_json() if pointer else None
        click.echo(json.dumps({"serving": served, "count": len(versions), "versions": metas}))
        return
    click.echo(f"{task}: {len(versions)} version(s), {_describe(pointer)}")
    for meta in metas:
        mark = "*" if pointer is not None and meta["version"] == pointer.version else " "
        click.echo(
            f"{mark} v{meta['version']:<6} {meta['examples']:>10,} examples  "
            f"{meta['created'][:19]}  {_metrics(meta['metrics'])}"
        )


@models.command("show")
@click.argument("task")
@click.argument("version", required=False)
@_JSON
@click.pass_context
def show(ctx: click.Context, task: str, version: str | None, as_json: bool) -> None:
    """One version of TASK (the served one by default), its signature checked.

    Exits with status 1 if the snapshot does not verify.
    """
    registry = _registry(ctx)
    pointer = registry.serving(task)
    if version is not None:
        number = parse_version(version)
    elif pointer is not None:
        number = pointer.version
    else:
        raise registry.unknown_task(task)
    meta = registry.meta(task, number)
    problem = None
    try:
        registry.load(task, number)
    except SnapshotError as error:
        problem = str(error)
    if as_json:
        served = pointer.to_json() if pointer else None
        click.echo(json.dumps({**meta, "verified": problem is None, "serving": served}))
    else:
        _print_meta(meta, problem, pointer)
    if problem is not None:
        raise click.ClickException(problem)


def _print_meta(meta: dict[str, Any], problem: str | None, pointer: Pointer | None) -> None:
    served = pointer is not None and pointer.version == meta["version"]
    click.echo(f"{meta['task']}-v{meta['version']}{'  (served)' if served else ''}")
    click.echo(f"  examples   {meta['examples']:,}")
    click.echo(f"  created    {meta['created']}")
    click.echo(f"  metrics    {_metrics(meta['metrics'])}")
    provenance = meta.get("provenance") or {}
    if provenance:  # a bootstrap from history: what it learned from
        shown = {k: v for k, v in provenance.items() if k != "fingerprint" and v is not None}
        click.echo(f"  learned    {' '.join(f'{k}={v}' for k, v in shown.items())}")
    libraries = " ".join(f"{k}={v}" for k, v in sorted(meta["libraries"].items()))
    click.echo(f"  libraries  {libraries}")
    sizes = meta["sizes"]
    click.echo(f"  size       {sizes['snapshot_bytes']:,} bytes (model {sizes['model_bytes']:,})")
    click.echo(f"  signature  {'verified' if problem is None else 'DOES NOT VERIFY'}")
    click.echo(f"  pointer    {_describe(pointer)}")


@models.command("promote")
@click.argument("task")
@click.argument("version", required=False)
@click.option("--latest", is_flag=True, help="Unpin: serve the newest version and each new one.")
@click.pass_context
def promote(ctx: click.Context, task: str, version: str | None, latest: bool) -> None:
    """Serve VERSION of TASK and hold it (pinned), or follow the newest with --latest.

    The version must exist and its signature verify; otherwise nothing changes.
    """
    if (version is None) == (not latest):
        raise click.UsageError("give a VERSION or --latest, not both")
    registry = _registry(ctx)
    before = registry.serving(task)
    if latest:
        after = registry.follow_latest(task)
    else:
        after = registry.promote(task, parse_version(version or ""))
    was = f" (was v{before.version}, {before.mode})" if before else ""
    click.echo(f"{task}: serving v{after.version}, {after.mode}{was}")


@models.command("rollback")
@click.argument("task")
@click.pass_context
def rollback(ctx: click.Context, task: str) -> None:
    """Serve the version TASK served before the current one, pinned."""
    registry = _registry(ctx)
    before = registry.serving(task)
    after = registry.rollback(task)
    was = f" (was v{before.version})" if before else ""
    click.echo(f"{task}: serving v{after.version}, pinned{was}")
