r"""Protect what must never be translated behind placeholders: code (a fence with its info string: ```go never becomes
```اذهب), JSON blocks, LaTeX (math and `\begin{…}…\end{…}` environments), URLs, HTML tags (a tag with its URL
attributes is one span), HTML entities (`&nbsp;`, `&amp;`) and programming placeholders in prose (`{name}`, `{0}`,
`%s`, `%(name)d`, `{{ var }}`, `{% tag %}`).

A translator sees `Call [[1]] with [[2]]` instead of `` Call `f()` with $x^2$ ``; after translation the exact original
bytes are put back. `unmask` refuses a text where a placeholder was lost or duplicated: that is the `structure` reject.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from hala.pipelines.core.text import ASCII_DIGITS

PLACEHOLDER_RE = re.compile(r"\[\[([0-9٠-٩۰-۹]+)\]\]")


class Span(NamedTuple):
    """A protected span of a text (a tuple: several per text on the masking and metrics hot paths)."""

    start: int
    end: int
    kind: str  # code_block | inline_code | latex | url | html | html_entity | placeholder | json


@dataclass(frozen=True)
class Masked:
    text: str
    spans: list[str]


class PlaceholderError(ValueError):
    """A translated text lost, duplicated or invented a placeholder."""


_FENCE_OPEN = re.compile(r"^[ \t]{0,3}(`{3,}|~{3,})[^\n]*$", re.MULTILINE)
_INLINE_CODE = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)", re.DOTALL)
# Each pattern with a literal every match contains: a text without it is not searched (most texts have no span).
_LATEX_PATTERNS = [
    (re.compile(r"\$\$.+?\$\$", re.DOTALL), "$$"),
    (re.compile(r"\\\[.+?\\\]", re.DOTALL), "\\["),
    (re.compile(r"\\\(.+?\\\)", re.DOTALL), "\\("),
    # an environment outside $…$ (align, equation, pmatrix…), the outermost of its name; `$` inside it stays in it
    (re.compile(r"\\begin\{([A-Za-z]+\*?)\}.*?\\end\{\1\}", re.DOTALL), "\\begin{"),
    # inline $…$ (pandoc rule): no space after the opening $, no space before the closing $, no digit right after it;
    # so "costs $5 and $10" is currency, not math.
    # The lookbehind is ASCII-only: Arabic joins "و" to the next word, so "و$b$" must still be math.
    (re.compile(r"(?<![\\$A-Za-z0-9_])\$(?=[^\s$])([^$\n]{0,300}?[^\s\\$])\$(?![\d$])"), "$"),
]
_URL = re.compile(r"\b(?:https?|ftp)://[^\s<>\"'`\]\)]+[^\s<>\"'`\]\).,;:!?]")
_HTML = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s+[^<>]*?)?/?>")
_HTML_ENTITY = re.compile(r"&(?:[A-Za-z][A-Za-z0-9]{1,31}|#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6});")
# format placeholders: Jinja/Mustache {{ x }} and {% tag %}, str.format {} {0} {name} {name!r:>10}, printf %s %5.2f
# %(name)d (a `%` after a letter or digit is not one: "50% of", "100%s" stay prose)
_PLACEHOLDERS = [
    (re.compile(r"\{\{[^{}\n]{0,200}?\}\}|\{%[^\n]{0,200}?%\}"), "{"),
    (re.compile(r"\{(?:\d+|[A-Za-z_]\w*(?:\.[A-Za-z_]\w*|\[\w+\])*)?(?:![rsa])?(?::[^{}\s]{0,20})?\}"), "{"),
    (re.compile(r"(?<![\w%])%(?:\([A-Za-z_]\w*\))?[-+#0]*(?:\d+|\*)?(?:\.(?:\d+|\*))?[diouxXeEfFgGcrsa](?![A-Za-z])"), "%"),
]
_JSON_START = re.compile(r"^[ \t]*[\[{]", re.MULTILINE)


@lru_cache(maxsize=64)
def _closing_fence(char: str, length: int) -> re.Pattern:
    """The line that closes a fence of LENGTH CHARs (compiled once per fence shape, not once per code block)."""
    return re.compile(rf"^[ \t]{{0,3}}{re.escape(char)}{{{length},}}[ \t]*$", re.MULTILINE)


def _fenced_blocks(text: str) -> list[Span]:
    """Fenced code blocks; a fence closes only on a same-char fence at least as long (so fences nest)."""
    spans = []
    pos = 0
    while True:
        # an opening line holds ``` or ~~~: search from the line of the next one (sre tries `^` at every position)
        marks = [i for i in (text.find("```", pos), text.find("~~~", pos)) if i >= 0]
        if not marks:
            break
        m = _FENCE_OPEN.search(text, max(pos, text.rfind("\n", 0, min(marks)) + 1))
        if not m:
            break
        fence = m.group(1)
        c = _closing_fence(fence[0], len(fence)).search(text, m.end())
        end = c.end() if c else len(text)  # an unclosed fence runs to the end, as in CommonMark
        spans.append(Span(m.start(), end, "code_block"))
        pos = end
    return spans


def _json_blocks(text: str, taken: list[Span]) -> list[Span]:
    """Multi-line JSON objects/arrays that start a line and parse as JSON."""
    spans = []
    for m in _JSON_START.finditer(text):
        start = m.end() - 1
        if any(s.start <= start < s.end for s in taken + spans):
            continue
        opener = text[start]
        closer = "}" if opener == "{" else "]"
        depth, i, in_str, esc = 0, start, False, False
        while i < len(text):
            ch = text[i]
            if in_str:
                if esc:
                    esc = False
                elif ch == "\\":
                    esc = True
                elif ch == '"':
                    in_str = False
            elif ch == '"':
                in_str = True
            elif ch in "{[":
                depth += 1
            elif ch in "}]":
                depth -= 1
                if depth == 0:
                    break
            i += 1
        if depth != 0 or text[i] != closer:
            continue
        candidate = text[start : i + 1]
        if "\n" not in candidate or len(candidate) < 8:
            continue
        try:
            json.loads(candidate)
        except ValueError:
            continue
        spans.append(Span(start, i + 1, "json"))
    return spans


def _matches(pattern: re.Pattern, text: str, first: str):
    """`pattern.finditer(text)` for a pattern whose every match starts with the literal FIRST: tried only where FIRST
    occurs. sre scans a pattern that opens with a lookbehind (inline code, `$…$`, `%s`) one position at a time, a
    few µs per text; `str.find` skips to the candidates."""
    pos = text.find(first)
    while pos >= 0:
        m = pattern.match(text, pos)
        if m:
            yield m
            pos = text.find(first, max(m.end(), pos + 1))
        else:
            pos = text.find(first, pos + 1)


# The searches after fences and JSON, earlier kinds first: (pattern, kind, literal every match starts with); a URL
# only contains its literal.
_SEARCHES = [
    (_INLINE_CODE, "inline_code", "`"),
    *[(pattern, "latex", needle) for pattern, needle in _LATEX_PATTERNS],
    (_URL, "url", None),
    (_HTML, "html", "<"),
    (_HTML_ENTITY, "html_entity", "&"),
    *[(pattern, "placeholder", needle) for pattern, needle in _PLACEHOLDERS],
]


def find_protected_spans(text: str) -> list[Span]:
    """Non-overlapping protected spans, in text order. Earlier kinds win (code beats LaTeX beats URL), except that an
    HTML tag or LaTeX that holds earlier spans whole replaces them (an `<a href="…">` tag with its URL,
    `$\\begin{pmatrix}…\\end{pmatrix}$`, is one span); a partial overlap is skipped."""
    spans = _fenced_blocks(text) if "```" in text or "~~~" in text else []
    if "{" in text or "[" in text:
        spans += _json_blocks(text, spans)
    for pattern, kind, first in _SEARCHES:
        if first is None:
            if "://" not in text:
                continue
            found = pattern.finditer(text)
        elif first not in text:
            continue
        else:
            found = _matches(pattern, text, first)
        for m in found:
            hit = [s for s in spans if m.start() < s.end and s.start < m.end()]
            if all(m.start() <= s.start and s.end <= m.end() and (m.start(), m.end()) != (s.start, s.end)
                   for s in hit) and (not hit or kind in ("html", "latex")):
                for s in hit:
                    spans.remove(s)
                spans.append(Span(m.start(), m.end(), kind))
    return sorted(spans, key=lambda s: s.start)


def protected_strings(text: str) -> list[str]:
    """The exact protected substrings of `text`, in order (what must survive translation byte-identical)."""
    return [text[s.start : s.end] for s in find_protected_spans(text)]


def strip_protected(text: str) -> str:
    """`text` with protected spans removed: what language-ID and script-share checks should judge."""
    out, pos = [], 0
    for s in find_protected_spans(text):
        out.append(text[pos : s.start])
        out.append(" ")
        pos = s.end
    out.append(text[pos:])
    return "".join(out)


def mask(text: str) -> Masked:
    """Replace each protected span with `[[n]]` (n from 1)."""
    spans = find_protected_spans(text)
    # text that already contains our placeholder syntax: protect those literal occurrences too
    literal = [m for m in PLACEHOLDER_RE.finditer(text) if not any(s.start <= m.start() < s.end for s in spans)]
    spans = sorted(spans + [Span(m.start(), m.end(), "placeholder_literal") for m in literal], key=lambda s: s.start)
    out, kept, pos = [], [], 0
    for s in spans:
        out.append(text[pos : s.start])
        kept.append(text[s.start : s.end])
        out.append(f"[[{len(kept)}]]")
        pos = s.end
    out.append(text[pos:])
    return Masked("".join(out), kept)


def placeholder_counts(text: str) -> dict[int, int]:
    counts: dict[int, int] = {}
    for m in PLACEHOLDER_RE.finditer(text):
        n = int(m.group(1).translate(ASCII_DIGITS))
        counts[n] = counts.get(n, 0) + 1
    return counts


def check_placeholders(text: str, expected: set[int]) -> None:
    """Raise `PlaceholderError` unless each expected placeholder appears exactly once and no other appears."""
    counts = placeholder_counts(text)
    lost = sorted(expected - counts.keys())
    dup = sorted(n for n, c in counts.items() if c > 1)
    extra = sorted(counts.keys() - expected)
    if lost or dup or extra:
        raise PlaceholderError(f"placeholders lost={lost} duplicated={dup} invented={extra}")


def unmask(text: str, spans: list[str]) -> str:
    """Put the protected strings back; raise `PlaceholderError` if any placeholder is lost or duplicated."""
    check_placeholders(text, set(range(1, len(spans) + 1)))
    return PLACEHOLDER_RE.sub(lambda m: spans[int(m.group(1).translate(ASCII_DIGITS)) - 1], text)
