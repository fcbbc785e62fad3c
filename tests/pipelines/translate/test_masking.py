"""Masking and layout: protected spans come back byte-identical; placeholder slips are caught."""

import pytest

from hala.pipelines.translate.masking import PlaceholderError, mask, protected_strings, strip_protected, unmask
from hala.pipelines.translate.segmenter import rejoin, segment

HARD_CASES = [
    "Prices: it costs $5 and $10, or $3.50 total.",
    "Inline math $a^2+b^2=c^2$ and display $$\\sum_{i=1}^n i = \\frac{n(n+1)}{2}$$ and \\(x\\) and \\[y\\].",
    "````markdown\nExample:\n```python\nprint('nested')\n```\n````\nAfter the fence.",
    "1. Run `pip install hala`\n2. Then call `hala demo`\n   - nested `x = 1` item",
    "النص العربي قبل `code()` وبعد $x$ ثم https://example.org/path?q=1 نهاية.",
    "Visit <a href=\"https://x.y\">the site</a> now.",
    "Config:\n{\n  \"name\": \"hala\",\n  \"stages\": [\"translate\", \"lid\"]\n}\nDone.",
    "Unclosed fence:\n```\ncode without end",
    "Text with a literal [[1]] placeholder-looking token and `code`.",
]


@pytest.mark.parametrize("text", HARD_CASES)
def test_round_trip(text):
    m = mask(text)
    assert unmask(m.text, m.spans) == text
    for span in m.spans:
        assert span not in m.text or span.startswith("[[")  # a literal "[[1]]" in the source stays protected too


def test_currency_is_not_latex():
    assert protected_strings("it costs $5 and $10") == []
    assert protected_strings("solve $x+1=2$ now") == ["$x+1=2$"]


def test_nested_fence_is_one_span():
    spans = protected_strings(HARD_CASES[2])
    assert len(spans) == 1 and spans[0].endswith("````")


def test_inline_code_inside_list_keeps_bullets():
    m = mask(HARD_CASES[3])
    pieces = segment(m.text)
    literal = "".join(p.text for p in pieces if not p.translate)
    assert "1. " in literal and "2. " in literal and "   - " in literal


def test_rtl_text_around_placeholders():
    m = mask(HARD_CASES[4])
    translated = m.text.replace("النص العربي", "نص")  # what a model might do around the placeholders
    assert unmask(translated, m.spans).startswith("نص قبل `code()`")


def test_arabic_indic_digits_in_placeholders_are_accepted():
    m = mask("Use `x` now")
    assert unmask("استخدم [[١]] الآن", m.spans) == "استخدم `x` الآن"


@pytest.mark.parametrize("bad", ["lost all", "[[1]] [[1]] twice", "[[1]] and [[3]] invented"])
def test_placeholder_slips_raise(bad):
    m = mask("Call `f()` here")
    with pytest.raises(PlaceholderError):
        unmask(bad, m.spans)


def test_strip_protected_removes_code():
    text = "شرح قصير\n```python\nprint('english words here')\n```"
    assert "english" not in strip_protected(text)


def test_layout_survives_segment_and_rejoin():
    text = "# Title\n\nPara one. Para two!\n\n| a | b |\n|---|---|\n| c | d |\n\n- x\n- y\n"
    pieces = segment(mask(text).text)
    assert "".join(p.text for p in pieces) == text
    upper = rejoin(pieces, [p.text.upper() for p in pieces if p.translate])
    assert upper == "# TITLE\n\nPARA ONE. PARA TWO!\n\n| A | B |\n|---|---|\n| C | D |\n\n- X\n- Y\n"


def test_long_text_is_split_at_sentences_within_budget():
    text = " ".join(f"Sentence number {i} is here." for i in range(40))
    pieces = segment(text, budget=40, count_tokens=lambda s: len(s.split()) * 2)
    chunks = [p.text for p in pieces if p.translate]
    assert len(chunks) > 1
    assert all(len(c.split()) * 2 <= 40 for c in chunks)
    assert "".join(p.text for p in pieces) == text


def test_latex_right_after_an_arabic_letter():
    assert protected_strings("قيمة $a$ و$b$ معا") == ["$a$", "$b$"]


