"""hala's micro-batching OpenAI-compatible server: batch choice, per-request answers, and the translate flow on it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from hala.pipelines.serving.batched import Pending, pick_batch
from hala.pipelines.serving.servers import ServerConfig, concurrency_for, inference_config, local_server


def _p(n_ids: int, arrived: float, temperature: float = 0.0) -> Pending:
    return Pending(list(range(n_ids)), 8, temperature, None, arrived)  # type: ignore[arg-type]


def test_pick_batch_groups_by_length_around_the_oldest_and_by_temperature():
    pending = [_p(n, arrived=float(n)) for n in (50, 3, 40, 10, 30, 20)] + [_p(1, arrived=-1.0, temperature=0.3)]
    batch = pick_batch(pending, 3)
    assert [len(p.ids) for p in batch] == [1] and batch[0].temperature == 0.3  # oldest first, its own mode only
    pending = pending[:-1]
    batch = pick_batch(pending, 3)  # oldest has 3 ids: the window of 3 nearest lengths starting at the shortest
    assert sorted(len(p.ids) for p in batch) == [3, 10, 20]
    pending = [p for p in pending if len(p.ids) not in (3, 10, 20)]
    assert sorted(len(p.ids) for p in pick_batch(pending, 2)) == [30, 40]  # oldest now 30: window [30, 40]


def test_pick_batch_caps_padded_tokens_and_grows_toward_similar_lengths():
    pending = [_p(n, arrived=float(i)) for i, n in enumerate((40, 200, 42, 45, 210, 38, 60, 220))]
    batch = pick_batch(pending, 8, max_tokens=300)  # oldest 40: 38, 42, 45, 60 fit (5 x 60 = 300), 200 would not
    assert sorted(len(p.ids) for p in batch) == [38, 40, 42, 45, 60]
    rest = [p for p in pending if p not in batch]
    batch = pick_batch(rest, 8, max_tokens=450)  # oldest now 200: one more long prompt fits (2 x 210), not two
    assert sorted(len(p.ids) for p in batch) == [200, 210]
    assert [len(p.ids) for p in pick_batch([_p(500, 0.0)], 8, max_tokens=300)] == [500]  # never an empty batch


def test_concurrency_is_sized_to_the_batching_server():
    assert concurrency_for(ServerConfig(type="batched", max_batch=64, max_concurrency=32)) == 256
    assert concurrency_for(ServerConfig(type="transformers", max_concurrency=32)) == 32
    cfg = inference_config(ServerConfig(type="batched", max_batch=16), "m")
    assert cfg.server_type == "custom" and cfg.model_kwargs["hala_server"] == "batched"
    assert cfg.max_concurrent_generations == 64


@pytest.mark.slow
def test_batched_server_answers_like_generate_and_batches():
    import httpx
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from hala.pipelines.serving.tiny_model import cached_tiny_model
    from hala.pipelines.translate.prompts import load_prompt

    model = str(cached_tiny_model())
    prompt = load_prompt("lfm2")
    texts = ["The book costs ten dollars.", "We visited the museum yesterday with our friends from school.",
             "Hello.", "The station opens at six in the morning, and the first train leaves at seven.",
             "Knowledge is light.", "Please bring the map to the library before noon."]
    tok = AutoTokenizer.from_pretrained(model)
    ref_model = AutoModelForCausalLM.from_pretrained(model).eval()
    expected = []
    for t in texts:
        enc = tok.apply_chat_template(prompt.messages(t), add_generation_prompt=True, return_tensors="pt",
                                      return_dict=True)
        with torch.inference_mode():
            out = ref_model.generate(**enc, max_new_tokens=40, do_sample=False, pad_token_id=tok.pad_token_id)
        expected.append(tok.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True))

    async def ask(url: str) -> list[dict]:
        async with httpx.AsyncClient(timeout=120) as client:
            async def one(t: str, max_tokens: int) -> dict:
                r = await client.post(f"{url}/v1/chat/completions",
                                      json={"model": model, "messages": prompt.messages(t), "max_tokens": max_tokens,
                                            "temperature": 0})
                r.raise_for_status()
                return r.json()
            return await asyncio.gather(*[one(t, 40) for t in texts], one(texts[1], 1))

    with local_server(model, engine="batched", max_batch=8) as url:
        answers = asyncio.run(ask(url))
        stats = httpx.get(f"{url}/stats").json()
    assert [a["choices"][0]["message"]["content"] for a in answers[:-1]] == expected
    assert all(a["choices"][0]["finish_reason"] == "stop" for a in answers[:-1])
    cut = answers[-1]
    assert cut["choices"][0]["finish_reason"] == "length" and cut["usage"]["completion_tokens"] == 1
    assert stats["requests"] == len(texts) + 1 and stats["batches"] < stats["requests"]  # really batched


@pytest.mark.slow
def test_translate_flow_on_the_batched_server(tmp_path: Path):
    from hala.pipelines.translate.flow import TranslateConfig, run_translate

    rows = [{"system_prompt": "You are a helpful assistant.", "question": f"What is {i} plus {i}?",
             "response": f"The answer is {2 * i}."} for i in range(6)]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = TranslateConfig(input=str(src), output=str(tmp_path / "out"), format="openorca",
                          tm_path=str(tmp_path / "tm.sqlite"), server=ServerConfig(type="batched", model="tiny", max_batch=8))
    stats = run_translate(cfg)
    tr = stats["stages"]["translate"]
    assert tr["read"] == 6 and tr["kept"] + tr["rejected"] == 6
    t = stats["translation"]
    # 18 segments; the system prompt is sent once, the other 5 copies come from the TM or share the call in flight
    assert t["segments"] == 18 and t["model_calls"] + t["failed"] == 13
    assert t["tm_hits"] + t["shared_inflight"] == 5
