"""stats.json after a resumed multi-task run counts every task, not only those the last invocation ran (datatrove
rewrites LOGS/stats.json with the tasks it ran; the accounting sums each task's own LOGS/stats/<rank>.json)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq

from tests.helpers import REPO

AUDIT = REPO / "samples" / "audit" / "instructions.jsonl"


def hala(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hala.pipelines.cli.app", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=300)


def _shards(tmp_path: Path, n: int = 4) -> Path:
    lines = AUDIT.read_text().splitlines(keepends=True)
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(n):
        (folder / f"p{i}.jsonl").write_text("".join(lines[i * 40:(i + 1) * 40]))
    return folder


def _as_if_killed(out: Path, stage_logs: str, rank: int) -> None:
    """What a kill -9 of task `rank` leaves: no completion mark, no task stats, its output files unfinished."""
    logs = out / "logs" / stage_logs
    (logs / "completions" / f"{rank:05d}").unlink()
    (logs / "stats" / f"{rank:05d}.json").unlink()
    for f in [*(out / "data").glob(f"*{rank:05d}.parquet"), *(out / "rejects").glob(f"*/{rank:05d}.jsonl")]:
        f.write_bytes(b"")


def _rows(out: Path) -> int:
    return sum(pq.read_metadata(f).num_rows for f in (out / "data").glob("*.parquet") if f.stat().st_size)


def test_resumed_filter_with_4_tasks_reports_the_whole_dataset(tmp_path):
    src, out = _shards(tmp_path), tmp_path / "out"
    args = ("filter", str(src), str(out), "--kind", "instructions", "--tasks", "4")
    assert hala(*args).returncode == 0
    whole = json.loads((out / "stats.json").read_text())["stages"]
    _as_if_killed(out, "filter", 2)
    r = hala(*args)
    assert r.returncode == 0, r.stderr
    resumed = json.loads((out / "stats.json").read_text())["stages"]
    assert resumed == whole and resumed["read"]["read"] == 160
    assert _rows(out) == resumed["quality"]["kept"]


def test_resumed_dedup_with_4_tasks_reports_the_whole_dataset(tmp_path):
    src, out = _shards(tmp_path), tmp_path / "out"
    args = ("dedup", str(src), str(out), "--tasks", "4")
    assert hala(*args).returncode == 0
    whole = json.loads((out / "stats.json").read_text())["stages"]
    _as_if_killed(out, "dedup_4_final", 1)
    r = hala(*args)
    assert r.returncode == 0, r.stderr
    resumed = json.loads((out / "stats.json").read_text())["stages"]
    assert resumed == whole and resumed["dedup"]["read"] == 160
    assert _rows(out) == resumed["dedup"]["kept"]
