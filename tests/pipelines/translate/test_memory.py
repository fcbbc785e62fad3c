"""The translation memory across machines (task-local files seeded from the shared TM, merged idempotently) and
`hala tm stats|export|import`."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import pyarrow.parquet as pq

from hala.pipelines.translate.memory import TranslationMemory, merge_memories
from tests.helpers import REPO


def hala(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hala.pipelines.cli.app", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=120)


def test_task_memories_read_the_shared_one_and_merge_once(tmp_path):
    shared = tmp_path / "tm.sqlite"
    tm = TranslationMemory(shared)
    tm.put("m", "v1", "hello", "مرحبا")
    tm.close()
    parts = [tmp_path / "work" / f"{rank:05d}.sqlite" for rank in (0, 1)]
    for rank, part in enumerate(parts):
        task = TranslationMemory(part, seed=shared, wal=False)
        assert task.get("m", "v1", "hello") == "مرحبا"  # seeded read-only from the shared TM
        task.put("m", "v1", f"segment {rank}", f"مقطع {rank}")
        task.put("m", "v1", "both", "كلاهما")  # the same segment translated by both tasks
        assert len(task) == 2  # the task's file holds only what it translated
        task.close()
    assert sqlite3.connect(parts[0]).execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert merge_memories(shared, parts) == 3
    assert merge_memories(shared, parts) == 0  # idempotent: a re-run or a second merge adds nothing
    # left in rollback-journal mode: readable from other machines without WAL's shared memory
    assert sqlite3.connect(shared).execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    merged = TranslationMemory(shared, wal=False)
    assert len(merged) == 4 and merged.get("m", "v1", "segment 1") == "مقطع 1"
    merged.close()


def test_tm_stats_export_import(tmp_path):
    tm = TranslationMemory(tmp_path / "tm.sqlite")
    for i in range(3):
        tm.put("model-a@rev1", "lfm2-v1", f"a {i}", f"أ {i}")
    tm.put("model-b@rev2", "teacher-v3", "b", "ب")
    tm.close()

    r = hala("tm", "stats", "--tm", str(tmp_path / "tm.sqlite"))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].endswith("tm.sqlite: 4 entries")
    assert lines[1].split() == ["3", "model", "model-a@rev1", "prompt", "lfm2-v1"]
    assert lines[2].split() == ["1", "model", "model-b@rev2", "prompt", "teacher-v3"]

    r = hala("tm", "export", str(tmp_path / "tm.parquet"), "--tm", str(tmp_path / "tm.sqlite"))
    assert r.returncode == 0 and "exported 4 entries" in r.stdout, r.stderr
    table = pq.read_table(tmp_path / "tm.parquet")
    assert table.num_rows == 4 and set(table.column_names) == {"key", "model", "prompt_version", "source", "target"}

    r = hala("tm", "import", str(tmp_path / "tm.parquet"), "--tm", str(tmp_path / "new.sqlite"))
    assert r.returncode == 0 and "imported 4 new entries of 4" in r.stdout, r.stderr
    again = hala("tm", "import", str(tmp_path / "tm.parquet"), "--tm", str(tmp_path / "new.sqlite"))
    assert "imported 0 new entries of 4" in again.stdout  # safe to repeat
    new = TranslationMemory(tmp_path / "new.sqlite")
    assert new.get("model-b@rev2", "teacher-v3", "b") == "ب"
    new.close()


def test_tm_user_errors(tmp_path):
    r = hala("tm", "stats", "--tm", str(tmp_path / "missing.sqlite"))
    assert r.returncode == 2 and "no such translation memory" in r.stderr
    import pyarrow as pa

    pq.write_table(pa.table({"x": ["1"]}), tmp_path / "other.parquet")
    r = hala("tm", "import", str(tmp_path / "other.parquet"), "--tm", str(tmp_path / "tm.sqlite"))
    assert r.returncode == 2 and "are not a TM export's" in r.stderr and "Traceback" not in r.stderr


def test_new_entries_are_written_in_batches_and_found_before_they_are(tmp_path):
    """A task writes its translations FLUSH_EVERY at a time in one transaction (one commit per segment cost more
    than the request for it); what is not written yet is still found, and `close` writes the rest."""
    path = tmp_path / "tm.sqlite"
    tm = TranslationMemory(path)
    n = TranslationMemory.FLUSH_EVERY - 1
    for i in range(n):
        tm.put("m", "v1", f"segment {i}", f"مقطع {i}")
    on_disk = lambda: sqlite3.connect(path).execute("SELECT COUNT(*) FROM tm").fetchone()[0]  # noqa: E731
    assert on_disk() == 0  # nothing committed yet
    assert tm.get("m", "v1", "segment 3") == "مقطع 3"
    assert tm.lookup([]) == []
    tm.put("m", "v1", f"segment {n}", f"مقطع {n}")
    assert on_disk() == n + 1  # the batch is full: one transaction
    tm.put("m", "v1", "last", "الأخير")
    tm.close()
    assert on_disk() == n + 2
    again = TranslationMemory(path)
    from hala.pipelines.translate.memory import tm_key

    assert again.lookup([tm_key("m", "v1", "last"), tm_key("m", "v1", "nothing"), tm_key("m", "v1", "segment 0")]) \
        == ["الأخير", None, "مقطع 0"]
    again.close()


def _open_at_once(path: str, barrier, n: int) -> None:
    barrier.wait()
    tm = TranslationMemory(path)
    tm.put("m", "v1", f"segment {n}", f"ترجمة {n}")
    tm.close()


def test_tasks_opening_a_new_tm_at_the_same_moment_all_start(tmp_path):
    """The tasks of a stage start together and open the same new TM: switching it to WAL must not fail one of them
    with `database is locked` (a corpus run on 2 tasks failed so)."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    for round_ in range(12):
        path = str(tmp_path / f"tm{round_}.sqlite")
        barrier = ctx.Barrier(6)
        procs = [ctx.Process(target=_open_at_once, args=(path, barrier, n)) for n in range(6)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        assert [p.exitcode for p in procs] == [0] * 6, f"round {round_}"
        assert len(TranslationMemory(path)) == 6
