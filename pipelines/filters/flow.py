"""`hala filter` on any dataset folder: record reader → `read` → LID → quality → writer, with rejects and stats.

INPUT is a dataset folder written by a hala stage (its `data/` is read), a plain folder of `.parquet`/`.jsonl`
records, or one such file. OUTPUT gets the usual layout: `data/*.parquet`, `rejects/<stage>/*.jsonl`, `stats.json`
(`read = kept + rejected` per stage, starting with the `read` stage: rows that are not records, see
`hala.pipelines.io.records`) and `logs/`. Re-running into the same OUTPUT resumes: datatrove skips the
tasks it already completed.
"""

from __future__ import annotations

from pathlib import Path

from hala.pipelines.core.executors import ExecutorConfig, make_executor, run_stages, submitted
from hala.pipelines.core.stats import write_stats
from hala.pipelines.filters import FilterConfig, Kind, build_filter_steps
from hala.pipelines.io.records import ReadStage, detect_kind, record_reader, record_writer


def run_filter(input_path: str, output_dir: str, kind: Kind | None = None, config: FilterConfig | None = None,
               tasks: int = 1, workers: int = 1, data_dir: str | None = None, limit: int = -1,
               executor: ExecutorConfig | None = None) -> dict:
    """LID + quality filters over INPUT into OUTPUT; returns (and writes) the stats, or what `submitted` says when
    the tasks went to Slurm without waiting. `executor` (a recipe's block) overrides `tasks`/`workers`."""
    kind = detect_kind(input_path, kind)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    steps = build_filter_steps(kind, str(out), config or FilterConfig())
    data_dir = data_dir or str(out / "data")
    Path(data_dir).mkdir(parents=True, exist_ok=True)  # exists even when every row is rejected
    reader = record_reader(input_path, limit, kind=kind, quarantine=True)
    pipeline = [reader, ReadStage(str(out)), *steps, record_writer(kind, data_dir)]
    engine = executor or ExecutorConfig(tasks=tasks, workers=workers)
    filtering = make_executor(engine, pipeline, out / "logs" / "filter")
    if not run_stages(engine, [("filter", filtering)]):
        return submitted(out, filtering, kind)
    return write_stats(out, kind=kind)
