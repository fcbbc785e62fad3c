"""The LLM judge of mined pairs: a versioned prompt file, a strict verdict parser, a datatrove rollout and its stage.

The judge must answer exactly `ACCEPT` or `REJECT`. Anything else ("ACCEPT. Actually REJECT", both words, an empty
answer, an answer in another language, markdown around the word) is not a verdict: the pair leaves with reason
`judge_unparseable`, so a chatty or broken judge can never let a pair through by accident. Case, surrounding
whitespace and one trailing period are tolerated. Each judged pair carries `judge = {verdict, model,
prompt_version, raw}`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from datatrove.data import Document
from datatrove.pipeline.inference.types import InferenceError, ServerError

from hala.pipelines.core.stages import HalaStage
from hala.pipelines.translate.prompts import prompt_version

RESOURCES = Path(__file__).resolve().parents[1] / "resources"
BUILTIN_JUDGE_PROMPTS = {"judge_v1": RESOURCES / "judge_v1.txt"}
DEFAULT_JUDGE_PROMPT = "judge_v1"
UNPARSEABLE = "UNPARSEABLE"

# invisible characters a tokenizer may leave around a word; treated as whitespace
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff"
_VERDICT_RE = re.compile(r"(ACCEPT|REJECT)\.?", re.IGNORECASE)
_FIELD_RE = re.compile(r"\{(src|tgt)\}")


def parse_verdict(text: object) -> str | None:
    """`ACCEPT` / `REJECT` for a clean verdict (any case, surrounding whitespace, one trailing period); else None."""
    if not isinstance(text, str):
        return None
    m = _VERDICT_RE.fullmatch(text.strip().strip(_INVISIBLE).strip())
    return m.group(1).upper() if m else None


@dataclass(frozen=True)
class JudgePrompt:
    """A judge prompt: `user` contains `{src}` and `{tgt}`; the version is the file name plus a content hash."""

    name: str
    user: str
    system: str | None = None

    @property
    def version(self) -> str:
        return prompt_version(self.name, self.system, self.user)

    def messages(self, src: str, tgt: str) -> list[dict]:
        values = {"src": src, "tgt": tgt}
        user = _FIELD_RE.sub(lambda m: values[m.group(1)], self.user)  # one pass: a `{tgt}` inside src stays literal
        msgs = [{"role": "system", "content": self.system}] if self.system else []
        return msgs + [{"role": "user", "content": user}]


def parse_prompt_file(text: str, name: str) -> JudgePrompt:
    """`[system]` and `[user]` sections; `#` lines before the first section are comments."""
    sections: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        header = line.strip().lower()
        if header in ("[system]", "[user]"):
            current = header[1:-1]
            sections[current] = []
        elif current is not None:
            sections[current].append(line)
        elif line.strip() and not line.lstrip().startswith("#"):
            raise ValueError(f"judge prompt {name}: text before the first [system]/[user] section: {line[:60]!r}")
    user = "\n".join(sections.get("user", [])).strip()
    if "{src}" not in user or "{tgt}" not in user:
        raise ValueError(f"judge prompt {name}: the [user] section must contain {{src}} and {{tgt}}")
    system = "\n".join(sections.get("system", [])).strip() or None
    return JudgePrompt(name, user, system)


def load_judge_prompt(spec: str = DEFAULT_JUDGE_PROMPT) -> JudgePrompt:
    """A built-in prompt name (`judge_v1`) or a path to a prompt file of the same shape."""
    from hala.pipelines.core.errors import UserError

    path = BUILTIN_JUDGE_PROMPTS.get(spec) or Path(spec)
    if not path.is_file():
        raise UserError(f"judge prompt {spec!r}: not one of {sorted(BUILTIN_JUDGE_PROMPTS)} and not a file")
    try:
        return parse_prompt_file(path.read_text(encoding="utf-8"), path.stem)
    except ValueError as e:
        raise UserError(str(e)) from e


@dataclass(frozen=True)
class JudgeSettings:
    """What every judge request shares (picklable: it travels to datatrove's task processes)."""

    model: str
    prompt: JudgePrompt
    max_tokens: int = 16  # a verdict is one word; a longer answer is cut and then unparseable anyway
    temperature: float = 0.0


async def judge_rollout(document: Document, generate, *, judge: JudgeSettings) -> dict:
    """datatrove rollout: one request per pair; returns `{status, verdict, raw}` (verdict None when unparseable)."""
    meta = document.metadata
    payload = {"messages": judge.prompt.messages(str(meta.get("src") or ""), str(meta.get("tgt") or "")),
               "max_tokens": judge.max_tokens, "temperature": judge.temperature}
    try:
        result = await generate(payload)
    except ServerError:
        raise  # the server is gone: fail the task so a re-run resumes it, never reject rows for it
    except InferenceError as e:
        return {"status": "error", "detail": str(e.error)[:500]}
    return {"status": "ok", "verdict": parse_verdict(result.text), "raw": (result.text or "")[:500],
            "finish_reason": result.finish_reason}


class JudgeOutcomeStage(HalaStage):
    """Keeps ACCEPTed pairs; `judge_reject` for REJECT, `judge_unparseable` for anything else, `server_error` when
    the request failed. The verdict, judge model and prompt version are stored on every pair, kept or not."""

    stage = "judge"

    def __init__(self, output_dir: str | None, model: str, prompt_version: str):
        super().__init__(output_dir)
        self.model, self.prompt_version = model, prompt_version

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        results = doc.metadata.pop("rollout_results", None) or []
        outcome = results[0] if results else {"status": "error", "detail": "no rollout"}
        if outcome.get("status") != "ok":
            self.stat_update("server_error")
            return self.reject(doc, "server_error", outcome.get("detail", ""))
        verdict, raw = outcome.get("verdict"), outcome.get("raw", "")
        doc.metadata["judge"] = {"verdict": verdict or UNPARSEABLE, "model": self.model,
                                 "prompt_version": self.prompt_version, "raw": raw}
        if verdict == "ACCEPT":
            self.stat_update("accept")
            return True
        if verdict == "REJECT":
            self.stat_update("reject")
            return self.reject(doc, "judge_reject", raw)
        self.stat_update("unparseable")
        return self.reject(doc, "judge_unparseable", f"answer {raw[:200]!r}")
