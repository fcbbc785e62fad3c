"""The rollout's checks with a scripted stand-in for the server (the real server path is in test_translate_flow)."""

from __future__ import annotations

import asyncio

from datatrove.data import Document
from datatrove.pipeline.inference.types import InferenceResult

from hala.pipelines.translate.memory import TranslationMemory
from hala.pipelines.translate.prompts import BUILTIN_PROMPTS
from hala.pipelines.translate.rollout import SegmentTranslator, TranslationSettings, repetition_share, translate_rollout


class ScriptedServer:
    """Answers each request from a function of the segment text; records what it was asked."""

    def __init__(self, answer):
        self.answer = answer
        self.requests: list[dict] = []

    async def __call__(self, payload: dict) -> InferenceResult:
        self.requests.append(payload)
        segment = payload["messages"][-1]["content"].split("\n", 1)[1]  # lfm2 prompt: instruction line, then text
        text, finish = self.answer(segment, len(self.requests))
        await asyncio.sleep(0)
        return InferenceResult(text=text, finish_reason=finish, usage={})


def rollout(tmp_path, messages, answer):
    tm = TranslationMemory(tmp_path / "tm.sqlite")
    translator = SegmentTranslator(TranslationSettings(model="m", prompt=BUILTIN_PROMPTS["lfm2"]), tm)
    server = ScriptedServer(answer)
    doc = Document(text="", id="x", metadata={"messages": messages})
    result = asyncio.run(translate_rollout(doc, server, translator=translator))
    return result, server, tm


def echo_ar(segment, _n):
    return "ترجمة " + segment, "stop"


def test_roles_kept_and_code_untouched(tmp_path):
    msgs = [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Run `ls -la` now."},
            {"role": "assistant", "content": "Sure:\n\n```bash\nls -la\n```"}]
    result, server, _ = rollout(tmp_path, msgs, echo_ar)
    assert result["status"] == "ok"
    assert [m["role"] for m in result["messages"]] == ["system", "user", "assistant"]
    assert result["messages"][1]["content"] == "ترجمة Run `ls -la` now."
    assert result["messages"][2]["content"].endswith("\n\n```bash\nls -la\n```")
    assert all("```" not in r["messages"][-1]["content"] for r in server.requests)  # code never sent
    assert all("system" not in r["messages"][-1]["content"] for r in server.requests)  # roles never sent


def test_truncation_is_rejected(tmp_path):
    result, _, tm = rollout(tmp_path, [{"role": "user", "content": "Hello there."}], lambda s, n: ("مرحبا", "length"))
    assert result["status"] == "rejected" and result["reason"] == "truncated"
    assert len(tm) == 0  # nothing half-done is remembered


def test_runaway_repetition_is_rejected(tmp_path):
    loop = " ".join(["نعم نعم لا"] * 30)
    result, _, _ = rollout(tmp_path, [{"role": "user", "content": "Say yes or no."}], lambda s, n: (loop, "stop"))
    assert result["reason"] == "repetition"
    assert repetition_share(loop) > 0.9 and repetition_share("a b c d e f g h i j k l m") == 0


def test_placeholder_slip_retried_once_then_structure(tmp_path):
    msgs = [{"role": "user", "content": "Call `f()` please."}]
    result, server, _ = rollout(tmp_path, msgs, lambda s, n: ("اتصل من فضلك", "stop"))
    assert result["reason"] == "structure" and len(server.requests) == 2
    assert server.requests[1]["temperature"] > server.requests[0]["temperature"]
    result, server, _ = rollout(tmp_path / "b", msgs,
                                lambda s, n: ("اتصل من فضلك", "stop") if n == 1 else ("اتصل بـ [[1]] من فضلك", "stop"))
    assert result["status"] == "ok" and result["messages"][0]["content"] == "اتصل بـ `f()` من فضلك"


def test_empty_answer_and_leaked_prefix(tmp_path):
    result, _, _ = rollout(tmp_path, [{"role": "user", "content": "Hi."}], lambda s, n: ("   ", "stop"))
    assert result["reason"] == "empty_output"
    result, _, _ = rollout(tmp_path / "b", [{"role": "user", "content": "Hi."}],
                           lambda s, n: ("Here is the translation: مرحبا.", "stop"))
    assert result["messages"][0]["content"] == "مرحبا."


def test_identical_segments_share_one_call_and_tm_persists(tmp_path):
    msgs = [{"role": "user", "content": "Same line."}, {"role": "assistant", "content": "Same line."}]
    result, server, tm = rollout(tmp_path, msgs, echo_ar)
    assert len(server.requests) == 1 and result["origins"]["shared_inflight"] == 1
    tm.close()
    result, server, _ = rollout(tmp_path, msgs, echo_ar)  # same TM file: a re-run
    assert len(server.requests) == 0 and result["origins"]["tm_hits"] == 2


def test_plain_prompt_is_the_papers_form_for_a_translation_teacher(tmp_path):
    """`prompt: plain`: one user turn, "Translate from English to Arabic: {text}", no system prompt; its own version
    in the translation memory (a row translated with lfm2 is not reused)."""
    from hala.pipelines.translate.prompts import load_prompt

    plain = load_prompt("plain")
    assert plain.messages("Hello [[1]].") == [{"role": "user", "content": "Translate from English to Arabic: Hello [[1]]."}]
    assert plain.version != BUILTIN_PROMPTS["lfm2"].version and plain.version.startswith("plain@")
    tm = TranslationMemory(tmp_path / "tm.sqlite")
    translator = SegmentTranslator(TranslationSettings(model="m", prompt=plain), tm)
    asked = []

    async def server(payload):
        asked.append(payload["messages"])
        return InferenceResult(text="مرحبا [[1]].", finish_reason="stop", usage={})

    doc = Document(text="", id="x", metadata={"messages": [{"role": "user", "content": "Hello `x`."}]})
    result = asyncio.run(translate_rollout(doc, server, translator=translator))
    assert result["messages"][0]["content"] == "مرحبا `x`."
    assert asked == [[{"role": "user", "content": "Translate from English to Arabic: Hello [[1]]."}]]


def test_each_new_span_kind_kept_or_the_row_is_a_structure_reject(tmp_path):
    """LaTeX environments, HTML tags with URLs, entities, format placeholders and a fence's info string reach the
    model as placeholders: kept, they come back byte-identical; lost (twice), the row is rejected with `structure`.
    A span on lines of its own (a fence, a display environment) is layout: it never reaches the model at all."""
    import re

    from tests.pipelines.translate.test_masking import NEW_KINDS

    for i, (name, (text, spans)) in enumerate(NEW_KINDS.items()):
        msgs = [{"role": "user", "content": "Explain this."}, {"role": "assistant", "content": text}]
        result, _, _ = rollout(tmp_path / f"ok{i}", msgs, echo_ar)
        assert result["status"] == "ok", name
        assert all(span in result["messages"][1]["content"] for span in spans), name
        drop_last = lambda seg, n: (re.sub(r"\[\[\d+\]\](?!.*\[\[\d+\]\])", "", "ترجمة " + seg, flags=re.S), "stop")  # noqa: E731
        result, server, _ = rollout(tmp_path / f"lost{i}", msgs, drop_last)
        if any("[[" in r["messages"][-1]["content"] for r in server.requests):
            assert result["status"] == "rejected" and result["reason"] == "structure", name
        else:
            assert name in ("latex_env", "fence_info") and result["status"] == "ok", name
            assert all(span in result["messages"][1]["content"] for span in spans), name
