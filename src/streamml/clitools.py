"""Click classes shared by every streamml command: one way to report a StreamMLError."""

from __future__ import annotations

from typing import Any

import click

from streamml.errors import StreamMLError


class StreamMLCommand(click.Command):
    """A command whose :class:`StreamMLError` is printed as one line, exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except StreamMLError as error:
            raise click.ClickException(str(error)) from None


class StreamMLGroup(click.Group):
    """A group whose subcommands' :class:`StreamMLError` is printed as one line, exit 1."""

    command_class = StreamMLCommand

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except StreamMLError as error:
            raise click.ClickException(str(error)) from None
