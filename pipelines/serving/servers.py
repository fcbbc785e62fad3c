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
import tempfile
import time
from contextlib import contextmanager
from typing import Iterator, Literal

from datatrove.pipeline.inference.run_inference import InferenceConfig, InferenceRunner
from datatrove.pipeline.inference.servers import (
    CustomServer,
    EndpointServer,
    InferenceServer,
    SGLangServer,
    VLLMServer,
)
from pydantic import BaseModel, ConfigDict, Field, field_validator

from hala.pipelines.core.compat import ChunkCheckpoints, init_inference_server, internals_ok, read_ahead
from hala.pipelines.serving.requests import Connections, RetryPolicy, http_status, post_with_retries

ServerType = Literal["transformers", "batched", "endpoint", "vllm", "sglang"]


class ServerConfig(BaseModel):
    """The `server:` block of a recipe; switching CPU → GPU changes only this block."""

    model_config = ConfigDict(extra="forbid")

    type: ServerType = Field("transformers", description="transformers (`transformers serve`), batched (hala's "
                             "micro-batching server over transformers generate), vllm, sglang, or endpoint")
    model: str | None = Field(None, description="local path or Hub id (required); `tiny`: the tiny demo model, whose output is meaningless")
    endpoint: str | None = Field(None, description="base URL of an OpenAI-compatible server (type: endpoint)")
    api_key_env: str = Field("OPENAI_API_KEY", description="name of the environment variable holding the key")
    device: str = Field("cpu", description="transformers server device: cpu, cuda, auto")
    continuous_batching: bool = Field(False, description="transformers server: paged-attention continuous batching")
    max_batch: int = Field(32, ge=1, description="batched server: requests per generate call")
    max_batch_tokens: int = Field(8192, ge=0, description="batched server: padded prompt tokens per generate call "
                                  "(a batch pads to its longest prompt; 0: no cap)")
    cpu_threads: int = Field(1, ge=0, description="torch threads of a CPU transformers/batched server (0: torch's "
                             "default; more threads fight the server's inference thread on small models)")
    tp: int = Field(1, ge=1, description="tensor parallel size (vllm/sglang)")
    dp: int = Field(1, ge=1, description="data parallel replicas (vllm/sglang)")
    max_concurrency: int = Field(32, ge=1, description="requests in flight at once")
    max_context: int = Field(4096, ge=128, description="model context length")
    startup_timeout_s: float = Field(600, gt=0, description="how long the server may take to become ready")
    model_kwargs: dict = Field(default_factory=dict, description="extra server flags, e.g. {gpu-memory-utilization: 0.9}")
    trust_remote_code: bool = Field(False, description="let the model repository's own code run (vLLM "
                                    "--trust-remote-code); off unless the recipe says so")
    model_revision: str | None = Field(None, description="the model's revision: a Hub id's branch/tag/commit; for "
                                       "an endpoint, what its weights are (the translation memory keys on it)")
    retries: int = Field(8, ge=1, description="attempts per request on 429/5xx/connection errors; when exhausted the "
                         "task fails and the same command resumes it")
    retry_backoff_s: float = Field(1.0, ge=0, description="first wait between attempts (doubles each time; a "
                                   "Retry-After header wins)")

    @field_validator("model_kwargs")
    @classmethod
    def _no_hidden_trust(cls, v: dict) -> dict:
        """Remote code runs only through `trust_remote_code`, never through a server flag beside it."""
        if any(k.replace("_", "-").lower() == "trust-remote-code" for k in v):
            raise ValueError("trust-remote-code is not a model_kwargs flag; set server.trust_remote_code: true")
        return v


def retry_policy(server: ServerConfig) -> RetryPolicy:
    return RetryPolicy(attempts=server.retries, backoff_s=server.retry_backoff_s)


