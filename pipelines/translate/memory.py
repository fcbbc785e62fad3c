"""A persistent translation memory: a segment is translated once per (model, prompt version, exact text).

Open-Orca repeats a handful of system prompts over millions of rows; with the TM each is sent to the model once —
across rows, datasets and re-runs. Stored in SQLite (WAL) so parallel datatrove tasks on one machine can share it.
Concurrent requests for the same segment share one in-flight model call (`get_or_translate`).

Across machines (Slurm, Ray) the shared TM lives on a network filesystem, where SQLite's WAL is unsafe: each task
then writes its own file (one writer, rollback journal) and reads the shared one read-only (`seed`); once the stage
is complete `merge_memories` adds the tasks' new entries to the shared TM (INSERT OR IGNORE: idempotent).
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import threading
import time
from pathlib import Path
from typing import Awaitable, Callable


def tm_key(model: str, prompt_version: str, segment: str) -> str:
    return hashlib.sha256(f"{model}\x1f{prompt_version}\x1f{segment}".encode("utf-8")).hexdigest()


def _journal_mode(conn: sqlite3.Connection, mode: str, timeout: float = 60.0) -> None:
    """Set the journal mode unless the file already has it. Switching it needs the file to itself, and SQLite
    answers `database is locked` at once (no busy wait) when another process opens the same new TM at that moment
    (the tasks of one stage start together): wait and look again, as the busy timeout does for writes."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != mode:
                conn.execute(f"PRAGMA journal_mode={mode}")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


class TranslationMemory:
    """SQLite-backed map from `tm_key` to the translated segment.

    A task asks it several times per row, so the hot path stays off the disk: the entries a task has found or
    written recently are kept in memory (two generations of `CACHE_SIZE`: bounded, however large the TM grows), a
    row's segments are looked up in one query (`lookup`), and new translations are written `FLUSH_EVERY` at a time in
    one transaction (`flush`; `close` and `len` flush first). A task killed between two flushes loses at most that
    many entries: its resumed rows ask the model for them again, nothing else changes."""

    CACHE_SIZE = 50_000
    FLUSH_EVERY = 256

    def __init__(self, path: str | Path, seed: str | Path | None = None, wal: bool = True):
        """`seed`: a TM read (never written) when `path` lacks a segment; `wal=False` for a file on a network
        filesystem that only this process writes."""
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, timeout=60, isolation_level=None)
        _journal_mode(self._conn, "wal" if wal else "delete")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS tm (key TEXT PRIMARY KEY, model TEXT, prompt_version TEXT, "
            "source TEXT, target TEXT)"
        )
        self._seed = None
        if seed is not None and Path(seed).is_file():
            self._seed = sqlite3.connect(f"{Path(seed).resolve().as_uri()}?mode=ro", uri=True,
                                         check_same_thread=False, timeout=60)
        self._inflight: dict[str, asyncio.Future] = {}
        self._hot: dict[str, str] = {}
        self._old: dict[str, str] = {}
        self._pending: list[tuple[str, str, str, str, str]] = []

    def _remember(self, key: str, target: str) -> None:
        if len(self._hot) >= self.CACHE_SIZE:
            self._old, self._hot = self._hot, {}
        self._hot[key] = target

    def _cached(self, key: str) -> str | None:
        target = self._hot.get(key)
        if target is None:
            target = self._old.get(key)
            if target is not None:
                self._remember(key, target)
        return target

    def lookup(self, keys: list[str]) -> list[str | None]:
        """The stored translation of each key (None where there is none): memory first, then one query per file."""
        found = {k: t for k in keys if (t := self._cached(k)) is not None}
        missing = [k for k in dict.fromkeys(keys) if k not in found]
        for conn in (self._conn, self._seed):
            if not missing or conn is None:
                continue
            for i in range(0, len(missing), 500):
                part = missing[i : i + 500]
                with self._lock:
                    rows = conn.execute(f"SELECT key, target FROM tm WHERE key IN ({','.join('?' * len(part))})",
                                        part).fetchall()
                for key, target in rows:
                    found[key] = target
                    self._remember(key, target)
            missing = [k for k in missing if k not in found]
        return [found.get(k) for k in keys]

    def get(self, model: str, prompt_version: str, segment: str) -> str | None:
        return self.lookup([tm_key(model, prompt_version, segment)])[0]

    def put(self, model: str, prompt_version: str, segment: str, target: str) -> None:
        key = tm_key(model, prompt_version, segment)
        self._pending.append((key, model, prompt_version, segment, target))
        self._remember(key, target)
        if len(self._pending) >= self.FLUSH_EVERY:
            self.flush()

    def flush(self) -> None:
        """Write the pending entries, in one transaction."""
        if not self._pending:
            return
        rows, self._pending = self._pending, []
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                self._conn.executemany("INSERT OR REPLACE INTO tm VALUES (?, ?, ?, ?, ?)", rows)
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def __len__(self) -> int:
        self.flush()
        with self._lock:
            return self._conn.execute("SELECT COUNT(*) FROM tm").fetchone()[0]

    async def get_or_translate(
        self, model: str, prompt_version: str, segment: str, translate: Callable[[str], Awaitable[str]],
        looked_up: bool = False,
    ) -> tuple[str, str]:
        """Return `(translation, origin)`: origin is `tm` (stored), `shared` (joined a concurrent call) or `model`.

        A segment is translated once even when many rows ask for it at the same moment. `looked_up`: the caller
        has just found the segment missing with `lookup` (only what was written since is checked again).
        """
        key = tm_key(model, prompt_version, segment)
        if key in self._inflight:
            return await asyncio.shield(self._inflight[key]), "shared"
        cached = self._cached(key) if looked_up else self.lookup([key])[0]
        if cached is not None:
            return cached, "tm"
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            target = await translate(segment)
        except BaseException as e:
            future.set_exception(e)
            future.exception()  # mark retrieved: sharers re-raise it, nobody else must
            raise
        finally:
            self._inflight.pop(key, None)
        self.put(model, prompt_version, segment, target)
        future.set_result(target)
        return target, "model"

    def close(self) -> None:
        self.flush()
        with self._lock:
            self._conn.close()
            if self._seed is not None:
                self._seed.close()


