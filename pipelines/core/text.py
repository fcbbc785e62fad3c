"""Text facts more than one stage relies on (the rollout, masking, the filters, dedup keys): defined once, so a
digit or a repeated n-gram means the same thing wherever it is measured."""

from __future__ import annotations

# Arabic-Indic (٠-٩) and Extended Arabic-Indic (۰-۹) digits → ASCII digits.
ASCII_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")


def duplicate_fraction(words: list[str], n: int) -> float:
    """Share of word n-grams that repeat an earlier one: 0 for ordinary prose, near 1 for a text stuck in a loop."""
    grams = list(zip(*(words[i:] for i in range(n))))
    return 1 - len(set(grams)) / len(grams) if grams else 0.0
