"""`hala tm stats|export|import`: the translation memory as a dataset (what it holds, out to parquet, back in)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from hala.pipelines.core.errors import UserError

tm_app = typer.Typer(help="The translation memory: stats, export to parquet, import from parquet.",
                     no_args_is_help=True)
TM_HELP = "translation memory file (default: the translate flow's, ~/.cache/hala/tm.sqlite)"


def _tm_path(tm: Optional[str], must_exist: bool = True) -> Path:
    from hala.pipelines.translate.flow import DEFAULT_TM

    path = Path(tm) if tm else DEFAULT_TM
    if must_exist and not path.is_file():
        raise UserError(f"--tm {path}: no such translation memory")
    return path


@tm_app.command("stats")
def stats(tm: Optional[str] = typer.Option(None, "--tm", help=TM_HELP)) -> None:
    """Entries in all, and by model and prompt version."""
    from hala.pipelines.translate.memory import memory_stats

    path = _tm_path(tm)
    total, groups = memory_stats(path)
    typer.echo(f"  {path}: {total} entries")
    for model, prompt_version, n in groups:
        typer.echo(f"  {n:>8}  model {model}  prompt {prompt_version}")


@tm_app.command("export")
def export(output: str = typer.Argument(..., help="parquet file to write"),
           tm: Optional[str] = typer.Option(None, "--tm", help=TM_HELP)) -> None:
    """Every entry (key, model, prompt_version, source, target) to one parquet file."""
    from hala.pipelines.translate.memory import export_memory

    n = export_memory(_tm_path(tm), Path(output))
    typer.echo(f"  exported {n} entries to {output}")


@tm_app.command("import")
def import_cmd(input: str = typer.Argument(..., help="parquet file written by `hala tm export`"),
               tm: Optional[str] = typer.Option(None, "--tm", help=TM_HELP)) -> None:
    """Add the entries of a parquet export that the TM lacks (existing entries are kept; safe to repeat)."""
    from hala.pipelines.translate.memory import import_memory

    if not Path(input).is_file():
        raise UserError(f"{input}: no such file")
    added, total = import_memory(_tm_path(tm, must_exist=False), Path(input))
    typer.echo(f"  imported {added} new entries of {total}")


def register(app: typer.Typer) -> None:
    app.add_typer(tm_app, name="tm")
