"""An instant OpenAI-compatible TEST endpoint for the client benchmarks: it answers at once with its input.

    python benchmarks/echo_endpoint.py --port 8765 [--idle-exit 30] [--max-seconds 7200]

`POST /v1/chat/completions` answers with the last message's text after its first line (hala's lfm2 prompt and the
stock rollout's prompt are an instruction line, then the text), so a "translation" costs the server almost nothing
and the client's own cost is what a benchmark sees. `GET /v1/models` lists one model. HTTP/1.1 on 127.0.0.1 with
keep-alive or `Connection: close`, one asyncio loop, no dependencies. Bounded: it exits by itself after
`--idle-exit` seconds without a request, `--max-seconds` in all, or on SIGTERM, so a crashed benchmark leaves nothing running.
On exit it prints one JSON line: requests served and its own CPU seconds (the benchmarks subtract them).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import signal
import time

MODELS = json.dumps({"object": "list", "data": [{"id": "echo", "object": "model"}]}).encode()


def answer(payload: dict) -> bytes:
    content = payload["messages"][-1]["content"]
    text = content.split("\n", 1)[1] if "\n" in content else content
    return json.dumps({"id": "echo", "object": "chat.completion", "model": payload.get("model", "echo"),
                       "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                    "finish_reason": "stop"}],
                       "usage": {"prompt_tokens": len(content) // 4 + 1, "completion_tokens": len(text) // 4 + 1,
                                 "total_tokens": (len(content) + len(text)) // 4 + 2}}).encode()


class Echo:
    def __init__(self):
        self.requests = 0
        self.last = time.monotonic()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path = lines[0].split(" ")[:2]
                headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:] if x)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.last = time.monotonic()
                if method == "GET" and path == "/v1/models":
                    status, out = "200 OK", MODELS
                elif method == "POST" and path == "/v1/chat/completions":
                    self.requests += 1
                    status, out = "200 OK", answer(json.loads(body))
                else:
                    status, out = "404 Not Found", b'{"error": {"message": "no route"}}'
                close = headers.get("connection", "").lower() == "close"
                writer.write(f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(out)}\r\n"
                             f"Connection: {'close' if close else 'keep-alive'}\r\n\r\n".encode() + out)
                await writer.drain()
                if close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()


async def serve(port: int, idle_exit: float, max_seconds: float) -> dict:
    echo = Echo()
    server = await asyncio.start_server(echo.handle, "127.0.0.1", port, backlog=1024)
    start = time.monotonic()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)  # the benchmark's "done"
    async with server:
        while (not stop.is_set() and time.monotonic() - echo.last < idle_exit
               and time.monotonic() - start < max_seconds):
            try:
                await asyncio.wait_for(stop.wait(), 0.5)
            except asyncio.TimeoutError:
                pass
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"requests": echo.requests, "cpu_s": usage.ru_utime + usage.ru_stime}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--idle-exit", type=float, default=30.0)
    ap.add_argument("--max-seconds", type=float, default=7200.0)
    args = ap.parse_args()
    print(json.dumps(asyncio.run(serve(args.port, args.idle_exit, args.max_seconds))), flush=True)


if __name__ == "__main__":
    main()
