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