def merge_memories(shared: str | Path, parts: list[Path]) -> int:
    """Add every entry of the task-local TMs `parts` that `shared` lacks; returns how many were added. Idempotent
    (INSERT OR IGNORE on the key), so a re-run or a second merge adds nothing. The shared file is left in rollback
    journal mode, which (unlike WAL) is safe to read from other machines over a network filesystem."""
    tm = TranslationMemory(shared, wal=False)
    tm.close()
    conn = sqlite3.connect(shared, timeout=60, isolation_level=None)
    try:
        before = conn.execute("SELECT COUNT(*) FROM tm").fetchone()[0]
        for part in parts:
            conn.execute("ATTACH DATABASE ? AS part", (str(part),))
            try:
                conn.execute("INSERT OR IGNORE INTO main.tm SELECT * FROM part.tm")
            finally:
                conn.execute("DETACH DATABASE part")
        return conn.execute("SELECT COUNT(*) FROM tm").fetchone()[0] - before
    finally:
        conn.close()


def _columns(conn: sqlite3.Connection) -> list[str]:
    return [row[1] for row in conn.execute("PRAGMA table_info(tm)")]


def memory_stats(path: str | Path) -> tuple[int, list[tuple[str, str, int]]]:
    """(entries, [(model, prompt_version, entries)] largest first)."""
    conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
    try:
        total = conn.execute("SELECT COUNT(*) FROM tm").fetchone()[0]
        groups = conn.execute("SELECT model, prompt_version, COUNT(*) AS n FROM tm GROUP BY model, prompt_version "
                              "ORDER BY n DESC, model, prompt_version").fetchall()
    finally:
        conn.close()
    return total, [tuple(g) for g in groups]


def export_memory(path: str | Path, output: Path) -> int:
    """Every entry to one parquet file (the TM's own columns), written next to its name then renamed."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
    try:
        columns = _columns(conn)
        rows = conn.execute(f"SELECT {', '.join(columns)} FROM tm ORDER BY key").fetchall()
    finally:
        conn.close()
    table = pa.table({c: pa.array([r[i] for r in rows], pa.string()) for i, c in enumerate(columns)})
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(output.name + ".tmp")
    pq.write_table(table, tmp)
    tmp.replace(output)
    return len(rows)


def import_memory(path: str | Path, parquet: Path) -> tuple[int, int]:
    """Add the entries of a `export_memory` file that the TM lacks; returns (added, rows in the file)."""
    import pyarrow.parquet as pq

    from hala.pipelines.core.errors import UserError

    TranslationMemory(path).close()  # creates the table when the TM is new
    table = pq.read_table(parquet)
    conn = sqlite3.connect(path, timeout=60, isolation_level=None)
    try:
        columns = _columns(conn)
        if sorted(table.column_names) != sorted(columns):
            raise UserError(f"{parquet}: columns {', '.join(table.column_names)} are not a TM export's "
                            f"({', '.join(columns)})")
        before = conn.execute("SELECT COUNT(*) FROM tm").fetchone()[0]
        data = table.select(columns).to_pylist()
        conn.execute("BEGIN")
        conn.executemany(f"INSERT OR IGNORE INTO tm ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                         [tuple(r[c] for c in columns) for r in data])
        conn.execute("COMMIT")
        return conn.execute("SELECT COUNT(*) FROM tm").fetchone()[0] - before, len(data)
    finally:
        conn.close()
