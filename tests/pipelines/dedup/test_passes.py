"""`hala dedup` in datatrove's four MinHash executors: the key is normalized in one pass only, exact copies are found
without exact-dedup stages of their own, and a run killed in the clustering or the final pass resumes to the same
result."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq

from hala.pipelines.core.stats import merged_steps
from tests.helpers import REPO

AUDIT = REPO / "samples" / "audit" / "instructions.jsonl"
STAGES = ["dedup_1_signatures", "dedup_2_buckets", "dedup_3_clusters", "dedup_4_final"]


def hala(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hala.pipelines.cli.app", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=300)


def _input(tmp_path: Path) -> Path:
    """Two files of audit rows; the second also holds exact copies, tashkeel-only copies and one-word edits (own ids)
    of rows of the first, and a copy of a two-word answer (too short for one MinHash shingle)."""
    rows = [json.loads(x) for x in AUDIT.read_text().splitlines()][:60]
    first, second = rows[:30], rows[30:]
    copies = []
    for k, r in enumerate(first[:9]):
        copy = json.loads(json.dumps(r))
        if k % 3 == 1:
            copy["messages"][-1]["content"] = copy["messages"][-1]["content"].replace("ا", "اً", 1)
        elif k % 3 == 2:
            copy["messages"][-1]["content"] += " جدا"
        copies.append({**copy, "id": f"copy_{k}"})
    short = {**first[0], "id": "short_a", "messages": [{"role": "user", "content": "نعم"},
                                                       {"role": "assistant", "content": "حسنا"}]}
    folder = tmp_path / "in"
    folder.mkdir()
    for name, part in (("a", [*first, short]), ("b", [*second, *copies, {**short, "id": "short_b"}])):
        (folder / f"{name}.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in part))
    return folder


def _outcome(out: Path) -> dict:
    kept = sorted(r["id"] for f in (out / "data").glob("*.parquet") for r in pq.read_table(f, columns=["id"]).to_pylist())
    rejects = {}
    for f in (out / "rejects").glob("*/*.jsonl"):
        for line in f.read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            rejects[r["id"]] = (r["stage"], r["reason"], r["detail"])
    return {"kept": kept, "rejects": rejects, "stages": json.loads((out / "stats.json").read_text())["stages"]}


def test_four_executors_and_the_key_normalized_once(tmp_path):
    src, out = _input(tmp_path), tmp_path / "out"
    r = hala("dedup", str(src), str(out), "--tasks", "2", "--workers", "2")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (out / "logs").iterdir()) == STAGES
    with_key = [s for s in STAGES if any("dedup key" in step["name"] for step in merged_steps(out / "logs" / s))]
    assert with_key == ["dedup_1_signatures"]  # the later passes never normalize a key again
    got = _outcome(out)
    originals = [json.loads(x)["id"] for x in AUDIT.read_text().splitlines()[:9]]
    for k, original in enumerate(originals):
        kept, dropped = sorted((original, f"copy_{k}"))  # the smallest id of a group is kept
        reason = "near_duplicate" if k % 3 == 2 else "exact_duplicate"  # a tashkeel-only copy is exact
        assert got["rejects"][dropped] == ("dedup", reason, f"kept={kept}"), k
    assert got["rejects"]["short_b"] == ("dedup", "exact_duplicate", "kept=short_a")  # no shingle: by its hash
    d = got["stages"]["dedup"]
    assert d["read"] == 71 and d["read"] == d["kept"] + d["rejected"] == len(got["kept"]) + len(got["rejects"])


def _as_if_killed(out: Path, stage: str, rank: int) -> None:
    """What a kill -9 of task `rank` of `stage` leaves: no completion mark, no task stats, its files unfinished."""
    logs = out / "logs" / stage
    (logs / "completions" / f"{rank:05d}").unlink()
    (logs / "stats" / f"{rank:05d}.json").unlink()
    if stage == "dedup_4_final":
        for f in [*(out / "data").glob(f"*{rank:05d}.parquet"), *(out / "rejects").glob(f"*/{rank:05d}.jsonl")]:
            f.write_bytes(b"")


def test_killed_in_the_clustering_and_the_final_pass_resumes_to_the_same_result(tmp_path):
    src = _input(tmp_path)
    clean, out = tmp_path / "clean", tmp_path / "out"
    args = ("--tasks", "2", "--workers", "2")
    assert hala("dedup", str(src), str(clean), *args).returncode == 0
    assert hala("dedup", str(src), str(out), *args).returncode == 0
    # killed while deciding: the decisions half written, the final pass not started for one task
    decisions = out / "work" / "dedup" / "decisions"
    shutil.rmtree(decisions)
    decisions.mkdir()
    (decisions / "00000.parquet").write_bytes(b"PAR1")
    _as_if_killed(out, "dedup_3_clusters", 0)
    _as_if_killed(out, "dedup_4_final", 1)
    r = hala("dedup", str(src), str(out), *args)
    assert r.returncode == 0, r.stderr
    assert _outcome(out) == _outcome(clean)


def test_a_task_that_reads_no_row_gets_its_decisions(tmp_path):
    """More tasks than input files: the idle task's final pass finds its (empty) decisions instead of failing with
    'the clustering stage has not completed' (mine with 2 tasks over one pre-filtered file met this)."""
    import pyarrow as pa

    src = tmp_path / "one.parquet"  # one parquet file: the second task reads nothing
    rows = [json.loads(x) for x in AUDIT.read_text().splitlines()][:20]
    rows = [{**r, "meta": json.dumps(r.get("meta") or {})} for r in [*rows, {**rows[0], "id": "again"}]]
    pq.write_table(pa.Table.from_pylist(rows), src)
    r = hala("dedup", str(src), str(tmp_path / "out"), "--tasks", "2", "--workers", "2")
    assert r.returncode == 0, r.stderr[-2000:]
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())["stages"]["dedup"]
    assert stats["read"] == 21 and stats["rejected"] == 1 and stats["kept"] == 20
