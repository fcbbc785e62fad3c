"""The one executor factory: a recipe's `executor:` block picks datatrove's local, Slurm or Ray executor, so
switching from a laptop to a cluster changes the recipe, not the code.

`run_stages` runs a flow's executors in order on any engine and says whether every task is complete:
- local: the tasks run here; a failed task raises (one line, RunFailed).
- ray: Ray is started (or joined, `executor.ray.address`) first; datatrove's Ray executor only logs a failed task,
  so its incomplete ranks are checked and named here.
- slurm: without `wait` every stage is submitted at once (`afterok` dependencies) and the command returns; with `wait`
  each stage is submitted, its array tasks are followed (squeue) until they end, a failed task is one line naming it
  and its log, and the later stages run in the same command. Either way a re-run resubmits only incomplete ranks, and
  never resubmits a stage whose earlier job is still queued or running.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Callable, Literal

from pydantic import BaseModel, ConfigDict, Field

from hala.pipelines.core.errors import RunFailed, UserError


class ExecutorConfig(BaseModel):
    """How datatrove runs the stages; a recipe switches executor, not code."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["local", "slurm", "ray"] = Field("local", description="local, slurm or ray")
    tasks: int = Field(1, ge=1, description="datatrove tasks (shards of the input)")
    workers: int = Field(1, ge=1, description="tasks run at once on this machine (local executor)")
    wait: bool = Field(False, description="slurm: follow the submitted jobs and run the later stages in the same "
                       "command (--wait); without it the command submits and returns")
    slurm: dict = Field(default_factory=dict, description="SlurmPipelineExecutor arguments (partition, time, "
                        "cpus_per_task, mem_per_cpu_gb, gpus_per_task, venv_path, sbatch_args…)")
    ray: dict = Field(default_factory=dict, description="RayPipelineExecutor arguments (cpus_per_task, "
                      "mem_per_cpu_gb, gpus_per_task…) and `address` of an existing cluster (default: a local one)")

    @property
    def multi_node(self) -> bool:
        """Whether tasks may run on other machines (shared files must then be safe on a network filesystem)."""
        return self.type in ("slurm", "ray")


# Threads that may be alive when a worker forks: fsspec's IO loop (every datatrove DataFolder starts it; fsspec resets
# it in a forked child with os.register_at_fork, and the executor's pool pickles the pipeline, so a worker builds its
# own file systems).
FORK_SAFE_THREADS = {"fsspecIO"}
# Slurm states after which an array task will not run again on its own.
SLURM_TERMINAL = frozenset({"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY",
                            "PREEMPTED", "BOOT_FAIL", "DEADLINE", "SPECIAL_EXIT", "REVOKED"})
JOB_FILE = "hala_slurm_job.json"  # the last array job submitted for a stage (datatrove's executor.json has none)


def start_method() -> str:
    """How local workers start: `fork` on Linux when this process runs no other thread than those known to be
    fork-safe (a forked worker starts in milliseconds; a spawned one re-imports datatrove, pyarrow and fastText
    first, about 1.5 s of CPU each), else `spawn` (forking next to a live thread could copy a lock it holds)."""
    others = {t.name for t in threading.enumerate() if t is not threading.main_thread()}
    return "fork" if sys.platform.startswith("linux") and others <= FORK_SAFE_THREADS else "spawn"


