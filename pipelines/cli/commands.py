"""The pipelines' commands, registered with the root app through the `hala.commands` entry point."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add translate, run, filter, dedup and the bilingual commands to the `hala` app."""
    from hala.pipelines.cli import bilingual, filters, translate

    for area in (translate, filters, bilingual):
        area.register(app)
