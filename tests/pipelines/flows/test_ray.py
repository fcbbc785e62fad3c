"""The flows on a real local Ray cluster (`ray start --head`, 2 CPUs), compared with the local executor.

Each command joins the cluster through RAY_ADDRESS (what a user on a Ray cluster has set) or the recipe's
`executor.ray.address`, runs its stages there with
several tasks per stage (dedup's exact and MinHash stages included) and writes the same output as the local
executor. A task that fails on Ray is one line naming it and its log: datatrove's Ray executor only logs it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.helpers import REPO
from tests.helpers.arabic_endpoint import arabic_endpoint
from tests.helpers.cluster_flows import DEDUP, english_rows, outcome, translate_recipe
from tests.helpers.ray_cluster import RAY_ENV, ray_head, ray_unavailable_reason

pytestmark = [pytest.mark.cluster,
              pytest.mark.skipif(ray_unavailable_reason() is not None, reason=str(ray_unavailable_reason()))]

AUDIT = REPO / "samples" / "audit" / "instructions.jsonl"


@pytest.fixture(scope="module")
def ray_address():
    with ray_head(num_cpus=2, connect=False) as address:
        yield address


def hala(*args: str, address: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env = {**env, **RAY_ENV, **({"RAY_ADDRESS": address} if address else {})}
    return subprocess.run([sys.executable, "-m", "hala.pipelines.cli.app", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=400, env=env)


def _split(src: Path, folder: Path) -> Path:
    """The audit sample in two files, so that each of two tasks has rows (datatrove shards by file)."""
    lines = src.read_text(encoding="utf-8").splitlines(keepends=True)
    folder.mkdir(parents=True)
    (folder / "a.jsonl").write_text("".join(lines[::2]), encoding="utf-8")
    (folder / "b.jsonl").write_text("".join(lines[1::2]), encoding="utf-8")
    return folder


def test_filter_then_dedup_on_ray_match_local(ray_address, tmp_path):
    rows = _split(AUDIT, tmp_path / "in")
    dedup_cfg = tmp_path / "dedup.yaml"
    dedup_cfg.write_text(yaml.safe_dump({"dedup": DEDUP}))
    timings = {}
    for engine in ("local", "ray"):
        started = time.monotonic()
        r = hala("filter", str(rows), str(tmp_path / engine / "filtered"), "--kind", "instructions",
                 "--executor", engine, "--tasks", "2", address=ray_address if engine == "ray" else None)
        assert r.returncode == 0, r.stderr[-3000:]
        r = hala("dedup", str(tmp_path / engine / "filtered"), str(tmp_path / engine / "deduped"), "--settings",
                 str(dedup_cfg), "--executor", engine, "--tasks", "2", address=ray_address if engine == "ray" else None)
        assert r.returncode == 0, r.stderr[-3000:]
        timings[engine] = time.monotonic() - started
    for step in ("filtered", "deduped"):
        assert outcome(tmp_path / "ray" / step) == outcome(tmp_path / "local" / step), step
    deduped = outcome(tmp_path / "ray" / "deduped")
    assert {reason for reason, _ in deduped["rejects"].values()} >= {"exact_duplicate"}
    # two tasks per stage wherever the stage allows it, one per MinHash band for the buckets
    for stage, tasks in (("dedup_1_signatures", 2), ("dedup_2_buckets", 2), ("dedup_3_clusters", 1),
                         ("dedup_4_final", 2)):
        done = list((tmp_path / "ray" / "deduped" / "logs" / stage / "completions").iterdir())
        assert len(done) == tasks, stage
    print(f"\nfilter + dedup, 2 tasks: local {timings['local']:.1f} s, ray {timings['ray']:.1f} s")


def test_translate_on_ray_matches_local(ray_address, tmp_path):
    rows = english_rows(tmp_path / "en")
    with arabic_endpoint() as endpoint:
        local = hala("run", str(translate_recipe(tmp_path / "local.yaml", rows, tmp_path / "local", endpoint.url,
                                                 tmp_path / "tm-local.sqlite", {"tasks": 2})))
        assert local.returncode == 0, local.stderr[-2000:]
        started = time.monotonic()
        on_ray = {"type": "ray", "tasks": 2, "ray": {"address": ray_address}}  # the recipe names the cluster
        ray = hala("run", str(translate_recipe(tmp_path / "ray.yaml", rows, tmp_path / "ray", endpoint.url,
                                               tmp_path / "tm.sqlite", on_ray)))
        took = time.monotonic() - started
        assert ray.returncode == 0, ray.stderr[-3000:]
        assert outcome(tmp_path / "ray") == outcome(tmp_path / "local")
        parts = sorted((tmp_path / "ray" / "work" / "tm").glob("*.sqlite"))
        assert [p.name for p in parts] == ["00000.sqlite", "00001.sqlite"]  # one TM file per task, then merged
        sent = len(endpoint.requests)
        again = hala("run", str(translate_recipe(tmp_path / "again.yaml", rows, tmp_path / "again", endpoint.url,
                                                 tmp_path / "tm.sqlite", on_ray)))
        assert again.returncode == 0, again.stderr[-3000:]
        assert len(endpoint.requests) == sent  # the merged TM answered every segment
    print(f"\ntranslate, 2 tasks on ray: {took:.1f} s")


def test_failed_ray_task_is_one_line_naming_its_log(tmp_path):
    """Also the path without a cluster: no RAY_ADDRESS, so hala starts a local Ray of its own (and it ends with it)."""
    broken = "hf://nobody-hala-test/none/model.bin"  # a remote model no task can fetch here: each task fails
    r = hala("filter", str(_split(AUDIT, tmp_path / "in")), str(tmp_path / "out"), "--kind", "instructions",
             "--executor", "ray", "--tasks", "2", "--lid-model", broken)
    assert r.returncode == 1, r.stderr[-3000:]
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: filter: task 0 failed (and 1 more)"), r.stderr
    assert f"its log: {tmp_path / 'out' / 'logs' / 'filter' / 'logs' / 'task_00000.log'}" in lines[0]
