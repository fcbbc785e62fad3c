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


async def raw_post(url: str, payload: dict, headers: dict, timeout: float | None) -> Answer:
    """One HTTP/1.1 POST over a fresh plain-TCP connection (`Connection: close`), as datatrove's own client does for
    a server on this machine: no pool, no per-request client overhead (measured: a pooled httpx client kept 4
    requests per batch in flight where this keeps 50)."""
    import json
    from urllib.parse import urlparse

    u = urlparse(url)

    async def go() -> Answer:
        reader, writer = await asyncio.open_connection(u.hostname, u.port or 80)
        try:
            data = json.dumps(payload).encode()
            head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            writer.write(f"POST {u.path or '/'} HTTP/1.1\r\nHost: {u.hostname}\r\nContent-Type: application/json\r\n"
                         f"Content-Length: {len(data)}\r\n{head}Connection: close\r\n\r\n".encode() + data)
            await writer.drain()
            status_line = (await reader.readline()).decode("latin-1").split(" ", 2)
            if len(status_line) < 2 or not status_line[1].isdigit():
                raise ConnectionError("the server closed the connection without an HTTP answer")
            answer_headers = {}
            while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                k, _, v = line.decode("latin-1").partition(":")
                answer_headers[k.strip().lower()] = v.strip()
            return Answer(int(status_line[1]), answer_headers, await reader.read())
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass

    return await asyncio.wait_for(go(), timeout) if timeout else await go()


async def _send(client, url: str, payload: dict, headers: dict, timeout: float | None) -> Answer:
    if client is None:
        return await raw_post(url, payload, headers, timeout)
    r = await client.post(url, json=payload, headers=headers)
    return Answer(r.status_code, {k.lower(): v for k, v in r.headers.items()}, r.content)


async def post_with_retries(client, url: str, payload: dict, headers: dict, policy: RetryPolicy,
                            secrets: tuple[str, ...] = (), timeout: float | None = None) -> dict:
    """POST `payload` (through `client`, an httpx.AsyncClient, or `raw_post` when None) and return the JSON answer,
    following the module's rule for failures."""
    import json

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
