"""One progress bar per stage, with a total and an ETA: a pass-through datatrove step put right after a stage's
reader. datatrove's own bars (no label, no total) are switched off on the screen (hala.pipelines.core.compat).

The total is counted before the run from the input files (JSONL lines, parquet row counts); a Hub dataset or a JSON
array file has no cheap count, and its bar shows rows and speed without an ETA. With several tasks each draws its
own bar over its share of the rows.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep


def count_rows(files: list[Path]) -> int | None:
    """Rows in local input files, or None when one of them cannot be counted without parsing it."""
    total = 0
    for f in files:
        if f.suffix == ".parquet":
            import pyarrow.parquet as pq

            total += pq.read_metadata(f).num_rows
        elif f.suffix == ".jsonl":
            with open(f, "rb") as fh:
                newlines, last = 0, b"\n"
                while chunk := fh.read(1 << 20):
                    newlines += chunk.count(b"\n")
                    last = chunk[-1:]
                total += newlines + (last != b"\n")
        else:
            return None
    return total


def input_rows(input_path: str, limit: int = -1) -> int | None:
    """The rows a stage will read from a local file or folder (the first `limit` when set); None when unknown."""
    p = Path(input_path)
    if not p.exists():
        return None if limit < 0 else limit
    if p.is_dir():
        folder = p / "data" if (p / "data").is_dir() else p
        files = sorted(q for q in folder.rglob("*") if q.is_file() and q.suffix in (".jsonl", ".json", ".parquet"))
    else:
        files = [p]
    total = count_rows(files)
    if limit >= 0:
        return limit if total is None else min(limit, total)
    return total


class StageProgress(PipelineStep):
    """A bar labelled with the stage, rows done of the total, rate and ETA (tqdm, on stderr; HALA_PROGRESS=0 hides
    it)."""

    name = "📊 Progress"
    type = "PROGRESS"

    def __init__(self, label: str, total: int | None = None):
        super().__init__()
        self.label, self.total = label, total

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        from tqdm import tqdm

        total = None if self.total is None else -(-self.total // world_size) if world_size > 1 else self.total
        label = self.label if world_size == 1 else f"{self.label} [task {rank}]"
        tty = sys.stderr.isatty()  # a log file gets a line every 10 s, not every update
        with tqdm(total=total, desc=label, unit="rows", file=sys.stderr, dynamic_ncols=True, leave=True,
                  mininterval=0.2 if tty else 10, disable=os.environ.get("HALA_PROGRESS") == "0") as bar:
            for doc in data:
                yield doc
                bar.update()
