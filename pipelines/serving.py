"""Which model server answers the translation requests, and how datatrove's `InferenceRunner` reaches it.

GPUs: datatrove's own `vllm` / `sglang` servers. Anywhere: `endpoint` (any OpenAI-compatible URL). CPU: `transformers`,
i.e. `transformers serve MODEL` started and supervised exactly like datatrove supervises vLLM — same requests, same
rollout, same checkpointing — so the tests and the demo exercise the production path.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from typing import Iterator, Literal

from datatrove.pipeline.inference.run_inference import InferenceConfig, InferenceRunner
from datatrove.pipeline.inference.servers import CustomServer, InferenceServer
from pydantic import BaseModel, ConfigDict, Field

ServerType = Literal["transformers", "endpoint", "vllm", "sglang"]


class ServerConfig(BaseModel):
    """The `server:` block of a recipe; switching CPU → GPU changes only this block."""

    model_config = ConfigDict(extra="forbid")

    type: ServerType = Field("transformers", description="transformers (CPU/GPU), vllm, sglang, or endpoint")
    model: str | None = Field(None, description="local path or Hub id; empty: the tiny demo model")
    endpoint: str | None = Field(None, description="base URL of an OpenAI-compatible server (type: endpoint)")
    api_key_env: str = Field("OPENAI_API_KEY", description="name of the environment variable holding the key")
    device: str = Field("cpu", description="transformers server device: cpu, cuda, auto")
    continuous_batching: bool = Field(False, description="transformers server: paged-attention continuous batching")
    tp: int = Field(1, ge=1, description="tensor parallel size (vllm/sglang)")
    dp: int = Field(1, ge=1, description="data parallel replicas (vllm/sglang)")
    max_concurrency: int = Field(32, ge=1, description="requests in flight at once")
    max_context: int = Field(4096, ge=128, description="model context length")
    startup_timeout_s: float = Field(600, gt=0, description="how long the server may take to become ready")
    model_kwargs: dict = Field(default_factory=dict, description="extra server flags, e.g. {gpu-memory-utilization: 0.9}")


class TransformersServer(CustomServer):
    """`transformers serve` as a datatrove server: started, health-checked and torn down by the runner."""

    def __init__(self, config: InferenceConfig, rank: int):
        InferenceServer.__init__(self, config, rank)  # CustomServer's __init__ wants a script; we run a module

    async def is_ready(self) -> bool:
        """`transformers serve` answers /v1/models by listing the Hub cache (fails offline): ask /health."""
        import httpx

        try:
            async with httpx.AsyncClient() as client:
                return (await client.get(f"{self.get_base_url()}/health", timeout=5.0)).status_code == 200
        except httpx.HTTPError:
            return False

    async def start_server(self) -> asyncio.subprocess.Process:
        kwargs = dict(self.config.model_kwargs or {})
        kwargs.pop("hala_server", None)
        cmd = [sys.executable, "-m", "transformers.cli.transformers", "serve", self.config.model_name_or_path,
               "--host", "127.0.0.1", "--port", str(self._port), "--log-level", "warning",
               "--device", str(kwargs.pop("device", "cpu"))]
        if kwargs.pop("continuous_batching", False):
            cmd.append("--continuous-batching")
        for k, v in kwargs.items():
            cmd += [f"--{k}", str(v)] if v is not True else [f"--{k}"]
        return await asyncio.create_subprocess_exec(
            *cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "TOKENIZERS_PARALLELISM": "false"},
        )


class HalaInferenceRunner(InferenceRunner):
    """datatrove's InferenceRunner, plus the `transformers` server type."""

    def _init_server(self, rank: int) -> InferenceServer:
        if self.config.server_type == "custom" and (self.config.model_kwargs or {}).get("hala_server") == "transformers":
            return TransformersServer(self.config, rank)
        return super()._init_server(rank)


def inference_config(server: ServerConfig, model: str, generation: dict | None = None) -> InferenceConfig:
    """Translate our `ServerConfig` into datatrove's `InferenceConfig` (keys never logged: read from env here)."""
    kwargs = dict(server.model_kwargs)
    server_type = server.type
    if server.type == "transformers":
        server_type = "custom"
        kwargs.update({"hala_server": "transformers", "device": server.device,
                       "continuous_batching": server.continuous_batching})
    if server.type == "endpoint" and not server.endpoint:
        from pipelines.errors import UserError

        raise UserError("server type 'endpoint' needs an endpoint URL (--endpoint or server.endpoint)")
    config = InferenceConfig(
        server_type=server_type,
        model_name_or_path=model,
        model_max_context=server.max_context,
        use_chat=True,
        endpoint_url=server.endpoint,
        api_key=os.environ.get(server.api_key_env) if server.type == "endpoint" else None,
        tp=server.tp,
        dp=server.dp,
        default_generation_params=generation or {},
        max_concurrent_generations=server.max_concurrency,
        model_kwargs=kwargs or None,
        metric_interval=600,
        server_start_timeout_sec=server.startup_timeout_s,
        server_ready_max_attempts=int(server.startup_timeout_s),
        server_ready_delay_sec=1.0,
    )
    return config


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def local_server(model_path: str, *, device: str = "cpu", port: int | None = None, continuous_batching: bool = False,
                 timeout_s: float = 300) -> Iterator[str]:
    """Start `transformers serve` for a block of code (eval, benchmarks); yields the base URL."""
    import httpx

    port = port or free_port()
    cmd = [sys.executable, "-m", "transformers.cli.transformers", "serve", str(model_path), "--host", "127.0.0.1",
           "--port", str(port), "--device", device, "--log-level", "warning"]
    if continuous_batching:
        cmd.append("--continuous-batching")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"transformers serve exited with {proc.returncode}: {proc.stderr.read()[-2000:]}")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"transformers serve not ready after {timeout_s}s")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
