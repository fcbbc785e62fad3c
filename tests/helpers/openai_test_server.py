"""A TEST stand-in for an OpenAI-compatible model server (not a model): it "translates" by echoing the text.

It can misbehave on purpose, bounded and on 127.0.0.1 only: answer 429 (with `Retry-After`) or 503 to one request
in `flaky_every`, fail every request while `down` is set, answer 400 to a payload holding `poison` (with an error
body that echoes the request's Authorization header, as some servers do). It speaks HTTP/1.0 (a connection per
request) unless `keep_alive`: then HTTP/1.1 keep-alive, and with `drop_idle` it closes each connection after one
answer without saying so (what a server's keep-alive timeout does to an idle connection). `.connections` counts the
connections it accepted.
"""

from __future__ import annotations

import json
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

MODEL = "echo-translator"


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def setup(self):
        super().setup()
        with self.server.lock:
            self.server.connections += 1

    def _send(self, code: int, body: dict, headers: dict | None = None):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/v1/models":
            return self._send(200, {"object": "list", "data": [{"id": self.server.model, "object": "model"}]})
        self._send(404, {"error": {"message": f"no route {self.path}"}})

    def do_POST(self):
        srv = self.server
        payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        text = payload["messages"][-1]["content"].split("\n", 1)[-1]
        with srv.lock:
            srv.count += 1
            n = srv.count
        if srv.down:
            srv.failures += 1
            return self._send(503, {"error": {"message": "overloaded"}})
        if srv.flaky_every and n % srv.flaky_every == 0:
            srv.failures += 1
            if (n // srv.flaky_every) % 2:
                return self._send(429, {"error": {"message": "rate limited"}}, {"Retry-After": "0"})
            return self._send(503, {"error": {"message": "try later"}})
        if srv.poison and srv.poison in text:
            auth = self.headers.get("Authorization", "")
            return self._send(400, {"error": {"message": f"bad request from {auth} " + "x" * 5000}})
        srv.served.append(text)
        if srv.drop_idle:
            self.close_connection = True  # after this answer, with no `Connection: close` to warn the client
        self._send(200, {"id": "x", "object": "chat.completion", "model": payload["model"],
                         "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                      "finish_reason": "stop"}],
                         "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}})


class _KeepAliveHandler(_Handler):
    protocol_version = "HTTP/1.1"


@contextmanager
def openai_test_server(flaky_every: int = 0, poison: str | None = None, model: str = MODEL, keep_alive: bool = False,
                       drop_idle: bool = False) -> Iterator[ThreadingHTTPServer]:
    """The server, running on 127.0.0.1 for the block; `.url`, `.count` (requests), `.served`, `.down`,
    `.connections`."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _KeepAliveHandler if keep_alive else _Handler)
    server.model, server.drop_idle, server.connections = model, drop_idle, 0
    server.flaky_every, server.poison, server.down = flaky_every, poison, False
    server.count, server.failures, server.served, server.lock = 0, 0, [], threading.Lock()
    server.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
