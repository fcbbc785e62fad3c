"""Translation as a datatrove rollout: segment, mask, ask, unmask, verify.

`translate_rollout` is handed to datatrove's `InferenceRunner`. For each message it masks protected spans, cuts the
content into segments that fit the budget, asks the model for each segment not already in the translation memory,
checks every answer (finish_reason, runaway repetition, placeholders — one retry on a placeholder slip), and rejoins
with the original layout. Roles are never sent to the model. A failure returns a reasoned rejection, never half a row.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from dataclasses import dataclass, field

from datatrove.data import Document
from datatrove.pipeline.inference.types import InferenceError, ServerError

from hala.pipelines.core.text import duplicate_fraction
from hala.pipelines.serving.requests import is_bad_request, redact
from hala.pipelines.translate.masking import PlaceholderError, check_placeholders, mask, placeholder_counts, unmask
from hala.pipelines.translate.memory import TranslationMemory, tm_key
from hala.pipelines.translate.prompts import TranslationPrompt
from hala.pipelines.translate.segmenter import rejoin, segment

_LEAK_PREFIX = re.compile(r"^\s*(?:here is the translation|translation|الترجمة|ترجمة)\s*[:：]\s*", re.IGNORECASE)


class Rejected(Exception):
    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def repetition_share(text: str, n: int = 3) -> float:
    """Share of word n-grams that repeat an earlier one: 0 for ordinary prose, near 1 for a model stuck in a loop."""
    words = text.split()
    return duplicate_fraction(words, n) if len(words) >= 4 * n else 0.0


def count_tokens_heuristic(text: str) -> int:
    return len(text) // 3 + 1


@dataclass
class TranslationSettings:
    model: str  # the model's identity (hala.pipelines.serving.identity): the translation memory keys on it
    prompt: TranslationPrompt
    max_segment_tokens: int = 384
    max_new_tokens_factor: float = 3.0
    min_new_tokens: int = 48
    max_new_tokens: int = 2048
    temperature: float = 0.0
    retry_temperature: float = 0.3
    max_repetition_share: float = 0.5


@dataclass
class SegmentTranslator:
    """Translates segments through `generate` with the TM in front; shared by all rollouts of a task."""

    settings: TranslationSettings
    tm: TranslationMemory
    count_tokens: object = field(default=count_tokens_heuristic)

    async def _ask(self, segment_text: str, generate) -> str:
        s = self.settings
        expected = set(placeholder_counts(segment_text))
        budget = min(s.max_new_tokens, int(self.count_tokens(segment_text) * s.max_new_tokens_factor) + s.min_new_tokens)
        last_error = ""
        for attempt, temperature in enumerate((s.temperature, s.retry_temperature)):
            payload = {"messages": s.prompt.messages(segment_text), "max_tokens": budget, "temperature": temperature}
            result = await generate(payload)
            if result.finish_reason == "length":
                raise Rejected("truncated", f"hit max_tokens={budget} on a segment of {len(segment_text)} chars")
            text = _LEAK_PREFIX.sub("", result.text.strip(), count=1)
            if not text:
                raise Rejected("empty_output", f"empty answer for a segment of {len(segment_text)} chars")
            share = repetition_share(text)
            if share > max(s.max_repetition_share, repetition_share(segment_text) + 0.2):
                raise Rejected("repetition", f"{share:.0%} of the answer's word 3-grams are repeats")
            try:
                check_placeholders(text, expected)
                return text
            except PlaceholderError as e:
                last_error = f"attempt {attempt + 1}: {e}"
        raise Rejected("structure", last_error)

    async def translate_segment(self, segment_text: str, generate, origins: Counter, looked_up: bool = False) -> str:
        try:
            out, origin = await self.tm.get_or_translate(
                self.settings.model, self.settings.prompt.version, segment_text, lambda t: self._ask(t, generate),
                looked_up=looked_up,
            )
        except Rejected:
            origins["failed"] += 1
            raise
        origins[{"tm": "tm_hits", "model": "model_calls", "shared": "shared_inflight"}[origin]] += 1
        return out

    async def translate_text(self, content: str, generate, origins: Counter) -> str:
        return (await self.translate_texts([content], generate, origins))[0]

    async def translate_texts(self, contents: list[str], generate, origins: Counter) -> list[str]:
        """Translate the contents of one row: each masked and segmented once, the row's segments looked up in the
        TM in one query, the rest asked concurrently (a failure raises once every request has ended)."""
        s = self.settings
        prepared = []
        for content in contents:
            masked = mask(content)
            pieces = segment(masked.text, s.max_segment_tokens, self.count_tokens)
            prepared.append((masked, pieces, [p.text for p in pieces if p.translate]))
        todo = [t for _, _, texts in prepared for t in texts]
        origins["segments"] += len(todo)
        known = self.tm.lookup([tm_key(s.model, s.prompt.version, t) for t in todo])
        origins["tm_hits"] += sum(k is not None for k in known)
        misses = [i for i, k in enumerate(known) if k is None]
        if misses:
            asked = await _gather_all(self.translate_segment(todo[i], generate, origins, looked_up=True) for i in misses)
            for i, text in zip(misses, asked):
                known[i] = text
        out, start = [], 0
        for masked, pieces, texts in prepared:
            joined = rejoin(pieces, known[start : start + len(texts)])
            start += len(texts)
            try:
                out.append(unmask(joined, masked.spans))
            except PlaceholderError as e:  # cannot happen when every segment passed its check; kept as a guard
                raise Rejected("structure", str(e)) from e
        return out


async def _gather_all(coros) -> list:
    """Like `asyncio.gather`, but waits for every task before raising the first error: no orphan requests, and
    the per-row counts (segments = tm_hits + model_calls + shared_inflight + failed) stay exact."""
    results = await asyncio.gather(*coros, return_exceptions=True)
    for r in results:
        if isinstance(r, BaseException):
            raise r
    return results


async def translate_rollout(document: Document, generate, *, translator: SegmentTranslator) -> dict:
    """datatrove rollout: returns `{"status": "ok", "messages": [...], "origins": {...}}` or a rejection dict."""
    origins: Counter = Counter()
    messages = document.metadata["messages"]
    try:
        contents = await translator.translate_texts([m["content"] for m in messages], generate, origins)
    except Rejected as e:
        return {"status": "rejected", "reason": e.reason, "detail": e.detail, "origins": dict(origins)}
    except ServerError:
        raise  # the server is gone or kept failing: fail the task so a re-run resumes it, never a reject
    except InferenceError as e:
        if not is_bad_request(e):  # not proof that the row is at fault: fail the task, resumable
            raise ServerError(f"request failed: {redact(str(e.error))}") from e
        return {"status": "rejected", "reason": "bad_request", "detail": redact(str(e.error)), "origins": dict(origins)}
    translated = [{"role": m["role"], "content": c} for m, c in zip(messages, contents)]
    return {"status": "ok", "messages": translated, "origins": dict(origins)}
