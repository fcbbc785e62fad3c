"""Errors the user can fix; the CLI prints them as one line and exits with code 2."""


class UserError(Exception):
    """A problem the user can fix (bad input path, bad recipe key): printed as one line, exit code 2."""


class RunFailed(Exception):
    """Work that started and failed (a datatrove task, a model server, a push): one line, exit code 1. The full
    traceback is in the task's log (and on screen with `hala -v`); re-running the same command resumes."""
