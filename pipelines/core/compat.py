"""Terminal logging for the CLI: progress and warnings on screen, datatrove's full per-task logs on disk.

datatrove prints each task's pipeline and stats tables to stderr at INFO; in a terminal that buries the summary the
CLI prints. `quiet_datatrove()` keeps warnings, errors and the reader's progress bar on screen and leaves every
line in the task logs (`OUT/logs/<stage>/logs/task_*.log`), which datatrove writes as before.
"""

from __future__ import annotations

import logging
import sys

SCREEN_LEVEL = "WARNING"


# Warnings that are progress, not problems: datatrove polls a starting model server once a second and warns each time.
_EXPECTED_WARNINGS = ("server to become ready",)


def _screen_filter(record) -> bool:
    if record["exception"] is not None:
        return False  # a task's traceback stays in its log; the CLI prints one line (`hala -v` shows it)
    if record["level"].no < 30:
        return record["name"].startswith("pipelines")
    return record["level"].no > 30 or not any(w in record["message"] for w in _EXPECTED_WARNINGS)


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

    # when a task fails, the other requests datatrove had in flight fail too and are never awaited: asyncio would
    # print each one's traceback at exit ("Task exception was never retrieved"); the first is the CLI's one line
    logging.getLogger("asyncio").addFilter(lambda r: "exception was never retrieved" not in r.getMessage())
    original_add_task_logger = dt_logging.add_task_logger
    executor_base.add_task_logger = add_task_logger
    dt_logging.add_task_logger = add_task_logger
    dt_logging.setup_default_logger = setup_default_logger
    dt_logging._hala_quiet = True
    setup_default_logger()
