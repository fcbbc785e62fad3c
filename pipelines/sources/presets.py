"""The format presets: the seven English sources of the Hala paper, and the common generic formats.

Each preset is a column mapping (`hala.pipelines.sources.columns`) plus the columns that recognise it (`signature`,
for `--format auto`). The schemas are the ones on the datasets' Hub cards (see samples/sources/README.md, which
holds a few rows of each in exactly that schema). `auto` tries the signatures in table order, most specific first,
so a Tulu-3 row (`id, messages, source`) is `tulu3` and a bare `messages` row is `messages`.
"""

from __future__ import annotations

from dataclasses import dataclass

from hala.pipelines.sources.columns import ColumnMapping

SHAREGPT_ROLES = {"system": "system", "human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant",
                  "chatgpt": "assistant", "bing": "assistant", "bard": "assistant"}


@dataclass(frozen=True)
class Preset:
    name: str
    columns: ColumnMapping
    signature: frozenset[str]  # columns a row must have for `auto` to pick this preset
    exact: bool = False  # `auto` picks it only when the row has exactly these columns
    about: str = ""


def _single(system: str | None, user: str | list[str], assistant: str) -> ColumnMapping:
    return ColumnMapping(system=system, user=user, assistant=assistant)


def _turns(key: str, role: str, content: str, roles: dict[str, str]) -> ColumnMapping:
    return ColumnMapping(turns=key, role=role, content=content, roles=roles)


PRESETS: tuple[Preset, ...] = (
    Preset("scp116k", _single(None, "problem", "matched_solution"), frozenset({"problem", "matched_solution"}),
           about="EricLu/SCP-116K: problem → matched_solution (the reference solution; o1_solution and qwq_solution "
                 "are model answers, choose one with columns.assistant)"),
    Preset("realign_alpaca", _turns("items", "from", "value", {"human": "user", "gpt": "assistant"}),
           frozenset({"items"}), about="GAIR/ReAlign-Alpaca: items [{from: human/gpt, value}] (one JSON array file)"),
    Preset("lamini", _single(None, "instruction", "response"), frozenset({"instruction", "response"}),
           about="MBZUAI/LaMini-instruction: instruction → response"),
    Preset("synthetic_instruct", _single(None, "prompt", "chosen"), frozenset({"prompt", "chosen", "rejected"}),
           about="Dahoas/synthetic-instruct-gptj-pairwise: prompt → chosen (rejected is never translated)"),
    Preset("openorca", _single("system_prompt", "question", "response"), frozenset({"question", "response"}),
           about="Open-Orca/OpenOrca: system_prompt (empty → none), question → response"),
    Preset("tulu3", _turns("messages", "role", "content", {"system": "system", "user": "user",
                                                           "assistant": "assistant"}),
           frozenset({"id", "messages", "source"}),
           about="allenai/tulu-3-sft-mixture: messages [{role, content}] (multilingual: non-English rows are "
                 "rejected as source_not_english)"),
    Preset("hermes3", _turns("conversations", "from", "value", {"system": "system", "human": "user",
                                                                "gpt": "assistant"}),
           frozenset({"conversations"}), exact=True,
           about="NousResearch/Hermes-3-Dataset: conversations [{from: system/human/gpt, value}]"),
    Preset("alpaca", _single(None, ["instruction", "input"], "output"), frozenset({"instruction", "output"}),
           about="Alpaca: instruction (+ input after a blank line) → output"),
    Preset("sharegpt", _turns("conversations", "from", "value", SHAREGPT_ROLES), frozenset({"conversations"}),
           about="ShareGPT: conversations [{from, value}]"),
    Preset("messages", _turns("messages", "role", "content", {"system": "system", "user": "user",
                                                              "assistant": "assistant"}),
           frozenset({"messages"}), about="messages [{role, content}] (the chat format)"),
)

BY_NAME: dict[str, Preset] = {p.name: p for p in PRESETS}
FORMATS: tuple[str, ...] = ("auto", *BY_NAME)  # what --format and a recipe's `format:` accept


def preset(name: str) -> Preset:
    from hala.pipelines.core.errors import UserError

    if name not in BY_NAME:
        raise UserError(f"format {name!r}: not one of {', '.join(FORMATS)}")
    return BY_NAME[name]


def detect(row: dict) -> Preset | None:
    """The preset whose signature fits the row's columns (table order), or None."""
    keys = set(row)
    for p in PRESETS:
        if p.signature <= keys and (not p.exact or keys == p.signature):
            return p
    return None
