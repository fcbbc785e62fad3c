"""Near-dedup: datatrove's stock MinHash pipeline against `hala dedup`, same rows, same run.

    python benchmarks/stock_dedup.py [--rows 100000] [--workers 2] [--repeat 3] [--normalization-ab]
    python benchmarks/stock_dedup.py --rows 1000000 --hala-only     # the scale run: times, executors, peak RSS

Data: bench_common.synthetic_pairs plus duplicates planted among them (5% exact copies of an earlier target, 5%
near copies: one word added, 2% copies whose only change is alef/hamza spelling, which only hala's Arabic
normalization sees as the same text). Deduplicated on the target side (`tgt`).

- stock: ParquetReader(text_key="tgt") → MinhashDedupSignature → MinhashDedupBuckets (one task per bucket) →
  MinhashDedupCluster → MinhashDedupFilter → ParquetWriter, datatrove's own classes and default text
  normalization, with hala's defaults for the rest: 3-word shingles over whitespace words (hala's SplitWordTokenizer:
  datatrove's own whitespace tokenizer needs spaCy), 14 buckets × 8 hashes, sha1 at 64 bits, seed 1;
- hala: `run_dedup` as `hala dedup --key target` runs it (its `read` stage, exact and MinHash dedup over the
  Arabic-normalized key in datatrove's 4 MinHash executors, deterministic kept twin, rejects with reasons, stats).

The modules both runs use are imported before either is timed (the first run would otherwise pay them).

Both with `--workers` tasks at once, `--repeat` times each, alternating (medians compared); the stock figure is its
run on the raw target. Agreement: the same stock pipeline is run once more (not timed) on hala's normalized key, so
the shingles are byte-identical; its duplicate clusters (each with its kept row) and the number of rows removed must
then equal hala's, or the run exits 1 (which twin is kept is each tool's own rule). On the raw target the stock run
misses the alef-variant copies, and borderline pairs near the LSH threshold fall differently (other shingle hashes):
those counts are printed.

What hala's Arabic normalization costs is measured twice: on its own (`normalize_arabic` over every row's raw key,
in this process: µs/row and its share of hala's CPU time; hala normalizes each key once, in the signature pass),
and, with `--normalization-ab`, as an A/B in the same run: hala once more with the normalization switched off
(the raw key, shingled with datatrove's default text config as stock's is; workers are forked, so they inherit
the switch), whose CPU time per row is subtracted from hala's.

`--hala-only` (the scale run) runs `hala dedup` as its own command (`python -m hala.pipelines.cli.app dedup`), so
its peak RSS is that command's and its workers' alone, sampled from /proc (all together, and the largest one; not
RUSAGE_CHILDREN, which charges a child the pages of this 1.6 GB process that it held between fork and exec); plus
its wall and CPU time and each executor's time.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench_common import (
    TreeMemory,
    alternating,
    cpu_seconds,
    load,
    medians,
    peak_rss_mb,
    quiet_logs,
    synthetic_pairs,
    verdict,
    write_shards,
)


def planted(n: int, seed: int = 1) -> tuple[list[dict], set[str]]:
    """Pairs with duplicates planted; returns the rows and the ids of the alef-variant copies."""
    rng = random.Random(seed)
    rows = synthetic_pairs(n)
    alef = set()
    for i in range(n // 10, n):
        u = rng.random()
        if u >= 0.12:
            continue
        src = rows[rng.randrange(0, i)]["tgt"]
        if u < 0.05:
            tgt = src
        elif u < 0.10:
            tgt = src + " أيضا"
        else:
            if "ا" not in src:
                continue
            tgt = src.replace("ا", "أ")
            alef.add(rows[i]["id"])
        rows[i] = {**rows[i], "tgt": tgt}
    return rows, alef


def run_stock(shards: Path, out: Path, workers: int, text_key: str = "tgt") -> None:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.readers import ParquetReader
    from datatrove.pipeline.writers import JsonlWriter, ParquetWriter
    from datatrove.utils.hashing import HashConfig

    from hala.pipelines.core.executors import start_method
    from hala.pipelines.dedup.steps import SplitWordTokenizer

    cfg = MinhashConfig(n_grams=3, num_buckets=14, hashes_per_bucket=8, seed=1,
                        hash_config=HashConfig(hash_fc="sha1", precision=64))

    def reader():
        return ParquetReader(str(shards), text_key=text_key, id_key="id")

    def run(pipeline, name, tasks):
        LocalPipelineExecutor(pipeline=pipeline, tasks=tasks, workers=min(workers, tasks), start_method=start_method(),
                              logging_dir=str(out / "logs" / name)).run()

    run([reader(), MinhashDedupSignature(str(out / "sigs"), config=cfg, language=SplitWordTokenizer())], "sigs",
        workers)
    run([MinhashDedupBuckets(str(out / "sigs"), str(out / "buckets"), config=cfg)], "buckets", cfg.num_buckets)
    run([MinhashDedupCluster(str(out / "buckets"), str(out / "remove"), config=cfg, save_cluster_id=True)],
        "cluster", 1)
    run([reader(), MinhashDedupFilter(str(out / "remove"), load_cluster_ids=True,
                                      exclusion_writer=JsonlWriter(str(out / "removed"))),
         ParquetWriter(str(out / "data"))], "filter", workers)


def stock_clusters(out: Path) -> tuple[set[str], list[set[str]]]:
    """Removed ids and the duplicate clusters (kept row included) of the stock run, from its outputs."""
    import json

    import pyarrow.parquet as pq

    members: dict[int, set[str]] = {}
    removed = set()
    for f in (out / "removed").glob("*.jsonl*"):
        import gzip

        for line in gzip.open(f, "rt") if f.suffix == ".gz" else f.open():
            row = json.loads(line)
            removed.add(row["id"])
            members.setdefault(row["metadata"]["minhash_cluster_id"], set()).add(row["id"])
    for f in (out / "data").glob("*.parquet"):
        t = pq.read_table(f, columns=["id", "metadata"]).to_pylist()
        for row in t:
            c = (row["metadata"] or {}).get("minhash_cluster_id", -1)
            if c is not None and c != -1:
                members.setdefault(c, set()).add(row["id"])
    return removed, list(members.values())


def warm_imports() -> None:
    """Import what both runs use, so that neither pays the imports inside its timing; and no tqdm monitor thread:
    the first single-task stage run in this process (datatrove's clustering draws a bar) would start it, and with
    that thread alive every later pool spawns its workers (hala.pipelines.core.executors.start_method), each
    re-importing everything; a pipeline run on its own does not have it."""
    from tqdm import tqdm

    tqdm.monitor_interval = 0
    import datatrove.executor  # noqa: F401
    import datatrove.pipeline.dedup.minhash  # noqa: F401
    import datatrove.pipeline.readers  # noqa: F401
    import datatrove.pipeline.writers  # noqa: F401
    import polars  # noqa: F401
    import pyarrow.parquet  # noqa: F401

    import hala.pipelines.dedup.flow  # noqa: F401
    import hala.pipelines.dedup.steps  # noqa: F401
    import hala.pipelines.io.records  # noqa: F401


def run_hala(shards: Path, out: Path, workers: int) -> dict:
    from hala.pipelines.dedup.flow import DedupConfig, run_dedup

    return run_dedup(str(shards), str(out), DedupConfig(key="target"), tasks=workers, workers=workers,
                     check_input=True)


def timed_hala(shards: Path, out: Path, workers: int) -> tuple[dict, float, float]:
    """(stats, wall seconds, CPU seconds of this process and its workers) of one hala run."""
    c0, t0 = cpu_seconds(), time.perf_counter()
    stats = run_hala(shards, out, workers)
    return stats, time.perf_counter() - t0, cpu_seconds() - c0


def normalization_seconds(rows: list[dict]) -> float:
    """CPU seconds of hala's Arabic normalization of every row's dedup key (the raw keys are built first)."""
    from hala.pipelines.dedup.keys import key_text
    from hala.pipelines.filters.arabic import normalize_arabic

    raw = [key_text(r, "pairs", "target") for r in rows]
    c0 = time.process_time()
    for text in raw:
        normalize_arabic(text)
    return time.process_time() - c0


def print_normalization(rows: list[dict], t_h: float, c_h: float, workers: int) -> None:
    n = len(rows)
    c_norm = normalization_seconds(rows)
    print(f"hala's Arabic normalization alone: {c_norm:.2f} CPU s for {n:,} keys ({c_norm / n * 1e6:.1f} µs/row, "
          f"{c_norm / c_h:.1%} of hala's CPU time, ≈{c_norm / workers / t_h:.1%} of its wall time on {workers} "
          "workers; paid once per row, in the signature pass)")


def normalization_ab(tmp: Path, n: int, workers: int, t_h: float, c_h: float) -> None:
    """hala once more with the key's normalization off (the raw key), in the same run: what normalizing costs."""
    from hala.pipelines.core.executors import start_method
    from hala.pipelines.dedup import steps
    from hala.pipelines.dedup.keys import key_text

    if start_method() != "fork":
        print("normalization A/B skipped: workers are spawned here, so they would not see the switch")
        return
    from datatrove.utils.text import simplify_text

    normalized, shingled = steps.dedup_key, steps.shingle_text
    # the raw key, shingled with datatrove's default text config as stock does (forked workers inherit this)
    steps.dedup_key, steps.shingle_text = key_text, simplify_text
    try:
        stats, t_raw, c_raw = timed_hala(tmp / "in", tmp / "hala_raw_key", workers)
    finally:
        steps.dedup_key, steps.shingle_text = normalized, shingled
    shutil.rmtree(tmp / "hala_raw_key", ignore_errors=True)
    d = stats["stages"]["dedup"]
    print(f"normalization A/B: hala with the raw key (no normalization) {t_raw:7.2f} s  CPU {c_raw / n * 1e6:5.0f} "
          f"µs/row, removed {d['rejected']:,}; with normalization {t_h:7.2f} s  CPU {c_h / n * 1e6:5.0f} µs/row → "
          f"normalization costs {(c_h - c_raw) / n * 1e6:+.1f} µs/row ({(c_h - c_raw) / c_h:+.1%} of hala's CPU, "
          f"{(t_h - t_raw) / t_h:+.1%} of its wall time)")


def hala_clusters(out: Path) -> tuple[set[str], list[set[str]]]:
    """Removed ids and the duplicate clusters (the kept twin of each reject included) of the hala run."""
    import json

    members: dict[str, set[str]] = {}
    for f in (out / "rejects" / "dedup").glob("*.jsonl"):
        for line in f.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            twin = row["detail"].removeprefix("kept=")
            members.setdefault(twin, {twin}).add(row["id"])
    return {i for c in members.values() for i in c} - set(members), list(members.values())


def partition(clusters: list[set[str]], leave_out: set[str]) -> set[frozenset[str]]:
    """Clusters as comparable sets, without the rows in `leave_out` (clusters left with one row are no clusters)."""
    return {frozenset(c - leave_out) for c in clusters if len(c - leave_out) > 1}


def stage_seconds(logs: Path, pattern: str = "dedup_*") -> dict[str, float]:
    """Wall seconds of each executor, from the first to the last line of its task logs."""
    from translate_throughput import _log_time

    out = {}
    for stage in sorted(logs.glob(pattern), key=lambda p: p.stat().st_mtime):
        times = [_log_time(line) for log in (stage / "logs").glob("task_*.log")
                 for line in log.read_text(encoding="utf-8", errors="replace").splitlines() if line[:2] == "20"]
        if times:
            out[stage.name] = max(times) - min(times)
    return out


def print_rss() -> None:
    """Peak RSS of this process (RUSAGE_SELF) and of the largest worker (RUSAGE_CHILDREN: the kernel keeps the
    largest descendant's peak, not a sum); their sum bounds what the run held at once with one worker at a time."""
    me, kids = peak_rss_mb(), peak_rss_mb(children=True)
    print(f"  peak RSS: this process {me:,.0f} MB + the largest worker {kids:,.0f} MB = {me + kids:,.0f} MB")


# `hala dedup` in its own process; with RAW_KEY the key's normalization is switched off first (forked workers
# inherit the switch; the A/B checks that they did: the raw key removes other rows).
CLI = "import sys; from hala.pipelines.cli.app import main; {switch}sys.argv = ['hala', *sys.argv[1:]]; main()"
RAW_KEY = ("import hala.pipelines.dedup.steps as s; from hala.pipelines.dedup.keys import key_text; "
           "from datatrove.utils.text import simplify_text; s.dedup_key = key_text; s.shingle_text = simplify_text; ")


def cli_hala(shards: Path, out: Path, workers: int, raw_key: bool = False) -> tuple[dict, float, float, TreeMemory]:
    """`hala dedup --key target` as a user runs it, in a process of its own (none of this process's memory):
    (stats, wall seconds, CPU seconds of it and its workers, its processes' memory sampled from /proc)."""
    import json
    import os
    import resource
    import subprocess

    def cpu() -> float:
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        return kids.ru_utime + kids.ru_stime

    args = ["dedup", str(shards), str(out), "--key", "target", "--tasks", str(workers), "--workers", str(workers)]
    c0, t0 = cpu(), time.perf_counter()
    with open(out.parent / f"{out.name}.stderr", "w") as err:
        proc = subprocess.Popen([sys.executable, "-c", CLI.format(switch=RAW_KEY if raw_key else ""), *args],
                                stdout=subprocess.DEVNULL, stderr=err, env={**os.environ, "HALA_PROGRESS": "0"})
        memory = TreeMemory(proc.pid)
        rc = proc.wait()
        memory.stop()
    wall, used = time.perf_counter() - t0, cpu() - c0
    if rc:
        raise SystemExit(f"hala dedup failed ({rc}): {(out.parent / f'{out.name}.stderr').read_text()[-2000:]}")
    return json.loads((out / "stats.json").read_text()), wall, used, memory


def hala_scale(rows: list[dict], tmp: Path, workers: int, ab: bool) -> int:
    """`hala dedup` alone at scale, as its own command: wall and CPU time, each executor's time, peak RSS, the
    normalization's cost."""
    n = len(rows)
    stats, t_h, c_h, memory = cli_hala(tmp / "in", tmp / "hala", workers)
    d = stats["stages"]["dedup"]
    print(f"hala dedup (exact + MinHash, 4 executors, {workers} tasks at once, 14 bucket tasks): {t_h:7.1f} s "
          f"{n / t_h:9,.0f} rows/s  removed {d['rejected']:,} {d['reasons']}  CPU {c_h / n * 1e6:5.0f} µs/row  "
          f"[{load()}]")
    print("  executors: " + ", ".join(f"{k} {v:.1f} s" for k, v in stage_seconds(tmp / "hala" / "logs").items()))
    print(f"  peak RSS (sampled from /proc every 0.2 s): hala dedup's processes together {memory.peak / 1e6:,.0f} MB "
          f"({memory.peak_procs} processes at the peak; forked workers' shared pages counted in each), the largest "
          f"single one {memory.peak_single / 1e6:,.0f} MB")
    print_normalization(rows, t_h, c_h, workers)
    if ab:
        raw, t_raw, c_raw, _ = cli_hala(tmp / "in", tmp / "hala_raw_key", workers, raw_key=True)
        r = raw["stages"]["dedup"]
        if r == d:
            raise SystemExit("normalization A/B: the raw-key run removed exactly the same rows: the switch did not "
                             "reach the workers")
        print(f"normalization A/B: hala with the raw key (no normalization) {t_raw:7.1f} s  CPU "
              f"{c_raw / n * 1e6:5.0f} µs/row, removed {r['rejected']:,}; with normalization {t_h:7.1f} s  CPU "
              f"{c_h / n * 1e6:5.0f} µs/row → normalization costs {(c_h - c_raw) / n * 1e6:+.1f} µs/row "
              f"({(c_h - c_raw) / c_h:+.1%} of hala's CPU, {(t_h - t_raw) / t_h:+.1%} of its wall time)")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--hala-only", action="store_true", help="scale run: hala's time, stage times and peak RSS only")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each side, alternating (the medians count)")
    ap.add_argument("--normalization-ab", action="store_true",
                    help="run hala once more with the key's normalization off: what normalizing costs, measured")
    args = ap.parse_args(argv)
    quiet_logs()
    warm_imports()
    rows, alef = planted(args.rows)
    n = len(rows)
    tmp = Path(tempfile.mkdtemp(prefix="hala-stock-dedup-"))
    try:
        write_shards(rows, tmp / "in", args.workers)
        print(f"{n:,} pairs (target side deduplicated), {len(alef):,} alef-variant copies; {args.workers} workers  "
              f"[{load()}]")
        if args.hala_only:
            return hala_scale(rows, tmp, args.workers, args.normalization_ab)
        def stock_run(i: int) -> tuple[float, float]:
            c0, t0 = cpu_seconds(), time.perf_counter()
            run_stock(tmp / "in", tmp / f"stock{i}", args.workers)
            return time.perf_counter() - t0, cpu_seconds() - c0

        def hala_run(i: int) -> tuple[float, float, dict]:
            stats, t, c = timed_hala(tmp / "in", tmp / f"hala{i}", args.workers)
            return t, c, stats

        # the last run of each side is the one whose rows are checked below
        runs = alternating({"stock": stock_run, "hala": hala_run}, args.repeat)
        last, stats = args.repeat - 1, runs["hala"][-1][2]
        (t_s, c_s), (t_h, c_h) = medians(runs["stock"], 2), medians(runs["hala"], 2)
        walls = {side: ", ".join(f"{r[0]:.2f}" for r in runs[side]) for side in runs}
        stock, _ = stock_clusters(tmp / f"stock{last}")
        print(f"stock datatrove MinHash (4 executors): {t_s:7.2f} s {n / t_s:9,.0f} rows/s  removed {len(stock):,}  "
              f"CPU {c_s / n * 1e6:5.0f} µs/row (median; runs {walls['stock']} s)   [{load()}]")
        print("  executors: " + ", ".join(f"{k} {v:.1f} s" for k, v in
                                          stage_seconds(tmp / f"stock{last}" / "logs", "*").items()))
        hala, hala_groups = hala_clusters(tmp / f"hala{last}")
        d = stats["stages"]["dedup"]
        print(f"hala dedup (exact + MinHash, 4 executors): {t_h:7.2f} s {n / t_h:9,.0f} rows/s  removed {len(hala):,} "
              f"{d['reasons']}  CPU {c_h / n * 1e6:5.0f} µs/row (median; runs {walls['hala']} s)   [{load()}]")
        print("  executors: " + ", ".join(f"{k} {v:.1f} s" for k, v in
                                          stage_seconds(tmp / f"hala{last}" / "logs").items()))
        print_rss()
        print_normalization(rows, t_h, c_h, args.workers)
        if args.normalization_ab:
            normalization_ab(tmp, n, args.workers, t_h, c_h)
        from hala.pipelines.dedup.keys import dedup_key

        verdict("dedup hala/stock rows/s", f"{t_s / t_h:.2f}× ({n / t_h:,.0f} vs {n / t_s:,.0f} rows/s)",
                     "≥ 1.0×", t_s / t_h >= 1.0)
        # the same stock pipeline over hala's normalized key: byte-identical shingles, so MinHash must find exactly
        # hala's clusters (on the raw text, borderline pairs near the LSH threshold fall differently: other hashes)
        import pyarrow as pa
        import pyarrow.parquet as pq

        (tmp / "keys").mkdir()
        for s in range(args.workers):
            part = rows[s::args.workers]
            pq.write_table(pa.table({"id": [r["id"] for r in part],
                                     "key": [dedup_key(r, "pairs", "target") for r in part]}),
                           tmp / "keys" / f"shard_{s}.parquet")
        run_stock(tmp / "keys", tmp / "stock_on_key", args.workers, text_key="key")
        stock_k, stock_groups = stock_clusters(tmp / "stock_on_key")
        # which twin of a cluster is kept is each tool's own rule (hala's is the same whatever the task count), so
        # what must agree is the clusters themselves and how many rows each removes
        p_h, p_s = partition(hala_groups, set()), partition(stock_groups, set())
        same_count = len(hala) == len(stock_k)
        print(f"removed: hala {len(hala):,} (alef variants among them {len(hala & alef):,}); stock on the raw "
              f"target {len(stock):,} (alef variants {len(stock & alef):,}); stock on hala's key {len(stock_k):,}; "
              f"duplicate clusters hala {len(p_h):,}, stock on the key {len(p_s):,}, identical {len(p_h & p_s):,}")
        if p_h != p_s or not same_count:
            diff = sorted(p_h ^ p_s, key=len)[:10]
            print(f"MISMATCH: different duplicate clusters: {[sorted(c) for c in diff]}")
            return 1
        return 0  # a missed speed target is reported above; only a wrong answer fails the run
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
