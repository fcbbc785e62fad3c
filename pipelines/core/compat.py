"""Terminal logging for the CLI: progress and warnings on screen, datatrove's full per-task logs on disk.

datatrove prints each task's pipeline and stats tables to stderr at INFO; in a terminal that buries the summary the
CLI prints. `quiet_datatrove()` keeps warnings, errors and the reader's progress bar on screen and leaves every
line in the task logs (`OUT/logs/<stage>/logs/task_*.log`), which datatrove writes as before.
"""

from __future__ import annotations

import sys

SCREEN_LEVEL = "WARNING"


# Warnings that are progress or by design, not problems: datatrove polls a starting model server once a second and
# warns each time (hala says on screen that the server is starting), warns for each failed start attempt (hala names
# the server's log), and warns when a writer's file name has no ${rank} (hala's single-task writers, e.g. the
# translator set's `${split}.parquet`).
_EXPECTED_WARNINGS = ("server to become ready", "Server start attempt", "does not include ${rank}")
# datatrove's own tqdm bars (no total, no label: `Initializing pq...`, bare `0/1`, `Reading dup files`, `Document
# progress`): hala draws one bar per stage instead (hala.pipelines.core.progress). Module paths, datatrove 0.10.1.
_DATATROVE_TQDM_MODULES = ("datatrove.pipeline.readers.base", "datatrove.pipeline.dedup.exact_dedup",
                           "datatrove.pipeline.dedup.minhash", "datatrove.pipeline.dedup.sentence_dedup",
                           "datatrove.pipeline.readers.huggingface")


def _screen_filter(record) -> bool:
    """What reaches the terminal: warnings and errors without a traceback (a failed task's traceback is in its task
    log; the CLI prints one line and `hala -v` shows everything)."""
    if record["level"].no < 30 or record["exception"] is not None:
        return False
    return record["level"].no > 30 or not any(w in record["message"] for w in _EXPECTED_WARNINGS)


def _silence_datatrove_bars() -> None:
    import functools
    import importlib

    from tqdm import tqdm

    for name in _DATATROVE_TQDM_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:  # pragma: no cover - an optional datatrove extra
            continue
        if getattr(module, "tqdm", None) is tqdm:
            module.tqdm = functools.partial(tqdm, disable=True)


def quiet_datatrove() -> None:
    """Wrap datatrove's logger set-up so the stderr sink only shows warnings (the file sink is untouched)."""
    import datatrove.executor.base as executor_base
    import datatrove.utils.logging as dt_logging
    from loguru import logger

    if getattr(dt_logging, "_hala_quiet", False):
        return
    original_add = logger.add

    def add(sink, *args, **kwargs):
        if sink is sys.stderr:
            kwargs["filter"] = _screen_filter
        return original_add(sink, *args, **kwargs)

    def add_task_logger(*args, **kwargs):
        logger.add = add
        try:
            return original_add_task_logger(*args, **kwargs)
        finally:
            del logger.add

    def setup_default_logger():
        logger.remove()
        original_add(sys.stderr, filter=_screen_filter)

    original_add_task_logger = dt_logging.add_task_logger
    executor_base.add_task_logger = add_task_logger
    dt_logging.add_task_logger = add_task_logger
    dt_logging.setup_default_logger = setup_default_logger
    dt_logging._hala_quiet = True
    setup_default_logger()
    _silence_datatrove_bars()


# --- typer's help layout -------------------------------------------------------------------------------------------
# typer 0.2x renders a `<str>`/`<int>`/`<bool>` type column for every parameter (an option's metavar replaces it; an
# argument's cannot) and writes required arguments as `{input}` in the usage line. hala's usage lines read
# `INPUT OUTPUT` as the README writes them. `display_type_rich` and `_usage_display_name` are typer internals
# (typer/core.py); the test `tests/pipelines/cli/test_help.py` pins the rendered help.
try:  # typer is the CLI's dependency; the core layer must import without it
    from typer.core import TyperArgument, TyperCommand, TyperOption
except ImportError:  # pragma: no cover
    TyperCommand = object  # type: ignore[assignment,misc]


class PlainHelpCommand(TyperCommand):  # type: ignore[misc,valid-type]
    """A typer command whose help shows `[OPTIONS] INPUT [OUTPUT]` and no type labels."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for param in self.params:
            if isinstance(param, TyperArgument):
                if param.metavar is None:
                    param.metavar = param.name.upper()
                param.display_type_rich = lambda ctx: None  # type: ignore[method-assign]
            elif isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
                param.metavar = ""

    def get_help_option(self, ctx):
        option = super().get_help_option(ctx)
        if option is not None:
            option.metavar = ""
        return option

    def collect_usage_pieces(self, ctx) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                name = param.metavar + ("..." if param.nargs != 1 and "..." not in param.metavar else "")
                pieces.append(name if param.required else f"[{name}]")
        return pieces


try:
    from typer.core import TyperGroup
except ImportError:  # pragma: no cover
    TyperGroup = object  # type: ignore[assignment,misc]


class PlainHelpGroup(TyperGroup):  # type: ignore[misc,valid-type]
    """The root `hala` group (and `hala train`) with the same help layout as its commands."""

    def get_help_option(self, ctx):
        option = super().get_help_option(ctx)
        if option is not None:
            option.metavar = ""
        return option
