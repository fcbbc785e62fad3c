"""The one answer to "where are this dataset's rows?": a hala dataset folder keeps them under `data/`, a plain folder
holds them itself (next to nothing hala writes), a file is itself. Every reader, the report, the gate's fingerprint
and training ask here, so none of them can count a sidecar (validation.json, stats.json, …) or a rejects file as data.
"""

from __future__ import annotations

from pathlib import Path

DATA_DIR = "data"
RECORD_SUFFIXES = (".parquet", ".jsonl")
# What hala writes next to (or, in a bare folder, among) the data: never a row.
SIDECARS = frozenset({"validation.json", "report.json", "stats.json", "recipe.yaml", "manifest.json", "run.json",
                      "executor.json"})
# Folders hala writes into an output folder: never input rows, wherever they are met.
NOT_DATA_DIRS = frozenset({"rejects", "logs", "work", "report"})


def is_sidecar(path: Path) -> bool:
    """A file hala writes next to data (or a hidden/temporary file): never read as rows."""
    return path.name in SIDECARS or path.name.startswith(".") or path.name.endswith((".tmp", ".validation.json"))


def data_folder(path: str | Path) -> Path:
    """The folder whose files are the rows: `PATH/data` for a hala dataset folder, else PATH (a file's parent)."""
    p = Path(path)
    if p.is_file():
        return p.parent
    return p / DATA_DIR if (p / DATA_DIR).is_dir() else p


def record_files(path: str | Path, suffixes: tuple[str, ...] = RECORD_SUFFIXES) -> list[Path]:
    """The record files of PATH, sorted: the file itself, or every `suffixes` file under its data folder, leaving
    out sidecars and hala's own rejects/logs/work/report folders. A broken symlink (or a link loop) among them is a
    UserError: a folder is never silently one file short."""
    from hala.pipelines.core.errors import UserError

    p = Path(path)
    if p.is_file():
        return [p]
    if not p.is_dir():
        return []
    base = data_folder(p)
    found = []
    for q in base.rglob("*"):
        if NOT_DATA_DIRS.intersection(q.relative_to(base).parts[:-1]):
            continue
        if q.is_symlink() and not q.exists():
            raise UserError(f"{q}: a broken symbolic link (or a link loop) in the input folder; remove or fix it")
        if q.is_file() and q.name.endswith(suffixes) and not is_sidecar(q):
            found.append(q)
    return sorted(found)


def recorded_kind(path: str | Path) -> str | None:
    """The kind a hala dataset folder's stats.json declares (`instructions` or `pairs`), else None."""
    import json

    stats = Path(path) / "stats.json"
    if not stats.is_file():
        return None
    try:
        kind = json.loads(stats.read_text(encoding="utf-8")).get("kind")
    except (ValueError, AttributeError):
        return None
    return kind if kind in ("instructions", "pairs") else None


def rejects_files(path: str | Path) -> list[Path]:
    """The rejects a hala dataset folder holds (`rejects/<stage>/*.jsonl`); none for a file."""
    p = Path(path)
    return sorted((p / "rejects").glob("*/*.jsonl")) if p.is_dir() else []
