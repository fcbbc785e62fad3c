"""Throughput of the translate stage (real path) against a naive baseline in the same run.

    python benchmarks/translate_throughput.py [--rows 10000] [--baseline-rows 300] [--engines batched[,transformers]]

Builds an Open-Orca-like sample (a handful of system prompts repeated over the rows, short and long answers, lists,
code blocks) and times, on the tiny LFM2 from `hala.pipelines.serving.tiny_model` on CPU:

- hala (per engine): `run_translate` end to end — datatrove `InferenceRunner` → OpenAI-compatible server → tiny
  model, with a fresh translation memory; wall time includes process spawn, server start and the parquet finalize.
  `batched` is hala's micro-batching server (`pipelines/batch_server.py`), `transformers` is `transformers serve`;
- hala again over the same input with the now-filled TM: it must send 0 requests;
- baseline: one row at a time, `model.generate` per message (whole message, no masking), no TM, no batching, the
  same model and the same max_new_tokens rule as the rollout (3 x input tokens + 48, at most 2048); model loaded once,
  outside the timer, torch on 1 thread (faster and steadier than 2 on a shared 2-core machine). Its cost is per row
  (nothing is shared between rows), so its rows/s is measured on the first `--baseline-rows` rows of the same sample.

Model tokens: hala's are the servers' `completion_tokens` (datatrove's stats); "without TM" replays the rollout's
segmentation over every message and counts each segment occurrence's stored translation (+1 for the end token), i.e.
what the same path would generate with no memory (exact for greedy decoding: a segment always gets the same answer).
Targets (issue 8, 2 cores): hala ≥ 8x baseline rows/s; TM cuts model tokens ≥ 30%; the second run sends 0 requests.
"End to end" includes process spawn and model-server start-up (seconds, paid once per run); "translating" is the
steady state from "server is ready" to the last finished chunk. The default workload, 10,000 Open-Orca-like rows
(about 19,000 model requests after the TM, 1.5 minutes of translating on 2 cores), is sized so that the fixed costs
(checks, the server's start-up — mostly importing torch and transformers — and the finalize) are a small part of the
run (the script prints each part); at the old 2,000 rows they were about half of it. While the server starts, the
task already reads, normalizes and checks rows (up to 4,096 ahead) and looks its first rows up in the TM.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SYSTEM_PROMPTS = [
    "You are an AI assistant. You will be given a task. You must generate a detailed and long answer.",
    "You are a helpful assistant, who always provide explanation. Think like you are answering to a five year old.",
    "You are an AI assistant that follows instruction extremely well. Help as much as you can.",
    "You are an AI assistant. User will you give you a task. Your goal is to complete the task as faithfully as you "
    "can. While performing the task think step-by-step and justify your steps.",
    "",
]
TOPICS = ["the river", "the old library", "a small bakery", "the football team", "the mountain village",
          "the new airport", "a chemistry lesson", "the city council", "an online shop", "the school garden"]
VERBS = ["opened", "closed", "moved", "grew", "changed", "improved", "failed", "returned", "started", "won"]
STEPS = ["Read the question carefully.", "Identify the key facts in the passage.", "Compare the possible answers.",
         "Choose the answer that matches the facts.", "Check the answer once more."]
CODE = ["```python\ndef total(items):\n    return sum(i.price for i in items)\n```",
        "```sql\nSELECT name, COUNT(*) FROM orders GROUP BY name;\n```",
        "```bash\nls -la | grep .txt\n```"]


def openorca_sample(n: int, seed: int = 0) -> list[dict]:
    """Open-Orca-shaped rows: repeated system prompts, unique questions, short/long/list/code answers."""
    return list(iter_openorca(n, seed))


def iter_openorca(n: int, seed: int = 0) -> Iterator[dict]:
    """`openorca_sample`'s rows one at a time (a million rows need not sit in memory)."""
    rng = random.Random(seed)
    for i in range(n):
        topic, verb, year = rng.choice(TOPICS), rng.choice(VERBS), rng.randint(1900, 2024)
        question = f"In {year}, {topic} {verb} after {rng.randint(2, 90)} days. What happened to {topic}?"
        kind = rng.random()
        if kind < 0.4:
            response = f"{topic.capitalize()} {verb} in {year}."
        elif kind < 0.7:  # step-by-step answer: the boilerplate steps repeat across rows, the conclusion does not
            steps = "\n".join(f"{k + 1}. {s}" for k, s in enumerate(STEPS))
            response = f"Let me think step by step.\n\n{steps}\n\nSo {topic} {verb} in {year} after a long wait."
        elif kind < 0.85:  # long prose answer
            sents = [f"The story of {topic} in {year} is about {rng.choice(TOPICS)} as well.",
                     f"People said that {topic} {verb} because of {rng.randint(3, 99)} reasons.",
                     f"Many visitors came to see {rng.choice(TOPICS)} during the {rng.choice(['spring', 'summer', 'winter'])}.",
                     "It was a long and interesting period for everyone involved.",
                     f"In the end, {topic} {verb} and the town remembered it for {rng.randint(2, 50)} years."]
            response = " ".join(sents) + "\n\n" + " ".join(reversed(sents))
        else:  # code answer
            response = f"Here is how to do it for {topic}:\n\n{rng.choice(CODE)}\n\nRun it once and check the result."
        yield {"id": f"orca.{i}", "system_prompt": rng.choice(SYSTEM_PROMPTS), "question": question,
               "response": response}


