"""MinHash shingles a normalized key with a lighter datatrove text config (hala.pipelines.dedup.steps.KEY_TEXT_NORM):
the steps it skips must be no-ops on every key, so the duplicates found are those of datatrove's default config."""

from __future__ import annotations

import random
import re
import sys

from datatrove.utils.text import PUNCTUATION_SET, simplify_text

from hala.pipelines.dedup.steps import KEY_TEXT_NORM
from hala.pipelines.filters.arabic import normalize_arabic


def _key_chars() -> list[str]:
    """Every character a normalized key can hold: what normalize_arabic keeps of any single character."""
    return sorted({c for code in range(sys.maxunicode + 1) for c in normalize_arabic(chr(code))} - {" "})


def test_the_skipped_steps_change_no_key_character():
    chars = _key_chars()
    assert len(chars) > 100_000
    assert not [c for c in chars if c.lower() != c]  # already lowercase
    assert not [c for c in chars if c.isspace()]
    # datatrove's punctuation list meets a key only in digits, which its number step has made 0 before
    assert all(re.fullmatch(r"\d", c) for c in chars if c in PUNCTUATION_SET)


def test_keys_simplify_alike_under_both_configs():
    chars = _key_chars()
    rng = random.Random(0)
    texts = ["".join(rng.choice(chars) + (" " if rng.random() < 0.2 else "") for _ in range(60)) for _ in range(3000)]
    texts += ["".join(chars[i:i + 500]) for i in range(0, len(chars), 500)]
    texts += ["الرقم ١٢٣٫٤ و ١٢٣,٤ و 12.5؟ Σίσυφος ÉCOLE café ﻻ ـــ", "", "   ", "x"]
    for text in texts:
        key = normalize_arabic(text)
        assert simplify_text(key, KEY_TEXT_NORM) == simplify_text(key), repr(key)


def test_the_signature_pass_hands_minhash_what_datatrove_would_shingle():
    """SetDedupKey puts `shingle_text(key)` in doc.text and MinHash leaves it as is (AS_IS): the text shingled is
    datatrove's `simplify_text(key)` for every key, marks between digits and decomposable letters included."""
    from hala.pipelines.dedup.steps import AS_IS, shingle_text

    chars = _key_chars()
    rng = random.Random(1)
    texts = ["".join(rng.choice(chars) + (" " if rng.random() < 0.2 else "") for _ in range(60)) for _ in range(3000)]
    texts += ["".join(chars[i:i + 500]) for i in range(0, len(chars), 500)]
    texts += ["1\u03012 ١\u0651٢", "e\u0301cole ÉCOLE café", "ﻻ ـــ 12.5", "\u0301", "𝑥\U0001d167 ١٢", "", "   ", "x"]
    for text in texts:
        key = normalize_arabic(text)
        shingled = shingle_text(key)
        assert shingled == simplify_text(key, KEY_TEXT_NORM) == simplify_text(key), repr(key)
        assert simplify_text(shingled, AS_IS) == shingled
    # marks are not only what normalize_arabic lets through: any text, against datatrove's own steps
    for text in ["1\u03012", "a\u0300\u0301b", "\u0951x\u05b0", "x\U0001d167y\U000e0100"]:
        assert shingle_text(text) == simplify_text(text, KEY_TEXT_NORM)
