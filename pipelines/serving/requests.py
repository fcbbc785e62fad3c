"""One request to a model server, with the rule for what a failure means.

- 429, 408, 5xx, a dropped connection or a timeout are *transient*: retried with exponential backoff (a
  `Retry-After` header is honoured); when the retries are exhausted the request raises `ServerError`, which fails the
  datatrove task, so the same command resumes those rows later. Never a reject.
- 400, 413 and 422 answer *this payload*: `InferenceError` with a `BadRequestError` detail — the rollout turns it into
  a reasoned `bad_request` reject.
- anything else (401/403: the key; 404: the route or model) is about the server, not the row: `ServerError`.

Error bodies are bounded and redacted (`redact`) before they go into an exception, so no key material a server
echoes reaches a reject or `work/`.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import random
import re
import time
from dataclasses import dataclass

from datatrove.pipeline.inference.types import InferenceError, ServerError

TRANSIENT = frozenset({408, 425, 429, 500, 502, 503, 504})
BAD_PAYLOAD = frozenset({400, 413, 422})
MAX_DETAIL = 300
_SECRET_PATTERNS = [
    re.compile(r"(?i)bearer\s+[^\s\"',}]+"),
    re.compile(r"\b(?:sk|hf|pk|rk|gsk|xai)[-_][A-Za-z0-9_\-]{6,}"),
    re.compile(r"(?i)(api[_-]?key|authorization|x-api-key|token|secret|password)([\"']?\s*[:=]\s*[\"']?)[^\s\"',}]+"),
]


def redact(text: str, secrets: tuple[str, ...] = (), limit: int = MAX_DETAIL) -> str:
    """`text` without key material (known secrets, bearer tokens, `api_key=…`-like pairs), cut to `limit` chars."""
    for s in secrets:
        if s and len(s) >= 4:
            text = text.replace(s, "[redacted]")
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) + m.group(2) + "[redacted]") if m.lastindex else "[redacted]", text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


def is_bad_request(error: InferenceError) -> bool:
    """Whether the server said that this payload is bad (the only failure that is a row's own reject)."""
    return str(error.error).startswith("BadRequestError")


@dataclass(frozen=True)
class RetryPolicy:
    """How transient failures are retried: `attempts` in all, waits of backoff_s·2^n (capped, jittered)."""

    attempts: int = 8
    backoff_s: float = 1.0
    max_wait_s: float = 60.0

    def wait(self, attempt: int, retry_after: str | None) -> float:
        hinted = retry_after_seconds(retry_after)
        if hinted is not None:
            return min(hinted, self.max_wait_s)
        return min(self.backoff_s * 2 ** attempt, self.max_wait_s) * (0.5 + random.random() / 2)


def retry_after_seconds(value: str | None) -> float | None:
    """`Retry-After` as seconds: a number, or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class Connections:
    """Keep-alive HTTP/1.1 connections to plain-http servers, reused from one request to the next.

    datatrove's client (and hala's before it) opened a TCP connection per request: connect, accept and close cost
    the client and the server more CPU than an instant answer itself (benchmarks/stock_translate_client.py). An
    answer that says `Connection: close`, comes from an HTTP/1.0 server without keep-alive, or has no length leaves
    its connection closed; at most `limit` idle connections are kept. A reused connection that the server closed
    while idle (its keep-alive timeout) fails before any byte of an answer: that request is sent again at once on a
    fresh connection, as every HTTP client does; any other failure is the caller's (post_with_retries)."""

    def __init__(self, limit: int = 64):
        self.limit = limit
        self._idle: dict[tuple[str, int], list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]] = {}

    async def post(self, url: str, payload: dict, headers: dict, timeout: float | None) -> Answer:
        return await self.request("POST", url, json.dumps(payload).encode(), headers, timeout)

    async def request(self, method: str, url: str, data: bytes | None, headers: dict, timeout: float | None) -> Answer:
        from urllib.parse import urlparse

        u = urlparse(url)
        host, port = u.hostname, u.port or 80
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        body = "" if data is None else f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
        request = f"{method} {u.path or '/'} HTTP/1.1\r\nHost: {host}\r\n{body}{head}\r\n".encode() + (data or b"")
        go = self._exchange(host, port, request)
        return await asyncio.wait_for(go, timeout) if timeout else await go

    async def _exchange(self, host: str, port: int, request: bytes) -> Answer:
        idle = self._idle.setdefault((host, port), [])
        while idle:
            reader, writer = idle.pop()
            if reader.at_eof() or writer.is_closing():
                writer.close()
                continue
            try:
                return await self._send(host, port, reader, writer, request)
            except _ClosedWhileIdle:
                continue  # the server dropped it while it waited here: send again on another one
        reader, writer = await asyncio.open_connection(host, port)
        try:
            return await self._send(host, port, reader, writer, request)
        except _ClosedWhileIdle:
            raise ConnectionError("the server closed the connection without an HTTP answer") from None

    async def _send(self, host: str, port: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    request: bytes) -> Answer:
        keep = False
        try:
            try:
                writer.write(request)
                await writer.drain()
                status_line = await reader.readline()
            except (ConnectionError, OSError) as e:
                raise _ClosedWhileIdle() from e
            if not status_line:
                raise _ClosedWhileIdle()
            answer, keep = await _read_answer(status_line, reader)
            return answer
        finally:
            idle = self._idle.setdefault((host, port), [])
            if keep and len(idle) < self.limit:
                idle.append((reader, writer))
            else:
                writer.close()

    def close(self) -> None:
        for idle in self._idle.values():
            for _, writer in idle:
                writer.close()
        self._idle.clear()