def default_partition() -> str:
    """The cluster's default partition (sinfo marks it with `*`): a recipe need not name one."""
    try:
        r = subprocess.run(["sinfo", "--noheader", "--format=%P"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as e:
        raise UserError(f"executor.type slurm: cannot ask Slurm for its partitions ({e}); is this a Slurm login "
                        "node? Set executor.slurm.partition") from e
    default = [p.rstrip("*") for p in r.stdout.split() if p.endswith("*")]
    if r.returncode or not default:
        raise UserError("executor.slurm.partition: Slurm has no default partition here "
                        f"({(r.stderr or r.stdout).strip()[:200] or 'sinfo said nothing'}); name one")
    return default[0]


def slurm_arguments(cfg: ExecutorConfig) -> dict:
    """SlurmPipelineExecutor arguments: the recipe's, over defaults that work on a typical cluster (this very
    Python's venv activated in the job, the default partition, 1 CPU and 2 GB per task)."""
    activate = Path(sys.prefix, "bin", "activate")
    args = {"job_name": "hala", "time": "24:00:00", "cpus_per_task": 1, "mem_per_cpu_gb": 2,
            **({"venv_path": str(activate)} if activate.is_file() else {}), **cfg.slurm}
    if "partition" not in args:
        args["partition"] = default_partition()
    return args


def make_executor(cfg: ExecutorConfig | None, pipeline: list, logging_dir: str | Path, depends=None,
                  tasks: int | None = None):
    """datatrove's executor for `cfg` (local when None); `tasks` overrides the recipe's count for a stage whose
    parallelism is fixed (e.g. one task per MinHash bucket, or a single-task merge)."""
    cfg = cfg or ExecutorConfig()
    tasks = tasks or cfg.tasks
    logging_dir = str(logging_dir)
    if cfg.type == "slurm":
        from hala.pipelines.core.slurm import HalaSlurmExecutor

        return HalaSlurmExecutor(pipeline=pipeline, tasks=tasks, logging_dir=logging_dir, depends=depends,
                                 **_without_gpus_unless_serving(slurm_arguments(cfg), pipeline))
    if cfg.type == "ray":
        from datatrove.executor import RayPipelineExecutor

        kwargs = _without_gpus_unless_serving({k: v for k, v in cfg.ray.items() if k != "address"}, pipeline)
        return RayPipelineExecutor(pipeline=pipeline, tasks=tasks, logging_dir=logging_dir, depends=depends, **kwargs)
    from datatrove.executor import LocalPipelineExecutor

    return LocalPipelineExecutor(pipeline=pipeline, tasks=tasks, workers=min(cfg.workers, tasks),
                                 logging_dir=logging_dir, depends=depends, start_method=start_method())


def _without_gpus_unless_serving(kwargs: dict, pipeline: list) -> dict:
    """`gpus_per_task` only for a stage that starts a model server (datatrove's InferenceRunner): one executor block
    serves every stage of a flow, and filters or dedup holding GPUs idle would starve the translation."""
    from datatrove.pipeline.inference.run_inference import InferenceRunner

    if any(isinstance(step, InferenceRunner) for step in pipeline):
        return kwargs
    return {k: v for k, v in kwargs.items() if k != "gpus_per_task"}


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


def followed(cfg: ExecutorConfig | None) -> ExecutorConfig:
    """cfg for a flow that reads each stage's output before it starts the next (mine, teacher-pairs): on Slurm its
    jobs are always followed, as `--wait` does; submitting and returning would leave the later stages nothing to
    read."""
    cfg = cfg or ExecutorConfig()
    return cfg.model_copy(update={"wait": True}) if cfg.type == "slurm" else cfg


def run_stages(cfg: ExecutorConfig | None, stages: list[tuple[str, object]],
               after: dict[str, Callable[[], None]] | None = None, echo: Callable[[str], None] | None = None) -> bool:
    """Run `stages` ([(name, executor)], in order) on cfg's engine; True when every task of every stage is complete
    (the flow can write its stats), False when they were submitted to Slurm and the command should return.

    `after[name]` runs here once stage `name` is complete, before the next stage starts (e.g. merging task-local
    files); with Slurm without `wait` it does not run in this command, so it must also be safe to run later."""
    cfg = cfg or ExecutorConfig()
    after = after or {}
    echo = echo or (lambda line: print(line, file=sys.stderr, flush=True))
    if cfg.type == "slurm" and not shutil.which("sbatch"):
        raise UserError("executor.type slurm: no `sbatch` on PATH; run hala on a Slurm login node")
    if cfg.type == "slurm" and not cfg.wait:
        return _submit_chain(stages, echo)
    if cfg.type == "ray":
        ensure_ray(cfg)
    for name, executor in stages:
        executor.depends = None  # the stage before it is complete (checked below): nothing to wait for or re-run
        if cfg.type == "slurm":
            _run_slurm_stage(name, executor, echo)
        elif cfg.type == "ray":
            _check_ray_resources(executor)
            executor.run()  # never raises for a failed task: datatrove logs it and goes on
            _raise_for_incomplete(name, executor)
        else:
            run_executor(executor, name)
        if name in after:
            after[name]()
    return True


# ---- Ray ------------------------------------------------------------------------------------------------------
def ensure_ray(cfg: ExecutorConfig) -> None:
    """Join the recipe's Ray cluster (`executor.ray.address`, or RAY_ADDRESS), else start a local one; quietly:
    no dashboard, no usage stats, worker logs stay in datatrove's task logs instead of the screen."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        import ray
    except ImportError as e:
        raise UserError("executor.type ray needs Ray: pip install 'hala[ray]'") from e
    if ray.is_initialized():
        return
    import logging

    address = cfg.ray.get("address") or os.environ.get("RAY_ADDRESS")
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING,
                 **({} if address else {"_node_ip_address": "127.0.0.1"}))
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise UserError(f"executor.ray.address {address}: cannot join that Ray cluster ({e})") from e


def _check_ray_resources(executor) -> None:
    """A task asking more CPUs/GPUs than the cluster has would wait forever: refuse it up front."""
    import ray

    have = ray.cluster_resources()
    for key, want in (("CPU", executor.cpus_per_task), ("GPU", executor.gpus_per_task)):
        if want and have.get(key, 0) < want:
            raise UserError(f"executor.ray.{key.lower()}s_per_task {want}: the Ray cluster has {have.get(key, 0):g} "
                            f"{key}s in all, so no task could ever start")


def _last_error(log: Path) -> str:
    """The last exception line of a task log ("ValueError: server went away"), or ''."""
    if not log.is_file():
        return ""
    found = re.findall(r"^([\w.]*(?:Error|Exception|Exit)\w*(?::.*)?)$", log.read_text(errors="replace"), re.M)
    return found[-1].strip()[:200] if found else ""


def _task_log(executor, rank: int) -> Path:
    return Path(executor.logging_dir.path) / "logs" / f"task_{rank:05d}.log"


def _raise_for_incomplete(stage: str, executor, detail: Callable[[int], str] = lambda rank: "") -> None:
    incomplete = executor.get_incomplete_ranks(skip_completed=True)
    if not incomplete:
        return
    rank = incomplete[0]
    log = _task_log(executor, rank)
    why = _last_error(log)
    more = f" (and {len(incomplete) - 1} more)" if len(incomplete) > 1 else ""
    raise RunFailed(f"{stage}: task {rank}{detail(rank)} failed{more}{f' ({why})' if why else ''}; its log: {log} — "
                    "run the same command again: only the incomplete tasks run again")


# ---- Slurm ----------------------------------------------------------------------------------------------------
def slurm_task_states(job_id: str) -> dict[int, str]:
    """Array index → state of every task of a Slurm array job (finished ones while slurmctld still holds them);
    from squeue, which works without accounting (sacct needs slurmdbd)."""
    for attempt in range(5):  # a busy slurmctld may time out: only "Invalid job id" means the job is gone
        r = subprocess.run(["squeue", f"--jobs={job_id}", "--states=all", "--array", "--noheader", "--format=%K|%T"],
                           capture_output=True, text=True, timeout=60)
        if r.returncode == 0 or "invalid job id" in r.stderr.lower():
            break
        time.sleep(2 ** attempt)
    else:
        raise RunFailed(f"squeue cannot tell the state of Slurm job {job_id}: {r.stderr.strip()[:200]}")
    states: dict[int, str] = {}
    for line in r.stdout.split() if r.returncode == 0 else []:
        index, _, state = line.partition("|")
        states[int(index) if index.isdigit() else 0] = state
    return states


def _job_file(executor) -> Path:
    return Path(executor.logging_dir.path) / JOB_FILE


def _active_job(executor) -> str | None:
    """The stage's earlier job when some of its tasks are still pending or running (re-submitting would run them
    twice), else None."""
    try:
        job = json.loads(_job_file(executor).read_text())["job_id"]
    except (OSError, ValueError, KeyError):
        return None
    states = slurm_task_states(job)
    return job if any(s not in SLURM_TERMINAL for s in states.values()) else None


def _record_job(executor) -> None:
    if executor.job_id not in (None, -1, "-1"):
        path = _job_file(executor)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"job_id": str(executor.job_id)}))


def _submit_chain(stages: list[tuple[str, object]], echo: Callable[[str], None]) -> bool:
    """Submit every stage at once, each depending (afterok) on the one before; True when nothing was left to run."""
    for name, executor in stages:
        if job := _active_job(executor):
            echo(f"  {name}: job {job} is still queued or running; nothing submitted (run again once it ends)")
            return False
    execs = [e for _, e in stages]
    for earlier, later in zip(execs, execs[1:]):
        later.depends = earlier
    execs[-1].run()
    submitted = False
    for name, executor in stages:
        _record_job(executor)
        if executor.job_id not in (None, -1, "-1"):
            submitted = True
            echo(f"  {name}: submitted Slurm job {executor.job_id} ({executor.tasks} tasks)")
    if not submitted:
        for _, executor in stages:
            merge_task_stats(executor)
    return not submitted


def _run_slurm_stage(name: str, executor, echo: Callable[[str], None], poll_s: float = 1.0) -> None:
    """Submit one stage (or join its still-running job), follow its tasks until they end, then fail in one line
    per incomplete task or merge its stats."""
    job = _active_job(executor)
    if job is None:
        try:
            executor.run()
        except subprocess.CalledProcessError as e:
            raise RunFailed(f"{name}: sbatch refused the job (exit {e.returncode}); see executor.slurm") from e
        _record_job(executor)
        job = None if executor.job_id in (None, -1, "-1") else str(executor.job_id)
        if job:
            echo(f"  {name}: submitted Slurm job {job} ({len(_ranks_to_run(executor))} tasks)")
    else:
        echo(f"  {name}: following Slurm job {job}, still running from an earlier command")
    states: dict[int, str] = {}
    if job:
        shown = None
        while True:
            states = slurm_task_states(job)
            counts = Counter("done" if s == "COMPLETED" else "running" if s in ("RUNNING", "COMPLETING") else
                             "failed" if s in SLURM_TERMINAL else "pending" for s in states.values())
            line = (f"  {name}: {counts['done']}/{len(states)} done, {counts['running']} running, "
                    f"{counts['pending']} pending, {counts['failed']} failed")
            if line != shown:
                echo(line)
                shown = line
            if not states or all(s in SLURM_TERMINAL for s in states.values()):
                break
            time.sleep(poll_s)
    ranks = _ranks_to_run(executor)

    def detail(rank: int) -> str:
        if not job or rank not in ranks:
            return ""
        index = ranks.index(rank)
        return f" (Slurm job {job}_{index}: {states.get(index, 'gone from the queue')})"

    _raise_for_incomplete(name, executor, detail)
    merge_task_stats(executor)


def _ranks_to_run(executor) -> list[int]:
    """Array index → rank of the last submission (a resubmission runs only the incomplete ranks, so they differ)."""
    try:
        return json.loads((Path(executor.logging_dir.path) / "ranks_to_run.json").read_text())
    except (OSError, ValueError):
        return []


def merge_task_stats(executor) -> None:
    """LOGS/stats.json from every task's stats/NNNNN.json (what datatrove's merge_stats job would write), atomically."""
    from datatrove.utils.stats import PipelineStats

    folder = Path(executor.logging_dir.path)
    total = PipelineStats()
    for rank in range(executor.world_size):
        f = folder / "stats" / f"{rank:05d}.json"
        if f.is_file():
            total += PipelineStats.from_json(json.loads(f.read_text()))
    tmp = folder / "stats.json.tmp"
    with open(tmp, "w") as fh:
        total.save_to_disk(fh)
    tmp.replace(folder / "stats.json")


def submitted(out: Path, executor, kind: str = "instructions") -> dict:
    """What a flow returns when its tasks were submitted (Slurm) rather than run: no stats yet."""
    return {"kind": kind, "stages": {}, "submitted": {"logs": str(executor.logging_dir.path), "output": str(out)}}