class RetryingRequests:
    """The request path of every hala server class (keep-alive HTTP/1.1 connections for http, pooled httpx for
    https): transient failures retried and, when exhausted, a failed task (hala.pipelines.serving.requests).
    Replaces datatrove's `_make_request`, whose caller retried a dropped connection a few times and then handed the
    rollout an error that became a reject, and which opened a connection per request."""

    retry_policy: RetryPolicy = RetryPolicy()
    _http = None

    def _headers(self) -> dict:
        return {}

    def _secrets(self) -> tuple[str, ...]:
        return ()

    async def _make_request(self, payload: dict) -> dict:
        """Plain http (a server on this machine or the cluster's network): hala's keep-alive `Connections`, one
        per concurrent request at most; https: a pooled httpx client."""
        url = f"{self.get_base_url()}{'/v1/chat/completions' if self.config.use_chat else '/v1/completions'}"
        if self._http is None:
            n = max(1, int(self.config.max_concurrent_generations))
            if url.startswith("https://"):
                import httpx

                self._http = httpx.AsyncClient(timeout=self.config.request_timeout,
                                               limits=httpx.Limits(max_connections=n, max_keepalive_connections=n))
            else:
                self._http = Connections(limit=n)
        return await post_with_retries(self._http, url, payload, self._headers(), self.retry_policy, self._secrets(),
                                       timeout=self.config.request_timeout)

    async def __aexit__(self, exc_type, exc_val, exc_tb):
        if isinstance(self._http, Connections):
            self._http.close()
        elif self._http is not None:
            await self._http.aclose()
        self._http = None
        return await super().__aexit__(exc_type, exc_val, exc_tb)




def screen(line: str, *, transient: bool = False) -> None:
    """A line for the person at the terminal (stderr, outside the task logs' filter): on a terminal a transient line
    is rewritten in place; elsewhere (CI, a file) only final lines are written."""
    tty = sys.stderr.isatty()
    if transient and not tty:
        return
    sys.stderr.write(("\r\033[K" if tty else "") + line + ("" if transient else "\n"))
    sys.stderr.flush()


class AnnouncedStart:
    """Mixin for the servers hala starts: while the model loads (minutes for a real model) the screen says so with
    the time taken so far, then how long the start took; a start that fails names the server's own log."""

    STATUS_EVERY_S = 1.0
    FAST_POLL_S = 0.0  # a server whose readiness check is cheap is polled every 0.1 s for this long first
    FAST_POLL_EVERY_S = 0.1

    async def _poll_fast(self) -> bool:
        """Whether the server became ready within FAST_POLL_S (datatrove polls every `server_ready_delay_sec`: a
        start that took 5.1 s cost 6). A server process that died is left to datatrove's loop to report."""
        from loguru import logger

        end = time.monotonic() + self.FAST_POLL_S
        while time.monotonic() < end:
            proc = getattr(self, "_server_process", None)
            if proc is not None and proc.returncode is not None:
                return False
            if await self.is_ready():  # type: ignore[attr-defined]
                logger.info(f"{type(self).__name__} server is ready.")  # datatrove's line (benchmarks read it)
                return True
            await asyncio.sleep(self.FAST_POLL_EVERY_S)
        return False

    def _log_hint(self) -> str:
        path = self._get_log_file_path()  # type: ignore[attr-defined]
        return f"the model server's log: {path}" if path else "run with `hala -v` to see the model server's output"

    async def _wait_until_ready(self, max_attempts: int = 300, delay_sec: float = 5.0) -> None:
        from datatrove.pipeline.inference.types import ServerError

        model = os.path.basename(str(self.config.model_name_or_path).rstrip("/"))  # type: ignore[attr-defined]
        what = f"{type(self).__name__.removeprefix('Hala')} for {model}"
        t0 = time.monotonic()
        screen(f"starting the model server ({what})…")

        async def status() -> None:
            while True:
                await asyncio.sleep(self.STATUS_EVERY_S)
                screen(f"starting the model server ({what}): {time.monotonic() - t0:.0f} s", transient=True)

        ticker = asyncio.create_task(status())
        try:
            if not await self._poll_fast():
                await super()._wait_until_ready(max_attempts, delay_sec)  # type: ignore[misc]
        except ServerError as e:
            screen(f"the model server ({what}) did not start after {time.monotonic() - t0:.0f} s: {e}; "
                   f"{self._log_hint()}")
            raise ServerError(f"{e}; {self._log_hint()}") from e
        finally:
            ticker.cancel()
        screen(f"model server ready ({what}) after {time.monotonic() - t0:.0f} s")