class _ClosedWhileIdle(Exception):
    """The connection ended before any byte of an answer."""


async def _read_answer(status_line: bytes, reader: asyncio.StreamReader) -> tuple[Answer, bool]:
    """The status, headers and body after `status_line`, and whether the connection may carry another request."""
    parts = status_line.decode("latin-1").split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise ConnectionError("the server answered something that is not HTTP")
    headers = {}
    while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
        k, _, v = line.decode("latin-1").partition(":")
        headers[k.strip().lower()] = v.strip()
    connection = headers.get("connection", "").lower()
    keep = connection == "keep-alive" if parts[0] == "HTTP/1.0" else connection != "close"
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        body = await _read_chunked(reader)
    else:
        body, keep = await reader.read(), False  # the body ends with the connection
    return Answer(int(parts[1]), headers, body), keep


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while True:
        size = int((await reader.readline()).split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            while (await reader.readline()) not in (b"\r\n", b"\n", b""):  # trailers
                pass
            return bytes(body)
        body += await reader.readexactly(size)
        await reader.readexactly(2)


async def http_status(url: str, timeout: float = 5.0) -> int | None:
    """The status of a GET over a fresh plain-http connection, None when nothing answers: a readiness check that
    costs next to nothing (an httpx client per check builds an SSL context, tens of milliseconds of CPU, while the
    server it polls is starting on the same cores)."""
    try:
        return (await Connections(limit=0).request("GET", url, None, {}, timeout)).status
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError):
        return None


async def _send(client, url: str, payload: dict, headers: dict, timeout: float | None) -> Answer:
    if isinstance(client, Connections):
        return await client.post(url, payload, headers, timeout)
    if client is None:
        return await Connections(limit=0).post(url, payload, headers, timeout)
    r = await client.post(url, json=payload, headers=headers)
    return Answer(r.status_code, {k.lower(): v for k, v in r.headers.items()}, r.content)


async def post_with_retries(client, url: str, payload: dict, headers: dict, policy: RetryPolicy,
                            secrets: tuple[str, ...] = (), timeout: float | None = None) -> dict:
    """POST `payload` (through `client`: keep-alive `Connections`, an httpx.AsyncClient, or a fresh connection when
    None) and return the JSON answer, following the module's rule for failures."""
    import httpx

    last = ""
    for attempt in range(policy.attempts):
        retry_after = None
        try:
            r = await _send(client, url, payload, headers, timeout)
        except (httpx.HTTPError, OSError, asyncio.TimeoutError, asyncio.IncompleteReadError) as e:
            last = f"{type(e).__name__}: {redact(str(e), secrets)}"  # refused, reset, timed out
        else:
            if r.status == 200:
                try:
                    return json.loads(r.body)
                except ValueError:
                    last = f"HTTP 200 with a body that is not JSON: {redact(r.text(), secrets)}"
            elif r.status in BAD_PAYLOAD:
                raise InferenceError(None, f"BadRequestError: HTTP {r.status}: {redact(r.text(), secrets)}")
            elif r.status in TRANSIENT:
                retry_after = r.headers.get("retry-after")
                last = f"HTTP {r.status}: {redact(r.text(), secrets)}"
            else:
                raise ServerError(f"{url} answered HTTP {r.status}: {redact(r.text(), secrets)}")
        if attempt + 1 < policy.attempts:
            await asyncio.sleep(policy.wait(attempt, retry_after))
    raise ServerError(f"{url}: still failing after {policy.attempts} attempts ({last}); run the same command again "
                      "to resume these rows")
