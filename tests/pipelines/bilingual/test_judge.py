"""The judge: strict verdict parser, versioned prompt file, rollout and stage (no server: a fake `generate`)."""

from __future__ import annotations

import asyncio
import json

import pytest
from datatrove.data import Document
from datatrove.pipeline.inference.types import InferenceError, InferenceResult, ServerError

from hala.pipelines.bilingual.judge import (
    JudgeOutcomeStage,
    JudgeSettings,
    judge_rollout,
    load_judge_prompt,
    parse_verdict,
)
from hala.pipelines.core.errors import UserError


@pytest.mark.parametrize("text, verdict", [
    ("ACCEPT", "ACCEPT"), ("REJECT", "REJECT"),
    ("accept", "ACCEPT"), ("Reject", "REJECT"), ("ReJeCt", "REJECT"),
    ("  ACCEPT\n", "ACCEPT"), ("\n\nREJECT \t", "REJECT"),
    ("ACCEPT.", "ACCEPT"), (" reject. \n", "REJECT"),
    ("\ufeffACCEPT\u200b", "ACCEPT"),
])
def test_clean_and_noisy_verdicts_parse(text, verdict):
    assert parse_verdict(text) == verdict


@pytest.mark.parametrize("text", [
    "ACCEPT. Actually REJECT", "REJECT, no wait: ACCEPT", "ACCEPT REJECT", "ACCEPT/REJECT", "accept or reject",
    "", "   ", "\n", None, 1, "ACCEPT..", "ACCEPT!", "**ACCEPT**", "`REJECT`", "\"ACCEPT\"", "Verdict: ACCEPT",
    "I would ACCEPT this pair.", "ACCEPTED", "REJECTED", "ACCEPTABLE", "ACC EPT", "ACCEPT\nThe translation is good.",
    "مقبول", "أقبل", "رفض", "ACCEPTER", "Akzeptieren", "ＡＣＣＥＰＴ", "<think>ok</think>ACCEPT",
])
def test_adversarial_and_foreign_answers_are_unparseable(text):
    assert parse_verdict(text) is None


def test_builtin_prompt_is_versioned_and_fills_both_sides_once():
    prompt = load_judge_prompt("judge_v1")
    assert prompt.version.startswith("judge_v1@") and len(prompt.version) == len("judge_v1@") + 8
    assert load_judge_prompt("judge_v1").version == prompt.version  # stable
    msgs = prompt.messages("Say {tgt} here.", "قل {src} هنا.")
    assert [m["role"] for m in msgs] == ["system", "user"]
    assert "ACCEPT or REJECT" in msgs[0]["content"]
    user = msgs[1]["content"]
    assert "Say {tgt} here." in user and "قل {src} هنا." in user  # values are never re-substituted
    assert "{src}" not in user.replace("قل {src} هنا.", "")


def test_prompt_file_edits_change_the_version(tmp_path):
    base = "# comment\n[system]\nJudge.\n[user]\nEN: {src}\nAR: {tgt}\n"
    a, b = tmp_path / "judge_a.txt", tmp_path / "judge_b.txt"
    a.write_text(base)
    b.write_text(base.replace("Judge.", "Judge strictly."))
    pa, pb = load_judge_prompt(str(a)), load_judge_prompt(str(b))
    assert pa.user == "EN: {src}\nAR: {tgt}" and pa.system == "Judge."
    assert pa.version.split("@")[1] != pb.version.split("@")[1]


@pytest.mark.parametrize("body, message", [
    ("[system]\nx\n[user]\nonly {src}\n", "must contain {src} and {tgt}"),
    ("stray text\n[user]\n{src} {tgt}\n", "text before the first"),
])
def test_bad_prompt_files_are_user_errors(tmp_path, body, message):
    f = tmp_path / "p.txt"
    f.write_text(body)
    with pytest.raises(UserError, match=message):
        load_judge_prompt(str(f))
    with pytest.raises(UserError, match="not one of"):
        load_judge_prompt(str(tmp_path / "missing.txt"))


def _pair(i: int) -> Document:
    return Document(text="مرحبا", id=f"p{i}", metadata={"src_lang": "en", "tgt_lang": "ar", "src": f"Hello {i}",
                                                         "tgt": "مرحبا", "origin": "opus-100", "judge": None,
                                                         "meta": {}})


def _generate(answer):
    async def generate(payload):
        if isinstance(answer, Exception):
            raise answer
        generate.payloads.append(payload)
        return InferenceResult(text=answer, finish_reason="stop", usage={})

    generate.payloads = []
    return generate


def test_rollout_sends_the_prompt_and_parses_strictly():
    settings = JudgeSettings("judge-model", load_judge_prompt(), max_tokens=7)
    gen = _generate(" accept.\n")
    out = asyncio.run(judge_rollout(_pair(1), gen, judge=settings))
    assert out["status"] == "ok" and out["verdict"] == "ACCEPT" and out["raw"] == " accept.\n"
    payload = gen.payloads[0]
    assert payload["max_tokens"] == 7 and payload["temperature"] == 0.0
    assert "Hello 1" in payload["messages"][-1]["content"] and "مرحبا" in payload["messages"][-1]["content"]
    assert asyncio.run(judge_rollout(_pair(2), _generate("ACCEPT. Actually REJECT"), judge=settings))["verdict"] is None
    failed = asyncio.run(judge_rollout(_pair(3), _generate(InferenceError(None, "BadRequestError: HTTP 400: x")),
                                       judge=settings))
    assert failed == {"status": "error", "detail": "BadRequestError: HTTP 400: x"}
    with pytest.raises(ServerError):  # an error that does not blame the payload fails the task, never a reject
        asyncio.run(judge_rollout(_pair(3), _generate(InferenceError(None, "HTTP 200 that is not JSON")),
                                  judge=settings))
    with pytest.raises(ServerError):  # a dead server fails the task (resumable), never rejects rows
        asyncio.run(judge_rollout(_pair(4), _generate(ServerError("gone")), judge=settings))


def test_stage_keeps_accepts_and_rejects_everything_else_with_reasons(tmp_path):
    stage = JudgeOutcomeStage(str(tmp_path), "judge-model", "judge_v1@abcd1234")
    outcomes = [{"status": "ok", "verdict": "ACCEPT", "raw": "ACCEPT"},
                {"status": "ok", "verdict": "REJECT", "raw": "reject"},
                {"status": "ok", "verdict": None, "raw": "ACCEPT. Actually REJECT"},
                {"status": "ok", "verdict": None, "raw": ""},
                {"status": "error", "detail": "bad request"}]
    docs = []
    for i, outcome in enumerate(outcomes):
        d = _pair(i)
        d.metadata["rollout_results"] = [outcome]
        docs.append(d)
    kept = list(stage.run(iter(docs), rank=0, world_size=1))
    assert [d.id for d in kept] == ["p0"]
    assert kept[0].metadata["judge"] == {"verdict": "ACCEPT", "model": "judge-model",
                                         "prompt_version": "judge_v1@abcd1234", "raw": "ACCEPT"}
    stage.exclusion_writer.close()
    rows = [json.loads(l) for l in (tmp_path / "rejects" / "judge" / "00000.jsonl").read_text().splitlines()]
    assert [(r["id"], r["reason"]) for r in rows] == [("p1", "judge_reject"), ("p2", "judge_unparseable"),
                                                      ("p3", "judge_unparseable"), ("p4", "bad_request")]
    assert json.loads(rows[1]["record"])["judge"]["verdict"] == "UNPARSEABLE"
    stats = stage.stats
    assert stats["total"].total == 5 and stats["forwarded"].total == 1 and stats["dropped"].total == 4
