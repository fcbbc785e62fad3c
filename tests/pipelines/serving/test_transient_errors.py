"""Transient server errors never lose a row: 429/503 are retried (Retry-After honoured); retries exhausted fail the
task, and the same command resumes those rows; only a 400 for the payload itself is a reasoned reject, stored
bounded and without key material. Through the real CLI, against a local flaky OpenAI-compatible test server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import yaml

from tests.helpers import REPO
from tests.helpers.openai_test_server import MODEL, openai_test_server

KEY = "sk-test-canary-0123456789abcdef"


def _rows(path: Path, n: int) -> Path:
    path.write_text("".join(json.dumps({"instruction": f"Question number {i}: how are you today?", "input": "",
                                        "output": f"I am fine, thank you. Answer {i}."}) + "\n"
                            for i in range(n)), encoding="utf-8")
    return path


def _recipe(tmp_path: Path, url: str, n: int, **server) -> Path:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({
        "flow": "translate", "input": str(_rows(tmp_path / "rows.jsonl", n)), "output": str(tmp_path / "out"),
        "tm_path": str(tmp_path / "tm.sqlite"), "records_per_chunk": 5,
        "server": {"type": "endpoint", "endpoint": url, "model": MODEL, "api_key_env": "HALA_TEST_KEY",
                   "max_concurrency": 4, "retry_backoff_s": 0.01, **server}}))
    return recipe


def hala(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hala.pipelines.cli.app", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "HALA_TEST_KEY": KEY})


def _kept_ids(out: Path) -> list[str]:
    return [r["id"] for r in pq.read_table(out / "data").to_pylist()]


def test_one_request_in_five_answered_429_or_503_loses_nothing(tmp_path):
    with openai_test_server(flaky_every=5) as server:
        r = hala("run", str(_recipe(tmp_path, server.url, 30)))
        failures = server.failures
    assert r.returncode == 0, r.stderr
    assert failures > 5  # the server really did refuse requests
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())["stages"]["translate"]
    assert stats == {**stats, "read": 30, "kept": 30, "rejected": 0}
    ids = _kept_ids(tmp_path / "out")
    assert len(ids) == len(set(ids)) == 30


def test_retries_exhausted_fail_the_task_and_the_same_command_resumes(tmp_path):
    with openai_test_server() as server:
        server.down = True
        recipe = _recipe(tmp_path, server.url, 12, retries=2)
        r = hala("run", str(recipe))
        assert r.returncode == 1, r.stderr
        assert "Traceback" not in r.stderr and "File \"" not in r.stderr, r.stderr
        assert r.stderr.count("error: translate: a task failed") == 1 and "ERROR" not in r.stderr, r.stderr
        assert "run the same command again" in r.stderr
        assert not list((tmp_path / "out").glob("rejects/translate/*.jsonl")) or not any(
            p.read_text() for p in (tmp_path / "out").glob("rejects/translate/*.jsonl"))
        server.down = False
        again = hala("run", str(recipe))
    assert again.returncode == 0, again.stderr
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())["stages"]["translate"]
    assert stats["read"] == stats["kept"] == 12 and stats["rejected"] == 0
    assert sorted(_kept_ids(tmp_path / "out")) == sorted(set(_kept_ids(tmp_path / "out")))


def test_a_400_for_the_payload_is_a_bounded_redacted_reject(tmp_path):
    with openai_test_server(poison="number 3:") as server:
        r = hala("run", str(_recipe(tmp_path, server.url, 6)))
    assert r.returncode == 0, r.stderr
    out = tmp_path / "out"
    rejects = [json.loads(line) for p in out.glob("rejects/translate/*.jsonl") for line in p.read_text().splitlines()]
    assert [x["reason"] for x in rejects] == ["bad_request"]
    assert "HTTP 400" in rejects[0]["detail"] and len(rejects[0]["detail"]) < 400
    for f in out.rglob("*"):  # rejects, work/, logs: the echoed key is in none of them
        if f.is_file():
            assert KEY.encode() not in f.read_bytes(), f
