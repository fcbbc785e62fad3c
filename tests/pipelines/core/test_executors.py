"""The executor factory's cluster defaults (no cluster needed: the executors are built, not run)."""

from __future__ import annotations

import sys

from hala.pipelines.core.executors import ExecutorConfig, make_executor
from hala.pipelines.translate.flow import TranslateConfig, translate_pipelines
from tests.helpers.arabic_endpoint import MODEL, arabic_endpoint
from tests.helpers.cluster_flows import english_rows


def test_gpus_only_for_the_stage_that_serves_a_model_and_the_jobs_use_this_python(tmp_path):
    with arabic_endpoint() as endpoint:
        cfg = TranslateConfig(input=str(english_rows(tmp_path / "en")), output=str(tmp_path / "out"),
                              tm_path=str(tmp_path / "tm.sqlite"),
                              server={"type": "endpoint", "endpoint": endpoint.url, "model": MODEL},
                              executor={"type": "slurm", "tasks": 4,
                                        "slurm": {"partition": "gpu", "gpus_per_task": 8, "time": "01:00:00"}})
        translate, finalize = translate_pipelines(cfg)
    assert (translate.gpus_per_task, finalize.gpus_per_task) == (8, 0)
    assert translate.partition == "gpu" and translate.tasks == 4 and translate.time == "01:00:00"
    assert translate.venv_path == f"{sys.prefix}/bin/activate" and translate.cpus_per_task == 1
    script = translate.get_launch_file_contents(translate.get_sbatch_args(4), "srun launch_pickled_pipeline x.pik")
    assert f"{sys.executable} -m datatrove.tools.launch_pickled_pipeline x.pik" in script
    assert "#SBATCH --gpus=8" in script


def test_ray_address_is_not_an_executor_argument(tmp_path):
    executor = make_executor(ExecutorConfig(type="ray", tasks=3, ray={"address": "10.0.0.1:6379", "cpus_per_task": 2}),
                             [], tmp_path / "logs")
    assert executor.tasks == 3 and executor.cpus_per_task == 2


def test_slurm_without_slurm_is_one_line_exit_2(tmp_path):
    import os
    import subprocess

    from tests.helpers import REPO

    r = subprocess.run([sys.executable, "-m", "hala.pipelines.cli.app", "filter",
                        str(REPO / "samples" / "audit" / "instructions.jsonl"), str(tmp_path / "out"),
                        "--kind", "instructions", "--executor", "slurm"],
                       cwd=REPO, capture_output=True, text=True, timeout=120, env={**os.environ, "PATH": "/nonexistent"})
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.startswith("error: executor.type slurm: cannot ask Slurm for its partitions"), r.stderr
