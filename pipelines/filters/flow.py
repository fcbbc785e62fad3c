"""`hala filter` on any dataset folder: record reader → `read` → LID → quality → writer, with rejects and stats.

INPUT is a dataset folder written by a hala stage (its `data/` is read), a plain folder of `.parquet`/`.jsonl`
records, or one such file. OUTPUT gets the usual layout: `data/*.parquet`, `rejects/<stage>/*.jsonl`, `stats.json`
(`read = kept + rejected` per stage, starting with the `read` stage: rows that are not records, see
`hala.pipelines.io.records`) and `logs/`. Re-running into the same OUTPUT resumes: datatrove skips the
tasks it already completed.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from hala.pipelines.core.config import write_recipe
from hala.pipelines.core.executors import ExecutorConfig, make_executor, run_stages, submitted
from hala.pipelines.core.progress import StageProgress, input_rows
from hala.pipelines.core.run_folder import bound_run, recipe_fingerprint
from hala.pipelines.core.stats import write_stats
from hala.pipelines.filters import FilterConfig, Kind, build_filter_steps
from hala.pipelines.io.records import ReadStage, detect_kind, record_reader, record_writer


def filter_fingerprint(input_path: str, kind: str, config: FilterConfig, tasks: int, limit: int, **more) -> dict:
    """What determines `hala filter`'s rows (OUTPUT/run.json)."""
    return recipe_fingerprint("filter", {"kind": kind, "filters": config.model_dump(mode="json"), "tasks": tasks,
                                         "limit": limit, **more}, {"input": input_path})


def run_filter(input_path: str, output_dir: str, kind: Kind | None = None, config: FilterConfig | None = None,
               tasks: int = 1, workers: int = 1, data_dir: str | None = None, limit: int = -1,
               recipe: BaseModel | None = None, overwrite: bool = False,
               executor: ExecutorConfig | None = None) -> dict:
    """LID + quality filters over INPUT into OUTPUT; returns (and writes) the stats, or what `submitted` says when
    the tasks went to Slurm without waiting. Nothing is written before the input has been checked; then `recipe`
    (the whole run's, when given) becomes OUTPUT/recipe.yaml. `executor` (a recipe's block) overrides
    `tasks`/`workers`."""
    kind = detect_kind(input_path, kind)
    config = config or FilterConfig()
    engine = executor or ExecutorConfig(tasks=tasks, workers=workers)
    steps = build_filter_steps(kind, str(output_dir), config)
    reader = record_reader(input_path, limit, kind=kind, quarantine=True)
    with bound_run(output_dir, filter_fingerprint(input_path, kind, config, engine.tasks, limit), overwrite) as out:
        if recipe is not None:
            write_recipe(out, recipe)
        progress = StageProgress("filter", input_rows(input_path, limit))
        return _run_filter([reader, progress], steps, out, kind, engine, data_dir)


def _run_filter(read: list, steps: list, out: Path, kind: str, engine: ExecutorConfig, data_dir: str | None) -> dict:
    data_dir = data_dir or str(out / "data")
    Path(data_dir).mkdir(parents=True, exist_ok=True)  # exists even when every row is rejected
    pipeline = [*read, ReadStage(str(out)), *steps, record_writer(kind, data_dir)]
    filtering = make_executor(engine, pipeline, out / "logs" / "filter")
    if not run_stages(engine, [("filter", filtering)]):
        return submitted(out, filtering, kind)
    return write_stats(out, kind=kind)
