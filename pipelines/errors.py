"""Errors the user can fix; the CLI prints them as one line and exits with code 2."""


class UserError(Exception):
    """A problem the user can fix (bad input path, bad recipe key): printed as one line, exit code 2."""
