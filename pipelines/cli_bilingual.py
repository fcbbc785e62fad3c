"""CLI commands of this area; `register(app)` is called once by `pipelines.cli`."""

import typer


def register(app: typer.Typer) -> None:
    """Add this area's commands to the `hala` app (filled in by the area's own issue)."""
