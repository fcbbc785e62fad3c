"""A file input reads exactly that file, whatever its name; a folder's hala sidecars are never rows; a UTF-8 BOM
and a `.json` holding one object are read as rows. Through the real CLI (`filter`: record reader; `translate`
against a local test server: source reader)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.helpers import REPO
from tests.helpers.openai_test_server import MODEL, openai_test_server

AUDIT = REPO / "samples" / "audit" / "instructions.jsonl"


def hala(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hala.pipelines.cli.app", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=300)


def _stages(out: Path) -> dict:
    return json.loads((out / "stats.json").read_text())["stages"]


def _alpaca(i: int) -> dict:
    return {"instruction": f"Question number {i}: how are you today?", "input": "", "output": f"Fine. Answer {i}."}


def _write(path: Path, rows: list[dict], bom: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + "".join(json.dumps(r) + "\n" for r in rows).encode())
    return path


def _translate(src: Path, out: Path, url: str, tmp: Path) -> subprocess.CompletedProcess:
    return hala("translate", str(src), str(out), "--server", "endpoint", "--endpoint", url, "--model", MODEL,
                "--tm", str(tmp / "tm.sqlite"))


def test_filter_reads_exactly_the_named_file(tmp_path):
    lines = AUDIT.read_text().splitlines(keepends=True)
    g = tmp_path / "g"
    g.mkdir()
    (g / "r.jsonl").write_text("".join(lines[:5]))
    (g / "old_r.jsonl").write_text("".join(lines[5:40]))
    (g / "b[1].jsonl").write_text("".join(lines[:7]))
    r = hala("filter", str(g / "r.jsonl"), str(tmp_path / "o1"), "--kind", "instructions", "--no-lid")
    assert r.returncode == 0, r.stderr
    assert _stages(tmp_path / "o1")["read"]["read"] == 5
    r = hala("filter", str(g / "b[1].jsonl"), str(tmp_path / "o2"), "--kind", "instructions", "--no-lid")
    assert r.returncode == 0, r.stderr
    assert _stages(tmp_path / "o2")["read"]["read"] == 7


def test_filter_reads_a_bom(tmp_path):
    rows = [json.loads(x) for x in AUDIT.read_text().splitlines()[:4]]
    src = _write(tmp_path / "bom.jsonl", rows, bom=True)
    r = hala("filter", str(src), str(tmp_path / "o"), "--kind", "instructions", "--no-lid", "--no-quality")
    assert r.returncode == 0, r.stderr
    assert _stages(tmp_path / "o")["read"] == {"read": 4, "kept": 4, "rejected": 0, "reasons": {}}


def test_translate_reads_exactly_the_named_file_and_no_sidecar(tmp_path):
    g = tmp_path / "g"
    a = _write(g / "a.jsonl", [_alpaca(i) for i in range(3)], bom=True)
    _write(g / "backup_of_a.jsonl", [_alpaca(i) for i in range(3, 8)])
    folder = tmp_path / "folder"
    _write(folder / "rows.jsonl", [_alpaca(i) for i in range(4)])
    (folder / "rows.jsonl.validation.json").write_text(json.dumps({"success": True, "results": [1, 2, 3]}))
    (folder / "stats.json").write_text(json.dumps({"kind": "instructions", "stages": {}}))
    (folder / "recipe.yaml").write_text("flow: translate\n")
    one = tmp_path / "one.json"
    one.write_text(json.dumps(_alpaca(9), indent=2))  # one pretty-printed object: one row
    with openai_test_server() as server:
        r1 = _translate(a, tmp_path / "o1", server.url, tmp_path)
        r2 = _translate(folder, tmp_path / "o2", server.url, tmp_path)
        r3 = _translate(one, tmp_path / "o3", server.url, tmp_path)
    for r in (r1, r2, r3):
        assert r.returncode == 0, r.stderr
    assert _stages(tmp_path / "o1")["normalize"] == {"read": 3, "kept": 3, "rejected": 0, "reasons": {}}
    assert _stages(tmp_path / "o2")["normalize"] == {"read": 4, "kept": 4, "rejected": 0, "reasons": {}}
    assert _stages(tmp_path / "o3")["normalize"] == {"read": 1, "kept": 1, "rejected": 0, "reasons": {}}