# ---------------------------------------------------------------------------------------------------- new span kinds
NEW_KINDS = {
    "latex_env": ("The characteristic equation is\n\n\\begin{align}\n\\det(A - \\lambda I) &= (2-\\lambda)^2 - 1 \\\\\n"
                  "&= (\\lambda - 1)(\\lambda - 3)\n\\end{align}\n\nso the eigenvalues are 1 and 3.",
                  ["\\begin{align}\n\\det(A - \\lambda I) &= (2-\\lambda)^2 - 1 \\\\\n&= (\\lambda - 1)(\\lambda - 3)"
                   "\n\\end{align}"]),
    "latex_env_nested": ("Expand \\begin{align} D &= \\begin{vmatrix} a & b \\\\ c & d \\end{vmatrix} \\end{align} now.",
                         ["\\begin{align} D &= \\begin{vmatrix} a & b \\\\ c & d \\end{vmatrix} \\end{align}"]),
    "html_tag_with_url": ('See <a href="https://example.org/help?lang=en&amp;page=2" title="Help">the help page</a>.',
                          ['<a href="https://example.org/help?lang=en&amp;page=2" title="Help">', "</a>"]),
    "html_entities": ("Price:&nbsp;10 &amp; tax &#169; &#x27;ok&#x27;",
                      ["&nbsp;", "&amp;", "&#169;", "&#x27;", "&#x27;"]),
    "placeholders": ("Call greet() and print {name} has {0} visits, {} left, %s and %d, %(name)s got %(count)d, "
                     "%.2f total, {{ customer.first_name }} {% if vip %}.",
                     ["{name}", "{0}", "{}", "%s", "%d", "%(name)s", "%(count)d", "%.2f", "{{ customer.first_name }}",
                      "{% if vip %}"]),
    "fence_info": ("Read it like this:\n\n```go\nscanner := bufio.NewScanner(f)\n```\n\nThat is all.",
                   ["```go\nscanner := bufio.NewScanner(f)\n```"]),
}


@pytest.mark.parametrize("name", list(NEW_KINDS))
def test_new_kinds_are_protected_and_restored_byte_identical(name):
    text, spans = NEW_KINDS[name]
    assert protected_strings(text) == spans
    m = mask(text)
    assert m.spans == spans and unmask(m.text, m.spans) == text
    for span in spans:
        assert span not in m.text  # the model never sees it


def test_prose_percent_and_braces_are_not_placeholders():
    assert protected_strings("Save 50% of it, 100%sure, R&D and {a, b} sets.") == []


def test_every_span_kind_passes_the_filters_fast_precheck():
    """hala.pipelines.filters.views.may_have_spans lists the characters each span pattern needs: every span of every
    kind must pass it, or the filters would skip spans they should see."""
    from hala.pipelines.filters.views import may_have_spans
    from hala.pipelines.translate.masking import find_protected_spans

    texts = HARD_CASES + [t for t, _ in NEW_KINDS.values()]
    kinds = set()
    for text in texts:
        for s in find_protected_spans(text):
            kinds.add(s.kind)
            assert may_have_spans(text[s.start : s.end]), (s.kind, text[s.start : s.end])
    assert kinds >= {"code_block", "inline_code", "latex", "url", "html", "html_entity", "placeholder", "json"}


# random texts made of every marker the span patterns look for, next to prose and each other
_MARKER_PIECES = ["`", "``", "```", "```python\n", "\n```\n", "  ```", "~~~", "\n~~~~\n", "$", "$$", "\\[", "\\]", "\\(",
                  "\\)", "\\begin{align}", "\\end{align}", "http://x.org/a", "<a href=\"https://u.io\">", "</a>", "<br/>",
                  "&amp;", "&#123;", "{", "}", "{{ v }}", "{% if %}", "{0}", "{name}", "%s", "%(n)d", "50%", "[", "]",
                  "\n", " ", "x", "word", "كلمة", "5", "$5", "و$b$", "{\"a\": 1,\n\"b\": [2]}", "\t"]


def _random_marker_texts(n: int, seed: int = 0) -> list[str]:
    import random

    rng = random.Random(seed)
    return ["".join(rng.choice(_MARKER_PIECES) for _ in range(rng.randint(0, 30))) for _ in range(n)]


def test_searches_anchored_at_their_literal_find_what_finditer_finds():
    """Every span pattern but the URL's is tried only where its first literal occurs (`_matches`): that must give
    exactly `finditer`'s matches, lookbehinds at the candidate included."""
    from hala.pipelines.translate.masking import _SEARCHES, _matches

    anchored = [(pattern, first) for pattern, _kind, first in _SEARCHES if first is not None]
    assert len(anchored) == len(_SEARCHES) - 1
    hits = 0
    for text in _random_marker_texts(20_000):
        for pattern, first in anchored:
            found = [m.span() for m in pattern.finditer(text)]
            assert all(text.startswith(first, start) for start, _ in found)  # the premise
            assert [m.span() for m in _matches(pattern, text, first)] == found
            hits += bool(found)
    assert hits > 20_000  # the texts do hold spans of many kinds


def test_fence_search_from_the_next_marker_line_equals_a_search_from_every_position():
    from hala.pipelines.translate.masking import _FENCE_OPEN, _closing_fence, _fenced_blocks

    def every_position(text: str) -> list[tuple[int, int]]:
        spans, pos = [], 0
        while m := _FENCE_OPEN.search(text, pos):
            c = _closing_fence(m.group(1)[0], len(m.group(1))).search(text, m.end())
            pos = c.end() if c else len(text)
            spans.append((m.start(), pos))
        return spans

    texts = _random_marker_texts(20_000, seed=1)
    assert sum(bool(every_position(t)) for t in texts) > 2_000  # the texts do open fences
    for text in texts:
        assert [(s.start, s.end) for s in _fenced_blocks(text)] == every_position(text)
