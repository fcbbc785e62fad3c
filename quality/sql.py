"""The report's queries live in `sql/*.sql`, one question per file; this module loads them and fills placeholders.

Placeholders are `{name}` and are replaced by plain text substitution of the names given (not `str.format`), so a
query may contain other braces; `--` comment lines are left as written. A placeholder left unfilled is an error, not
a silent empty string.
"""

from __future__ import annotations

import re
from functools import lru_cache

from hala.pipelines.core.assets import asset_dir

SQL_DIR = asset_dir("sql")
_PLACEHOLDER_RE = re.compile(r"\{([a-z_]+)\}")


@lru_cache(maxsize=None)
def _read(name: str) -> str:
    path = SQL_DIR / f"{name}.sql"
    if not path.is_file():
        raise FileNotFoundError(f"no query {path}")
    return path.read_text(encoding="utf-8")


def query(name: str, **params: object) -> str:
    """The text of `sql/<name>.sql` with `{key}` replaced by `str(params[key])`."""
    text = _read(name)
    # comments may mention placeholders; only the SQL body must have them all filled
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    missing = sorted(set(_PLACEHOLDER_RE.findall(body)) - set(params))
    if missing:
        raise KeyError(f"sql/{name}.sql needs {', '.join(missing)}")
    lines = []
    for line in text.splitlines():
        if not line.lstrip().startswith("--"):  # comments keep the placeholder names (a filled-in query may be
            for key, value in params.items():    # several lines, and would break the comment)
                line = line.replace("{" + key + "}", str(value))
        lines.append(line)
    return "\n".join(lines) + "\n"


def sql_string(value: str) -> str:
    """A SQL string literal ('...' with quotes doubled): paths go into queries this way."""
    return "'" + str(value).replace("'", "''") + "'"


def sql_list(values: list[str]) -> str:
    return "[" + ", ".join(sql_string(v) for v in values) + "]"
