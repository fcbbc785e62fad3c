"""BF16 vs FP8 (llm-compressor FP8_DYNAMIC) tokens/s of a ~1B model on a GPU: batched generate and the server path.

    python benchmarks/gpu_fp8_throughput.py [--arch lfm2|llama] [--out DIR] [--batch 64] [--new-tokens 128]
        [--engines transformers,batched --concurrency 1,8,32,64] [--tiny --device cpu]  # --tiny: CPU smoke run

Needs a CUDA GPU (exit 2 at once without one, before any work); FP8 tensor-core kernels need compute capability
8.9+ (Ada/Hopper), which is printed. Exit 1 when any measurement failed (its error is in results.json).

The GPU machines here have no network and no Hub, so the model is built from a config with RANDOM weights
(LFM2-1.2B's shape: 16 layers, hidden 2048, 6 attention + 10 conv blocks, vocab 65536; or a Llama of ~1.1B), with
the tiny model's tokenizer (`hala.pipelines.serving.tiny_model`, trained on the spot): speed depends on shapes, not on what the
weights say. Steps:

1. save the model in BF16; quantize it with `hala.training.compress.quantize` (FP8_DYNAMIC, Linear layers, lm_head kept)
   and count the float8 tensors in the saved files;
2. (a) `generate` at batch `--batch` with min_new_tokens = max_new_tokens = `--new-tokens` (EOS ignored), BF16 then
   FP8, one after the other: generated tokens / wall seconds (best of `--repeats`);
3. vLLM (offline `LLM.generate`, batch `--batch`, min_tokens = max_tokens = `--new-tokens`, ignore_eos) for both
   models when `vllm` imports: the FP8 kernels the paper's speed-up comes from;
4. only with `--engines`: the server path: for each engine (`transformers serve`, hala's `batched` server) and each
   model, async OpenAI-style chat requests at each concurrency; tokens/s = sum of `usage.completion_tokens` / wall
   seconds (random weights stop at EOS when they happen to emit it, so the server figures count what was
   generated). Off by default: `transformers serve` without continuous batching answers one request at a time,
   which takes minutes per model at concurrency 64.

A step that fails is recorded with its error (e.g. a server that cannot load compressed-tensors FP8), the rest goes
on, and the exit code says so. Prints a table; writes `results.json` to `--out` (default `$OUT` when set).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def build_model(arch: str, tiny: bool, out: Path) -> dict:
    """A model from a config with random weights, saved in BF16 with the tiny model's tokenizer and chat template."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, Lfm2Config, LlamaConfig

    from hala.pipelines.serving.tiny_model import build_tiny_model

    tok = AutoTokenizer.from_pretrained(build_tiny_model(out.parent / "tokenizer", warmup_steps=0))
    ids = dict(bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    if arch == "lfm2":
        layers = 4 if tiny else 16
        attn = [1, 3] if tiny else [2, 5, 8, 10, 12, 14]
        cfg = Lfm2Config(vocab_size=1024 if tiny else 65536, hidden_size=64 if tiny else 2048,
                         intermediate_size=256 if tiny else 12288, num_hidden_layers=layers,
                         num_attention_heads=4 if tiny else 32, num_key_value_heads=2 if tiny else 8,
                         layer_types=["full_attention" if i in attn else "conv" for i in range(layers)],
                         max_position_embeddings=4096, tie_word_embeddings=True, **ids)
    else:
        cfg = LlamaConfig(vocab_size=1024 if tiny else 32000, hidden_size=64 if tiny else 2048,
                          intermediate_size=256 if tiny else 5632, num_hidden_layers=2 if tiny else 22,
                          num_attention_heads=4 if tiny else 32, num_key_value_heads=2 if tiny else 4,
                          max_position_embeddings=4096, tie_word_embeddings=False, **ids)
    with torch.device("cpu"):
        model = AutoModelForCausalLM.from_config(cfg, dtype=torch.bfloat16)
    n_params = sum(p.numel() for p in model.parameters())
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return {"arch": arch, "params": n_params, "config": cfg.to_dict().get("architectures") or type(model).__name__}


def generate_tps(model_dir: Path, device: str, batch: int, new_tokens: int, prompt_tokens: int, repeats: int) -> dict:
    """Batched greedy generate with exactly `new_tokens` per row; best of `repeats` timed runs after a warm-up."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype="auto", device_map=device).eval()
    linear_dtypes = sorted({str(m.weight.dtype) for m in model.modules()
                            if isinstance(m, torch.nn.Linear) and getattr(m, "weight", None) is not None})
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(3, min(model.config.vocab_size, 1024), (batch, prompt_tokens), generator=g).to(model.device)
    kw = dict(attention_mask=torch.ones_like(ids), max_new_tokens=new_tokens, min_new_tokens=new_tokens,
              do_sample=False, pad_token_id=0)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    with torch.inference_mode():
        model.generate(ids, **{**kw, "max_new_tokens": 4, "min_new_tokens": 4})
        times = []
        for _ in range(repeats):
            sync()
            t0 = time.perf_counter()
            out = model.generate(ids, **kw)
            sync()
            times.append(time.perf_counter() - t0)
    generated = (out.shape[1] - ids.shape[1]) * batch
    mem = torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else None
    del model
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    return {"tokens_per_s": generated / min(times), "seconds": min(times), "generated": generated,
            "linear_weight_dtypes": linear_dtypes, "peak_gib": mem}


async def _load(url: str, model: str, concurrency: int, requests: int, new_tokens: int) -> dict:
    import httpx

    sem = asyncio.Semaphore(concurrency)
    tokens = 0
    errors: list[str] = []
    async with httpx.AsyncClient(timeout=600) as client:
        async def one(i: int) -> None:
            nonlocal tokens
            async with sem:
                r = await client.post(f"{url}/v1/chat/completions", json={
                    "model": model, "max_tokens": new_tokens, "temperature": 0,
                    "messages": [{"role": "user", "content": f"Translate everything that follows into Arabic:\n"
                                                             f"Request {i}: the station opens at six."}]})
                if r.status_code != 200:
                    errors.append(f"{r.status_code}: {r.text[:300]}")
                    return
                tokens += r.json()["usage"]["completion_tokens"]

        await one(-1)  # warm-up
        tokens = 0
        t0 = time.perf_counter()
        await asyncio.gather(*[one(i) for i in range(requests)])
        wall = time.perf_counter() - t0
    return {"concurrency": concurrency, "requests": requests, "completion_tokens": tokens, "seconds": wall,
            "tokens_per_s": tokens / wall, "errors": errors[:3], "failed": len(errors)}


def serve_tps(model_dir: Path, engine: str, device: str, concurrencies: list[int], new_tokens: int,
              max_batch: int) -> list[dict]:
    from hala.pipelines.serving.servers import local_server

    rows = []
    kwargs = {"engine": "batched", "max_batch": max_batch} if engine == "batched" else {
        "continuous_batching": engine == "transformers-cb"}
    with local_server(str(model_dir), device=device, timeout_s=300, cpu_threads=0, **kwargs) as url:
        for c in concurrencies:
            rows.append(asyncio.run(_load(url, str(model_dir), c, max(2 * c, 8), new_tokens)))
    return rows


def vllm_tps(model_dir: Path, batch: int, new_tokens: int, prompt_tokens: int) -> dict:
    import random

    from vllm import LLM, SamplingParams

    llm = LLM(model=str(model_dir), gpu_memory_utilization=0.45, max_model_len=2048, enforce_eager=False)
    rng = random.Random(0)
    prompts = [{"prompt_token_ids": [rng.randrange(3, 1024) for _ in range(prompt_tokens)]} for _ in range(batch)]
    params = SamplingParams(max_tokens=new_tokens, min_tokens=new_tokens, ignore_eos=True, temperature=0)
    llm.generate(prompts[:2], SamplingParams(max_tokens=4))
    t0 = time.perf_counter()
    outs = llm.generate(prompts, params)
    wall = time.perf_counter() - t0
    generated = sum(len(o.outputs[0].token_ids) for o in outs)
    del llm
    return {"tokens_per_s": generated / wall, "seconds": wall, "generated": generated}


def _try(results: dict, key: str, fn, *args):
    t0 = time.perf_counter()
    try:
        results[key] = fn(*args)
    except Exception as e:  # recorded, the run goes on
        results[key] = {"error": f"{type(e).__name__}: {e}"[:2000], "trace": traceback.format_exc()[-3000:]}
    print(f"[{time.perf_counter() - t0:6.1f}s] {key}: {json.dumps(results[key])[:600]}", flush=True)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", choices=["lfm2", "llama"], default="lfm2")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--tiny", action="store_true", help="tiny shapes (CPU smoke run of the script itself)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--prompt-tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--concurrency", default="1,8,32,64")
    ap.add_argument("--serve-new-tokens", type=int, default=64)
    ap.add_argument("--engines", default="",
                    help="server engines to measure too: transformers, transformers-cb, batched (default: none)")
    ap.add_argument("--max-batch", type=int, default=64)
    ap.add_argument("--no-vllm", action="store_true")
    ap.add_argument("--work", default="/tmp/hala-fp8-bench")
    ap.add_argument("--out", default=os.environ.get("OUT") or ".")
    args = ap.parse_args(argv)

    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(f"error: --device {args.device} but torch sees no CUDA GPU (torch {torch.__version__}, "
              f"cuda {torch.version.cuda}); this benchmark measures GPU FP8 kernels. A CPU smoke run of the script: "
              "--tiny --device cpu --no-vllm", file=sys.stderr)
        raise SystemExit(2)
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    bf16, fp8 = work / "bf16", work / "fp8"
    res: dict = {"command": " ".join([sys.executable, *sys.argv]), "args": vars(args),
                 "torch": torch.__version__,
                 "device_name": torch.cuda.get_device_name(0) if args.device.startswith("cuda") else "cpu",
                 "compute_capability": ".".join(map(str, torch.cuda.get_device_capability(0)))
                 if args.device.startswith("cuda") else None,
                 "weights": "random (built from a config; no Hub on the device)"}
    import transformers

    res["transformers"] = transformers.__version__
    for pkg in ("llmcompressor", "compressed_tensors", "vllm"):
        try:
            res[pkg] = __import__(pkg).__version__
        except Exception as e:
            res[pkg] = f"not importable: {type(e).__name__}: {e}"[:300]
    print(json.dumps({k: v for k, v in res.items() if k != "args"}, indent=1), flush=True)

    _try(res, "build", build_model, args.arch, args.tiny, bf16)

    def _quantize():
        from hala.training.compress import float8_tensors, quantize

        quantize(str(bf16), str(fp8))
        return {"saved_tensor_dtypes": float8_tensors(fp8)}

    _try(res, "quantize", _quantize)
    for name, d in (("bf16", bf16), ("fp8", fp8)):
        _try(res, f"generate_{name}", generate_tps, d, args.device, args.batch, args.new_tokens, args.prompt_tokens,
             args.repeats)
    concurrencies = [int(c) for c in args.concurrency.split(",") if c]
    for engine in [e for e in args.engines.split(",") if e]:
        for name, d in (("bf16", bf16), ("fp8", fp8)):
            _try(res, f"serve_{engine}_{name}", serve_tps, d, engine, args.device, concurrencies,
                 args.serve_new_tokens, args.max_batch)
    if not args.no_vllm and not str(res.get("vllm", "")).startswith("not importable"):
        for name, d in (("bf16", bf16), ("fp8", fp8)):
            _try(res, f"vllm_{name}", vllm_tps, d, args.batch, args.new_tokens, args.prompt_tokens)

    print(f"\n{res['device_name']}, {args.arch}, {res.get('build', {}).get('params', '?')} parameters (random)")
    print("| path | BF16 tokens/s | FP8 tokens/s | FP8/BF16 |\n|---|---:|---:|---:|")

    def row(label: str, a, b) -> None:
        fa = a.get("tokens_per_s") if isinstance(a, dict) else None
        fb = b.get("tokens_per_s") if isinstance(b, dict) else None
        cell = lambda r, f: f"{f:,.0f}" if f else ("error" if isinstance(r, dict) and r.get("error") else "-")  # noqa: E731
        print(f"| {label} | {cell(a, fa)} | {cell(b, fb)} | {f'{fb / fa:.2f}' if fa and fb else '-'} |")

    row(f"generate, batch {args.batch}, {args.new_tokens} new tokens", res.get("generate_bf16"),
        res.get("generate_fp8"))
    for engine in [e for e in args.engines.split(",") if e]:
        a, b = res.get(f"serve_{engine}_bf16"), res.get(f"serve_{engine}_fp8")
        for i, c in enumerate(concurrencies):
            pick = lambda r: r[i] if isinstance(r, list) and len(r) > i else r  # noqa: E731
            row(f"server {engine}, concurrency {c}", pick(a), pick(b))
    if "vllm_bf16" in res:
        row(f"vLLM offline, batch {args.batch}", res.get("vllm_bf16"), res.get("vllm_fp8"))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(res, indent=2, default=str))
    print(f"results: {out / 'results.json'}")
    return res


def failed_steps(res: dict) -> list[str]:
    """The measurements that recorded an error (a server step fails as one entry for all its concurrencies)."""
    return [k for k, v in res.items() if isinstance(v, dict) and "error" in v]


if __name__ == "__main__":
    failed = failed_steps(main())
    if failed:
        print(f"failed: {', '.join(failed)} (errors in results.json)", file=sys.stderr)
        raise SystemExit(1)