class TransformersServer(AnnouncedStart, RetryingRequests, CustomServer):
    """`transformers serve` as a datatrove server: started, health-checked and torn down by the runner."""

    def __init__(self, config: InferenceConfig, rank: int):
        init_inference_server(self, config, rank)  # CustomServer's __init__ wants a script; we run a module

    def get_base_url(self) -> str:
        return loopback_url(self._port)

    FAST_POLL_S = 60.0

    async def is_ready(self) -> bool:
        """`transformers serve` answers /v1/models by listing the Hub cache (fails offline): ask /health."""
        return await http_status(f"{self.get_base_url()}/health") == 200

    async def start_server(self) -> asyncio.subprocess.Process:
        kwargs = dict(self.config.model_kwargs or {})
        kwargs.pop("hala_server", None)
        threads = int(kwargs.pop("cpu_threads", 0) or 0)
        device = str(kwargs.pop("device", "cpu"))
        cmd = transformers_serve_cmd(self.config.model_name_or_path, self._port, device,
                                     bool(kwargs.pop("continuous_batching", False)))
        kwargs.pop("max_batch", None)
        kwargs.pop("max_batch_tokens", None)
        for k, v in kwargs.items():
            cmd += [f"--{k}", str(v)] if v is not True else [f"--{k}"]
        return await asyncio.create_subprocess_exec(
            *cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=server_env(device, threads),
        )


class BatchedServer(TransformersServer):
    """`python -m hala.pipelines.serving.batched` as a datatrove server: batches the requests in flight (see that module)."""

    async def start_server(self) -> asyncio.subprocess.Process:
        kwargs = dict(self.config.model_kwargs or {})
        device = str(kwargs.get("device", "cpu"))
        cmd = batched_server_cmd(self.config.model_name_or_path, self._port, device,
                                 int(kwargs.get("max_batch", 32)), int(kwargs.get("cpu_threads", 0) or 0),
                                 int(kwargs.get("max_batch_tokens", 0) or 0))
        return await asyncio.create_subprocess_exec(
            *cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=server_env(device, 0),
        )


def server_env(device: str, threads: int) -> dict:
    """The server's environment. On CPU, `OMP_NUM_THREADS` bounds torch's threads: `transformers serve` runs
    `generate` on its own thread, and a second OpenMP pool spinning beside it starves the model's own threads."""
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    if device == "cpu" and threads > 0:
        env["OMP_NUM_THREADS"] = str(threads)
    return env


def transformers_serve_cmd(model: str, port: int, device: str, continuous_batching: bool = False) -> list[str]:
    cmd = [sys.executable, "-m", "transformers.cli.transformers", "serve", str(model), "--host", "127.0.0.1",
           "--port", str(port), "--log-level", "warning", "--device", device]
    return cmd + ["--continuous-batching"] if continuous_batching else cmd


def batched_server_cmd(model: str, port: int, device: str, max_batch: int, threads: int,
                       max_batch_tokens: int = 0) -> list[str]:
    return [sys.executable, "-m", "hala.pipelines.serving.batched", str(model), "--host", "127.0.0.1", "--port", str(port),
            "--device", device, "--max-batch", str(max_batch), "--max-batch-tokens", str(max_batch_tokens),
            "--threads", str(threads)]


