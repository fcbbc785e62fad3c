"""Evaluation servers: one per model, vLLM started by datatrove's own server class exactly as the pipelines do.

No GPU and no vllm here: a stand-in `vllm` executable on PATH records the command line datatrove built and serves
the model with hala's CPU server on the port it was given, so the whole path (command, start, readiness, requests,
teardown) runs for real except for the engine itself.
"""

from __future__ import annotations

import json
import stat
import sys

import pytest

from hala.pipelines.core.errors import UserError

FAKE_VLLM = """#!{python}
import json, os, sys
argv = sys.argv[1:]
with open({log!r}, "a") as f:
    f.write(json.dumps(argv) + "\\n")
if os.environ.get("FAKE_VLLM_FAIL"):
    sys.exit("ValueError: this engine cannot load the model")
port = next(a.split("=", 1)[1] if "=" in a else argv[i + 1] for i, a in enumerate(argv) if a.startswith("--port"))
os.execv(sys.executable, [sys.executable, "-m", "hala.pipelines.serving.batched", argv[1], "--host", "0.0.0.0", "--port",
                          port, "--device", "cpu", "--threads", "1"])
"""


@pytest.fixture
def fake_vllm(tmp_path, monkeypatch):
    import datatrove.pipeline.inference.servers.compile_lock as compile_lock
    import datatrove.pipeline.inference.servers.vllm_server as vllm_server

    bin_dir, log = tmp_path / "bin", tmp_path / "vllm_argv.jsonl"
    bin_dir.mkdir()
    exe = bin_dir / "vllm"
    exe.write_text(FAKE_VLLM.format(python=sys.executable, log=str(log)))
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}:{__import__('os').environ['PATH']}")
    monkeypatch.setattr(vllm_server, "check_required_dependencies", lambda *a, **k: None)  # no vllm package here
    monkeypatch.setattr(compile_lock, "DEFAULT_LOCK_DIR", tmp_path / "locks")
    return log


def test_vllm_server_per_model(fake_vllm):
    from hala.pipelines.serving.tiny_model import cached_tiny_model
    from hala.training.evaluate import compare_models
    from hala.training.recipes import ServerBlock

    server = ServerBlock(type="vllm", max_context=2048, model_kwargs={"gpu-memory-utilization": 0.5},
                         startup_timeout_s=240)
    pairs = [("Thank you very much.", "شكرا جزيلا."), ("Hello, how are you?", "مرحبا، كيف حالك؟")]
    model = str(cached_tiny_model())
    scores = compare_models({"a": model, "b": model}, pairs, server)
    assert set(scores) == {"a", "b"} and all(s["rows"] == 2 and 0 <= s["chrf++"] <= 100 for s in scores.values())
    calls = [json.loads(line) for line in fake_vllm.read_text().splitlines()]
    assert len(calls) == 2  # one `vllm serve` per model, one after the other
    argv = calls[0]
    assert argv[:2] == ["serve", model] and argv[argv.index("--max-model-len") + 1] == "2048"
    assert "--gpu-memory-utilization=0.5" in argv and "--port" in argv


def test_vllm_that_dies_is_one_line_run_failure(fake_vllm, monkeypatch):
    from hala.pipelines.core.errors import RunFailed
    from hala.training.evaluate import model_server
    from hala.training.recipes import ServerBlock

    monkeypatch.setenv("FAKE_VLLM_FAIL", "1")
    with pytest.raises(RunFailed, match=r"vllm server for org/model did not start \(ServerError"):
        with model_server(ServerBlock(type="vllm", startup_timeout_s=30), "org/model"):
            pass


def test_vllm_missing_is_one_line(monkeypatch):
    import importlib.util

    from hala.training.evaluate import model_server
    from hala.training.recipes import ServerBlock

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "vllm" else real(name, *a))
    with pytest.raises(UserError, match="server.type vllm needs the vllm package"):
        with model_server(ServerBlock(type="vllm"), "org/model"):
            pass


def test_server_block_is_the_pipelines_block():
    """Same keys as a pipelines recipe's `server:`, plus the prompt; `model` belongs to the recipe's models."""
    from hala.pipelines.core.config import validate
    from hala.pipelines.serving.servers import ServerConfig
    from hala.training.recipes import EvalRecipe

    r = validate(EvalRecipe, {"models": {"m": "tiny"}, "heldout": {"path": "x"}, "output_dir": "o",
                              "server": {"type": "vllm", "tp": 2, "model_kwargs": {"enforce-eager": True}}}, "t")
    assert isinstance(r.server, ServerConfig) and r.server.tp == 2 and r.server.prompt == "lfm2"
    with pytest.raises(UserError, match="server.model is not used here"):
        validate(EvalRecipe, {"models": {"m": "tiny"}, "heldout": {"path": "x"}, "output_dir": "o",
                              "server": {"model": "x"}}, "t")
