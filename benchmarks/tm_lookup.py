"""Translation-memory lookup latency at corpus scale: p50/p99 of `TranslationMemory.get` with N stored segments.

    python benchmarks/tm_lookup.py [--entries 5000000] [--lookups 20000]

Fills a fresh SQLite TM (pipelines/translate/memory.py, on disk in the temp folder) with N distinct segments under
one model and prompt version (rows as `put` writes them, inserted in transactions of 50,000 so the fill takes
minutes, not hours), then times `get` one call at a time for `--lookups` segments: half stored (hits, at random
positions), half never stored (misses). Target (issue 16): p99 ≤ 1 ms at 5M entries. Also prints the same lookups
against a Python dict of the same keys (the in-memory floor) and the TM file size.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench_common import load, verdict

MODEL, PROMPT = "bench-model@rev", "v1"


def segment(i: int) -> str:
    return f"Segment number {i} of the benchmark, with a few words."


def fill(tm, n: int, batch: int = 50_000) -> None:
    from hala.pipelines.translate.memory import tm_key

    conn = tm._conn
    for start in range(0, n, batch):
        rows = [(tm_key(MODEL, PROMPT, segment(i)), MODEL, PROMPT, segment(i), f"المقطع رقم {i} من الاختبار.")
                for i in range(start, min(n, start + batch))]
        conn.execute("BEGIN")
        conn.executemany("INSERT OR REPLACE INTO tm VALUES (?, ?, ?, ?, ?)", rows)
        conn.execute("COMMIT")


def percentiles(ns: list[int]) -> tuple[float, float, float]:
    ns = sorted(ns)
    return ns[len(ns) // 2] / 1e6, ns[int(len(ns) * 0.99)] / 1e6, ns[-1] / 1e6


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=5_000_000)
    ap.add_argument("--lookups", type=int, default=20_000)
    args = ap.parse_args(argv)
    from hala.pipelines.translate.memory import TranslationMemory

    tmp = Path(tempfile.mkdtemp(prefix="hala-tm-bench-"))
    try:
        tm = TranslationMemory(tmp / "tm.sqlite")
        t0 = time.perf_counter()
        fill(tm, args.entries)
        t_fill = time.perf_counter() - t0
        size = sum(f.stat().st_size for f in tmp.iterdir()) / 1e9
        print(f"TM filled: {len(tm):,} entries in {t_fill:.0f} s, {size:.2f} GB on disk  [{load()}]")
        rng = random.Random(0)
        queries = [(segment(rng.randrange(args.entries)), True) for _ in range(args.lookups // 2)]
        queries += [(segment(args.entries + rng.randrange(10 ** 9)), False) for _ in range(args.lookups // 2)]
        rng.shuffle(queries)
        times, wrong = [], 0
        for text, stored in queries:
            t = time.perf_counter_ns()
            found = tm.get(MODEL, PROMPT, text)
            times.append(time.perf_counter_ns() - t)
            wrong += (found is not None) != stored
        p50, p99, worst = percentiles(times)
        print(f"TranslationMemory.get: p50 {p50:.3f} ms, p99 {p99:.3f} ms, max {worst:.3f} ms over {len(times):,} "
              f"lookups (half hits)  [{load()}]")
        from hala.pipelines.translate.memory import tm_key

        table = {tm_key(MODEL, PROMPT, segment(i)): i for i in range(0, args.entries, max(1, args.entries // 1_000_000))}
        dtimes = []
        for text, _ in queries:
            t = time.perf_counter_ns()
            table.get(tm_key(MODEL, PROMPT, text))
            dtimes.append(time.perf_counter_ns() - t)
        d50, d99, _ = percentiles(dtimes)
        print(f"floor, a Python dict of {len(table):,} keys (hash included): p50 {d50:.4f} ms, p99 {d99:.4f} ms")
        verdict(f"TM lookup p99 at {args.entries:,} entries", f"{p99:.3f} ms", "≤ 1 ms", p99 <= 1.0)
        tm.close()
        if wrong:
            print(f"MISMATCH: {wrong} lookups answered wrongly (a stored segment missing or an unknown one found)")
            return 1
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
