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


async def post_with_retries(client, url: str, payload: dict, headers: dict, policy: RetryPolicy,
                            secrets: tuple[str, ...] = ()) -> dict:
    """POST `payload` and return the JSON answer, following the module's rule for failures."""
    import httpx

    last = ""
    for attempt in range(policy.attempts):
        retry_after = None
        try:
            r = await client.post(url, json=payload, headers=headers)
        except httpx.HTTPError as e:  # refused, reset, timed out
            last = f"{type(e).__name__}: {redact(str(e), secrets)}"
        else:
            if r.status_code == 200:
                try:
                    return r.json()
                except ValueError:
                    last = f"HTTP 200 with a body that is not JSON: {redact(r.text, secrets)}"
            elif r.status_code in BAD_PAYLOAD:
                raise InferenceError(None, f"BadRequestError: HTTP {r.status_code}: {redact(r.text, secrets)}")
            elif r.status_code in TRANSIENT:
                retry_after = r.headers.get("retry-after")
                last = f"HTTP {r.status_code}: {redact(r.text, secrets)}"
            else:
                raise ServerError(f"{url} answered HTTP {r.status_code}: {redact(r.text, secrets)}")
        if attempt + 1 < policy.attempts:
            await asyncio.sleep(policy.wait(attempt, retry_after))
    raise ServerError(f"{url}: still failing after {policy.attempts} attempts ({last}); run the same command again "
                      "to resume these rows")
