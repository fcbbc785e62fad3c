"""What two records are compared on: the dedup key, normalized so spelling variants of one text collide.

`user`: the user turns only (the same question answered twice is one row); `conversation`: every message (instruction
records) or source + target (pairs); `source`: the English original (`messages_en`, or a pair's `src`); `target`: a
pair's `tgt` (for instruction records, the same as `conversation`).
"""

from __future__ import annotations

from typing import Literal

from hala.pipelines.filters.arabic import normalize_arabic

DedupKeyName = Literal["user", "conversation", "source", "target"]


def _contents(messages, roles: tuple[str, ...] | None = None) -> list[str]:
    out = []
    for m in messages or []:
        if isinstance(m, dict) and (roles is None or m.get("role") in roles):
            out.append(str(m.get("content") or ""))
    return out


def key_text(meta: dict, kind: str, key: str) -> str:
    """The raw text of the key (before normalization)."""
    if kind == "pairs":
        src, tgt = str(meta.get("src") or ""), str(meta.get("tgt") or "")
        if key == "user":
            raise ValueError("dedup key 'user' needs instruction records; pairs use conversation, source or target")
        return {"conversation": src + "\n\n" + tgt, "source": src, "target": tgt}[key]
    messages = meta.get("messages")
    if key == "user":
        parts = _contents(messages, ("user",))
    elif key == "source":
        parts = _contents(meta.get("messages_en") if meta.get("messages_en") is not None else messages)
    else:
        parts = [f"{m.get('role')}: {m.get('content') or ''}" for m in messages or [] if isinstance(m, dict)]
    return "\n\n".join(parts)


def dedup_key(meta: dict, kind: str, key: str) -> str:
    """The normalized key: Arabic diacritics/tatweel gone, alef/yeh/teh-marbuta unified, punctuation and case folded."""
    return normalize_arabic(key_text(meta, kind, key))
