"""Bad input is one line with exit 2 before any work — never a traceback, never exit 1. Through the real CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO

AUDIT = REPO / "samples" / "audit" / "instructions.jsonl"
ALPACA = REPO / "samples" / "demo" / "alpaca.jsonl"


def hala(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hala.pipelines.cli.app", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=300)


def one_line(r: subprocess.CompletedProcess, words: str) -> None:
    assert r.returncode == 2, r.stderr[-2000:]
    assert "Traceback" not in r.stderr and words in r.stderr, r.stderr[-2000:]
    assert len([x for x in r.stderr.splitlines() if x.startswith("error")]) == 1, r.stderr[-2000:]


def test_dangling_symlink_and_link_loop_in_an_input_folder(tmp_path):
    for name, target in (("dangling", "/nonexistent/x.jsonl"), ("loop", None)):
        folder = tmp_path / name
        folder.mkdir()
        shutil.copy(AUDIT, folder / "rows.jsonl")
        link = folder / "bad.jsonl"
        os.symlink(target or link, link)
        one_line(hala("filter", str(folder), str(tmp_path / f"o_{name}"), "--kind", "instructions"),
                 "broken symbolic link")


def test_tm_that_is_a_folder_or_not_sqlite(tmp_path):
    notdb = tmp_path / "tm.sqlite"
    notdb.write_text("not a database, just text" * 100)
    for tm, words in ((tmp_path, "a folder"), (notdb, "not a translation memory")):
        one_line(hala("translate", str(ALPACA), str(tmp_path / "o"), "--model", "tiny", "--tm", str(tm)), words)


def test_garbage_lid_model(tmp_path):
    garbage = tmp_path / "lid.bin"
    garbage.write_bytes(b"\x00garbage" * 100)
    one_line(hala("filter", str(AUDIT), str(tmp_path / "o"), "--kind", "instructions", "--lid-model", str(garbage)),
             "not a fastText model")


@pytest.mark.parametrize("engine", ["vllm", "sglang"])
def test_gpu_server_not_installed(tmp_path, engine):
    import importlib.util

    if importlib.util.find_spec(engine) is not None:
        pytest.skip(f"{engine} is installed here")
    one_line(hala("translate", str(ALPACA), str(tmp_path / "o"), "--server", engine, "--model", str(tmp_path)),
             "not installed")
    assert not (tmp_path / "o").exists()


def test_report_on_a_corrupt_parquet_or_malformed_rejects(tmp_path):
    ds = tmp_path / "ds"
    assert hala("filter", str(AUDIT), str(ds), "--kind", "instructions", "--no-lid").returncode == 0
    broken = tmp_path / "broken"
    shutil.copytree(ds, broken)
    part = sorted((broken / "data").glob("*.parquet"))[0]
    part.write_bytes(part.read_bytes()[:300])
    one_line(hala("report", str(broken), str(tmp_path / "r1"), "--no-lid"), "cannot read the records")
    bad_rejects = tmp_path / "bad_rejects"
    shutil.copytree(ds, bad_rejects)
    f: Path = sorted(bad_rejects.glob("rejects/*/*.jsonl"))[0]
    f.write_text(f.read_text() + "not json\n")
    one_line(hala("report", str(bad_rejects), str(tmp_path / "r2"), "--no-lid"), "cannot read the rejects")
