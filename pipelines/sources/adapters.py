"""Map the common instruction formats onto the instruction record (hala.pipelines.core.records).

Alpaca (`instruction/input/output`), ShareGPT (`conversations: [{from, value}]`), Open-Orca
(`system_prompt/question/response`) and plain `messages` rows. A row that fits no format, or carries bad content,
raises `AdapterError` with a reason code from the `normalize` vocabulary — it is rejected, never dropped.
"""

from __future__ import annotations

from typing import Any, Callable, Literal

from hala.pipelines.core.records import ROLES, Message

MAX_CONTENT_CHARS = 100_000

SHAREGPT_ROLES = {
    "system": "system",
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "chatgpt": "assistant",
    "bing": "assistant",
    "bard": "assistant",
}


class AdapterError(ValueError):
    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def _content(value: Any, where: str, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise AdapterError("non_string_content", f"{where} is {type(value).__name__}, not a string")
    if len(value) > MAX_CONTENT_CHARS:
        raise AdapterError("too_large", f"{where} has {len(value)} characters (limit {MAX_CONTENT_CHARS})")
    if not allow_empty and not value.strip():
        raise AdapterError("empty_content", f"{where} is empty")
    return value


def from_alpaca(row: dict) -> list[Message]:
    instruction = _content(row.get("instruction"), "instruction")
    extra = _content(row.get("input", "") or "", "input", allow_empty=True)
    user = f"{instruction}\n\n{extra}" if extra.strip() else instruction
    return [{"role": "user", "content": user}, {"role": "assistant", "content": _content(row.get("output"), "output")}]


def from_openorca(row: dict) -> list[Message]:
    system = _content(row.get("system_prompt", "") or "", "system_prompt", allow_empty=True)
    messages: list[Message] = [{"role": "system", "content": system}] if system.strip() else []
    messages.append({"role": "user", "content": _content(row.get("question"), "question")})
    messages.append({"role": "assistant", "content": _content(row.get("response"), "response")})
    return messages


def from_sharegpt(row: dict) -> list[Message]:
    turns = row.get("conversations")
    if not isinstance(turns, list) or not turns:
        raise AdapterError("unknown_format", "conversations must be a non-empty list")
    messages: list[Message] = []
    for i, turn in enumerate(turns):
        if not isinstance(turn, dict):
            raise AdapterError("unknown_format", f"conversations[{i}] is not an object")
        role = SHAREGPT_ROLES.get(str(turn.get("from", "")).lower())
        if role is None:
            raise AdapterError("bad_role", f"conversations[{i}].from = {turn.get('from')!r}")
        messages.append({"role": role, "content": _content(turn.get("value"), f"conversations[{i}].value")})
    return messages


def from_messages(row: dict) -> list[Message]:
    turns = row.get("messages")
    if not isinstance(turns, list) or not turns:
        raise AdapterError("unknown_format", "messages must be a non-empty list")
    messages: list[Message] = []
    for i, turn in enumerate(turns):
        if not isinstance(turn, dict):
            raise AdapterError("unknown_format", f"messages[{i}] is not an object")
        role = turn.get("role")
        if role not in ROLES:
            raise AdapterError("bad_role", f"messages[{i}].role = {role!r}")
        messages.append({"role": role, "content": _content(turn.get("content"), f"messages[{i}].content")})
    return messages


InputFormat = Literal["auto", "alpaca", "sharegpt", "openorca", "messages"]  # `auto`: detected per row

ADAPTERS: dict[str, Callable[[dict], list[Message]]] = {
    "alpaca": from_alpaca,
    "sharegpt": from_sharegpt,
    "openorca": from_openorca,
    "messages": from_messages,
}


def detect_format(row: dict) -> str:
    if "messages" in row:
        return "messages"
    if "conversations" in row:
        return "sharegpt"
    if "question" in row and "response" in row:
        return "openorca"
    if "instruction" in row and "output" in row:
        return "alpaca"
    raise AdapterError("unknown_format", f"no known format fits keys {sorted(row)[:8]}")


def to_messages(row: Any, fmt: str = "auto") -> tuple[str, list[Message]]:
    """Return `(format, messages)` for a raw row, or raise `AdapterError`."""
    if not isinstance(row, dict):
        raise AdapterError("unknown_format", f"row is a {type(row).__name__}, not an object")
    name = detect_format(row) if fmt == "auto" else fmt
    if name not in ADAPTERS:
        raise AdapterError("unknown_format", f"format {fmt!r}")
    try:
        messages = ADAPTERS[name](row)
    except AdapterError:
        raise
    except (KeyError, TypeError, AttributeError) as e:
        raise AdapterError("unknown_format", f"row does not fit {name}: {e}") from e
    if not any(m["role"] == "assistant" for m in messages):
        raise AdapterError("unknown_format", "no assistant message")
    return name, messages
