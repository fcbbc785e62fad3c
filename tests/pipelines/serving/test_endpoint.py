"""`--server endpoint` against an existing OpenAI-compatible server, and the checks made before any task starts.

The fake server below is a TEST server (it echoes the text it is asked to translate): it listens on 127.0.0.2 so
that datatrove takes its remote-endpoint path (the OpenAI client), which a 127.0.0.1 server would bypass.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from hala.pipelines.core.errors import UserError
from tests.helpers import REPO

SECRET = "sk-test-SECRET-never-written"


class _EchoTranslator(BaseHTTPRequestHandler):
    """A test stand-in for vLLM's OpenAI API: `/v1/models` and `/v1/chat/completions`, Bearer key required."""

    def log_message(self, *args):
        pass

    def _send(self, code: int, body: dict):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorized(self) -> bool:
        self.server.auth_headers.append(self.headers.get("Authorization"))
        if self.headers.get("Authorization") != f"Bearer {SECRET}":
            self._send(401, {"error": {"message": "bad key"}})
            return False
        return True

    def do_GET(self):
        if self.path != "/v1/models":
            return self._send(404, {"error": {"message": f"no route {self.path}"}})
        if self._authorized():
            self._send(200, {"object": "list", "data": [{"id": "echo-translator", "object": "model"}]})

    def do_POST(self):
        payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path != "/v1/chat/completions":
            return self._send(404, {"error": {"message": f"no route {self.path}"}})
        if not self._authorized():
            return
        self.server.requests.append(payload)
        text = payload["messages"][-1]["content"].split("\n", 1)[1]  # lfm2 prompt: instruction line, then text
        self._send(200, {"id": "x", "object": "chat.completion", "model": payload["model"],
                         "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                      "finish_reason": "stop"}],
                         "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}})


@pytest.fixture()
def echo_server():
    try:
        server = ThreadingHTTPServer(("127.0.0.2", 0), _EchoTranslator)
    except OSError as e:  # pragma: no cover - every Linux loopback takes 127.0.0.0/8
        pytest.skip(f"cannot bind 127.0.0.2: {e}")
    server.requests, server.auth_headers = [], []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


def _rows(path: Path, n: int = 6) -> Path:
    path.write_text("".join(json.dumps({"instruction": f"Question number {i}: how are you today?", "input": "",
                                        "output": f"I am fine, thank you. Answer {i}."}) + "\n"
                            for i in range(n)), encoding="utf-8")
    return path


@pytest.mark.parametrize("suffix", ["", "/v1", "/v1/"])
def test_remote_endpoint_with_or_without_v1_and_key_never_written(tmp_path, echo_server, monkeypatch, suffix):
    from hala.pipelines.translate.flow import TranslateConfig, run_translate

    monkeypatch.setenv("HALA_TEST_KEY", SECRET)
    url = f"http://127.0.0.2:{echo_server.server_port}{suffix}"
    out = tmp_path / "out"
    cfg = TranslateConfig(input=str(_rows(tmp_path / "alpaca.jsonl")), output=str(out), tm_path=str(tmp_path / "tm"),
                          server={"type": "endpoint", "endpoint": url, "model": "echo-translator",
                                  "api_key_env": "HALA_TEST_KEY", "max_concurrency": 4})
    stats = run_translate(cfg)
    assert stats["stages"]["translate"] == {**stats["stages"]["translate"], "read": 6, "kept": 6, "rejected": 0}
    assert echo_server.requests and all(r["model"] == "echo-translator" for r in echo_server.requests)
    assert set(echo_server.auth_headers) == {f"Bearer {SECRET}"}
    rows = pq.read_table(out / "data").to_pylist()
    assert len(rows) == 6 and rows[0]["messages"][0]["content"].startswith("Question number")
    for f in out.rglob("*"):  # executor.json, logs, stats, data: the key is in none of them
        if f.is_file():
            assert SECRET.encode() not in f.read_bytes(), f


def test_translate_writes_a_recipe_that_reruns(tmp_path, echo_server, monkeypatch):
    import yaml

    from hala.pipelines.flows.registry import run_recipe
    from hala.pipelines.translate.flow import TranslateConfig

    monkeypatch.setenv("HALA_TEST_KEY", SECRET)
    out = tmp_path / "out"
    r = hala("translate", str(_rows(tmp_path / "alpaca.jsonl")), str(out), "--server", "endpoint", "--endpoint",
             f"http://127.0.0.2:{echo_server.server_port}", "--model", "echo-translator", "--tm", str(tmp_path / "tm"))
    assert r.returncode == 2 and "refused the key" in r.stderr  # the subprocess has no HALA_TEST_KEY: OPENAI_API_KEY
    recipe = yaml.safe_load((out / "recipe.yaml").read_text()) if (out / "recipe.yaml").exists() else None
    assert recipe is None  # refused before anything was written
    env_recipe = tmp_path / "r.yaml"
    env_recipe.write_text(yaml.safe_dump({"flow": "translate", "input": str(tmp_path / "alpaca.jsonl"),
                                          "output": str(out), "tm_path": str(tmp_path / "tm"),
                                          "server": {"type": "endpoint", "model": "echo-translator",
                                                     "endpoint": f"http://127.0.0.2:{echo_server.server_port}/v1",
                                                     "api_key_env": "HALA_TEST_KEY"}}))
    stats, where = run_recipe(str(env_recipe))
    assert where == out and stats["stages"]["translate"]["kept"] == 6
    written = TranslateConfig.model_validate(yaml.safe_load((out / "recipe.yaml").read_text()))
    assert written.server.api_key_env == "HALA_TEST_KEY" and written.prompt == "lfm2" and written.format == "auto"
    assert SECRET not in (out / "recipe.yaml").read_text()
    sent = len(echo_server.requests)
    again, _ = run_recipe(str(out / "recipe.yaml"))  # the written recipe runs as is: same output, no new request
    assert again["stages"] == stats["stages"] and len(echo_server.requests) == sent


def test_endpoint_checked_before_any_task(tmp_path, echo_server, monkeypatch):
    from hala.pipelines.serving.servers import ServerConfig, check_endpoint

    monkeypatch.setenv("HALA_TEST_KEY", SECRET)
    url = f"http://127.0.0.2:{echo_server.server_port}"
    check_endpoint(ServerConfig(type="endpoint", endpoint=url, api_key_env="HALA_TEST_KEY"), "echo-translator")
    with pytest.raises(UserError, match=r"does not serve model 'other' \(it serves: echo-translator\)"):
        check_endpoint(ServerConfig(type="endpoint", endpoint=url, api_key_env="HALA_TEST_KEY"), "other")
    monkeypatch.setenv("HALA_TEST_KEY", "wrong")
    with pytest.raises(UserError, match=r"refused the key \(HTTP 401\); set \$HALA_TEST_KEY"):
        check_endpoint(ServerConfig(type="endpoint", endpoint=url, api_key_env="HALA_TEST_KEY"), "echo-translator")


def hala(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hala.pipelines.cli.app", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"})


def _one_line_error(r: subprocess.CompletedProcess, *needles: str) -> None:
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and r.stderr.startswith("error: ")
    for needle in needles:
        assert needle in r.stderr, r.stderr


def test_closed_endpoint_is_one_line(tmp_path):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = hala("translate", str(_rows(tmp_path / "a.jsonl")), str(tmp_path / "out"), "--server", "endpoint",
             "--endpoint", f"http://127.0.0.1:{port}", "--model", "m")
    _one_line_error(r, f"endpoint http://127.0.0.1:{port} is not reachable")


def test_bad_inputs_fail_before_any_task(tmp_path):
    src = _rows(tmp_path / "a.jsonl")
    _one_line_error(hala("translate", str(tmp_path / "typo.jsonl"), str(tmp_path / "o1")),
                    "typo.jsonl", "no such file or folder")
    _one_line_error(hala("translate", str(src), str(tmp_path / "o2"), "--model", str(tmp_path / "no-such-model")),
                    "no-such-model", "no such file or folder")
    _one_line_error(hala("translate", str(src), str(tmp_path / "o3"), "--model", "nobody/no-such-model"),
                    "'nobody/no-such-model': not a local path, and the Hub model cannot be opened")
    bad_prompt = tmp_path / "prompt.yaml"
    bad_prompt.write_text("user: [unclosed\n", encoding="utf-8")
    _one_line_error(hala("translate", str(src), str(tmp_path / "o4"), "--prompt", str(bad_prompt)),
                    "not valid YAML")
    bad_prompt.write_text("user: no placeholder here\n", encoding="utf-8")
    _one_line_error(hala("translate", str(src), str(tmp_path / "o5"), "--prompt", str(bad_prompt)),
                    "`user` must be a string containing {text}")
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "rows.parquet").write_bytes(b"PAR1 this is not a parquet file PAR1")
    _one_line_error(hala("translate", str(corrupt), str(tmp_path / "o6")), "rows.parquet: not a readable parquet")


def test_json_array_file_is_read_row_by_row(tmp_path):
    from hala.pipelines.io.sources import SourceFileReader

    rows = [{"instruction": f"q{i}", "input": "", "output": "a"} for i in range(3)]
    path = tmp_path / "alpaca_data.json"
    path.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    docs = list(SourceFileReader(str(path)).run())
    assert [d.metadata["raw"] for d in docs] == rows
    assert not any("read_error" in d.metadata for d in docs)
    path.write_text('[{"instruction": "q0"}, {"broken"', encoding="utf-8")
    docs = list(SourceFileReader(str(path)).run())
    assert len(docs) == 1 and docs[0].metadata["read_error"] == "malformed_json"
