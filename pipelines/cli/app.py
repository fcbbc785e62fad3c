"""The root `hala` command. It knows no area: each area (pipelines, quality, training) registers its own commands
through the `hala.commands` entry-point group, so this layer never imports the layers above it.

Every command imports its heavy dependencies inside its body, so `hala --help` stays instant.
"""

from __future__ import annotations

import logging
import sys
from importlib.metadata import PackageNotFoundError, entry_points, version

import typer

from hala.pipelines.core.compat import PlainHelpGroup
from hala.pipelines.core.errors import RunFailed, UserError

ENTRY_POINT_GROUP = "hala.commands"

app = typer.Typer(
    name="hala",
    help="Arabic instruction and EN↔AR translation corpora with the translate-and-tune recipe.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=PlainHelpGroup,
)


def _version(value: bool) -> None:
    if value:
        try:
            typer.echo(f"hala {version('hala')}")
        except PackageNotFoundError:
            typer.echo("hala (not installed)")
        raise typer.Exit()


@app.callback()
def _options(
    ctx: typer.Context,
    verbose: bool = typer.Option(False, "--verbose", "-v", metavar="", help="show datatrove's per-task logs and tracebacks on "
                                 "screen (the logs are always written under OUTPUT/logs/)"),
    show_version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, metavar="",
                                      help="print hala's version and exit"),
) -> None:
    ctx.obj = {"verbose": verbose}
    if not verbose:
        from hala.pipelines.core.compat import quiet_datatrove

        quiet_datatrove()


def is_verbose(ctx: typer.Context | None = None) -> bool:
    """Whether `-v` was given: read from typer's context (the root callback stores it there)."""
    import click

    ctx = ctx or click.get_current_context(silent=True)
    root = ctx.find_root() if ctx else None
    return bool(root and isinstance(root.obj, dict) and root.obj.get("verbose"))


def get_app() -> typer.Typer:
    """The app with every area's commands registered (registration happens once, on first use)."""
    if not app.registered_commands:
        found = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}  # one per area, even if listed twice
        if not found:
            raise RuntimeError(f"no `{ENTRY_POINT_GROUP}` entry points: hala is not installed (pip install -e .)")
        for name in sorted(found):
            found[name].load()(app)
    return app


def _verbose_from_argv(argv: list[str]) -> bool:
    """`-v` before the command name (the context is gone once the app has returned)."""
    for arg in argv:
        if not arg.startswith("-"):
            return False
        if arg in ("-v", "--verbose"):
            return True
    return False


def main() -> None:
    verbose = _verbose_from_argv(sys.argv[1:])
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING)
    if not verbose:  # a library that sets its own logger to INFO (great-expectations) stays off the screen too
        for handler in logging.getLogger().handlers:
            handler.setLevel(logging.WARNING)
    get_app()
    try:
        app()
    except UserError as e:
        typer.secho(f"error: {e}", err=True, fg=typer.colors.RED)
        sys.exit(2)
    except RunFailed as e:
        if verbose:
            raise
        typer.secho(f"error: {e}", err=True, fg=typer.colors.RED)
        sys.exit(1)
    except Exception as e:  # a bug or an unforeseen failure: one line here, the traceback with -v
        if verbose:
            raise
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        typer.secho(f"error: unexpected {type(e).__name__}{': ' + first if first else ''} "
                    "(run `hala -v ...` for the traceback)", err=True, fg=typer.colors.RED)
        sys.exit(1)


if __name__ == "__main__":
    main()
