"""A small OpenAI-compatible server over transformers `generate` that batches the requests in flight.

Why it exists: `transformers serve` runs one `generate` at a time unless `--continuous-batching` is on, and its
continuous batching (paged attention) refuses LFM2's convolution layers ("Invalid group type: conv", transformers
5.17). On a CPU a small model spends most of each decoding step in Python overhead, so one batched step for 32 requests
costs about what one step for one request does. This server collects the requests that arrive together, groups them
by sampling mode and prompt length (less padding), and runs one left-padded `generate` per group on a worker thread.

    python -m pipelines.batch_server MODEL --port 8000 [--device cpu] [--max-batch 32] [--threads 2]

Endpoints: `POST /v1/chat/completions` (non-streaming), `GET /health`, `GET /v1/models`. Per request it honours
`max_tokens` (finish_reason `length` when the answer was cut) and `temperature` (0: greedy).
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from dataclasses import dataclass


@dataclass
class Pending:
    """One request waiting for a batch."""

    ids: list[int]
    max_tokens: int
    temperature: float
    future: asyncio.Future
    arrived: float


def pick_batch(pending: list[Pending], max_batch: int) -> list[Pending]:
    """The next batch: same sampling mode as the oldest request, the `max_batch` nearest to it in prompt length.

    Taking a window around the oldest (never simply the shortest) keeps long prompts from starving.
    """
    oldest = min(pending, key=lambda p: p.arrived)
    same = sorted((p for p in pending if p.temperature == oldest.temperature), key=lambda p: len(p.ids))
    i = same.index(oldest)
    start = max(0, min(i - max_batch // 2, len(same) - max_batch))
    return same[start : start + max_batch]


class MicroBatcher:
    """Queues requests; one loop takes batches and runs them on a worker thread (the event loop stays free)."""

    def __init__(self, model, tokenizer, max_batch: int = 32, max_wait_s: float = 0.005):
        self.model = model
        self.tokenizer = tokenizer
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.pending: list[Pending] = []
        self.wake = asyncio.Event()
        self.batches = 0
        self.batched_requests = 0

    async def submit(self, ids: list[int], max_tokens: int, temperature: float) -> tuple[list[int], str]:
        future = asyncio.get_running_loop().create_future()
        self.pending.append(Pending(ids, max_tokens, temperature, future, time.monotonic()))
        self.wake.set()
        return await future

    async def run(self) -> None:
        while True:
            await self.wake.wait()
            if len(self.pending) < self.max_batch:
                await asyncio.sleep(self.max_wait_s)  # let the requests sent together arrive together
            batch = pick_batch(self.pending, self.max_batch)
            taken = {id(p) for p in batch}
            self.pending = [p for p in self.pending if id(p) not in taken]
            if not self.pending:
                self.wake.clear()
            try:
                results = await asyncio.to_thread(self.generate, batch)
            except Exception as e:  # a failed batch fails its requests, never the server
                for p in batch:
                    if not p.future.done():
                        p.future.set_exception(e)
                continue
            self.batches += 1
            self.batched_requests += len(batch)
            for p, r in zip(batch, results):
                if not p.future.done():
                    p.future.set_result(r)

    def generate(self, batch: list[Pending]) -> list[tuple[list[int], str]]:
        """One left-padded `generate` for the batch; each answer cut at its own EOS or `max_tokens`."""
        import torch

        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        eos = self.model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [self.tokenizer.eos_token_id])
        width = max(len(p.ids) for p in batch)
        input_ids = torch.full((len(batch), width), pad, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, p in enumerate(batch):
            input_ids[row, width - len(p.ids) :] = torch.tensor(p.ids)
            mask[row, width - len(p.ids) :] = 1
        temperature = batch[0].temperature
        sampling = {"do_sample": True, "temperature": temperature} if temperature > 0 else {"do_sample": False}
        with torch.inference_mode():
            out = self.model.generate(
                input_ids=input_ids.to(self.model.device), attention_mask=mask.to(self.model.device),
                max_new_tokens=max(p.max_tokens for p in batch), pad_token_id=pad, eos_token_id=sorted(eos_ids),
                **sampling,
            )
        results = []
        for row, p in enumerate(batch):
            new = out[row, width:].tolist()
            stop = next((k for k, t in enumerate(new) if t in eos_ids), None)
            if stop is not None and stop < p.max_tokens:
                results.append((new[: stop + 1], "stop"))
            else:
                results.append((new[: p.max_tokens], "length"))
        return results


def build_app(model_path: str, device: str = "cpu", max_batch: int = 32, dtype: str = "auto"):
    """The FastAPI app: loads the model once, starts the batching loop on startup."""
    from contextlib import asynccontextmanager

    import torch
    from fastapi import FastAPI, HTTPException
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    torch_dtype = "auto" if dtype == "auto" else getattr(torch, dtype)
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch_dtype).to(device).eval()
    batcher: MicroBatcher | None = None

    @asynccontextmanager
    async def lifespan(app):
        nonlocal batcher
        batcher = MicroBatcher(model, tokenizer, max_batch=max_batch)
        task = asyncio.create_task(batcher.run())
        yield
        task.cancel()

    app = FastAPI(lifespan=lifespan)

    @app.get("/health")
    async def health():
        return {"status": "ok"}

    @app.get("/v1/models")
    async def models():
        return {"object": "list", "data": [{"id": model_path, "object": "model", "owned_by": "hala"}]}

    @app.get("/stats")
    async def stats():
        return {"batches": batcher.batches, "requests": batcher.batched_requests}

    @app.post("/v1/chat/completions")
    async def chat(body: dict):
        if body.get("stream"):
            raise HTTPException(400, "streaming is not supported by this server")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise HTTPException(400, "messages must be a non-empty list")
        ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True)
        ids = list(ids["input_ids"])
        max_tokens = int(body.get("max_tokens") or body.get("max_completion_tokens") or 512)
        temperature = float(body.get("temperature") or 0.0)
        new, finish = await batcher.submit(ids, max_tokens, temperature)
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model") or model_path,
            "choices": [{"index": 0, "finish_reason": finish,
                         "message": {"role": "assistant", "content": tokenizer.decode(new, skip_special_tokens=True)}}],
            "usage": {"prompt_tokens": len(ids), "completion_tokens": len(new), "total_tokens": len(ids) + len(new)},
        }

    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--max-batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    import torch
    import uvicorn

    if args.threads:
        torch.set_num_threads(args.threads)
    app = build_app(args.model, args.device, args.max_batch, args.dtype)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
