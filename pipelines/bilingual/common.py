"""Small helpers the bilingual flows share: a global "first N rows" reader, counters of non-filter steps, and where a
dataset folder's rows are."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from datatrove.data import DocumentsPipeline
from datatrove.pipeline.readers.base import BaseReader


class FirstRowsReader(BaseReader):
    """The first `limit` rows of the input in total, however many tasks run (datatrove's own `limit` is per task:
    N tasks would read up to N x limit rows). Every task reads the same first rows with the wrapped reader as if it
    were the only task, and keeps every world_size-th one: together the tasks read exactly those rows, each row in
    one task, the same on every run (so a resumed task redoes the same rows). Reading a row is cheap next to
    translating or judging it."""

    name = "📖 First rows"

    def __init__(self, reader: BaseReader, limit: int):
        super().__init__(limit=limit)
        self.reader = reader
        self.reader.limit = limit

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if data:
            yield from data
        for i, doc in enumerate(self.reader.run(None, rank=0, world_size=1)):
            if i >= self.limit:
                break
            if i % world_size == rank:
                self.stat_update("documents")
                yield doc


def first_rows_reader(input_path: str, dataset: str | None = None, config: str | None = None, split: str = "train",
                      limit: int = -1) -> BaseReader:
    """`pipelines.readers.source_reader` (local file/folder or Hub id) limited to its first `limit` rows in total
    (-1: every row, sharded across tasks as datatrove does)."""
    from pipelines.readers import source_reader

    reader = source_reader(input_path, dataset, config, split)
    return reader if limit < 0 else FirstRowsReader(reader, limit)


def step_counters(logging_dir: Path, step_name: str) -> dict[str, int]:
    """The counters a (non-filter) datatrove step logged, e.g. {"rows": 6, "pairs": 12}; {} when it never ran."""
    stats_file = Path(logging_dir) / "stats.json"
    if not stats_file.is_file():
        return {}
    for step in json.loads(stats_file.read_text()):
        if step.get("name", "").split(":", 1)[-1].strip() == step_name:
            out = {}
            for k, v in step.get("stats", {}).items():
                value = v.get("total", 0) if isinstance(v, dict) else v
                if isinstance(value, (int, float)):
                    out[k] = int(value)
            return out
    return {}


def has_rows(folder: Path) -> bool:
    """Whether a folder holds any parquet/jsonl file (a stage that rejected everything writes none)."""
    return folder.is_dir() and any(p.suffix in (".parquet", ".jsonl") for p in folder.rglob("*") if p.is_file())


def merge_rejects(src_out: Path, dst_out: Path) -> None:
    """Copy the rejects of a sub-run (e.g. dedup into a work folder) next to the flow's own output."""
    src = src_out / "rejects"
    if src.is_dir():
        shutil.copytree(src, dst_out / "rejects", dirs_exist_ok=True)


def atomic_write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False))
    tmp.replace(path)
