"""The translate stage end to end: datatrove InferenceRunner → `transformers serve` → tiny LFM2, on CPU."""

from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from hala.pipelines.serving.servers import ServerConfig
from hala.pipelines.translate.flow import TranslateConfig, run_translate
from hala.pipelines.translate.masking import protected_strings
from tests.helpers import REPO

pytestmark = pytest.mark.slow

CODE = "```python\ndef add(a, b):\n    return a + b\n```"
ROWS = [
    {"instruction": "Write a function.", "input": "", "output": f"Here is the function:\n\n{CODE}\n\nThe result is correct."},
    {"system_prompt": "You are a helpful assistant.", "question": "What is the capital of France?",
     "response": "The capital of France is Paris."},
    {"system_prompt": "You are a helpful assistant.", "question": "Give three examples.",
     "response": "- Knowledge is light.\n- I like reading books.\n- The sun rises in the east."},
    {"conversations": [{"from": "human", "value": "Hello, how are you?"}, {"from": "gpt", "value": "Thank you very much."},
                       {"from": "human", "value": "Translate the sentence into Arabic."},
                       {"from": "gpt", "value": "| Name | City |\n|---|---|\n| Ali | Cairo |"}]},
    {"messages": [{"role": "system", "content": "You are a helpful assistant."},
                  {"role": "user", "content": "Read the passage carefully."},
                  {"role": "assistant", "content": "```bash\necho done\n```"}]},
    {"foo": "no format"},
    {"instruction": "x", "input": "", "output": 7},
]


def write_input(path: Path, rows, copies: int = 1) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(copies):
            for r in rows:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
        f.write("{broken json\n")
    return path


def read_rows(out: Path) -> list[dict]:
    rows = []
    for f in sorted(glob.glob(str(out / "data" / "*.parquet"))):
        rows += pq.read_table(f).to_pylist()
    return rows


def read_rejects(out: Path) -> list[dict]:
    rows = []
    for f in glob.glob(str(out / "rejects" / "*" / "*.jsonl")):
        rows += [json.loads(line) for line in open(f, encoding="utf-8")]
    return rows


@pytest.fixture(scope="module")
def translated(tmp_path_factory, tiny_model_dir):
    base = tmp_path_factory.mktemp("translate")
    src = write_input(base / "in" / "rows.jsonl", ROWS)
    cfg = TranslateConfig(input=str(src), output=str(base / "out"), tm_path=str(base / "tm.sqlite"),
                          server=ServerConfig(model=str(tiny_model_dir), max_concurrency=8))
    stats = run_translate(cfg)
    return base, cfg, stats


def test_counts_add_up_and_rejects_have_reasons(translated):
    base, cfg, stats = translated
    out = Path(cfg.output)
    norm, tr = stats["stages"]["normalize"], stats["stages"]["translate"]
    assert norm["read"] == len(ROWS) + 1
    assert norm["read"] == norm["kept"] + norm["rejected"]
    assert tr["read"] == norm["kept"] and tr["read"] == tr["kept"] + tr["rejected"]
    assert norm["reasons"] == {"unknown_format": 1, "non_string_content": 1, "malformed_json": 1}
    rows, rejects = read_rows(out), read_rejects(out)
    assert len(rows) == tr["kept"]
    assert len(rejects) == norm["rejected"] + tr["rejected"]
    assert all(r["stage"] and r["reason"] and r["id"] for r in rejects)
    assert len({r["id"] for r in rows} | {r["id"] for r in rejects}) == len(ROWS) + 1  # every row accounted once


def test_roles_and_structure_preserved(translated):
    _, cfg, _ = translated
    rows = read_rows(Path(cfg.output))
    assert rows, "the tiny model should get some rows through"
    for r in rows:
        assert r["lang"] == "ar"
        assert [m["role"] for m in r["messages"]] == [m["role"] for m in r["messages_en"]]
        for ar, en in zip(r["messages"], r["messages_en"]):
            assert protected_strings(ar["content"]) == protected_strings(en["content"])
    with_code = [r for r in rows if any(CODE in m["content"] for m in r["messages_en"])]
    assert with_code, "the code row should survive: its code block is never sent to the model"
    assert CODE in with_code[0]["messages"][1]["content"]  # byte-identical
    table = [r for r in rows if any("|---|---|" in m["content"] for m in r["messages_en"])]
    for r in table:
        assert "|---|---|" in r["messages"][-1]["content"]
        assert r["messages"][-1]["content"].count("\n") == r["messages_en"][-1]["content"].count("\n")


