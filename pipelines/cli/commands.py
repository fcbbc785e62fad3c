"""The pipelines' commands, registered with the root app through the `hala.commands` entry point."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add translate, run, filter, dedup, tm and the bilingual commands to the `hala` app."""
    from hala.pipelines.cli import bilingual, filters, tm, translate

    for area in (translate, filters, tm, bilingual):
        area.register(app)
