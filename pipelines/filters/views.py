"""What the filters judge: a record seen as aligned (source, target) segments, each with its protected spans known.

An instruction record gives one segment per message (`messages[i]` against `messages_en[i]`); a pair gives one
(`tgt` against `src`). Protected spans (code, LaTeX, URLs, HTML, JSON) come from `hala.pipelines.translate.masking`; a text without
any of the characters those spans need skips the span search, which is most prose and most of the filter's time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from datatrove.data import Document

from hala.pipelines.filters.arabic import LATIN_LETTER_RE
from hala.pipelines.translate.masking import find_protected_spans

# Every protected-span pattern in hala.pipelines.translate.masking needs one of these (fences/inline code, LaTeX,
# HTML tags, JSON, HTML entities, format placeholders) or "://" (tested as a plain substring: a single character class
# lets the regex engine scan fast). tests/pipelines/translate/test_masking.py checks every span kind against it.
_SPAN_CHAR_RE = re.compile(r"[`~$\\<{\[&%]")


def may_have_spans(text: str) -> bool:
    return "://" in text or _SPAN_CHAR_RE.search(text) is not None


class TextView:
    """One text with its protected spans found once (stripped text and protected strings both come from them).

    `lower` and `words` are computed on first use and kept: several checks read them."""

    __slots__ = ("text", "stripped", "protected", "placeholders", "_lower", "_words", "_latin")

    def __init__(self, text: str):
        self.text = text
        self._lower = self._words = self._latin = None
        spans = find_protected_spans(text) if may_have_spans(text) else []
        if not spans:
            self.stripped, self.protected, self.placeholders = text, [], []
            return
        out, pos = [], 0
        for s in spans:
            out.append(text[pos : s.start])
            out.append(" ")
            pos = s.end
        out.append(text[pos:])
        # the text with protected spans replaced by a space: what LID, script share and residue judge
        self.stripped = "".join(out)
        # format placeholders ({name}, %s…) have their own check and reason (missing_placeholders)
        self.protected = [text[s.start : s.end] for s in spans if s.kind != "placeholder"]
        self.placeholders = [text[s.start : s.end] for s in spans if s.kind == "placeholder"]

    @property
    def lower(self) -> str:
        """`text.lower()` (the leaked-prompt keyword screen)."""
        if self._lower is None:
            self._lower = self.text.lower()
        return self._lower

    @property
    def has_latin(self) -> bool:
        """Whether `stripped` has a Latin-script letter (no residue run and full Arabic share without one)."""
        if self._latin is None:
            self._latin = LATIN_LETTER_RE.search(self.stripped) is not None
        return self._latin

    @property
    def words(self) -> list[str]:
        """`stripped.split()` (token ratio, repetition)."""
        if self._words is None:
            self._words = self.stripped.split()
        return self._words


@dataclass
class Segment:
    """One aligned unit: `tgt` is judged, `src` (when known) is what it must match."""

    where: str  # "message 2 (assistant)" | "tgt"
    tgt: TextView
    src: TextView | None = None
    src_side: str = "src"  # how the source side is named in details


@dataclass
class RecordView:
    kind: str  # instructions | pairs
    segments: list[Segment] = field(default_factory=list)
    roles: list[str] | None = None
    roles_src: list[str] | None = None
    src_lang: str = "en"
    tgt_lang: str = "ar"
    leak_re: object = False  # (quality stage, its preamble regex for this record); False: not computed yet


def _content(message) -> str:
    content = message.get("content") if isinstance(message, dict) else None
    return content if isinstance(content, str) else ""


class _SharedViews:
    """The views the last few thousand records got, so that the `lid` and `quality` stages (one after the other in
    every pipeline) find each record's protected spans once. Keyed by the Document object (kept alive by the entry,
    so its id cannot be reused) and valid while the record's text fields are still the same objects: a stage that
    rewrites a text (the leaked-preamble strip) builds new ones. Bounded: the oldest entries go first."""

    def __init__(self, size: int = 4096):
        self.size = size
        self.entries: dict[int, tuple[Document, tuple, RecordView]] = {}

    def get(self, doc: Document, kind: str, key: tuple) -> RecordView | None:
        entry = self.entries.get(id(doc))
        if entry is None or entry[0] is not doc or entry[2].kind != kind:
            return None
        old = entry[1]
        if len(old) != len(key) or any(a is not b for a, b in zip(old, key)):
            return None
        return entry[2]

    def put(self, doc: Document, key: tuple, view: RecordView) -> None:
        entries = self.entries
        if len(entries) >= self.size:
            for k in list(entries)[: self.size // 2]:
                del entries[k]
        entries[id(doc)] = (doc, key, view)


_SHARED = _SharedViews()


def _view_key(meta: dict, kind: str) -> tuple:
    """The objects a view is built from: unchanged objects, unchanged view."""
    if kind == "pairs":
        return meta.get("src"), meta.get("tgt"), meta.get("src_lang"), meta.get("tgt_lang")
    messages, english = meta.get("messages") or (), meta.get("messages_en") or ()
    return (meta.get("lang"), len(messages), *(m.get("content") if isinstance(m, dict) else m for m in messages),
            *(m.get("content") if isinstance(m, dict) else m for m in english), messages, english)


def record_view(doc: Document, kind: str) -> RecordView:
    """The segments of a record (instruction messages against their English originals, or a pair's tgt against src),
    shared by every stage that asks while the record's texts are unchanged (`_SharedViews`)."""
    key = _view_key(doc.metadata, kind)
    view = _SHARED.get(doc, kind, key)
    if view is None:
        view = _build_view(doc, kind)
        _SHARED.put(doc, key, view)
    return view


def _build_view(doc: Document, kind: str) -> RecordView:
    meta = doc.metadata
    if kind == "pairs":
        src, tgt = meta.get("src") or "", meta.get("tgt") or ""
        return RecordView(kind, [Segment("tgt", TextView(tgt), TextView(src))],
                          src_lang=str(meta.get("src_lang") or "en"), tgt_lang=str(meta.get("tgt_lang") or "ar"))
    messages = list(meta.get("messages") or [])
    english = meta.get("messages_en")
    english = list(english) if english is not None else None
    aligned = english is not None and len(english) == len(messages)
    segments = []
    for i, m in enumerate(messages):
        role = m.get("role", "?") if isinstance(m, dict) else "?"
        src = TextView(_content(english[i])) if aligned else None
        segments.append(Segment(f"message {i} ({role})", TextView(_content(m)), src, "messages_en"))
    roles = [m.get("role") if isinstance(m, dict) else None for m in messages]
    roles_src = [m.get("role") if isinstance(m, dict) else None for m in english] if english is not None else None
    return RecordView(kind, segments, roles, roles_src, "en", str(meta.get("lang") or "ar"))
