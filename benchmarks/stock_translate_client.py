"""Translation client: hala's translate flow against datatrove's stock `InferenceRunner`, on an instant endpoint.

    python benchmarks/stock_translate_client.py [--rows 20000] [--concurrency 32]

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

from bench_common import cpu_seconds, load, quiet_logs, verdict
from translate_throughput import openorca_sample

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


def chunk_rates(logs: Path, rows_per_chunk: int = 200) -> tuple[float, float] | None:
    """rows/s over the first and the last quarter of the finished checkpoint chunks (from the task log's
    "Finished chunk" times): a TM or a client that slows down as it grows shows up as a lower second figure."""
    from translate_throughput import _log_time

    times = sorted(_log_time(line) for log in logs.glob("task_*.log")
                   for line in log.read_text(encoding="utf-8", errors="replace").splitlines()
                   if "Finished chunk" in line)
    q = len(times) // 4
    if q < 2:
        return None
    first, last = times[:q], times[-q:]
    return ((q - 1) * rows_per_chunk / (first[-1] - first[0]), (q - 1) * rows_per_chunk / (last[-1] - last[0]))


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
        for row in pq.read_table(f, columns=["id", "messages", "messages_en"]).to_pylist():
            n += 1
            if [m["content"] for m in row["messages"]] != [m["content"] for m in row["messages_en"]]:
                bad.append(row["id"])
    return n, bad


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--concurrency", type=int, default=32)
    args = ap.parse_args(argv)
    quiet_logs()
    # tmpfs when there is one: the stock replay cache commits to SQLite per answer, and a shared disk's fsync
    # latency would be the figure instead of the client (both runs write there)
    tmp = Path(tempfile.mkdtemp(prefix="hala-stock-client-", dir="/dev/shm" if Path("/dev/shm").is_dir() else None))
    try:
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
        rates = chunk_rates(tmp / "hala" / "out" / "logs" / "translate" / "logs")
        if rates:
            print(f"hala rows/s over the first quarter of its chunks {rates[0]:,.0f}, over the last {rates[1]:,.0f} "
                  f"(last/first {rates[1] / rates[0]:.2f})")
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
