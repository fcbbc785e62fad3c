"""Where a model or dataset spec points — a local path or a Hub id — checked before any task or server starts.

Paths and ids are interchangeable everywhere, so `out/model` could be either. A spec that exists on disk is a path;
one that does not must look like a Hub id (`name` or `org/name`) and be openable (in the local HF cache, or on the
Hub when it can be reached). Anything else is one clear line instead of a server that never becomes ready or a
traceback inside a task.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from hala.pipelines.core.errors import UserError

HUB_ID_RE = re.compile(r"^[A-Za-z0-9][\w.-]*(?:/[A-Za-z0-9][\w.-]*)?$")
FILE_SUFFIXES = (".jsonl", ".json", ".parquet", ".csv", ".txt", ".gz", ".yaml", ".yml", ".safetensors", ".bin")


def looks_like_hub_id(spec: str) -> bool:
    return bool(HUB_ID_RE.match(spec)) and not spec.endswith(FILE_SUFFIXES) and ".." not in spec


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__


def hub_repo_error(repo_id: str, repo_type: Literal["model", "dataset"]) -> str | None:
    """None when `repo_id` can be opened (cached locally, or found on the Hub); else why not, in one line."""
    from huggingface_hub import HfApi, snapshot_download

    try:
        snapshot_download(repo_id, repo_type=repo_type, local_files_only=True)
        return None
    except Exception:  # not in the cache: ask the Hub
        pass
    try:
        HfApi().repo_info(repo_id, repo_type=repo_type, timeout=15)
        return None
    except Exception as e:  # offline mode, no network, no such repo, gated: all mean "cannot be opened here"
        return _first_line(e)


def locate(spec: str, repo_type: Literal["model", "dataset"], what: str | None = None) -> str:
    """`spec` as an absolute local path when it exists, else as a Hub id that can be opened; else a UserError."""
    what = what or repo_type
    path = Path(spec).expanduser()
    if path.exists():
        return str(path.resolve())
    if not looks_like_hub_id(spec):
        raise UserError(f"{what} {spec!r}: no such file or folder (and not a Hub id of the form org/name)")
    problem = hub_repo_error(spec, repo_type)
    if problem:
        raise UserError(f"{what} {spec!r}: not a local path, and the Hub {repo_type} cannot be opened ({problem})")
    return spec
