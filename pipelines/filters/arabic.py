"""Arabic text helpers: normalization for matching, and script counts for the script-share and residue checks.

Normalization is for *comparing* texts (dedup keys, MinHash shingles, LID input), never for what is written: the
same sentence with and without tashkeel, with tatweel, or with another alef/yeh/teh-marbuta spelling must compare equal.
Text typed in Arabic *presentation forms* (U+FB50–U+FDFF, U+FE70–U+FEFF: the contextual glyphs old PDFs and some
keyboards emit) is folded to ordinary letters first (NFKC on those characters only), so LID, the script checks and
dedup keys see the same letters as for the plain form; every helper here does it.
"""

from __future__ import annotations

import re
import unicodedata

from hala.pipelines.core.text import ASCII_DIGITS

PRESENTATION_FORMS_RE = re.compile(r"[\uFB50-\uFDFF\uFE70-\uFEFF]+")


def fold_presentation_forms(text: str) -> str:
    """Arabic presentation forms → ordinary Arabic letters (NFKC on those characters only; the rest untouched)."""
    if not PRESENTATION_FORMS_RE.search(text):
        return text
    return PRESENTATION_FORMS_RE.sub(lambda m: unicodedata.normalize("NFKC", m.group()).replace("\ufeff", ""), text)


# Harakat, tanween, shadda, sukun, dagger alef, Quranic marks; and tatweel (kashida).
DIACRITICS_RE = re.compile(r"[\u0610-\u061A\u064B-\u065F\u0670\u06D6-\u06DC\u06DF-\u06E8\u06EA-\u06ED\u0640]")
# Alef with hamza above/below, madda, wasla → bare alef; alef maksura → yeh; teh marbuta → heh.
_UNIFY = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ى": "ي", "ة": "ه"})
# normalize_arabic's three character maps in one pass (their domains are disjoint and no output is another's input):
# diacritics and tatweel deleted, the letters unified, the digits made ASCII.
_MATCHING = {**{c: None for c in range(0x0600, 0x0700) if DIACRITICS_RE.match(chr(c))}, **_UNIFY, **ASCII_DIGITS}
# Anything that is not a letter or digit (Arabic punctuation included) becomes a space when matching.
_NON_WORD_RE = re.compile(r"[\W_]+", re.UNICODE)

ARABIC_LETTER_RE = re.compile(r"[\u0621-\u063A\u0641-\u064A\u066E-\u066F\u0671-\u06D3\u06D5\u06EE-\u06EF\u06FA-\u06FF]")
LATIN_LETTER_RE = re.compile(r"[A-Za-z\u00C0-\u024F]")


def strip_diacritics(text: str) -> str:
    """Remove tashkeel and tatweel, after folding presentation forms (what LID and matching should not depend on)."""
    return DIACRITICS_RE.sub("", fold_presentation_forms(text))


def normalize_arabic(text: str) -> str:
    """Matching form: no diacritics/tatweel, unified alef/yeh/teh-marbuta, ASCII digits, lowercase, words only."""
    text = fold_presentation_forms(text).translate(_MATCHING).lower()
    return " ".join(_NON_WORD_RE.sub(" ", text).split())


def to_ascii_digits(text: str) -> str:
    return text.translate(ASCII_DIGITS)


_ARABIC_LETTERS = "".join(chr(c) for c in range(0x0600, 0x0700) if ARABIC_LETTER_RE.match(chr(c)))
_DELETE_ARABIC = str.maketrans("", "", _ARABIC_LETTERS)


def script_counts(text: str) -> tuple[int, int]:
    """(Arabic letters, Latin letters) in `text` (Arabic counted by deletion: no list of matches is built)."""
    text = fold_presentation_forms(text)
    return len(text) - len(text.translate(_DELETE_ARABIC)), len(LATIN_LETTER_RE.findall(text))


def arabic_share(text: str) -> tuple[float, int]:
    """Arabic letters / (Arabic + Latin letters), and the letter count it was judged on (0 → share 1.0)."""
    ar, la = script_counts(text)
    total = ar + la
    return (ar / total if total else 1.0), total
