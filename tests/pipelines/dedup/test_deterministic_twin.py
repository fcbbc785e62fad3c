"""The kept twin is the same whatever the task count: a corpus rebuilt on a cluster equals the laptop's."""

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


def _input(tmp_path: Path) -> Path:
    """8 files: each with its own rows, and files 1..7 each with a copy (own id) of the same 6 shared rows, 3 of
    them with one word changed (near duplicates)."""
    rows = [json.loads(x) for x in AUDIT.read_text().splitlines()]
    shared, own = rows[:6], rows[6:]
    folder = tmp_path / "in"
    folder.mkdir()
    for f in range(8):
        out = [{**r, "id": f"own{f}_{k}"} for k, r in enumerate(own[f * 15:(f + 1) * 15])]
        if f:
            for k, r in enumerate(shared):
                copy = json.loads(json.dumps(r))
                if k % 2 and f % 2:
                    copy["messages"][-1]["content"] += " جدا"
                out.append({**copy, "id": f"z{9 - f}_{k}"})  # later files hold the smaller ids
        (folder / f"f{f}.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in out))
    return folder


def _kept(out: Path) -> set[str]:
    return {r["id"] for f in (out / "data").glob("*.parquet") for r in pq.read_table(f, columns=["id"]).to_pylist()}


def test_same_kept_twins_with_1_and_4_tasks(tmp_path):
    src = _input(tmp_path)
    one, four = tmp_path / "one", tmp_path / "four"
    assert hala("dedup", str(src), str(one), "--tasks", "1").returncode == 0
    r = hala("dedup", str(src), str(four), "--tasks", "4", "--workers", "2")
    assert r.returncode == 0, r.stderr
    assert _kept(one) == _kept(four)
    rejected = [json.loads(x) for f in (one / "rejects" / "dedup").glob("*.jsonl") for x in f.read_text().splitlines()]
    twins = {x["id"]: x["detail"].removeprefix("kept=") for x in rejected}
    assert len(twins) >= 7 * 6 - 6  # every shared row's copies but one
    assert set(twins.values()) <= _kept(one)
    assert all(kept < rid for rid, kept in twins.items())  # the smallest id of each group is the one kept
