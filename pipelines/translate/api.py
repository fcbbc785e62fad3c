"""Translate a list of plain texts through the same server and segment translator as the pipelines.

For evaluation and validation (BLEU/chrF of a model on a held-out set): no datatrove job around it, but the same
prompt, masking, segmentation, checks and OpenAI-compatible server, so scores reflect what the pipeline produces.
"""

from __future__ import annotations

import asyncio
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from datatrove.pipeline.inference.types import InferenceResult

from hala.pipelines.serving.identity import model_identity
from hala.pipelines.serving.servers import local_server
from hala.pipelines.translate.memory import TranslationMemory
from hala.pipelines.translate.prompts import load_prompt
from hala.pipelines.translate.rollout import Rejected, SegmentTranslator, TranslationSettings


@dataclass
class TextTranslation:
    text: str | None  # None when rejected
    reason: str | None = None
    detail: str = ""


def _openai_generate(base_url: str, model: str, client, semaphore: asyncio.Semaphore, api_key: str | None):
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}

    async def generate(payload: dict) -> InferenceResult:
        async with semaphore:
            r = await client.post(f"{base_url.rstrip('/')}/v1/chat/completions", json={"model": model, **payload},
                                  headers=headers, timeout=600)
        r.raise_for_status()
        body = r.json()
        choice = body["choices"][0]
        return InferenceResult(text=choice["message"].get("content") or "", finish_reason=choice["finish_reason"],
                               usage=body.get("usage", {}))

    return generate


async def _translate_all(texts, translator, generate) -> list[TextTranslation]:
    from collections import Counter

    async def one(text: str) -> TextTranslation:
        try:
            return TextTranslation(await translator.translate_text(text, generate, Counter()))
        except Rejected as e:
            return TextTranslation(None, e.reason, e.detail)

    return list(await asyncio.gather(*(one(t) for t in texts)))


def translate_texts(texts: list[str], *, model: str, server: str = "transformers", endpoint: str | None = None,
                    prompt: str = "lfm2", max_concurrency: int = 16, tm_path: str | None = None,
                    device: str = "cpu", api_key: str | None = None,
                    max_segment_tokens: int = 384) -> list[TextTranslation]:
    """Translate `texts` with `model`; `server="transformers"` starts a local `transformers serve` for the call.

    Without `tm_path` a throw-away translation memory is used, so evaluation never reads earlier answers.
    """
    import httpx

    from hala.pipelines.translate.flow import _token_counter

    with ExitStack() as stack:
        if server == "transformers":
            base_url = stack.enter_context(local_server(model, device=device))
        elif endpoint:
            base_url = endpoint
        else:
            raise ValueError(f"server {server!r} needs an endpoint URL here")
        if tm_path is None:
            tm_path = str(Path(stack.enter_context(tempfile.TemporaryDirectory())) / "tm.sqlite")
        tm = TranslationMemory(tm_path)
        stack.callback(tm.close)
        identity = model_identity("transformers" if server == "transformers" else "endpoint", model)
        settings = TranslationSettings(model=identity, prompt=load_prompt(prompt),
                                       max_segment_tokens=max_segment_tokens)
        translator = SegmentTranslator(settings, tm, _token_counter(model))

        async def main() -> list[TextTranslation]:
            async with httpx.AsyncClient() as client:
                gen = _openai_generate(base_url, model, client, asyncio.Semaphore(max_concurrency), api_key)
                return await _translate_all(texts, translator, gen)

        return asyncio.run(main())
