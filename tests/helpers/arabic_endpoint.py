"""A TEST stand-in for an OpenAI-compatible translation server whose answers pass the Arabic filters.

Why: the cluster tests run the whole corpus flow (translate → LID → quality → dedup) on Slurm and Ray and compare it
with the local executor; an echo server answers English, which LID rejects, and nothing would reach dedup. This one
replaces every Latin word with a real Arabic word (taken from the audit sample, chosen by a hash of the word), so a
repeated English text gives a repeated Arabic text (exact and near duplicates survive translation), placeholders,
digits and punctuation stay as they are, and the answer is the same in every process. It listens on 127.0.0.2 so
that datatrove takes its remote-endpoint path (the OpenAI client), as with a real fleet.

`gate` (a threading.Event, set by default) holds every chat request while cleared (`held` counts the requests that
reached it): a test can have tasks running on a cluster and kill one of them at a known point.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.helpers import REPO

MODEL = "word-map-translator"


def _vocabulary() -> list[str]:
    words: set[str] = set()
    for line in (REPO / "samples" / "audit" / "instructions.jsonl").read_text(encoding="utf-8").splitlines()[:150]:
        for message in json.loads(line)["messages"]:
            words.update(re.findall(r"[\u0621-\u064a]{3,}", message["content"]))
    return sorted(words)


VOCAB = _vocabulary()


def to_arabic(text: str) -> str:
    """Each Latin word → an Arabic word (same word, same answer); everything else kept byte for byte."""
    def word(m: re.Match) -> str:
        h = int.from_bytes(hashlib.sha1(m.group(0).lower().encode()).digest()[:4], "big")
        return VOCAB[h % len(VOCAB)]

    return re.sub(r"[A-Za-z]+", word, text)


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _send(self, code: int, body: dict) -> None:
        data = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path != "/v1/models":
            return self._send(404, {"error": {"message": f"no route {self.path}"}})
        self._send(200, {"object": "list", "data": [{"id": MODEL, "object": "model"}]})

    def do_POST(self):
        payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path != "/v1/chat/completions":
            return self._send(404, {"error": {"message": f"no route {self.path}"}})
        with self.server.lock:
            self.server.held += 1
        self.server.gate.wait()
        with self.server.lock:
            self.server.requests.append(payload)
        text = payload["messages"][-1]["content"].split("\n", 1)[-1]  # lfm2 prompt: instruction line, then text
        self._send(200, {"id": "x", "object": "chat.completion", "model": payload["model"],
                         "choices": [{"index": 0, "message": {"role": "assistant", "content": to_arabic(text)},
                                      "finish_reason": "stop"}],
                         "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}})


@contextlib.contextmanager
def arabic_endpoint(host: str = "127.0.0.2") -> Iterator[ThreadingHTTPServer]:
    """The server for the block; `.url`, `.requests` (every chat payload), `.gate`."""
    server = ThreadingHTTPServer((host, 0), _Handler)
    server.daemon_threads = True
    server.requests, server.held, server.lock, server.gate = [], 0, threading.Lock(), threading.Event()
    server.handle_error = lambda request, address: None  # a client that hangs up early (the readiness check)
    server.gate.set()
    server.url = f"http://{host}:{server.server_port}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.gate.set()
        server.shutdown()
        server.server_close()
