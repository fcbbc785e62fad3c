"""datatrove's Slurm executor as hala submits it (its own module: the class is pickled into every job by reference)."""

from __future__ import annotations

import shlex
import sys

from datatrove.executor import SlurmPipelineExecutor


class HalaSlurmExecutor(SlurmPipelineExecutor):
    """SlurmPipelineExecutor with two changes:

    - no extra one-task `merge_stats` job per stage: hala merges the tasks' stats itself once a stage is complete
      (`executors.merge_task_stats`): one job fewer per stage, one writer of stats.json;
    - the job runs the pickled pipeline with the very interpreter that submitted it (`python -m
      datatrove.tools.launch_pickled_pipeline`) instead of whichever `launch_pickled_pipeline` script comes first on
      the job's PATH, which may belong to another environment with another hala in it.
    """

    def launch_merge_stats(self):
        return None

    def get_launch_file_contents(self, sbatch_args: dict, run_script: str) -> str:
        here = f"{shlex.quote(sys.executable)} -m datatrove.tools.launch_pickled_pipeline"
        return super().get_launch_file_contents(sbatch_args, run_script.replace("launch_pickled_pipeline", here, 1))
