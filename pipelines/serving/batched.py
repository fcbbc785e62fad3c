"""A small OpenAI-compatible server over transformers `generate` that batches the requests in flight.

Why it exists: `transformers serve` runs one `generate` at a time unless `--continuous-batching` is on, and its
continuous batching (paged attention) refuses LFM2's convolution layers ("Invalid group type: conv", transformers
5.17). On a CPU a small model spends most of each decoding step in Python overhead, so one batched step for 32 requests
costs about what one step for one request does. This server collects the requests that arrive together, groups them
by sampling mode and prompt length (a batch is padded to its longest prompt, so it is capped in padded tokens as well
as in requests), and runs one left-padded `generate` per group on a worker thread.

The HTTP side is a bare ASGI app under uvicorn and prompts are tokenized with the `tokenizers` backend directly: with
the FastAPI app and the transformers tokenizer wrapper, request handling took more of the GIL than `generate` did.

    python -m hala.pipelines.serving.batched MODEL --port 8000 [--device cpu] [--max-batch 32] [--max-batch-tokens 8192]

Endpoints: `POST /v1/chat/completions` (non-streaming), `GET /health`, `GET /v1/models`, `GET /stats`. Per request it
honours `max_tokens` (finish_reason `length` when the answer was cut) and `temperature` (0: greedy).
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from dataclasses import dataclass

import orjson


@dataclass
class Pending:
    """One request waiting for a batch."""

    ids: list[int]
    max_tokens: int
    temperature: float
    future: asyncio.Future
    arrived: float


def pick_batch(pending: list[Pending], max_batch: int, max_tokens: int | None = None) -> list[Pending]:
    """The next batch: the oldest request and those nearest to it in prompt length, same sampling mode, at most
    `max_batch` requests and at most `max_tokens` padded prompt tokens (requests x longest prompt).

    The window grows from the oldest toward the neighbour closest in length, so a batch holds similar lengths and
    pads little; starting from the oldest (never simply the shortest) keeps long prompts from starving.
    """
    oldest = min(pending, key=lambda p: p.arrived)
    same = sorted((p for p in pending if p.temperature == oldest.temperature), key=lambda p: len(p.ids))
    lo = hi = same.index(oldest)  # the batch is same[lo : hi + 1]; its widest prompt is same[hi]
    n = len(oldest.ids)
    budget = max_tokens or float("inf")
    while hi - lo + 1 < max_batch:
        left = n - len(same[lo - 1].ids) if lo > 0 else None
        right = len(same[hi + 1].ids) - n if hi + 1 < len(same) else None
        if right is not None and (left is None or right <= left) and (hi - lo + 2) * len(same[hi + 1].ids) <= budget:
            hi += 1
        elif left is not None and (hi - lo + 2) * len(same[hi].ids) <= budget:
            lo -= 1
        else:
            break
    return same[lo : hi + 1]


class MicroBatcher:
    """Queues requests; one loop takes batches and runs them on a worker thread (the event loop stays free)."""

    def __init__(self, model, tokenizer, max_batch: int = 32, max_wait_s: float = 0.005,
                 max_batch_tokens: int | None = None):
        self.model = model
        self.tokenizer = tokenizer
        self.max_batch = max_batch
        self.max_batch_tokens = max_batch_tokens
        self.max_wait_s = max_wait_s
        self.pending: list[Pending] = []
        self.wake = asyncio.Event()
        self.batches = 0
        self.batched_requests = 0
        self.prompt_tokens = 0  # real prompt tokens of the batched requests
        self.padded_tokens = 0  # prompt tokens the batches computed, padding included
        self.generate_seconds = 0.0  # time the model was busy: next to the wall time, says who waits for whom
        self.first_batch = self.last_batch = None

    def summary(self) -> dict:
        span = (self.last_batch - self.first_batch) if self.batches else 0.0
        return {"batches": self.batches, "requests": self.batched_requests, "prompt_tokens": self.prompt_tokens,
                "padded_tokens": self.padded_tokens, "generate_seconds": round(self.generate_seconds, 3),
                "busy_span_seconds": round(span, 3)}

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
            batch = pick_batch(self.pending, self.max_batch, self.max_batch_tokens)
            taken = {id(p) for p in batch}
            self.pending = [p for p in self.pending if id(p) not in taken]
            if not self.pending:
                self.wake.clear()
            started = time.monotonic()
            try:
                results = await asyncio.to_thread(self.generate, batch)
            except Exception as e:  # a failed batch fails its requests, never the server
                for p in batch:
                    if not p.future.done():
                        p.future.set_exception(e)
                continue
            self.last_batch = time.monotonic()
            self.first_batch = self.first_batch or started
            self.generate_seconds += self.last_batch - started
            self.batches += 1
            self.batched_requests += len(batch)
            self.prompt_tokens += sum(len(p.ids) for p in batch)
            self.padded_tokens += len(batch) * max(len(p.ids) for p in batch)
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


class ChatApp:
    """The ASGI app: four routes, JSON in and out, nothing else on the request path."""

    def __init__(self, model, tokenizer, model_name: str, max_batch: int, max_batch_tokens: int | None):
        self.model = model
        self.tokenizer = tokenizer
        self.backend = tokenizer.backend_tokenizer  # `tokenizers.Tokenizer`: same ids, a fraction of the cost
        self.model_name = model_name
        self.max_batch, self.max_batch_tokens = max_batch, max_batch_tokens
        self.batcher: MicroBatcher | None = None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            return await self._lifespan(receive, send)
        if scope["type"] != "http":
            return
        route = (scope["method"], scope["path"])
        if route == ("GET", "/health"):
            return await _respond(send, 200, {"status": "ok"})
        if route == ("GET", "/v1/models"):
            return await _respond(send, 200, {"object": "list", "data": [
                {"id": self.model_name, "object": "model", "owned_by": "hala"}]})
        if route == ("GET", "/stats"):
            return await _respond(send, 200, self.batcher.summary())
        if route == ("POST", "/v1/chat/completions"):
            body = await _read_body(receive)
            try:
                status, answer = await self.chat(orjson.loads(body))
            except orjson.JSONDecodeError:
                status, answer = 400, _error("the body is not JSON")
            except Exception as e:  # a failed generation fails its request, never the server
                status, answer = 500, _error(f"{type(e).__name__}: {e}")
            return await _respond(send, status, answer)
        return await _respond(send, 404, _error(f"no route {scope['method']} {scope['path']}"))

    async def chat(self, body: dict) -> tuple[int, dict]:
        if not isinstance(body, dict):
            return 400, _error("the body must be a JSON object")
        if body.get("stream"):
            return 400, _error("streaming is not supported by this server")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return 400, _error("messages must be a non-empty list")
        prompt = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        ids = self.backend.encode(prompt, add_special_tokens=False).ids
        max_tokens = int(body.get("max_tokens") or body.get("max_completion_tokens") or 512)
        temperature = float(body.get("temperature") or 0.0)
        new, finish = await self.batcher.submit(ids, max_tokens, temperature)
        return 200, {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model") or self.model_name,
            "choices": [{"index": 0, "finish_reason": finish, "message": {
                "role": "assistant", "content": self.backend.decode(new, skip_special_tokens=True)}}],
            "usage": {"prompt_tokens": len(ids), "completion_tokens": len(new), "total_tokens": len(ids) + len(new)},
        }

    async def _lifespan(self, receive, send) -> None:
        task = None
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.batcher = MicroBatcher(self.model, self.tokenizer, max_batch=self.max_batch,
                                            max_batch_tokens=self.max_batch_tokens)
                task = asyncio.create_task(self.batcher.run())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if task is not None:
                    task.cancel()
                # one line for the task log (datatrove keeps the server's output): how full and how busy it was
                print("hala batched server: " + orjson.dumps(self.batcher.summary()).decode(), flush=True)
                await send({"type": "lifespan.shutdown.complete"})
                return


def _error(message: str) -> dict:
    return {"error": {"message": message}}


async def _read_body(receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _respond(send, status: int, body: dict) -> None:
    data = orjson.dumps(body)
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
    await send({"type": "http.response.body", "body": data})


def build_app(model_path: str, device: str = "cpu", max_batch: int = 32, dtype: str = "auto",
              max_batch_tokens: int | None = None) -> ChatApp:
    """The ASGI app with the model loaded once; the batching loop starts with the server (ASGI lifespan)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    torch_dtype = "auto" if dtype == "auto" else getattr(torch, dtype)
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch_dtype).to(device).eval()
    return ChatApp(model, tokenizer, model_path, max_batch, max_batch_tokens)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--max-batch", type=int, default=32, help="requests per generate call")
    parser.add_argument("--max-batch-tokens", type=int, default=0,
                        help="padded prompt tokens per generate call (0: no cap)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    import torch
    import uvicorn

    if args.threads:
        torch.set_num_threads(args.threads)
    app = build_app(args.model, args.device, args.max_batch, args.dtype, args.max_batch_tokens or None)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
