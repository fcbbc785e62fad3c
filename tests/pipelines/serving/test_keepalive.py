"""hala's request path keeps its connections to a plain-http server open from one request to the next (datatrove's
opens one per request: connect, accept and close cost more than an instant answer), and sends a request again at
once when the server dropped the idle connection it was given. Through the real CLI, against a local OpenAI-compatible
TEST server (tests/helpers/openai_test_server.py) that counts the connections it accepts."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq

from tests.helpers import REPO
from tests.helpers.openai_test_server import MODEL, openai_test_server


def _translate(tmp_path: Path, url: str, n: int, concurrency: int = 4, backoff_s: float = 0.01):
    src = tmp_path / "rows.jsonl"
    src.write_text("".join(json.dumps({"instruction": f"Question number {i}: how are you today?", "input": "",
                                       "output": f"I am fine, thank you. Answer {i}."}) + "\n" for i in range(n)),
                   encoding="utf-8")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(json.dumps({
        "flow": "translate", "input": str(src), "output": str(tmp_path / "out"), "tm_path": str(tmp_path / "tm.sqlite"),
        "server": {"type": "endpoint", "endpoint": url, "model": MODEL, "max_concurrency": concurrency,
                   "retry_backoff_s": backoff_s}}))
    return subprocess.run([sys.executable, "-m", "hala.pipelines.cli.app", "run", str(recipe)], cwd=REPO,
                          capture_output=True, text=True, timeout=300)


def _kept(out: Path) -> int:
    return pq.read_table(out / "data").num_rows


def test_requests_reuse_their_connections(tmp_path):
    with openai_test_server(keep_alive=True) as server:
        r = _translate(tmp_path, server.url, 40, concurrency=4)
        requests, connections = server.count, server.connections
    assert r.returncode == 0, r.stderr
    assert _kept(tmp_path / "out") == 40
    assert requests >= 80  # two messages a row, each one request at least
    # at most one connection per request in flight, plus the checks that the endpoint answers (before the task and
    # in it); one connection per request before
    assert connections <= 4 + 4, (connections, requests)


def test_a_connection_the_server_dropped_while_idle_is_sent_again_at_once(tmp_path):
    with openai_test_server(keep_alive=True, drop_idle=True) as server:
        t0 = time.monotonic()
        # a retry with backoff would wait 30 s: the resend on a fresh connection must not count as a failure
        r = _translate(tmp_path, server.url, 20, concurrency=2, backoff_s=30)
        took = time.monotonic() - t0
        failures = server.failures
    assert r.returncode == 0, r.stderr
    assert _kept(tmp_path / "out") == 20 and failures == 0
    assert took < 60, took
