"""`hala translate` into a used folder: the same run resumes, another input or model stops before any work; the
translation memory keys on the model's identity (an endpoint's `--model-revision`), not on its name."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.helpers import REPO
from tests.helpers.openai_test_server import MODEL, openai_test_server


def _rows(path: Path, n: int, word: str = "today") -> Path:
    path.write_text("".join(json.dumps({"instruction": f"Question number {i}: how are you {word}?", "input": "",
                                        "output": f"I am fine, thank you. Answer {i}."}) + "\n"
                            for i in range(n)), encoding="utf-8")
    return path


def translate(src: Path, out: Path, url: str, tm: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hala.pipelines.cli.app", "translate", str(src), str(out),
                           "--server", "endpoint", "--endpoint", url, "--model", MODEL, "--tm", str(tm), *extra],
                          cwd=REPO, capture_output=True, text=True, timeout=300)


def test_another_input_or_model_into_a_used_folder_is_refused(tmp_path):
    a, b = _rows(tmp_path / "a.jsonl", 4), _rows(tmp_path / "b.jsonl", 4, "tonight")
    out, tm = tmp_path / "out", tmp_path / "tm.sqlite"
    with openai_test_server() as server:
        assert translate(a, out, server.url, tm, "--model-revision", "r1").returncode == 0
        recipe = (out / "recipe.yaml").read_text()
        sent = server.count
        other_input = translate(b, out, server.url, tm, "--model-revision", "r1")
        other_model = translate(a, out, server.url, tm, "--model-revision", "r2")
        same = translate(a, out, server.url, tm, "--model-revision", "r1")
        assert server.count == sent  # nothing was sent for the refused runs, nor for the finished one
        clean = translate(b, out, server.url, tm, "--model-revision", "r1", "--overwrite")
    assert other_input.returncode == 2 and "inputs.input" in other_input.stderr, other_input.stderr
    assert other_model.returncode == 2 and "model" in other_model.stderr and "--overwrite" in other_model.stderr
    assert same.returncode == 0, same.stderr
    assert clean.returncode == 0, clean.stderr
    assert (out / "recipe.yaml").read_text() != recipe and str(b) in (out / "recipe.yaml").read_text()
    assert "overwrite: false" in (out / "recipe.yaml").read_text()  # re-running the written recipe never wipes


def test_translation_memory_keys_on_the_model_revision(tmp_path):
    src, tm = _rows(tmp_path / "a.jsonl", 4), tmp_path / "tm.sqlite"
    with openai_test_server() as server:
        assert translate(src, tmp_path / "o1", server.url, tm, "--model-revision", "r1").returncode == 0
        first = server.count
        assert translate(src, tmp_path / "o2", server.url, tm, "--model-revision", "r2").returncode == 0
        second = server.count - first
        assert translate(src, tmp_path / "o3", server.url, tm, "--model-revision", "r1").returncode == 0
        third = server.count - first - second
    assert first > 0 and second == first and third == 0
    run = json.loads((tmp_path / "o1" / "run.json").read_text())
    assert run["model"] == f"{MODEL}@r1"