def loopback_url(port: int) -> str:
    """`http://127.0.0.1:PORT` for a server hala starts on this machine. datatrove's default says `localhost`, and
    its client opens a connection per request: a hostname costs a getaddrinfo on a worker thread every time (a
    tenth of the client's time at a few hundred requests/s), a numeric address none."""
    return f"http://127.0.0.1:{port}"


def endpoint_root(url: str) -> str:
    """The server's root URL: `http://host:8000`, `http://host:8000/` and `http://host:8000/v1` all name one server."""
    root = url.strip().rstrip("/")
    return root[: -len("/v1")] if root.endswith("/v1") else root


def endpoint_key(env_name: str) -> str:
    """The endpoint's API key, read from the environment where it is used (never stored in a config: datatrove
    writes its config to executor.json). Servers started without `--api-key` accept any key; the OpenAI client
    needs a non-empty one."""
    return os.environ.get(env_name) or "EMPTY"


class HalaEndpointServer(RetryingRequests, EndpointServer):
    """datatrove's `endpoint` server for any OpenAI-compatible URL, given with or without `/v1`.

    datatrove's own class wants the URL without `/v1` for a localhost server and with it for a remote one (the
    OpenAI client appends `/chat/completions`, the readiness check `/v1/models`), and takes the key from the config.
    Here the URL is reduced to the server's root, requests go to `root/v1/...` with the key from the environment
    variable the recipe names (RetryingRequests), and the readiness check sends it too (a vLLM started with
    `--api-key` answers 401 without it)."""

    def __init__(self, config: InferenceConfig, rank: int):
        init_inference_server(self, config, rank)
        if not config.endpoint_url:
            raise ValueError("endpoint_url must be set for an endpoint server")
        self.endpoint_url = endpoint_root(config.endpoint_url)
        self._key = endpoint_key((config.model_kwargs or {}).get("hala_api_key_env") or "OPENAI_API_KEY")
        self.client = None

    def _headers(self) -> dict:
        return {"Authorization": f"Bearer {self._key}"}

    def _secrets(self) -> tuple[str, ...]:
        return (self._key,)

    async def is_ready(self) -> bool:
        import httpx

        try:
            async with httpx.AsyncClient() as client:
                r = await client.get(f"{self.endpoint_url}/v1/models", timeout=5.0,
                                     headers={"Authorization": f"Bearer {self._key}"})
                return r.status_code == 200
        except httpx.HTTPError:
            return False


def check_endpoint(server: ServerConfig, model: str, timeout_s: float = 10.0) -> None:
    """Before any task starts: the endpoint answers `/v1/models` with the key, and serves `model` when it lists
    models. One clear line instead of every row failing later."""
    import httpx

    from hala.pipelines.core.errors import UserError

    root = endpoint_root(server.endpoint or "")
    url = f"{root}/v1/models"
    try:
        r = httpx.get(url, timeout=timeout_s, headers={"Authorization": f"Bearer {endpoint_key(server.api_key_env)}"})
    except httpx.HTTPError as e:
        raise UserError(f"endpoint {root} is not reachable ({type(e).__name__}: {e}); is the server running?") from e
    if r.status_code in (401, 403):
        raise UserError(f"endpoint {root} refused the key (HTTP {r.status_code}); set ${server.api_key_env}")
    if r.status_code != 200:
        raise UserError(f"endpoint {root} answered HTTP {r.status_code} to GET /v1/models; is it OpenAI-compatible?")
    try:
        served = [m.get("id") for m in r.json().get("data", []) if isinstance(m, dict)]
    except ValueError:
        served = []
    if served and model not in served:
        raise UserError(f"endpoint {root} does not serve model {model!r} (it serves: {', '.join(map(str, served))})")


class HalaSGLangServer(AnnouncedStart, RetryingRequests, SGLangServer):
    """datatrove's SGLang server with hala's request path (retries; failures that fail the task), its start
    announced like every server hala starts."""

    def get_base_url(self) -> str:
        return loopback_url(self._port)


