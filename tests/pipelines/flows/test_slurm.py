"""The flows on a real single-node Slurm cluster (Debian's slurm-wlm + munge), compared with the local executor.

`hala run --wait` submits each stage as an array job, follows its tasks and runs the later stages in the same command;
a cancelled array task is one line naming it and its log, and the same command resubmits only that rank. The
translation memory is written per task (work/tm/NNNNN.sqlite) and merged into the shared one afterwards.
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.helpers import REPO
from tests.helpers.arabic_endpoint import arabic_endpoint
from tests.helpers.cluster_flows import DEDUP, corpus_recipe, english_rows, outcome, translate_recipe
from tests.helpers.slurm_cluster import skip_or_fail_without_slurm, slurm_cluster

pytestmark = pytest.mark.cluster


def hala(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hala.pipelines.cli.app", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=400)


@pytest.fixture(scope="module")
def cluster():
    skip_or_fail_without_slurm()
    with slurm_cluster() as running:
        yield running


@pytest.fixture(scope="module")
def endpoint():
    with arabic_endpoint() as server:
        yield server


@pytest.fixture(scope="module")
def rows(tmp_path_factory) -> Path:
    return english_rows(tmp_path_factory.mktemp("rows") / "en")


def test_corpus_flow_on_slurm_matches_local(cluster, endpoint, rows, tmp_path):
    slurm = {"type": "slurm", "tasks": 2, "slurm": {"partition": cluster.partition, "mem_per_cpu_gb": 1,
                                                    "time": "00:10:00"}}
    local = hala("run", str(corpus_recipe(tmp_path / "local.yaml", rows, tmp_path / "local", endpoint.url,
                                          tmp_path / "tm-local.sqlite", {"tasks": 2, "workers": 2})))
    assert local.returncode == 0, local.stderr[-2000:]

    started = time.monotonic()
    r = hala("run", "--wait", str(corpus_recipe(tmp_path / "slurm.yaml", rows, tmp_path / "slurm", endpoint.url,
                                                tmp_path / "tm.sqlite", slurm)))
    took = time.monotonic() - started
    assert r.returncode == 0, r.stderr[-3000:]
    for stage in ("translate", "finalize", "dedup_1_signatures", "dedup_2_buckets", "dedup_4_final"):
        assert re.search(rf"{stage}: submitted Slurm job \d+", r.stderr), stage
    assert "translate: 2/2 done, 0 running, 0 pending, 0 failed" in r.stderr
    assert not cluster.active_jobs()
    got, want = outcome(tmp_path / "slurm"), outcome(tmp_path / "local")
    assert got == want  # same ids, same records, same rejects, same counts per stage
    assert want["stages"]["dedup"]["reasons"] == {"exact_duplicate": 1, "near_duplicate": 1}
    print(f"\nslurm corpus flow (9 stages, 2 tasks): {took:.1f} s")

    # each task wrote its own TM file; the shared TM holds both, so translating again asks the model nothing
    parts = sorted((tmp_path / "slurm" / "work" / "tm").glob("*.sqlite"))
    assert [p.name for p in parts] == ["00000.sqlite", "00001.sqlite"]
    counts = [sqlite3.connect(p).execute("SELECT COUNT(*) FROM tm").fetchone()[0] for p in parts]
    shared = sqlite3.connect(tmp_path / "tm.sqlite").execute("SELECT COUNT(*) FROM tm").fetchone()[0]
    assert all(counts) and shared == len({k for p in parts for (k,) in sqlite3.connect(p).execute("SELECT key FROM tm")})
    sent = len(endpoint.requests)
    again = hala("run", "--wait", str(translate_recipe(tmp_path / "again.yaml", rows, tmp_path / "again",
                                                       endpoint.url, tmp_path / "tm.sqlite", slurm)))
    assert again.returncode == 0, again.stderr[-3000:]
    assert len(endpoint.requests) == sent


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (found := predicate()):
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.3)
    return found


def test_killed_array_task_resumes_with_wait(cluster, endpoint, rows, tmp_path):
    slurm = {"type": "slurm", "tasks": 2, "slurm": {"partition": cluster.partition, "mem_per_cpu_gb": 1,
                                                    "time": "00:10:00"}}
    local = hala("run", str(translate_recipe(tmp_path / "local.yaml", rows, tmp_path / "local", endpoint.url,
                                             tmp_path / "tm-local.sqlite", {"tasks": 2})))
    assert local.returncode == 0, local.stderr[-2000:]
    recipe = translate_recipe(tmp_path / "slurm.yaml", rows, tmp_path / "slurm", endpoint.url, tmp_path / "tm.sqlite",
                              slurm)

    endpoint.gate.clear()  # every translation request waits: both tasks are mid-stage when one is cancelled
    held = endpoint.held
    log = tmp_path / "first.err"
    with open(log, "w") as err:
        first = subprocess.Popen([sys.executable, "-m", "hala.pipelines.cli.app", "run", "--wait", str(recipe)],
                                 cwd=REPO, stdout=subprocess.DEVNULL, stderr=err, text=True)
    try:
        job = _wait_for(lambda: (m := re.search(r"translate: submitted Slurm job (\d+)", log.read_text())) and
                        m.group(1), 120, "no job submitted")
        _wait_for(lambda: set(cluster.array_task_state_by_index(job).values()) == {"RUNNING"}
                  and endpoint.held > held, 120, "tasks not running")
        cluster.cmd("scancel", f"{job}_1")
        _wait_for(lambda: cluster.array_task_state_by_index(job).get(1) == "CANCELLED", 60, "task not cancelled")
        endpoint.gate.set()
        assert first.wait(timeout=180) == 1
    finally:
        endpoint.gate.set()
        if first.poll() is None:
            first.kill()
    text = log.read_text()
    failed = [line for line in text.splitlines() if line.startswith("error:")]
    assert len(failed) == 1 and re.search(rf"translate: task 1 \(Slurm job {job}_1: CANCELLED\) failed; its log: "
                                          r"\S+/logs/translate/logs/task_00001.log", failed[0]), text

    again = hala("run", "--wait", str(recipe))
    assert again.returncode == 0, again.stderr[-3000:]
    assert re.search(r"translate: submitted Slurm job \d+ \(1 tasks\)", again.stderr), again.stderr
    got, want = outcome(tmp_path / "slurm"), outcome(tmp_path / "local")
    assert got == want and len(got["rows"]) == 18  # every row once: nothing lost, nothing written twice


def test_without_wait_submits_and_returns_then_a_rerun_finishes(cluster, tmp_path):
    src = REPO / "samples" / "audit" / "instructions.jsonl"
    out = tmp_path / "out"
    args = ("filter", str(src), str(out), "--kind", "instructions", "--executor", "slurm")  # default partition
    # a job holding every CPU keeps ours pending, so the re-run below meets it queued
    blocker = cluster.cmd("sbatch", "--parsable", f"--cpus-per-task={cluster.cpus}", f"--partition={cluster.partition}",
                          f"--output={tmp_path}/blocker.out", "--wrap", "sleep 120").stdout.strip()
    try:
        first = hala(*args)
        assert first.returncode == 0, first.stderr[-2000:]
        assert "submitted: the tasks run on the cluster" in first.stdout and not (out / "stats.json").exists()
        job = re.search(r"filter: submitted Slurm job (\d+)", first.stderr).group(1)
        again = hala(*args)  # still queued: the same ranks must not be submitted twice
        assert again.returncode == 0 and f"filter: job {job} is still queued or running; nothing submitted" in \
            again.stderr, again.stderr[-2000:]
    finally:
        cluster.cmd("scancel", blocker.split(";")[0], check=False)
    cluster.wait_for_job(job)
    done = hala(*args)
    assert done.returncode == 0 and "submitted Slurm job" not in done.stderr, done.stderr[-2000:]
    assert hala("filter", str(src), str(tmp_path / "local"), "--kind", "instructions").returncode == 0
    assert outcome(out) == outcome(tmp_path / "local")


def test_mine_on_slurm_without_wait_follows_its_stages_and_matches_local(cluster, tmp_path):
    """mine reads each stage's output before it starts the next: on Slurm it follows its jobs even without --wait
    (it used to submit the pre-filter, find no rows yet and write empty stats)."""
    opus = REPO / "samples" / "opus" / "ar_en.jsonl"
    slurm = {"type": "slurm", "tasks": 2, "slurm": {"partition": cluster.partition, "mem_per_cpu_gb": 1,
                                                    "time": "00:10:00"}}

    def recipe(name: str, executor: dict) -> Path:
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump({"flow": "mine", "input": str(opus), "output": str(tmp_path / name),
                                        "judge": None, "dedup": DEDUP, "executor": executor}))
        return path

    local = hala("run", str(recipe("local", {"tasks": 2, "workers": 2})))
    assert local.returncode == 0, local.stderr[-2000:]
    r = hala("run", str(recipe("slurm", slurm)))
    assert r.returncode == 0, r.stderr[-3000:]
    assert re.search(r"prefilter: submitted Slurm job \d+", r.stderr) and "submitted: the tasks run" not in r.stdout
    assert not cluster.active_jobs()
    got, want = outcome(tmp_path / "slurm"), outcome(tmp_path / "local")
    assert got == want and got["rows"]  # same pairs, same rejects, same counts per stage
    assert got["stages"]["parallel_rows"]["read"] == len(opus.read_text().splitlines())
