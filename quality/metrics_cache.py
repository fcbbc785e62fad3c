"""The metrics table of one dataset's exact bytes, kept in hala's cache: `hala report` and `hala gate` judge the same
table (fastText LID over every message: minutes at the released corpus's 4M records), so the second one reads what
the first computed instead of computing it again.

An entry is keyed by everything the table depends on: the data fingerprint (content hash of the data files), the
kind asked for, the LID model (path, size, mtime; none when LID is off), DuckDB's version and the bytes of the code
that computes the table (its SQL and the Python of spans and LID). Any change is another key, so a table is never
stale; an entry that cannot be read is computed again and replaced. Entries live in `$HALA_CACHE/metrics/` (never
next to the user's data), written atomically, the KEEP most recently used kept; `HALA_METRICS_CACHE=0` turns the
cache off.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Callable

from hala.quality.sql import SQL_DIR, query, sql_string

# what the metrics table is computed by: a change to any of these files is a new key
_SQL = ("macros", "metrics_instructions", "metrics_pairs", "duplicate_clusters")
KEEP = 8  # entries kept (the most recently used): one 4M-record table is ~0.2 GB
_MODULES = ("hala.quality.metrics", "hala.pipelines.translate.masking", "hala.pipelines.filters.lid",
            "hala.pipelines.filters.views", "hala.pipelines.filters.arabic", "hala.pipelines.core.langid")


def cache_dir() -> Path:
    return Path(os.environ.get("HALA_CACHE", Path.home() / ".cache" / "hala")) / "metrics"


def _code_digest() -> str:
    import importlib

    import duckdb

    h = hashlib.sha256(duckdb.__version__.encode())
    for name in _SQL:
        h.update((SQL_DIR / f"{name}.sql").read_bytes())
    for name in _MODULES:
        h.update(Path(importlib.import_module(name).__file__).read_bytes())
    return h.hexdigest()


def _model_identity(lid: bool, lid_model: str | None) -> list:
    if not lid:
        return ["no-lid"]
    if lid_model is None:
        from hala.pipelines.core.langid import default_lid_model

        lid_model = default_lid_model()
    p = Path(lid_model)
    if p.is_file():
        st = p.stat()
        return [str(p.resolve()), st.st_size, st.st_mtime_ns]
    return [lid_model]  # a URL: fetched into datatrove's cache under its name


def entry(fingerprint: str | None, kind: str | None, lid: bool, lid_model: str | None) -> Path | None:
    """Where the table of this data measured this way lives (None: not cached, e.g. no data files)."""
    if not fingerprint or os.environ.get("HALA_METRICS_CACHE", "1") == "0":
        return None
    key = json.dumps([fingerprint, kind or "auto", _model_identity(lid, lid_model), _code_digest()])
    return cache_dir() / f"{hashlib.blake2b(key.encode(), digest_size=16).hexdigest()}.parquet"


def read(con, path: Path | None) -> str | None:
    """Table `metrics` (and the macros of sql/macros.sql, as build_metrics leaves them) in `con` from the entry at
    PATH; returns the kind it was computed for (None: no usable entry, the caller computes the table)."""
    import duckdb

    if path is None or not path.is_file():
        return None
    try:
        kv = dict(con.execute(f"SELECT key::VARCHAR, value::VARCHAR FROM parquet_kv_metadata({sql_string(str(path))})"
                              ).fetchall())
        if kv.get("hala_kind") not in ("instructions", "pairs"):
            return None
        con.execute(f"CREATE OR REPLACE TABLE metrics AS SELECT * FROM read_parquet({sql_string(str(path))})")
    except duckdb.Error:  # a truncated or foreign file: computed again and replaced
        return None
    con.execute(query("macros"))  # what build_metrics leaves in the connection besides the table
    os.utime(path)  # recently used: kept by write()'s clean-up
    return kv["hala_kind"]


def write(con, path: Path | None, kind: str) -> None:
    """Store table `metrics` of `con` at PATH (atomically: a reader sees the whole entry or none)."""
    if path is None:
        return
    import duckdb

    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        con.execute(f"COPY metrics TO {sql_string(str(tmp))} (FORMAT parquet, KV_METADATA {{hala_kind: "
                    f"{sql_string(kind)}}})")
        tmp.replace(path)
        entries = sorted(path.parent.glob("*.parquet"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
        for old in entries[KEEP:]:
            old.unlink(missing_ok=True)
    except (OSError, duckdb.Error) as e:  # a full or read-only cache costs the next command time, not this verdict
        tmp.unlink(missing_ok=True)
        logging.getLogger(__name__).warning("metrics not cached at %s: %s", path, e)


def cached_metrics(con, dataset_dir: str | Path, fingerprint: str | None, kind: str | None, lid: bool,
                   lid_model: str | None, compute: Callable[[], str]) -> tuple[str, bool]:
    """Table `metrics` in `con`: the cached one of this exact data and code, else `compute()` (which builds it and
    returns the kind), stored for the next command when the data still has FINGERPRINT (a table of bytes that
    changed while they were read is never stored). Returns (kind, whether the table came from the cache)."""
    from hala.quality.fingerprint import dataset_fingerprint

    path = entry(fingerprint, kind, lid, lid_model)
    found = read(con, path)
    if found is not None:
        return found, True
    kind = compute()
    if path is not None and dataset_fingerprint(dataset_dir) == fingerprint:
        write(con, path, kind)
    return kind, False
