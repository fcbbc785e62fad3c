"""Cut masked content into translatable segments and literal layout, so a translation rejoins with the original shape.

Markdown survives because it never reaches the model: list bullets, heading hashes, quote marks, table pipes,
separator rows, blank lines and lines made only of placeholders stay literal; only the prose between them is sent.
A piece longer than the token budget is split at sentence ends.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from hala.pipelines.translate.masking import PLACEHOLDER_RE

_PREFIX = re.compile(r"^(\s*(?:(?:[-*+]|\d{1,3}[.)]|#{1,6}|>)\s+)+)")
_TABLE_SEP = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
_SENTENCE_END = re.compile(r"(?<=[.!?؟。])\s+")
_HAS_WORD = re.compile(r"[^\W\d_]", re.UNICODE)


@dataclass(frozen=True)
class Piece:
    text: str
    translate: bool


def _worth_translating(text: str) -> bool:
    """Pure placeholders, numbers and punctuation are kept as they are."""
    return bool(_HAS_WORD.search(PLACEHOLDER_RE.sub(" ", text)))


def _emit(text: str, out: list[Piece], budget: int, count_tokens: Callable[[str], int]) -> None:
    """Emit `text` as literal leading/trailing whitespace around one or more translatable chunks."""
    stripped = text.strip()
    if not stripped or not _worth_translating(stripped):
        out.append(Piece(text, False))
        return
    lead = text[: len(text) - len(text.lstrip())]
    trail = text[len(text.rstrip()) :]
    if lead:
        out.append(Piece(lead, False))
    if count_tokens(stripped) <= budget:
        out.append(Piece(stripped, True))
    else:
        parts = _SENTENCE_END.split(stripped)
        seps = _SENTENCE_END.findall(stripped)
        chunk = ""
        for i, part in enumerate(parts):
            candidate = f"{chunk} {part}" if chunk else part
            if chunk and count_tokens(candidate) > budget:
                out.append(Piece(chunk, True))
                out.append(Piece(seps[i - 1] if i - 1 < len(seps) else " ", False))
                chunk = part
            else:
                chunk = candidate
        if chunk:
            out.append(Piece(chunk, True))
    if trail:
        out.append(Piece(trail, False))


def segment(masked: str, budget: int = 512, count_tokens: Callable[[str], int] | None = None) -> list[Piece]:
    """Split a masked text into pieces; `"".join(p.text for p in pieces) == masked` always holds."""
    count = count_tokens or (lambda s: len(s.split()) * 2)
    pieces: list[Piece] = []
    for line in masked.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        newline = line[len(body) :]
        if not body.strip() or _TABLE_SEP.match(body):
            pieces.append(Piece(body, False))
        elif body.lstrip().startswith("|"):
            cells = body.split("|")
            for i, cell in enumerate(cells):
                if i:
                    pieces.append(Piece("|", False))
                _emit(cell, pieces, budget, count)
        else:
            m = _PREFIX.match(body)
            if m:
                pieces.append(Piece(m.group(1), False))
                body = body[m.end() :]
            _emit(body, pieces, budget, count)
        if newline:
            pieces.append(Piece(newline, False))
    merged: list[Piece] = []
    for p in pieces:  # merge adjacent literals: fewer, larger literal pieces
        if p.text == "":
            continue
        if merged and not p.translate and not merged[-1].translate:
            merged[-1] = Piece(merged[-1].text + p.text, False)
        else:
            merged.append(p)
    return merged


def rejoin(pieces: list[Piece], translations: list[str]) -> str:
    """Put translations back in place of the translatable pieces, in order."""
    it = iter(translations)
    return "".join(next(it) if p.translate else p.text for p in pieces)
