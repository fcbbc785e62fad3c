"""`hala filter` / `hala dedup` on any dataset folder: record reader → `read` → stages → writer, rejects and stats.

INPUT is a dataset folder written by a hala stage (its `data/` is read), a plain folder of `.parquet`/`.jsonl`
records, or one such file. OUTPUT gets the usual layout: `data/*.parquet`, `rejects/<stage>/*.jsonl`, `stats.json`
(`read = kept + rejected` per stage, starting with the `read` stage: rows that are not records, see
`pipelines.filters.record_io`) and `logs/`. Re-running into the same OUTPUT resumes: datatrove skips the
tasks it already completed.
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import Literal

from datatrove.executor import LocalPipelineExecutor

from pipelines.errors import UserError
from pipelines.filters import FilterConfig, build_filter_steps
from pipelines.filters.record_io import (RecordJsonlReader, RecordParquetReader, ReadStage, first_record_keys,
                                         input_files, record_reader, record_writer)
from pipelines.stages import stage_accounting

__all__ = ["RecordJsonlReader", "RecordParquetReader", "ReadStage", "detect_kind", "input_files", "local_executor",
           "record_reader", "record_writer", "run_filter", "run_filter_and_dedup", "write_dataset_stats"]

Kind = Literal["instructions", "pairs"]


def detect_kind(input_path: str, expected: str | None = None) -> Kind:
    """`instructions` (records with messages) or `pairs` (src/tgt); a mismatch with `expected` is a user error.
    An input with no readable record at all is taken to be `expected` (its rows all leave as `read` rejects)."""
    p = Path(input_path)
    stats = p / "stats.json"
    kind = None
    if stats.is_file():
        kind = json.loads(stats.read_text()).get("kind")
    if kind not in ("instructions", "pairs"):
        kind, keys = first_record_keys(input_path)
        if kind is None and keys is not None:
            raise UserError(f"{input_path}: records have neither `messages` nor `src`/`tgt` (keys: "
                            f"{', '.join(keys)})")
        kind = kind or expected or "instructions"
    if expected and kind != expected:
        raise UserError(f"{input_path}: holds {kind}, not {expected} (--kind)")
    return kind  # type: ignore[return-value]


# Threads that may be alive when a worker forks: fsspec's IO loop (every datatrove DataFolder starts it; fsspec resets
# it in a forked child with os.register_at_fork, and the executor's pool pickles the pipeline, so a worker builds its
# own file systems).
FORK_SAFE_THREADS = {"fsspecIO"}


def start_method() -> str:
    """How worker processes start: `fork` on Linux when this process runs no other thread than those known to be
    fork-safe (a forked worker starts in milliseconds; a spawned one re-imports datatrove, pyarrow and fastText
    first, about 1.5 s of CPU each, which was a third of a 100k-row filter run), else `spawn` (forking next to a
    live thread could copy a lock it holds)."""
    others = {t.name for t in threading.enumerate() if t is not threading.main_thread()}
    return "fork" if sys.platform.startswith("linux") and others <= FORK_SAFE_THREADS else "spawn"


def local_executor(pipeline: list, logging_dir: Path, tasks: int = 1, workers: int = 1, depends=None):
    return LocalPipelineExecutor(pipeline=pipeline, tasks=tasks, workers=min(workers, tasks),
                                 logging_dir=str(logging_dir), depends=depends, start_method=start_method())


def write_dataset_stats(out: Path, kind: str, logging_dirs: list[Path] | None = None) -> dict:
    """OUT/stats.json from the stage accounting of every executor that logged under OUT/logs (in run order)."""
    if logging_dirs is None:
        found = [d for d in (out / "logs").glob("*") if (d / "stats.json").is_file()]
        logging_dirs = sorted(found, key=lambda d: (d / "stats.json").stat().st_mtime)
    stages: dict[str, dict] = {}
    for d in logging_dirs:
        if (d / "stats.json").is_file():
            stages.update(stage_accounting(d))
    stats = {"kind": kind, "stages": stages}
    tmp = out / "stats.json.tmp"
    tmp.write_text(json.dumps(stats, indent=2, ensure_ascii=False))
    tmp.replace(out / "stats.json")
    return stats


def run_filter(input_path: str, output_dir: str, kind: Kind | None = None, config: FilterConfig | None = None,
               tasks: int = 1, workers: int = 1, data_dir: str | None = None, limit: int = -1) -> dict:
    """LID + quality filters over INPUT into OUTPUT; returns (and writes) the stats."""
    kind = detect_kind(input_path, kind)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    steps = build_filter_steps(kind, str(out), config or FilterConfig())
    data_dir = data_dir or str(out / "data")
    Path(data_dir).mkdir(parents=True, exist_ok=True)  # exists even when every row is rejected
    reader = record_reader(input_path, limit, kind=kind, quarantine=True)
    pipeline = [reader, ReadStage(str(out)), *steps, record_writer(kind, data_dir)]
    local_executor(pipeline, out / "logs" / "filter", tasks, workers).run()
    return write_dataset_stats(out, kind)


def run_filter_and_dedup(input_path: str, output_dir: str, kind: Kind | None = None,
                         filters: FilterConfig | None = None, dedup=None, tasks: int = 1, workers: int = 1) -> dict:
    """Filters, then (when `dedup` is a DedupConfig) deduplication of what the filters kept, into one OUTPUT."""
    from pipelines.dedup import run_dedup

    filters = filters if filters is not None else FilterConfig()
    out = Path(output_dir)
    kind = detect_kind(input_path, kind)
    if dedup is None:
        return run_filter(input_path, output_dir, kind, filters, tasks, workers)
    staged = out / "work" / "filtered"
    run_filter(input_path, output_dir, kind, filters, tasks, workers, data_dir=str(staged / "data"))
    # the staged rows were written by the filter run: its `read` stage already accounts for the input
    return run_dedup(str(staged), output_dir, dedup, tasks=tasks, workers=workers, kind=kind)