def read_stats(logs: Path) -> dict:
    """datatrove's InferenceRunner counters (requests, completion tokens) from a stage's logging dir."""
    out = {"requests": 0, "completion_tokens": 0, "prompt_tokens": 0}
    for step in json.loads((logs / "stats.json").read_text()):
        for key, name in (("successful_requests", "requests"), ("completion_tokens", "completion_tokens"),
                          ("prompt_tokens", "prompt_tokens")):
            v = step.get("stats", {}).get(key)
            if v is not None:
                out[name] += int(v.get("total", 0) if isinstance(v, dict) else v)
    return out


def _log_time(line: str) -> float:
    from datetime import datetime

    return datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S.%f").timestamp()


def steady_seconds(logs: Path) -> float | None:
    """Seconds from 'server is ready' to the last finished chunk in the task log: the translating itself, without
    process and server start-up or shutdown."""
    ready = done = None
    for log in sorted((logs / "logs").glob("task_*.log")):
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            if "server is ready" in line:
                ready = _log_time(line)
            elif "Finished chunk" in line:
                done = _log_time(line)
    return done - ready if ready is not None and done is not None and done > ready else None


def phases(out: Path, started: float, ended: float) -> dict:
    """Where a run's wall time went, from the task logs' timestamps: the checks before the first task
    (`before_s`), the task's launch until the model server answered (`startup_s`), the translating (`steady_s`),
    and the rest (the finalize executor, stats: `after_s`)."""
    launch = ready = done = None
    for log in sorted((out / "logs" / "translate" / "logs").glob("task_*.log")):
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            if "Launching pipeline" in line and launch is None:
                launch = _log_time(line)
            elif "server is ready" in line and ready is None:
                ready = _log_time(line)
            elif "Finished chunk" in line:
                done = _log_time(line)
    if None in (launch, ready, done):
        return {}
    return {"before_s": launch - started, "startup_s": ready - launch, "steady_s": done - ready,
            "after_s": ended - done}


def server_summary(logs: Path) -> dict | None:
    """The batched server's own last line (hala.pipelines.serving.batched): batches, padding, seconds the model was busy."""
    for log in sorted((logs / "logs").glob("task_*.log")):
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            if "hala batched server: " in line:
                return json.loads(line.split("hala batched server: ", 1)[1])
    return None


def run_hala(input_path: Path, out: Path, tm: Path, engine: str, concurrency: int, max_batch: int,
             max_batch_tokens: int) -> dict:
    from hala.pipelines.serving.servers import ServerConfig
    from hala.pipelines.translate.flow import TranslateConfig, run_translate

    cfg = TranslateConfig(input=str(input_path), output=str(out), format="openorca", tm_path=str(tm),
                          server=ServerConfig(type=engine, model="tiny", max_concurrency=concurrency, max_batch=max_batch,
                                              max_batch_tokens=max_batch_tokens))
    t0, started = time.perf_counter(), time.time()
    stats = run_translate(cfg)
    wall = time.perf_counter() - t0
    inf = read_stats(out / "logs" / "translate")
    tr = stats["stages"].get("translate", {})
    return {"engine": engine, "wall_s": wall, "steady_s": steady_seconds(out / "logs" / "translate"), "rows_in": tr.get("read", 0), "rows_kept": tr.get("kept", 0),
            "rows_rejected": tr.get("rejected", 0), "reasons": tr.get("reasons", {}), **inf,
            "translation": stats.get("translation", {}), "server": server_summary(out / "logs" / "translate"),
            "phases": phases(out, started, time.time())}


