"""kill -9 matrix: each command is killed mid-run (its whole process group), run again with the same arguments, and
compared with a clean run of the same input: rows kept / lost / duplicated, and requests redone (translate).

    python benchmarks/kill_matrix.py [--rows N]

Local test servers only (tests/helpers: the echo OpenAI-compatible server, the Hub test server).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.helpers.hub_test_server import HubTestServer  # noqa: E402
from tests.helpers.openai_test_server import MODEL, openai_test_server  # noqa: E402
from tests.helpers.publish_data import write_instructions, write_validation  # noqa: E402

AUDIT = REPO / "samples" / "audit" / "instructions.jsonl"
HF_TOKEN = "hf_killMatrixToken0123456789"


def hala_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "hala.pipelines.cli.app", *args]


def run(cmd: list[str], env=None) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env, timeout=1800)


def killed(cmd: list[str], when, env=None, timeout: float = 600) -> bool:
    """Start `cmd`, kill -9 its process group as soon as `when()` is true; whether it was killed before finishing."""
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        if when():
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.02)
    proc.wait()
    return False


def ids_of(out: Path) -> tuple[list[str], list[str]]:
    kept = [r["id"] for f in sorted((out / "data").glob("*.parquet")) if f.stat().st_size
            for r in pq.read_table(f, columns=["id"]).to_pylist()]
    rejected = [json.loads(line)["id"] for f in sorted(out.glob("rejects/*/*.jsonl"))
                for line in f.read_text().splitlines() if line.strip()]
    return kept, rejected


def compare(name: str, clean: Path, resumed: Path, n_input: int, extra: str = "") -> dict:
    ck, cr = ids_of(clean)
    rk, rr = ids_of(resumed)
    row = {"case": name, "input": n_input, "kept": len(set(rk)), "kept_clean": len(set(ck)),
           "lost": len((set(ck) | set(cr)) - (set(rk) | set(rr))), "duplicated": len(rk) - len(set(rk)),
           "same_kept_as_clean": set(rk) == set(ck), "note": extra}
    print(json.dumps(row), flush=True)
    return row


def shards(tmp: Path, rows: int, files: int) -> Path:
    base = [json.loads(x) for x in AUDIT.read_text().splitlines()]
    folder = tmp / f"in_{rows}_{files}"
    if folder.is_dir():
        return folder
    folder.mkdir()
    per = rows // files
    for f in range(files):
        with open(folder / f"p{f}.jsonl", "w") as fh:
            for i in range(per):
                r = base[(f * per + i) % len(base)]
                fh.write(json.dumps({**r, "id": f"r{f}_{i}"}, ensure_ascii=False) + "\n")
    return folder


def translate_case(tmp: Path, rows: int, tasks: int) -> dict:
    src = tmp / f"alpaca_{tasks}"
    src.mkdir()
    for f in range(max(tasks, 1)):
        with open(src / f"a{f}.jsonl", "w") as fh:
            for i in range(rows // max(tasks, 1)):
                fh.write(json.dumps({"instruction": f"Question {f}-{i}: how are you today, friend number {i}?",
                                     "input": "", "output": f"I am fine, thank you. Answer {f} {i}."}) + "\n")
    with openai_test_server() as server:
        def args(out: Path, tm: Path) -> list[str]:
            return hala_cmd("translate", str(src), str(out), "--server", "endpoint", "--endpoint", server.url,
                            "--model", MODEL, "--tm", str(tm), "--tasks", str(tasks), "--workers", str(tasks),
                            "--concurrency", "8")
        clean = tmp / f"t_clean_{tasks}"
        assert run(args(clean, tmp / f"tm_clean_{tasks}.sqlite")).returncode == 0
        baseline = server.count
        out = tmp / f"t_kill_{tasks}"
        start = server.count
        was_killed = killed(args(out, tmp / f"tm_kill_{tasks}.sqlite"),
                            lambda: server.count - start > baseline // 2)
        at_kill = server.count - start
        r = run(args(out, tmp / f"tm_kill_{tasks}.sqlite"))
        assert r.returncode == 0, r.stderr[-2000:]
        total = server.count - start
    return compare(f"translate --tasks {tasks}", clean, out, rows,
                   f"killed={was_killed} after {at_kill} requests; requests {total} vs {baseline} clean: "
                   f"{total - baseline} redone")


def filter_case(tmp: Path, rows: int, tasks: int) -> dict:
    src = shards(tmp, rows, 8)

    def args(out: Path) -> list[str]:
        return hala_cmd("filter", str(src), str(out), "--kind", "instructions", "--tasks", str(tasks),
                        "--workers", str(min(tasks, 2)))
    clean = tmp / f"f_clean_{tasks}"
    assert run(args(clean)).returncode == 0
    out = tmp / f"f_kill_{tasks}"
    done = out / "logs" / "filter" / "completions"
    t0 = time.monotonic()
    was_killed = killed(args(out), (lambda: done.is_dir() and any(done.iterdir())) if tasks > 1
                        else (lambda: time.monotonic() - t0 > 4))
    r = run(args(out))
    assert r.returncode == 0, r.stderr[-2000:]
    stats = json.loads((out / "stats.json").read_text())["stages"]
    return compare(f"filter --tasks {tasks}", clean, out, rows,
                   f"killed={was_killed}; stats read {stats['read']['read']} of {rows}")


def dedup_case(tmp: Path, rows: int, tasks: int) -> dict:
    src = shards(tmp, rows, 8)

    def args(out: Path) -> list[str]:
        return hala_cmd("dedup", str(src), str(out), "--tasks", str(tasks), "--workers", str(min(tasks, 2)))
    clean = tmp / f"d_clean_{tasks}"
    assert run(args(clean)).returncode == 0
    out = tmp / f"d_kill_{tasks}"
    final = out / "logs" / "dedup_4_final"
    was_killed = killed(args(out), lambda: final.is_dir())
    r = run(args(out))
    assert r.returncode == 0, r.stderr[-2000:]
    stats = json.loads((out / "stats.json").read_text())["stages"]
    return compare(f"dedup --tasks {tasks}", clean, out, rows,
                   f"killed={was_killed} in the final pass; stats dedup read {stats['dedup']['read']}")


def report_case(tmp: Path) -> dict:
    ds = tmp / "f_clean_1"
    clean, out = tmp / "rep_clean", tmp / "rep_kill"
    assert run(hala_cmd("report", str(ds), "--out", str(clean))).returncode == 0
    t0 = time.monotonic()
    was_killed = killed(hala_cmd("report", str(ds), "--out", str(out)), lambda: time.monotonic() - t0 > 3)
    assert run(hala_cmd("report", str(ds), "--out", str(out))).returncode == 0
    a, b = (json.loads((d / "report.json").read_text()) for d in (clean, out))
    same = {k: v for k, v in a.items() if k not in ("created_at", "generated_at", "seconds")} == \
           {k: v for k, v in b.items() if k not in ("created_at", "generated_at", "seconds")}
    row = {"case": "report", "killed": was_killed, "same_report_as_clean": same}
    print(json.dumps(row), flush=True)
    return row


def publish_case(tmp: Path, after_tag: bool) -> dict:
    ds = write_instructions(tmp / f"pub_{after_tag}")
    write_validation(ds)
    systmp = tmp / f"systmp_{after_tag}"
    systmp.mkdir()
    env = {**os.environ, "HF_TOKEN": HF_TOKEN, "HF_HUB_DISABLE_XET": "1", "HF_HUB_OFFLINE": "0",
           "TMPDIR": str(systmp)}
    with HubTestServer(token=HF_TOKEN) as hub:
        cmd = hala_cmd("publish", str(ds), "--repo", "org/kill", "--version", "1.0.0", "--endpoint", hub.url)
        if after_tag:
            hub.hold_tag_response = threading.Event()
            was_killed = killed(cmd, hub.tag_stored.is_set, env=env)
            hub.hold_tag_response.set()
        else:
            was_killed = killed(cmd, lambda: len(hub.lfs_puts) >= 1, env=env)
        puts_before = len(hub.lfs_puts)
        r = run(cmd, env=env)
        repo = hub.repos["org/kill"]
        row = {"case": f"publish killed {'after the tag' if after_tag else 'during upload'}", "killed": was_killed,
               "rerun_exit": r.returncode, "tags": dict(repo.tags), "release_commits": len(repo.commits) - 1,
               "lfs_reuploaded": len(hub.lfs_puts) - puts_before,
               "left_in_tmp": len(list(systmp.glob("hala-publish-*")))}
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=8000, help="rows for filter/dedup")
    ap.add_argument("--translate-rows", type=int, default=400)
    ap.add_argument("--cases", default="translate,filter,dedup,report,publish")
    a = ap.parse_args()
    cases = a.cases.split(",")
    tmp = Path(tempfile.mkdtemp(prefix="kill-matrix-"))
    try:
        rows = []
        if "translate" in cases:
            rows += [translate_case(tmp, a.translate_rows, 1), translate_case(tmp, a.translate_rows, 4)]
        if "filter" in cases or "report" in cases:
            rows += [filter_case(tmp, a.rows, 1), filter_case(tmp, a.rows, 4)]
        if "dedup" in cases:
            rows += [dedup_case(tmp, a.rows, 1), dedup_case(tmp, a.rows, 4)]
        if "report" in cases:
            rows.append(report_case(tmp))
        if "publish" in cases:
            rows += [publish_case(tmp, False), publish_case(tmp, True)]
        print(json.dumps(rows, indent=1))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
