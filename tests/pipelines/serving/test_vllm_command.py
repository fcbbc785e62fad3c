"""The vLLM command hala starts: datatrove's flags, without `--trust-remote-code` unless the recipe asks for it."""

from __future__ import annotations

import asyncio

import pytest

from hala.pipelines.serving.servers import HalaInferenceRunner, HalaVLLMServer, ServerConfig, inference_config


@pytest.fixture(autouse=True)
def no_vllm_needed(monkeypatch):
    """vLLM is not installed on CPU machines; the command is built without it (datatrove checks in __init__)."""
    import datatrove.pipeline.inference.servers.vllm_server as vllm_server

    monkeypatch.setattr(vllm_server, "check_required_dependencies", lambda *a, **k: None)


def _command(server: ServerConfig, monkeypatch) -> list[str]:
    seen: list[list[str]] = []

    async def fake_exec(*cmd, **kwargs):
        seen.append(list(cmd))
        return None

    async def start() -> None:  # datatrove's servers make futures: they are built on a running loop
        await HalaVLLMServer(inference_config(server, "/models/teacher-fp8"), rank=0)._start_vllm_task()

    monkeypatch.setattr(asyncio, "create_subprocess_exec", fake_exec)
    asyncio.run(start())
    return seen[0]


def test_no_remote_code_unless_the_recipe_says_so(monkeypatch):
    cmd = _command(ServerConfig(type="vllm", tp=2, dp=4, model_kwargs={"gpu-memory-utilization": 0.9}), monkeypatch)
    assert cmd[:3] == ["vllm", "serve", "/models/teacher-fp8"]
    assert "--trust-remote-code" not in cmd
    assert {"--tensor-parallel-size=2", "--data-parallel-size=4", "--gpu-memory-utilization=0.9"} <= set(cmd)
    cmd = _command(ServerConfig(type="vllm", trust_remote_code=True), monkeypatch)
    assert "--trust-remote-code" in cmd


def test_the_runner_starts_hala_s_vllm_server():
    runner = HalaInferenceRunner(rollout_fn=lambda *a, **k: None,
                                 config=inference_config(ServerConfig(type="vllm"), "/models/m"),
                                 output_writer=None)
    async def init():
        return runner._init_server(0)

    assert isinstance(asyncio.run(init()), HalaVLLMServer)


def _sglang_command(server: ServerConfig, monkeypatch) -> list[str]:
    import datatrove.pipeline.inference.servers.sglang_server as sglang_server

    from hala.pipelines.serving.servers import HalaSGLangServer

    monkeypatch.setattr(sglang_server, "check_required_dependencies", lambda *a, **k: None)
    seen: list[list[str]] = []

    async def fake_exec(*cmd, **kwargs):
        seen.append(list(cmd))
        return None

    async def start() -> None:
        await HalaSGLangServer(inference_config(server, "/models/m"), rank=0).create_sglang_task()

    monkeypatch.setattr(asyncio, "create_subprocess_exec", fake_exec)
    asyncio.run(start())
    return seen[0]


def test_sglang_follows_the_switch_too(monkeypatch):
    assert "--trust-remote-code" not in _sglang_command(ServerConfig(type="sglang"), monkeypatch)
    assert "--trust-remote-code" in _sglang_command(ServerConfig(type="sglang", trust_remote_code=True), monkeypatch)


def test_remote_code_cannot_come_in_through_model_kwargs(tmp_path):
    import subprocess
    import sys

    from tests.helpers import REPO

    recipe = tmp_path / "r.yaml"
    recipe.write_text("flow: translate\ninput: samples/demo/alpaca.jsonl\noutput: " + str(tmp_path / "o") +
                      "\nserver:\n  type: vllm\n  model: m\n  model_kwargs: {trust-remote-code: true}\n")
    r = subprocess.run([sys.executable, "-m", "hala.pipelines.cli.app", "run", str(recipe)], cwd=REPO,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "server.trust_remote_code" in r.stderr, r.stderr
    for key in ("trust_remote_code", "Trust-Remote-Code"):
        with pytest.raises(ValueError, match="server.trust_remote_code"):
            ServerConfig(type="sglang", model_kwargs={key: True})
