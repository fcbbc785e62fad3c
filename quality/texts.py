"""Records as a reviewer reads them in the report: role-labelled turns, the English and the Arabic apart, as HTML
whose Arabic is right-to-left and bidi-isolated from the English around it, long texts folded behind `<details>`.

A reject's `record` is what the stage saw: an instruction record (Arabic `messages` with `messages_en`, or English
`messages` before translation), a pair, or the raw input row (a JSON value or a line that did not parse).
"""

from __future__ import annotations

import html
import json
import re

Turns = list[tuple[str, str]]  # (role or side label, text)
FOLD_CHARS = 280  # longer texts show their start; the whole text is one click away
ARABIC = re.compile(r"[\u0600-\u06FF\u0750-\u077F\u08A0-\u08FF\uFB50-\uFDFF\uFE70-\uFEFF]")


def is_arabic(text: str) -> bool:
    """Whether most letters of a text are Arabic script (what decides its column and direction)."""
    letters = [c for c in text if c.isalpha()]
    return bool(letters) and sum(1 for c in letters if ARABIC.match(c)) * 2 >= len(letters)


def _turns(messages) -> Turns:
    return [(str(m.get("role", "?")), str(m.get("content") or "")) for m in messages or [] if isinstance(m, dict)]


def record_sides(record: str | None) -> tuple[Turns, Turns]:
    """(English turns, Arabic turns) of a reject's record, each as text; a raw row is shown as its keys and values."""
    if record is None:
        return [], []
    try:
        value = json.loads(record)
    except (TypeError, ValueError):
        return [("raw line", str(record))], []
    if isinstance(value, str):  # a line that did not parse, kept as text
        try:
            value = json.loads(value)
        except ValueError:
            return [("raw line", value)], []
    if isinstance(value, dict) and isinstance(value.get("messages"), list):
        messages = _turns(value["messages"])
        english = _turns(value.get("messages_en"))
        if english or any(is_arabic(t) for _, t in messages):
            return english, messages
        return messages, []
    if isinstance(value, dict) and "src" in value and "tgt" in value:
        src, tgt = str(value.get("src") or ""), str(value.get("tgt") or "")
        if value.get("src_lang") == "ar":
            return [("tgt", tgt)], [("src", src)]
        return [("src", src)], [("tgt", tgt)]
    if isinstance(value, dict):
        raw = value.get("raw", value) if set(value) <= {"raw", "source", "row", "file"} else value
        if isinstance(raw, dict):
            return [(str(k), v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)) for k, v in raw.items()], []
        return [("raw", json.dumps(raw, ensure_ascii=False))], []
    return [("raw", json.dumps(value, ensure_ascii=False))], []


def message_sides(english_json: str | None, arabic_json: str | None) -> tuple[Turns, Turns]:
    """Kept instruction rows: `messages_en` and `messages` as DuckDB's to_json gives them."""
    load = lambda v: json.loads(v) if v else []  # noqa: E731
    return _turns(load(english_json)), _turns(load(arabic_json))


def _text(text: str, rtl: bool) -> str:
    attrs = ' dir="rtl" lang="ar"' if rtl else ' dir="ltr" lang="en"'
    if len(text) <= FOLD_CHARS:
        return f"<bdi{attrs}>{html.escape(text)}</bdi>"
    return (f"<details><summary><bdi{attrs}>{html.escape(text[:FOLD_CHARS])}…</bdi></summary>"
            f"<bdi{attrs} class='full'>{html.escape(text)}</bdi></details>")


def turns_html(turns: Turns, rtl: bool) -> str:
    """One block per turn: its role (left to right) and its text, isolated in its own direction."""
    if not turns:
        return "<span class='none'>–</span>"
    return "".join(f"<div class='turn'><span class='role' dir='ltr'>{html.escape(role)}</span> "
                   f"{_text(text, rtl and is_arabic(text) or (rtl and not text))}</div>" for role, text in turns)