def tokens_without_tm(input_rows: list[dict], model: str, tm_path: Path, prompt: str = "lfm2",
                      max_segment_tokens: int = 384) -> tuple[int, int, int]:
    """Tokens the same segmentation would generate with no memory: every segment occurrence pays its translation.

    Returns (tokens, segment occurrences, occurrences found in the TM)."""
    from transformers import AutoTokenizer

    from hala.pipelines.serving.identity import model_identity
    from hala.pipelines.sources.adapters import to_messages
    from hala.pipelines.translate.masking import mask
    from hala.pipelines.translate.memory import TranslationMemory
    from hala.pipelines.translate.prompts import load_prompt
    from hala.pipelines.translate.segmenter import segment

    identity = model_identity("batched", model)  # what the TM keys on (not the folder's path)
    tok = AutoTokenizer.from_pretrained(model)
    count = lambda t: len(tok(t, add_special_tokens=False)["input_ids"])  # noqa: E731
    version = load_prompt(prompt).version
    tm = TranslationMemory(tm_path)
    cache: dict[str, int | None] = {}
    tokens = occurrences = found = 0
    try:
        for row in input_rows:
            _, messages = to_messages(row, "openorca")
            for m in messages:
                for piece in segment(mask(m["content"]).text, max_segment_tokens, count):
                    if not piece.translate:
                        continue
                    occurrences += 1
                    if piece.text not in cache:
                        target = tm.get(identity, version, piece.text)
                        cache[piece.text] = None if target is None else count(target) + 1
                    if cache[piece.text] is not None:
                        found += 1
                        tokens += cache[piece.text]
    finally:
        tm.close()
    return tokens, occurrences, found


