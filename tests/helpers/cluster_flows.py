"""What the Slurm and Ray tests run and compare: a small English corpus with exact and near duplicates, its recipes,
and the output of a flow reduced to what must not depend on the engine (ids, records, rejects, counts)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import yaml

from tests.helpers import REPO
from tests.helpers.arabic_endpoint import MODEL

# few MinHash bands (datatrove runs one bucket task per band) and a low threshold so that near twins meet
DEDUP = {"num_buckets": 2, "hashes_per_bucket": 4}


def english_rows(folder: Path, n: int = 16) -> Path:
    """The first `n` Alpaca demo rows in two files (one per task), the second also holding an exact copy of row 0 and
    a near copy of row 1 (one word changed): duplicates that only a cross-task dedup finds."""
    rows = [json.loads(line) for line in (REPO / "samples" / "demo" / "alpaca.jsonl").read_text().splitlines()[:n]]
    near = dict(rows[1], output=rows[1]["output"].replace("Many", "Most", 1))
    folder.mkdir(parents=True, exist_ok=True)
    for name, part in (("a.jsonl", rows[: n // 2]), ("b.jsonl", [*rows[n // 2:], dict(rows[0]), near])):
        (folder / name).write_text("".join(json.dumps(r) + "\n" for r in part), encoding="utf-8")
    return folder


def corpus_recipe(path: Path, rows: Path, out: Path, endpoint: str, tm: Path, executor: dict) -> Path:
    path.write_text(yaml.safe_dump({
        "flow": "corpus", "input": str(rows), "output": str(out), "tm_path": str(tm), "records_per_chunk": 4,
        "server": {"type": "endpoint", "endpoint": endpoint, "model": MODEL, "max_concurrency": 4},
        "dedup": DEDUP, "executor": executor}))
    return path


def translate_recipe(path: Path, rows: Path, out: Path, endpoint: str, tm: Path, executor: dict) -> Path:
    path.write_text(yaml.safe_dump({
        "flow": "translate", "input": str(rows), "output": str(out), "tm_path": str(tm), "records_per_chunk": 2,
        "server": {"type": "endpoint", "endpoint": endpoint, "model": MODEL, "max_concurrency": 2},
        "executor": executor}))
    return path


def _record(row: dict) -> dict:
    """A written record without the counters that say where a segment came from (the model, the TM or a call in
    flight: that depends on the TM's state and on timing, not on the engine)."""
    meta = json.loads(row["meta"]) if isinstance(row.get("meta"), str) else dict(row.get("meta") or {})
    for key in ("model_calls", "tm_hits"):
        meta.get("translate", {}).pop(key, None)
    return {**row, "meta": meta}


def outcome(out: Path) -> dict:
    """Rows by id (records as written), rejects by (stage, id) with reason, and stats.json's stage counts."""
    rows = [_record(r) for r in pq.read_table(out / "data").to_pylist()] if any((out / "data").glob("*.parquet")) \
        else []
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)), "duplicated rows"
    rejects = {}
    for f in (out / "rejects").rglob("*.jsonl"):
        for line in f.read_text().splitlines():
            r = json.loads(line)
            rejects[(r["stage"], r["id"])] = (r["reason"], r.get("detail"))
    stats = json.loads((out / "stats.json").read_text())
    return {"rows": {r["id"]: r for r in rows}, "rejects": rejects, "stages": stats["stages"]}