class HalaVLLMServer(AnnouncedStart, RetryingRequests, VLLMServer):
    """datatrove's vLLM server without the `--trust-remote-code` it always adds (datatrove 0.10.1): a model's own
    code runs only when the recipe sets `server.trust_remote_code` (then passed as a model flag). The command is
    otherwise datatrove's own: same flags, same environment."""

    def get_base_url(self) -> str:
        return loopback_url(self._port)

    async def _start_vllm_task(self) -> asyncio.subprocess.Process:
        cmd = ["vllm", "serve", self.config.model_name_or_path, "--port", str(self._port),
               "--max-model-len", str(self.config.model_max_context), "--disable-uvicorn-access-log"]
        kwargs = dict(self.config.model_kwargs or {})
        for flag, size in (("tensor-parallel-size", self.config.tp), ("data-parallel-size", self.config.dp),
                           ("pipeline-parallel-size", self.config.pp)):
            if size > 1:
                kwargs.setdefault(flag, size)
        for k, v in kwargs.items():
            cmd.append(f"--{k}" if v is True else f"--no-{k}" if v is False else f"--{k}={v}")
        env = {**os.environ, "USE_TF": os.environ.get("USE_TF", "0"),
               "TRANSFORMERS_NO_TF": os.environ.get("TRANSFORMERS_NO_TF", "1")}
        return await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.PIPE, env=env)


