"""Translation client: hala's translate flow against datatrove's stock `InferenceRunner`, on an instant endpoint.

    python benchmarks/stock_translate_client.py [--rows 20000] [--concurrency 32]
    python benchmarks/stock_translate_client.py --hala-only --rows 1000000 [--window 100000]

The endpoint is benchmarks/echo_endpoint.py on 127.0.0.1 (answers at once with its input; a fresh one per run, its
own CPU measured and left out), so what is timed is the client: reading, normalizing, masking, segmenting, the
translation memory, requests, checkpoints and writing. Same rows (translate_throughput.openorca_sample: Open-Orca-like,
a handful of system prompts repeated over the rows), same concurrency, same prompt text:

- stock: datatrove `JsonlReader` → `InferenceRunner` (server_type endpoint) with a plain rollout: one request per
  non-empty message (system prompt, question, response), all of a row at once; no masking, no segments, no TM;
  `JsonlWriter`. Stock as shipped keeps a request replay cache (every answer committed to SQLite, for resuming; no
  constructor option turns it off): that run is the stock figure. It runs once more with the cache switched off
  (`request_cache.enabled = False`, the switch hala flips because its TM keeps every answer), to show how much of
  the ratio that is;
- hala: `run_translate(format=openorca, server=endpoint)` as `hala translate --server endpoint` runs it, with a fresh
  translation memory (rejects, stats and parquet included).

Targets (issue 16): hala ≥ 3× stock rows/s; hala's client CPU per model request ≤ 1.0× stock's. Agreement: the echo
makes every translation the identity, so every row must come out of both, and hala's Arabic messages must equal
the English ones (masking, segmenting and rejoining are lossless); otherwise exit 1.

`--hala-only` runs hala alone, as the `hala translate --server endpoint` command in a process of its own (so its
memory is its own; the input is written row by row, never held here), and prints its rows/s over the first and the
last `--window` rows (from the task log's "Finished chunk" times; the first window starts when the endpoint is ready),
the peak resident memory of all its processes together (sampled from /proc every 0.2 s) and of the largest one
(getrusage), and the verdicts (issue 16): flat = last window ≥ 0.9× the first; peak RSS ≤ 1.5 GB. Its client CPU
includes the interpreter's start and imports (a second or two: small at a million rows).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_common import TreeMemory, cpu_seconds, load, quiet_logs, verdict
from translate_throughput import iter_openorca, openorca_sample

HERE = Path(__file__).resolve().parent
FIELDS = ("system_prompt", "question", "response")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Endpoint:
    """An echo endpoint subprocess for one run; `stop()` returns its requests and CPU seconds."""

    def __init__(self):
        self.port = free_port()
        self.proc = subprocess.Popen([sys.executable, str(HERE / "echo_endpoint.py"), "--port", str(self.port),
                                      "--idle-exit", "120", "--max-seconds", "7200"], stdout=subprocess.PIPE, text=True)
        import httpx

        for _ in range(100):
            try:
                if httpx.get(f"{self.url}/v1/models", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("echo endpoint did not start")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> dict:
        self.proc.terminate()
        out, _ = self.proc.communicate(timeout=30)
        return json.loads(out.strip().splitlines()[-1])


def orca_adapter(self, data: dict, path: str, id_in_file: int | str) -> dict:
    return {"text": data["question"], "id": data["id"], "metadata": {k: data[k] for k in FIELDS}}


async def plain_rollout(document, generate) -> dict:
    """One request per non-empty message, the whole message as is (what a user of the stock runner writes)."""
    from hala.pipelines.translate.prompts import load_prompt

    prompt = load_prompt("lfm2")
    texts = [document.metadata[k] for k in FIELDS if document.metadata.get(k)]
    results = await asyncio.gather(*(generate({"messages": prompt.messages(t), "max_tokens": len(t) + 48,
                                               "temperature": 0.0}) for t in texts))
    return {"translated": [r.text for r in results]}


def run_stock(src: Path, out: Path, concurrency: int, replay_cache: bool, url: str) -> None:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.inference.run_inference import InferenceConfig, InferenceRunner
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter

    from hala.pipelines.core.executors import start_method

    runner = InferenceRunner(
        rollout_fn=plain_rollout,
        config=InferenceConfig(server_type="endpoint", model_name_or_path="echo", endpoint_url=url, use_chat=True,
                               max_concurrent_generations=concurrency, metric_interval=600),
        output_writer=JsonlWriter(str(out / "data"), output_filename="${rank}_chunk_${chunk_index}.jsonl",
                                  compression=None),
        checkpoints_local_dir=str(out / "checkpoints"), records_per_chunk=200)
    if not replay_cache:
        runner.request_cache.enabled = False  # datatrove's own switch, not a constructor option (what hala flips)
    LocalPipelineExecutor(pipeline=[JsonlReader(str(src), adapter=orca_adapter), runner], tasks=1, workers=1,
                          logging_dir=str(out / "logs"), start_method=start_method()).run()


def run_hala(src: Path, out: Path, concurrency: int, url: str) -> dict:
    from hala.pipelines.serving.servers import ServerConfig
    from hala.pipelines.translate.flow import TranslateConfig, run_translate

    cfg = TranslateConfig(input=str(src), output=str(out / "out"), format="openorca", tm_path=str(out / "tm.sqlite"),
                          server=ServerConfig(type="endpoint", endpoint=url, model="echo", max_concurrency=concurrency))
    return run_translate(cfg)


def chunk_times(logs: Path) -> tuple[float | None, list[float]]:
    """When the server was ready and when each checkpoint chunk finished, in order (the task logs' lines)."""
    from translate_throughput import _log_time

    ready, done = None, []
    for log in logs.glob("task_*.log"):
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            if "Finished chunk" in line:
                done.append(_log_time(line))
            elif "server is ready" in line and ready is None:
                ready = _log_time(line)
    return ready, sorted(done)


def window_rates(logs: Path, window: int, rows_per_chunk: int = 200) -> tuple[float, float, int] | None:
    """rows/s over the first and over the last `window` rows (whole checkpoint chunks of `rows_per_chunk`), and the
    window used: a TM or a client that slows down as it grows shows up as a lower second figure."""
    ready, done = chunk_times(logs)
    k = window // rows_per_chunk
    if ready is None or k < 1 or len(done) < 2 * k:
        return None
    first = k * rows_per_chunk / (done[k - 1] - ready)
    last = k * rows_per_chunk / (done[-1] - done[-k - 1])
    return first, last, k * rows_per_chunk


def run_hala_cli(src: Path, out: Path, concurrency: int, url: str) -> dict:
    """`hala translate --server endpoint` in a process of its own; its wall seconds, peak memory and stats."""
    cmd = [sys.executable, "-m", "hala.pipelines.cli.app", "translate", str(src), str(out / "out"), "--format",
           "openorca", "--server", "endpoint", "--endpoint", url, "--model", "echo", "--tm", str(out / "tm.sqlite"),
           "--concurrency", str(concurrency)]
    t0 = time.perf_counter()
    with open(out.parent / f"{out.name}.stderr", "w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, cwd=HERE.parent)
        memory = TreeMemory(proc.pid)
        rc = proc.wait()
        peak = memory.stop()
    wall = time.perf_counter() - t0
    if rc:
        raise RuntimeError(f"hala translate exited {rc}: {(out.parent / f'{out.name}.stderr').read_text()[-2000:]}")
    return {"wall_s": wall, "peak_tree_bytes": peak, "procs_at_peak": memory.peak_procs,
            "stats": json.loads((out / "out" / "stats.json").read_text())}


def timed(fn, *args) -> tuple[float, float, dict, object]:
    """Wall seconds, client CPU seconds (this process and its children, the endpoint's own CPU left out), the
    endpoint's counts and `fn`'s result, with a fresh endpoint."""
    ep = Endpoint()
    c0, t0 = cpu_seconds(), time.perf_counter()
    try:
        result = fn(*args, ep.url)
        wall = time.perf_counter() - t0
    finally:
        served = ep.stop()
    return wall, cpu_seconds() - c0 - served["cpu_s"], served, result


def stock_rows(out: Path) -> dict[str, list[str]]:
    rows = {}
    for f in (out / "data").glob("*.jsonl"):
        for line in f.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            rows[row["id"]] = row["metadata"]["rollout_results"][0]["translated"]
    return rows


def hala_mismatches(out: Path) -> tuple[int, list[str]]:
    import pyarrow.parquet as pq

    n, bad = 0, []
    for f in sorted((out / "out" / "data").glob("*.parquet")):
        for batch in pq.ParquetFile(f).iter_batches(10_000, columns=["id", "messages", "messages_en"]):
            for row in batch.to_pylist():
                n += 1
                if [m["content"] for m in row["messages"]] != [m["content"] for m in row["messages_en"]]:
                    bad.append(row["id"])
    return n, bad


def write_input(path: Path, n: int) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for row in iter_openorca(n):
            f.write(json.dumps(row) + "\n")


def hala_only(tmp: Path, n: int, concurrency: int, window: int) -> int:
    """hala alone over `n` rows: rows/s, CPU, the first and last window's rows/s and peak memory, with verdicts;
    1 when a row is missing or changed (a target not met is a printed verdict, as in the comparison)."""
    import resource

    src = tmp / "orca"
    src.mkdir()
    write_input(src / "rows.jsonl", n)
    print(f"{n:,} Open-Orca-like rows, concurrency {concurrency}, instant echo endpoint, hala only, work in {tmp}  "
          f"[{load()}]", flush=True)
    ep = Endpoint()
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    c0 = kids.ru_utime + kids.ru_stime
    try:
        run = run_hala_cli(src, tmp / "hala", concurrency, ep.url)
    finally:
        served = ep.stop()
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = kids.ru_utime + kids.ru_stime - c0 - served["cpu_s"]
    largest = kids.ru_maxrss * 1024  # the largest single process (the endpoint's is a few tens of MB)
    tr = run["stats"]["stages"]["translate"]
    t = run["wall_s"]
    print(f"hala translate (--server endpoint):    {t:7.2f} s {n / t:8,.0f} rows/s  {served['requests']:,} requests  "
          f"client CPU {cpu / max(1, served['requests']) * 1e6:5.0f} µs/request, {cpu / n * 1e6:5.0f} µs/row  "
          f"(endpoint CPU {served['cpu_s']:.1f} s)  kept {tr['kept']:,} {tr['reasons']}  [{load()}]")
    rates = window_rates(tmp / "hala" / "out" / "logs" / "translate" / "logs", min(window, n // 2))
    if rates is None:
        print("rows/s per window: too few finished chunks in the task log")
    else:
        first, last, w = rates
        if w < window:
            print(f"(--rows {n:,} is under 2 × --window {window:,}: windows of {w:,} rows)")
        verdict(f"rows/s flat (last {w:,} rows / first {w:,})", f"{last / first:.2f} ({last:,.0f} vs "
                      f"{first:,.0f} rows/s)", "≥ 0.9", last >= 0.9 * first)
    peak = run["peak_tree_bytes"]
    verdict("peak RSS of all hala processes together", f"{peak / 1e9:.2f} GB ({run['procs_at_peak']} processes; "
                  f"largest single process {largest / 1e9:.2f} GB)", "≤ 1.5 GB", peak <= 1.5e9)
    kept, bad = hala_mismatches(tmp / "hala")
    print(f"rows out: hala {kept:,} (+{tr['rejected']:,} rejected); hala messages ≠ input: {len(bad)}")
    if kept != n or bad:
        print(f"MISMATCH: hala {bad[:10]}")
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--hala-only", action="store_true", help="hala alone (no stock runs): rows/s over the first and "
                    "last --window rows, peak memory of all its processes")
    ap.add_argument("--window", type=int, default=100_000, help="rows per window for --hala-only's flatness check")
    ap.add_argument("--work-dir", default="/dev/shm" if Path("/dev/shm").is_dir() else None,
                    help="where the work folder goes (default /dev/shm; a million rows take about 3 GB there)")
    args = ap.parse_args(argv)
    quiet_logs()
    # tmpfs when there is one: the stock replay cache commits to SQLite per answer, and a shared disk's fsync
    # latency would be the figure instead of the client (both runs write there)
    tmp = Path(tempfile.mkdtemp(prefix="hala-stock-client-", dir=args.work_dir))
    try:
        if args.hala_only:
            return hala_only(tmp, args.rows, args.concurrency, args.window)
        rows = openorca_sample(args.rows)
        src = tmp / "orca"
        src.mkdir()
        (src / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        n = len(rows)
        print(f"{n:,} Open-Orca-like rows, concurrency {args.concurrency}, instant echo endpoint, work in {tmp}  "
              f"[{load()}]")
        runs = {}
        for replay in (True, False):
            t_s, c_s, ep_s, _ = timed(run_stock, src, tmp / f"stock_{replay}", args.concurrency, replay)
            print(f"stock InferenceRunner (plain rollout, replay_cache={replay}): {t_s:7.2f} s {n / t_s:8,.0f} rows/s  "
                  f"{ep_s['requests']:,} requests  client CPU {c_s / ep_s['requests'] * 1e6:5.0f} µs/request, "
                  f"{c_s / n * 1e6:5.0f} µs/row  (endpoint CPU {ep_s['cpu_s']:.1f} s)  [{load()}]")
            runs[replay] = (t_s, c_s, ep_s)
        t_s, c_s, ep_s = runs[True]  # stock as shipped: the replay cache cannot be turned off by an option
        t_h, c_h, ep_h, stats = timed(run_hala, src, tmp / "hala", args.concurrency)
        tr = stats["stages"]["translate"]
        print(f"hala translate (--server endpoint):    {t_h:7.2f} s {n / t_h:8,.0f} rows/s  {ep_h['requests']:,} "
              f"requests  client CPU {c_h / max(1, ep_h['requests']) * 1e6:5.0f} µs/request, {c_h / n * 1e6:5.0f} "
              f"µs/row  (endpoint CPU {ep_h['cpu_s']:.1f} s)  kept {tr['kept']:,} {tr['reasons']}  [{load()}]")
        verdict("client hala/stock rows/s", f"{t_s / t_h:.2f}× ({n / t_h:,.0f} vs {n / t_s:,.0f} rows/s)", "≥ 3×",
                t_s / t_h >= 3)
        print(f"  against stock with its replay cache switched off: {runs[False][0] / t_h:.2f}×")
        per_h, per_s = c_h / max(1, ep_h["requests"]), c_s / max(1, ep_s["requests"])
        verdict("client CPU per model request hala/stock", f"{per_h / per_s:.2f}× ({per_h * 1e6:.0f} vs "
                f"{per_s * 1e6:.0f} µs)", "≤ 1.0×", per_h <= per_s)
        rates = window_rates(tmp / "hala" / "out" / "logs" / "translate" / "logs", n // 4)
        if rates:
            print(f"hala rows/s over its first {rates[2]:,} rows {rates[0]:,.0f}, over its last {rates[2]:,} "
                  f"{rates[1]:,.0f} (last/first {rates[1] / rates[0]:.2f})")
        stock = stock_rows(tmp / "stock_True")
        kept, bad = hala_mismatches(tmp / "hala")
        wrong_stock = [r["id"] for r in rows if stock.get(r["id"]) != [r[k] for k in FIELDS if r[k]]]
        print(f"rows out: stock {len(stock):,}, hala {kept:,} (+{tr['rejected']:,} rejected); hala messages ≠ input: "
              f"{len(bad)}; stock answers ≠ input: {len(wrong_stock)}")
        if len(stock) != n or kept != n or bad or wrong_stock:
            print(f"MISMATCH: hala {bad[:10]}, stock {wrong_stock[:10]}")
            return 1
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
