"""The one executor factory: a recipe's `executor:` block picks datatrove's local, Slurm or Ray executor, so
switching from a laptop to a cluster changes the recipe, not the code."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from hala.pipelines.core.errors import RunFailed, UserError


class ExecutorConfig(BaseModel):
    """How datatrove runs the stages; a recipe switches executor, not code."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["local", "slurm", "ray"] = Field("local", description="local, slurm or ray")
    tasks: int = Field(1, ge=1, description="datatrove tasks (shards of the input)")
    workers: int = Field(1, ge=1, description="tasks run at once on this machine (local executor)")
    slurm: dict = Field(default_factory=dict, description="extra SlurmPipelineExecutor arguments (partition, time…)")
    ray: dict = Field(default_factory=dict, description="extra RayPipelineExecutor arguments")


# Threads that may be alive when a worker forks: fsspec's IO loop (every datatrove DataFolder starts it; fsspec resets
# it in a forked child with os.register_at_fork, and the executor's pool pickles the pipeline, so a worker builds its
# own file systems).
FORK_SAFE_THREADS = {"fsspecIO"}


def start_method() -> str:
    """How local workers start: `fork` on Linux when this process runs no other thread than those known to be
    fork-safe (a forked worker starts in milliseconds; a spawned one re-imports datatrove, pyarrow and fastText
    first, about 1.5 s of CPU each), else `spawn` (forking next to a live thread could copy a lock it holds)."""
    others = {t.name for t in threading.enumerate() if t is not threading.main_thread()}
    return "fork" if sys.platform.startswith("linux") and others <= FORK_SAFE_THREADS else "spawn"


def make_executor(cfg: ExecutorConfig | None, pipeline: list, logging_dir: str | Path, depends=None,
                  tasks: int | None = None):
    """datatrove's executor for `cfg` (local when None); `tasks` overrides the recipe's count for a stage whose
    parallelism is fixed (e.g. one task per MinHash bucket, or a single-task merge)."""
    cfg = cfg or ExecutorConfig()
    tasks = tasks or cfg.tasks
    logging_dir = str(logging_dir)
    if cfg.type == "slurm":
        from datatrove.executor import SlurmPipelineExecutor

        return SlurmPipelineExecutor(pipeline=pipeline, tasks=tasks, logging_dir=logging_dir, depends=depends,
                                     **{"job_name": "hala", "time": "24:00:00", "partition": "default", **cfg.slurm})
    if cfg.type == "ray":
        from datatrove.executor import RayPipelineExecutor

        return RayPipelineExecutor(pipeline=pipeline, tasks=tasks, logging_dir=logging_dir, depends=depends, **cfg.ray)
    from datatrove.executor import LocalPipelineExecutor

    return LocalPipelineExecutor(pipeline=pipeline, tasks=tasks, workers=min(cfg.workers, tasks),
                                 logging_dir=logging_dir, depends=depends, start_method=start_method())


def run_executor(executor, stage: str) -> bool:
    """Run an executor — a local one runs its tasks here, Slurm submits them and returns — and say whether every
    task is complete. A failed task is one line pointing at its log (RunFailed, exit 1); the same command resumes."""
    try:
        executor.run()
    except UserError:
        raise  # a bad input found inside a task: one line, exit 2 (re-running the same command cannot help)
    except Exception as e:
        first = (str(e).strip().splitlines() or [""])[0]
        advice = ("fix the model server (its log says why), then run the same command again: finished work is kept"
                  if "model server's log" in first else "run the same command again to resume")
        raise RunFailed(f"{stage}: a task failed ({type(e).__name__}: {first}); the task logs are in "
                        f"{executor.logging_dir.path}/logs/ — {advice}") from e
    return not executor.get_incomplete_ranks(skip_completed=True)


def submitted(out: Path, executor, kind: str = "instructions") -> dict:
    """What a flow returns when its tasks were submitted (Slurm) rather than run: no stats yet."""
    return {"kind": kind, "stages": {}, "submitted": {"logs": str(executor.logging_dir.path), "output": str(out)}}