class HalaInferenceRunner(InferenceRunner):
    """datatrove's InferenceRunner, plus the `transformers` and `batched` server types and the endpoint above.

    `replay_cache=False` turns off datatrove's per-request replay cache (an SQLite row written for every request, so
    that a resumed chunk does not ask again) where the rollout keeps its own persistent memory — the translation
    memory stores every segment the moment it is translated — and the cache would only repeat that work. Chunk
    checkpoints (which rows are done) stay on either way."""

    def __init__(self, *args, replay_cache: bool = True, retry: RetryPolicy | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.retry = retry or RetryPolicy()
        if not replay_cache:
            self.request_cache.enabled = False
        self.checkpoint_manager = ChunkCheckpoints.like(self.checkpoint_manager)

    def _async_data_gen(self, sync_gen):
        return read_ahead(sync_gen) if internals_ok("datatrove") else super()._async_data_gen(sync_gen)

    def _init_server(self, rank: int) -> InferenceServer:
        server = self._hala_server(rank)
        server.retry_policy = self.retry
        return server

    def _hala_server(self, rank: int) -> InferenceServer:
        hala_server = (self.config.model_kwargs or {}).get("hala_server") if self.config.server_type == "custom" else None
        if hala_server == "transformers":
            return TransformersServer(self.config, rank)
        if hala_server == "batched":
            return BatchedServer(self.config, rank)
        if self.config.server_type == "endpoint":
            return HalaEndpointServer(self.config, rank)
        if self.config.server_type == "vllm":
            return HalaVLLMServer(self.config, rank)
        if self.config.server_type == "sglang":
            return HalaSGLangServer(self.config, rank)
        raise ValueError(f"server type {self.config.server_type!r} has no hala request path")

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        """datatrove's run; a model server that never started fails the task with a message naming its log (the
        retries' own messages are lost in datatrove's final `Failed to start … after N retries`)."""
        from datatrove.pipeline.inference.distributed.utils import get_node_rank
        from datatrove.pipeline.inference.types import ServerError

        if hasattr(self.shared_context, "for_rank"):  # a context that depends on the task (a task-local TM)
            self.shared_context = self.shared_context.for_rank(rank)
        try:
            return super().run(data, rank, world_size)
        except ServerError as e:
            folder = self.config.server_log_folder
            if not folder or "log" in str(e):
                raise
            raise ServerError(f"{e}; the model server's log: {folder}/server_rank_{rank:05d}_node_{get_node_rank()}.log") from e


def inference_config(server: ServerConfig, model: str, generation: dict | None = None,
                     log_folder: str | None = None) -> InferenceConfig:
    """Translate our `ServerConfig` into datatrove's `InferenceConfig` (keys never logged: read from env here);
    `log_folder` receives the model server's own output, one file per rank (named when the server fails)."""
    kwargs = dict(server.model_kwargs)
    server_type = server.type
    if server.type in ("transformers", "batched"):
        server_type = "custom"
        kwargs.update({"hala_server": server.type, "device": server.device, "cpu_threads": server.cpu_threads,
                       "continuous_batching": server.continuous_batching, "max_batch": server.max_batch,
                       "max_batch_tokens": server.max_batch_tokens})
    if server.type == "endpoint":
        if not server.endpoint:
            from hala.pipelines.core.errors import UserError

            raise UserError("server type 'endpoint' needs an endpoint URL (--endpoint or server.endpoint)")
        kwargs["hala_api_key_env"] = server.api_key_env  # the name only: the key is read where it is used
    if server.type in ("vllm", "sglang") and server.trust_remote_code:
        kwargs["trust-remote-code"] = True  # both take the flag; neither gets it otherwise
    config = InferenceConfig(
        server_type=server_type,
        model_name_or_path=model,
        model_max_context=server.max_context,
        use_chat=True,
        endpoint_url=endpoint_root(server.endpoint) if server.endpoint else None,
        api_key=None,  # never in the config: datatrove saves it to executor.json (HalaEndpointServer reads the env)
        tp=server.tp,
        dp=server.dp,
        default_generation_params=generation or {},
        max_concurrent_generations=concurrency_for(server),
        model_kwargs=kwargs or None,
        metric_interval=600,
        server_start_timeout_sec=server.startup_timeout_s,
        # a server we start may take minutes to load; an existing endpoint is up or it is not (check_endpoint)
        server_ready_max_attempts=int(server.startup_timeout_s) if server.type != "endpoint" else 30,
        server_ready_delay_sec=1.0,
        server_log_folder=log_folder,
    )
    return config


def concurrency_for(server: ServerConfig) -> int:
    """Requests in flight, sized to the server: a batching server needs several batches' worth — one running, the
    rest waiting — or its batches run half empty and it cannot group prompts of similar length (figures:
    benchmarks/translate_throughput.py); others get what the recipe says."""
    if server.type == "batched":
        return max(server.max_concurrency, 4 * server.max_batch)
    return server.max_concurrency


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def local_server(model_path: str, *, device: str = "cpu", port: int | None = None, continuous_batching: bool = False,
                 timeout_s: float = 300, engine: str = "transformers", max_batch: int = 32, max_batch_tokens: int = 0,
                 cpu_threads: int = 1) -> Iterator[str]:
    """Start `transformers serve` (engine "transformers") or hala's micro-batching server (engine "batched") for a
    block of code (eval, benchmarks); yields the base URL."""
    import httpx

    port = port or free_port()
    if engine == "batched":
        cmd = batched_server_cmd(str(model_path), port, device, max_batch, cpu_threads, max_batch_tokens)
        env = server_env(device, 0)
    else:
        cmd = transformers_serve_cmd(str(model_path), port, device, continuous_batching)
        env = server_env(device, cpu_threads)
    from hala.pipelines.core.errors import RunFailed

    log = tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace")  # a pipe nobody reads would fill up
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log, env=env)
    url = f"http://127.0.0.1:{port}"
    name = "hala's batched server" if engine == "batched" else "transformers serve"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                log.seek(0)
                tail = log.read()[-2000:].strip().splitlines()
                raise RunFailed(f"{name} for {model_path} exited with {proc.returncode}"
                                f"{': ' + tail[-1] if tail else ''}")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RunFailed(f"{name} for {model_path} not ready after {timeout_s}s")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
