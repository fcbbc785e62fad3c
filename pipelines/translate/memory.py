"""A persistent translation memory: a segment is translated once per (model, prompt version, exact text).

Open-Orca repeats a handful of system prompts over millions of rows; with the TM each is sent to the model once —
across rows, datasets and re-runs. Stored in SQLite (WAL) so parallel datatrove tasks on one machine can share it.
Concurrent requests for the same segment share one in-flight model call (`get_or_translate`).
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import threading
from pathlib import Path
from typing import Awaitable, Callable


def tm_key(model: str, prompt_version: str, segment: str) -> str:
    return hashlib.sha256(f"{model}\x1f{prompt_version}\x1f{segment}".encode("utf-8")).hexdigest()


class TranslationMemory:
    """SQLite-backed map from `tm_key` to the translated segment."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, timeout=60, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS tm (key TEXT PRIMARY KEY, model TEXT, prompt_version TEXT, "
            "source TEXT, target TEXT)"
        )
        self._inflight: dict[str, asyncio.Future] = {}

    def get(self, model: str, prompt_version: str, segment: str) -> str | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT target FROM tm WHERE key = ?", (tm_key(model, prompt_version, segment),)
            ).fetchone()
        return row[0] if row else None

    def put(self, model: str, prompt_version: str, segment: str, target: str) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO tm VALUES (?, ?, ?, ?, ?)",
                (tm_key(model, prompt_version, segment), model, prompt_version, segment, target),
            )

    def __len__(self) -> int:
        with self._lock:
            return self._conn.execute("SELECT COUNT(*) FROM tm").fetchone()[0]

    async def get_or_translate(
        self, model: str, prompt_version: str, segment: str, translate: Callable[[str], Awaitable[str]]
    ) -> tuple[str, str]:
        """Return `(translation, origin)`: origin is `tm` (stored), `shared` (joined a concurrent call) or `model`.

        A segment is translated once even when many rows ask for it at the same moment.
        """
        key = tm_key(model, prompt_version, segment)
        if key in self._inflight:
            return await asyncio.shield(self._inflight[key]), "shared"
        cached = self.get(model, prompt_version, segment)
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
        with self._lock:
            self._conn.close()
