"""The `hala` command: one typer app, one registration module per area so areas stay independent.

Every command imports its heavy dependencies inside the command body: `hala --help` stays instant.
"""

from __future__ import annotations

import logging
import sys

import typer

from pipelines.errors import RunFailed, UserError

_verbose = False

app = typer.Typer(
    name="hala",
    help="Arabic instruction and EN↔AR translation corpora with the translate-and-tune recipe.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _options(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="show datatrove's per-task logs on screen "
                                 "(they are always written under OUT/logs/)"),
) -> None:
    global _verbose
    _verbose = verbose
    if not verbose:
        from pipelines.logs import quiet_datatrove

        quiet_datatrove()


def _register_all() -> None:
    from pipelines import cli_pipelines
    from pipelines import cli_filters
    from pipelines import cli_bilingual
    from quality import cli_quality
    from training import cli_training

    for module in (cli_pipelines, cli_filters, cli_bilingual, cli_quality, cli_training):
        module.register(app)


def get_app() -> typer.Typer:
    """The app with every area's commands registered (registration happens once, on first use)."""
    if not app.registered_commands:
        _register_all()
    return app


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    get_app()
    try:
        app()
    except UserError as e:
        typer.secho(f"error: {e}", err=True, fg=typer.colors.RED)
        sys.exit(2)
    except RunFailed as e:
        if _verbose:
            raise
        typer.secho(f"error: {e}", err=True, fg=typer.colors.RED)
        sys.exit(1)
    except Exception as e:  # a bug or an unforeseen failure: one line here, the traceback with -v
        if _verbose:
            raise
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        typer.secho(f"error: unexpected {type(e).__name__}{': ' + first if first else ''} "
                    "(run `hala -v ...` for the traceback)", err=True, fg=typer.colors.RED)
        sys.exit(1)


if __name__ == "__main__":
    main()