def test_repeated_system_prompt_translated_once(translated):
    _, _, stats = translated
    t = stats["translation"]
    assert t["segments"] == t["tm_hits"] + t["model_calls"] + t["shared_inflight"] + t.get("failed", 0)
    assert t["tm_hits"] + t["shared_inflight"] >= 2  # "You are a helpful assistant." appears three times


def test_second_run_sends_no_new_segment(translated, tmp_path):
    base, cfg, stats = translated
    again = cfg.model_copy(update={"output": str(tmp_path / "again")})
    stats2 = run_translate(again)
    assert stats2["translation"]["model_calls"] == 0
    assert stats2["translation"]["tm_hits"] + stats2["translation"]["shared_inflight"] == stats2["translation"]["segments"]
    first = {r["id"]: r["messages"] for r in read_rows(Path(cfg.output))}
    second = {r["id"]: r["messages"] for r in read_rows(tmp_path / "again")}
    assert first == second


RUNNER = """
import sys
from hala.pipelines.serving.servers import ServerConfig
from hala.pipelines.translate.flow import TranslateConfig, run_translate
cfg = TranslateConfig(input=sys.argv[1], output=sys.argv[2], tm_path=sys.argv[3], records_per_chunk=4,
                      server=ServerConfig(model=sys.argv[4], max_concurrency=1))
run_translate(cfg)
"""


def test_killed_run_resumes_without_duplicates(tmp_path, tiny_model_dir):
    copies = 40  # ~280 rows, ids differ by row index: enough work left after the first chunk for the kill to land
    src = write_input(tmp_path / "in" / "rows.jsonl", ROWS, copies=copies)
    out = tmp_path / "out"
    args = [sys.executable, "-c", RUNNER, str(src), str(out), str(tmp_path / "tm.sqlite"), str(tiny_model_dir)]
    proc = subprocess.Popen(args, cwd=REPO, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    marker = out / "work" / "checkpoints" / "last_chunk" / "00000.txt"
    deadline = time.monotonic() + 120
    # datatrove creates the marker, then writes the chunk index into it: wait for the index
    while not (marker.exists() and marker.read_text().strip()) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed; make the input larger"
    os.killpg(proc.pid, signal.SIGKILL)  # the runner and its model server, mid-way
    proc.wait()
    assert not (out / "stats.json").exists()
    done_before = int(marker.read_text())  # index of the last chunk of 4 rows finished before the kill
    assert done_before >= 0

    subprocess.run(args, cwd=REPO, check=True, capture_output=True)
    stats = json.loads((out / "stats.json").read_text())
    # the resumed run sent only the unfinished rows to the model: the finished chunks were skipped
    runner = next((s for s in json.loads((out / "logs" / "translate" / "stats.json").read_text())
                   if "documents_processed" in s.get("stats", {})), None)
    resumed = runner["stats"]["documents_processed"]["total"] if runner else 0  # none: every row was checkpointed
    translated = stats["stages"]["normalize"]["kept"]
    assert resumed <= translated - 4 * (done_before + 1), (resumed, translated, done_before)
    log = "".join(p.read_text() for p in (out / "logs" / "translate" / "logs").glob("task_*.log"))
    assert "Resuming from previous checkpoint" in log
    rows, rejects = read_rows(out), read_rejects(out)
    ids = [r["id"] for r in rows] + [r["id"] for r in rejects]
    assert len(ids) == len(set(ids)), "a row was written twice after the resume"
    assert len(ids) == copies * len(ROWS) + 1
    for stage in stats["stages"].values():
        assert stage["read"] == stage["kept"] + stage["rejected"]

    clean = tmp_path / "clean"
    subprocess.run([*args[:4], str(clean), *args[5:]], cwd=REPO, check=True, capture_output=True)
    assert {r["id"]: r["messages"] for r in read_rows(clean)} == {r["id"]: r["messages"] for r in rows}
