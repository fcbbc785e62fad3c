"""Reading what the Hub reads from a card and what the report computes, for assertions."""

from __future__ import annotations

from pathlib import Path

import yaml


def read_card_header(text: str) -> dict:
    """The YAML header of a card (what the Hub parses)."""
    if not text.startswith("---\n"):
        raise ValueError("card has no YAML header")
    end = text.index("\n---\n", 4)
    return yaml.safe_load(text[4:end]) or {}


def metrics_table(dataset_dir: str | Path, kind: str | None = None, lid: bool = True, lid_model: str | None = None):
    """One row of the report's metrics per record of DATASET, as a Polars frame."""
    from hala.quality.metrics import open_dataset

    con, _, _ = open_dataset(dataset_dir, kind, lid, lid_model)
    try:
        return con.sql("SELECT * EXCLUDE (_row, content_key) FROM metrics ORDER BY _row").pl()
    finally:
        con.close()


def assistant_mask(tokenizer, messages: list[dict]) -> tuple[list[int], list[int]]:
    """(input_ids, assistant_masks) as the chat template's generation markers define them."""
    out = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
    return list(out["input_ids"]), list(out["assistant_masks"])
