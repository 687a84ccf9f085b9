"""The ``pricecap`` commands of the collector; ``pricecap/cli.py`` adds every command in COMMANDS."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
