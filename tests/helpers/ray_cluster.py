"""A real local Ray cluster (2 CPUs by default) for tests of datatrove's RayPipelineExecutor.

Why: RayPipelineExecutor expects a Ray cluster to exist already (it calls ray.put/ray.remote; without
one, ray.put silently starts a default cluster on every CPU, with usage stats and a login token). These
helpers start a quiet, private one and stop exactly what they started (never `ray stop`, which kills
every Ray process on the machine by name).

Two ways, both tried against datatrove 0.10.1 + ray 2.60.0:

* `local_ray()` (recommended): `ray.init(num_cpus=2)` in the test process. The raylet and its workers
  are children of the test process and inherit its environment at init time, so PYTHONPATH given here
  reaches the workers (needed for pipeline steps defined in a test module: Ray pickles importable
  functions by reference). `ray.shutdown()` stops everything. About 2.5-5 s to start.
* `ray_head()`: `ray start --head --block` as a child process, then `ray.init(address=...)`. Workers get
  the head's environment, not the driver's, so PYTHONPATH must be given to the head. SIGTERM to that one
  child drains and stops the whole cluster (about 4 s). Use when several drivers share a cluster.

Quiet: no dashboard, no usage stats (which would try to reach the internet), no token written to
~/.ray/auth_token (RAY_AUTH_MODE=disabled), worker logs not forwarded to the driver (datatrove's
per-task logs are in logging_dir/logs/ anyway), everything bound to 127.0.0.1, a 200 MB object store.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

# Set before ray is imported/started: no telemetry, no auth-token file in $HOME, plain worker logs.
RAY_ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_AUTH_MODE": "disabled",
    "RAY_DEDUP_LOGS": "0",
}
OBJECT_STORE_BYTES = 200 * 1024**2


def ray_unavailable_reason() -> str | None:
    """Why Ray cannot be used here (not installed), or None."""
    try:
        import ray  # noqa: F401
    except ImportError as e:
        return f"ray not installed ({e}); pip install 'ray==2.60.0'"
    return None


def _short_tmpdir() -> str:
    # Ray puts unix sockets under its temp dir and fails if the path passes 107 bytes:
    # pytest's tmp_path (/tmp/pytest-of-root/pytest-N/test_name0/...) is too long for it.
    return tempfile.mkdtemp(prefix="ray-", dir="/tmp")


@contextlib.contextmanager
def _environ(updates: dict[str, str]) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in updates}
    os.environ.update(updates)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _pythonpath(extra: Sequence[str | os.PathLike[str]]) -> dict[str, str]:
    parts = [str(p) for p in extra] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return {"PYTHONPATH": os.pathsep.join(parts)} if parts else {}


@contextlib.contextmanager
def local_ray(
    num_cpus: int = 2,
    pythonpath: Sequence[str | os.PathLike[str]] = (),
    quiet: bool = True,
    temp_dir: str | None = None,
) -> Iterator[Path]:
    """ray.init() a private local cluster for the block; yields its temp dir (session logs under it).

    `pythonpath`: dirs the workers must import from (e.g. the tests dir when a pipeline step is defined
    in a test module). The workers' TMPDIR is a dir inside the cluster's temp dir, because datatrove's
    Ray tasks first write their task log to $TMPDIR/ray_logs/logs/task_NNNNN.log (by rank only, so two
    runs at once would share files) and leave it there.
    """
    import logging

    with _environ(RAY_ENV):
        import ray

        if ray.is_initialized():
            raise RuntimeError("ray is already initialized in this process; shut it down first")
        root = temp_dir or _short_tmpdir()
        worker_tmp = Path(root) / "tmp"
        worker_tmp.mkdir(parents=True, exist_ok=True)
        # the raylet (and so every worker) snapshots os.environ at init time
        with _environ({**_pythonpath(pythonpath), "TMPDIR": str(worker_tmp)}):
            ray.init(
                num_cpus=num_cpus,
                include_dashboard=False,
                _node_ip_address="127.0.0.1",
                object_store_memory=OBJECT_STORE_BYTES,
                _temp_dir=root,
                log_to_driver=not quiet,
                logging_level=logging.WARNING if quiet else logging.INFO,
            )
        try:
            yield Path(root)
        finally:
            ray.shutdown()
            if temp_dir is None:
                shutil.rmtree(root, ignore_errors=True)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def ray_head(
    num_cpus: int = 2,
    pythonpath: Sequence[str | os.PathLike[str]] = (),
    connect: bool = True,
    timeout: float = 60,
) -> Iterator[str]:
    """`ray start --head --block` as our child; yields the GCS address ("127.0.0.1:PORT").

    With `connect`, this process is also attached (ray.init(address=...)) for the block. Teardown sends
    SIGTERM to the one `ray start` process, which drains and stops the raylet, GCS and workers.
    """
    root = _short_tmpdir()
    worker_tmp = Path(root) / "tmp"
    worker_tmp.mkdir()
    port = _free_port()
    address = f"127.0.0.1:{port}"
    env = {**os.environ, **RAY_ENV, **_pythonpath(pythonpath), "TMPDIR": str(worker_tmp)}
    # this interpreter's Ray (the raylet starts workers with the Python that ran `ray start`; a `ray` script found
    # next to it may belong to another environment)
    ray_cmd = [sys.executable, "-m", "ray.scripts.scripts"]
    log = Path(root) / "ray-start.out"
    with open(log, "wb") as out:
        head = subprocess.Popen(
            [*ray_cmd, "start", "--head", "--block", f"--num-cpus={num_cpus}", f"--port={port}",
             "--node-ip-address=127.0.0.1", f"--temp-dir={root}", "--include-dashboard=false",
             "--disable-usage-stats", f"--object-store-memory={OBJECT_STORE_BYTES}"],
            env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
    connected = False
    try:
        with _environ(RAY_ENV):
            import ray

            deadline = time.monotonic() + timeout
            while True:
                if head.poll() is not None:
                    raise RuntimeError(f"ray start exited {head.returncode}: {log.read_text()[-2000:]}")
                try:
                    ray.init(address=address, log_to_driver=False)
                    break
                except Exception:  # noqa: BLE001 - GCS not up yet
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(1)
            if not connect:
                ray.shutdown()
            connected = connect
            yield address
    finally:
        if connected:
            import ray

            ray.shutdown()
        if head.poll() is None:
            head.send_signal(signal.SIGTERM)
            try:
                head.wait(timeout=45)
            except subprocess.TimeoutExpired:
                os.killpg(head.pid, signal.SIGKILL)  # its own session: only what it started
                head.wait()
        shutil.rmtree(root, ignore_errors=True)