def run_baseline(input_rows: list[dict], model_path: str, prompt: str = "lfm2") -> dict:
    """One row at a time, one `generate` per message, no TM, no batching, no masking."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from hala.pipelines.sources.adapters import to_messages
    from hala.pipelines.translate.prompts import load_prompt

    torch.set_num_threads(1)
    p = load_prompt(prompt)
    tok = AutoTokenizer.from_pretrained(model_path)
    model = AutoModelForCausalLM.from_pretrained(model_path).eval()
    generated = calls = 0
    t0 = time.perf_counter()
    for row in input_rows:
        _, messages = to_messages(row, "openorca")
        for m in messages:
            enc = tok.apply_chat_template(p.messages(m["content"]), add_generation_prompt=True, return_tensors="pt",
                                          return_dict=True)
            budget = min(2048, len(tok(m["content"], add_special_tokens=False)["input_ids"]) * 3 + 48)
            with torch.inference_mode():
                out = model.generate(**enc, max_new_tokens=budget, do_sample=False,
                                     pad_token_id=tok.pad_token_id)
            generated += out.shape[1] - enc["input_ids"].shape[1]
            calls += 1
    wall = time.perf_counter() - t0
    return {"wall_s": wall, "rows": len(input_rows), "generate_calls": calls, "completion_tokens": generated}


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f}"


def main(argv: list[str] | None = None) -> dict:
    from hala.pipelines.serving.servers import ServerConfig

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10000)
    parser.add_argument("--baseline-rows", type=int, default=300, help="rows the baseline's rows/s is measured on")
    parser.add_argument("--engines", default="batched", help="comma list: batched, transformers (`transformers "
                        "serve` answers one request at a time: 10k rows take it many minutes)")
    parser.add_argument("--concurrency", type=int, default=128, help="requests in flight (InferenceRunner)")
    parser.add_argument("--max-batch", type=int, default=64, help="batched server: requests per generate")
    parser.add_argument("--max-batch-tokens", type=int, default=ServerConfig().max_batch_tokens,
                        help="batched server: padded prompt tokens per generate")
    parser.add_argument("--json", default=None, help="also write the results here")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args(argv)

    from hala.pipelines.core.compat import quiet_datatrove
    from hala.pipelines.serving.tiny_model import cached_tiny_model

    quiet_datatrove()
    model = str(cached_tiny_model())
    work = Path(tempfile.mkdtemp(prefix="hala-tbench-"))
    rows = openorca_sample(args.rows)
    input_path = work / "input" / "orca.jsonl"
    input_path.parent.mkdir(parents=True)
    input_path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    results: dict = {"rows": args.rows, "model": "tiny LFM2 (hala.pipelines.serving.tiny_model)", "runs": []}
    try:
        n_base = min(args.rows, args.baseline_rows)
        print(f"baseline: first {n_base} of {args.rows} rows, one generate per message ...", flush=True)
        base = run_baseline(rows[:n_base], model)
        base["rows_per_s"] = base["rows"] / base["wall_s"]
        results["baseline"] = base
        print(f"  {base['rows_per_s']:.1f} rows/s, {base['generate_calls']} generate calls, "
              f"{base['completion_tokens']} tokens ({base['completion_tokens'] / max(base['generate_calls'], 1):.1f} "
              f"per answer), {base['wall_s']:.1f}s", flush=True)
        for engine in [e.strip() for e in args.engines.split(",") if e.strip()]:
            tm = work / f"tm-{engine}.sqlite"
            print(f"hala [{engine}]: first run (fresh TM) ...", flush=True)
            first = run_hala(input_path, work / f"out-{engine}-1", tm, engine, args.concurrency, args.max_batch,
                             args.max_batch_tokens)
            print(f"hala [{engine}]: second run (same TM) ...", flush=True)
            second = run_hala(input_path, work / f"out-{engine}-2", tm, engine, args.concurrency, args.max_batch,
                             args.max_batch_tokens)
            no_tm, occurrences, found = tokens_without_tm(rows, model, tm)
            for r in (first, second):
                r["rows_per_s"] = r["rows_in"] / r["wall_s"]
                r["steady_rows_per_s"] = r["rows_in"] / r["steady_s"] if r["steady_s"] else None
            run = {"engine": engine, "first": first, "second": second, "tokens_without_tm": no_tm,
                   "segment_occurrences": occurrences, "occurrences_in_tm": found,
                   "speedup_vs_baseline": first["rows_per_s"] / base["rows_per_s"],
                   "steady_speedup_vs_baseline": (first["steady_rows_per_s"] or 0) / base["rows_per_s"],
                   "tm_token_cut": 1 - first["completion_tokens"] / no_tm if no_tm else 0.0,
                   "tokens_vs_baseline": first["completion_tokens"] / max(base["completion_tokens"], 1)}
            results["runs"].append(run)
            print(f"  first : {first['rows_per_s']:.1f} rows/s end to end ({first['wall_s']:.1f}s), "
                  f"{_fmt(first['steady_rows_per_s'])} rows/s translating ({_fmt(first['steady_s'])}s), "
                  f"{first['requests']} requests, {first['completion_tokens']} tokens, kept "
                  f"{first['rows_kept']}/{first['rows_in']} {first['reasons'] or ''}", flush=True)
            print(f"  second: {second['rows_per_s']:.1f} rows/s ({second['wall_s']:.1f}s), {second['requests']} "
                  f"requests", flush=True)
            ph = first.get("phases") or {}
            if ph:
                print(f"  where the first run's {first['wall_s']:.1f} s went: checks {ph['before_s']:.1f} s, task launch to "
                      f"server ready {ph['startup_s']:.1f} s, translating {ph['steady_s']:.1f} s, finalize "
                      f"{ph['after_s']:.1f} s; start-up and the rest {1 - ph['steady_s'] / first['wall_s']:.0%} of "
                      "the run", flush=True)
            srv = first.get("server")
            if srv and srv["batches"]:
                print(f"  server: {srv['requests'] / srv['batches']:.1f} requests per generate, prompt tokens "
                      f"{srv['prompt_tokens'] / max(srv['padded_tokens'], 1):.0%} of the padded batch, model busy "
                      f"{srv['generate_seconds']:.1f} s of the {first['steady_s'] or 0:.1f} s translating", flush=True)
        b = base["rows_per_s"]
        print(f"\n{args.rows} rows (baseline rate on the first {n_base}); tiny LFM2 on CPU")
        print("| run | rows/s end to end | x baseline | rows/s translating | x baseline | requests | model tokens "
              "| tokens without TM | TM cut |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        print(f"| baseline: generate per message | {b:.1f} | 1.0 | {b:.1f} | 1.0 | {base['generate_calls']} | "
              f"{base['completion_tokens']} | {base['completion_tokens']} | - |")
        for run in results["runs"]:
            for label, r in (("fresh TM", run["first"]), ("same input again", run["second"])):
                steady = r["steady_rows_per_s"]
                cut = f"{run['tm_token_cut']:.0%}" if r is run["first"] else "-"
                no_tm = run["tokens_without_tm"] if r is run["first"] else "-"
                print(f"| hala {run['engine']}, {label} | {r['rows_per_s']:.1f} | {r['rows_per_s'] / b:.1f} | "
                      f"{_fmt(steady)} | {_fmt(steady / b if steady else None)} | {r['requests']} | "
                      f"{r['completion_tokens']} | {no_tm} | {cut} |")
        for run in results["runs"]:
            first, second = run["first"], run["second"]
            checks = [("rows/s end to end >= 8x baseline", run["speedup_vs_baseline"] >= 8),
                      ("rows/s translating >= 8x baseline", run["steady_speedup_vs_baseline"] >= 8),
                      ("TM cuts model tokens >= 30%", run["tm_token_cut"] >= 0.30),
                      ("second run sends 0 requests", second["requests"] == 0),
                      ("every row accounted (kept + rejected = read)",
                       first["rows_kept"] + first["rows_rejected"] == first["rows_in"] == args.rows)]
            run["targets"] = {name: ok for name, ok in checks}
            print(f"targets [{run['engine']}]: " + "; ".join(f"{n}: {'met' if ok else 'NOT met'}" for n, ok in checks))
        try:
            import os

            results["load_average"] = os.getloadavg()
            print(f"\nload average (1, 5, 15 min): {', '.join(f'{x:.1f}' for x in os.getloadavg())} on "
                  f"{os.cpu_count()} cores")
        except OSError:
            pass
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"work folder: {work}")
    return results


if __name__ == "__main__":
    main()
