"""The data contracts (instruction record, bilingual pair, reject row), in one small module every stage imports.

A record travels through datatrove as a `Document`: `doc.id` is the record id, `doc.text` is the text the
stage judges (the message contents joined by blank lines), and `doc.metadata` holds the record's fields.
`record_to_document` / `document_to_record` are the only two places that know this mapping.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from typing import Any, Collection, Iterable, Literal, TypedDict

from datatrove.data import Document

Role = Literal["system", "user", "assistant"]  # the roles a record's messages may have

# Fields of an instruction record (besides `id`), in the order they are written.
INSTRUCTION_FIELDS: tuple[str, ...] = ("source", "messages", "messages_en", "lang", "meta")
# Fields of a bilingual pair (besides `id`).
PAIR_FIELDS: tuple[str, ...] = ("src_lang", "tgt_lang", "src", "tgt", "origin", "judge", "meta")
# Columns of every rejects row.


class Message(TypedDict):
    role: str
    content: str


class Source(TypedDict):
    dataset: str
    config: str
    split: str
    revision: str


def stable_id(*parts: Any) -> str:
    """A short, stable id: the same source row always gets the same id, on any machine."""
    h = hashlib.sha1("\x1f".join(str(p) for p in parts).encode("utf-8"))
    return h.hexdigest()[:20]


def make_source(dataset: str, config: str = "default", split: str = "train", revision: str = "") -> Source:
    return {"dataset": dataset, "config": config, "split": split, "revision": revision}


def messages_text(messages: Iterable[Message]) -> str:
    """The text a stage judges: every message's content, blank-line separated."""
    return "\n\n".join(m["content"] for m in messages)


def record_to_document(record: dict) -> Document:
    """Wrap a record (instruction or pair) as a datatrove Document."""
    meta = {k: v for k, v in record.items() if k != "id"}
    if "messages" in record:
        text = messages_text(record["messages"])
    elif "tgt" in record:
        text = record.get("tgt") or ""
    else:
        text = record.get("text", "")
    return Document(text=text, id=str(record["id"]), metadata=meta)


# json.dumps(value, ensure_ascii=False, sort_keys=True) without building an encoder for every row (same output)
_meta_json = json.JSONEncoder(ensure_ascii=False, sort_keys=True).encode


def document_to_record(doc: Document, fields: tuple[str, ...] | None = None) -> dict:
    """Unwrap a Document into the record written to parquet (datatrove writer adapter uses this)."""
    meta = doc.metadata
    if fields is None:
        fields = INSTRUCTION_FIELDS if "messages" in meta else PAIR_FIELDS
    record: dict[str, Any] = {"id": doc.id}
    for f in fields:
        value = meta.get(f)
        if f == "meta":
            # per-stage metadata: a JSON string keeps the parquet schema fixed whatever the stages add
            value = _meta_json(value) if value else "{}"
        record[f] = value
    return record


def stage_meta(doc: Document) -> dict:
    """The per-stage metadata dict of a record (created on first use)."""
    meta = doc.metadata.get("meta")
    if meta is None:
        meta = {}
        doc.metadata["meta"] = meta
    elif isinstance(meta, str):
        meta = json.loads(meta) if meta else {}
        doc.metadata["meta"] = meta
    return meta


def _arrow_schemas():
    import pyarrow as pa

    message = pa.struct([("role", pa.string()), ("content", pa.string())])
    source = pa.struct([("dataset", pa.string()), ("config", pa.string()), ("split", pa.string()), ("revision", pa.string())])
    instruction = pa.schema(
        [
            ("id", pa.string()),
            ("source", source),
            ("messages", pa.list_(message)),
            ("messages_en", pa.list_(message)),
            ("lang", pa.string()),
            ("meta", pa.string()),
        ]
    )
    judge = pa.struct([("verdict", pa.string()), ("model", pa.string()), ("prompt_version", pa.string()),
                       ("raw", pa.string())])
    pair = pa.schema(
        [
            ("id", pa.string()),
            ("src_lang", pa.string()),
            ("tgt_lang", pa.string()),
            ("src", pa.string()),
            ("tgt", pa.string()),
            ("origin", pa.string()),
            ("judge", judge),
            ("meta", pa.string()),
        ]
    )
    return instruction, pair


# A record whose texts (every content, or src + tgt) hold more characters than this is rejected as `too_large`.
MAX_RECORD_CHARS = 1_000_000
# Fields whose values are the texts the stages judge: a wrong type there is `non_string_content`.
_TEXT_FIELDS = ("src", "tgt")
_MESSAGE_LISTS = ("messages", "messages_en")


def record_kind(record: Collection[str]) -> str | None:
    """`instructions` (has `messages`), `pairs` (has `src` and `tgt`, or OPUS's own `translation`) or None: for a
    record, its keys or a table's column names alike (the one rule every reader, the report and publish decide the
    kind by)."""
    if "messages" in record:
        return "instructions"
    if ("src" in record and "tgt" in record) or "translation" in record:
        return "pairs"
    return None


def opus_pair(row: Any, origin: str) -> dict | None:
    """A row in OPUS's own schema (`{"translation": {"ar": …, "en": …}}`, as OPUS-100 on the Hub and
    samples/opus) as a pair record: Arabic is the target, the other language the source (with two languages and no
    Arabic: the keys in order). None when the row is not one (it is then checked as it is)."""
    if not isinstance(row, dict) or "src" in row or "tgt" in row:
        return None
    sides = row.get("translation")
    if not isinstance(sides, dict) or len(sides) != 2:
        return None
    langs = list(sides)
    src_lang, tgt_lang = (next(k for k in langs if k != "ar"), "ar") if "ar" in langs else langs
    pair = {"src_lang": src_lang, "tgt_lang": tgt_lang, "src": sides[src_lang], "tgt": sides[tgt_lang],
            "origin": origin, "judge": None, "meta": {"format": "opus"}}
    return {"id": row["id"], **pair} if row.get("id") else pair


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number",
            float: "a number"}.get(type(value), type(value).__name__)


def _checker(arrow_type):
    """A function telling why a value does not fit `arrow_type`: None when it fits (null always fits), else
    (the path inside the value, what is wrong)."""
    import pyarrow as pa

    if pa.types.is_struct(arrow_type):
        fields = [(f.name, _checker(f.type)) for f in arrow_type]

        def check_struct(value):
            if value is None:
                return None
            if not isinstance(value, dict):
                return "", f"is {_type_name(value)}, not an object"
            for name, check in fields:
                problem = check(value.get(name))
                if problem:
                    return f".{name}{problem[0]}", problem[1]
            return None

        return check_struct
    if pa.types.is_list(arrow_type):
        item = _checker(arrow_type.value_type)

        def check_list(value):
            if value is None:
                return None
            if not isinstance(value, list):
                return "", f"is {_type_name(value)}, not a list"
            for i, v in enumerate(value):
                problem = item(v)
                if problem:
                    return f"[{i}]{problem[0]}", problem[1]
            return None

        return check_list
    return lambda value: None if value is None or isinstance(value, str) else ("", f"is {_type_name(value)}, not a string")


@lru_cache(maxsize=2)
def _field_checkers(kind: str) -> tuple:
    """(field, checker) for the schema fields that are neither texts nor `id`/`meta` (checked on their own)."""
    schema = instruction_schema() if kind == "instructions" else pair_schema()
    skip = {"id", "meta", *_TEXT_FIELDS, *_MESSAGE_LISTS}
    return tuple((f.name, _checker(f.type)) for f in schema if f.name not in skip)


def _messages_problem(record: dict, name: str) -> tuple[str, str] | None:
    messages = record.get(name)
    if messages is None:
        return ("bad_schema", "`messages` is missing or null") if name == "messages" else None
    if not isinstance(messages, list):
        return "bad_schema", f"`{name}` is {_type_name(messages)}, not a list of messages"
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            return "bad_schema", f"{name}[{i}] is {_type_name(m)}, not a message object"
        if not isinstance(m.get("content"), str):
            return "non_string_content", f"{name}[{i}].content is {_type_name(m.get('content'))}, not a string"
        role = m.get("role")
        if role is not None and not isinstance(role, str):
            return "bad_schema", f"{name}[{i}].role is {_type_name(role)}, not a string"
    return None


def record_problem(record: Any, kind: str | None = None, max_chars: int = MAX_RECORD_CHARS,
                   typed: bool = False) -> tuple[str, str] | None:
    """Why a parsed row cannot travel as a record of `kind` (None: the kind its keys say), as (reason, detail), or
    None when it can. The record readers ask this of every row, so that no stage and no writer meets a wrong type:
    `not_a_record` (not a JSON object), `bad_schema` (a field missing or of the wrong type), `non_string_content`
    (a text that is null or not a string), `too_large` (more than `max_chars` characters of text). `typed`: the row
    comes from a parquet file whose columns have the record schema's types (`has_record_types`), so only nulls and
    sizes are left to check."""
    if not isinstance(record, dict):
        return "not_a_record", f"{_type_name(record)}, not a record object"
    found = record_kind(record)
    if found == "pairs" and not ("src" in record and "tgt" in record):  # `translation` that is not two languages
        return "bad_schema", f"`translation` must hold two languages (got {_type_name(record.get('translation'))})"
    if found is None or (kind is not None and found != kind):
        want = {"instructions": "`messages`", "pairs": "`src` and `tgt`"}.get(kind or "", "`messages` or `src`/`tgt`")
        return "bad_schema", f"no {want} (keys: {', '.join(sorted(map(str, record))) or 'none'})"
    if found == "instructions":
        for name in _MESSAGE_LISTS:
            problem = _messages_problem(record, name)
            if problem:
                return problem
        size = sum(len(m["content"]) for name in _MESSAGE_LISTS for m in record.get(name) or ())
    else:
        for name in _TEXT_FIELDS:
            if not isinstance(record[name], str):
                return "non_string_content", f"`{name}` is {_type_name(record[name])}, not a string"
        size = len(record["src"]) + len(record["tgt"])
    if not typed:
        for name, check in _field_checkers(found):
            problem = check(record.get(name))
            if problem:
                return "bad_schema", f"`{name}{problem[0]}` {problem[1]}"
        meta, rid = record.get("meta"), record.get("id")
        if meta is not None and not isinstance(meta, (dict, str)):
            return "bad_schema", f"`meta` is {_type_name(meta)}, not an object or a JSON string"
        if rid is not None and not isinstance(rid, (str, int)):
            return "bad_schema", f"`id` is {_type_name(rid)}, not a string"
    if size > max_chars:
        return "too_large", f"{size} characters of text (limit {max_chars})"
    return None


def has_record_types(schema, kind: str) -> bool:
    """Whether every column of a parquet `schema` that the record schema of `kind` knows has its type there (a
    column it does not know, or one that is missing, is fine: rows are checked for what matters either way)."""
    want = instruction_schema() if kind == "instructions" else pair_schema()
    return all(want.field(f.name).type.equals(f.type) for f in schema if want.get_field_index(f.name) >= 0)


def instruction_schema():
    """pyarrow schema of an instruction-record parquet shard (explicit: nullable fields never break inference)."""
    return _arrow_schemas()[0]


def pair_schema():
    """pyarrow schema of a bilingual-pair parquet shard."""
    return _arrow_schemas()[1]


def instruction_writer_adapter(self, doc: Document) -> dict:
    """datatrove writer adapter: Document → instruction record row."""
    return document_to_record(doc, INSTRUCTION_FIELDS)


def pair_writer_adapter(self, doc: Document) -> dict:
    """datatrove writer adapter: Document → bilingual pair row."""
    return document_to_record(doc, PAIR_FIELDS)


def document_row_adapter(self, doc: Document) -> dict:
    """datatrove's default JSONL row for a document (its non-empty fields; media without their bytes unless the
    writer keeps them) without `dataclasses.asdict`'s deep copy of the metadata: the row is serialized at once, and
    the copy was most of a work file's writing cost."""
    from dataclasses import asdict

    media = [{**asdict(m), **({} if self.save_media_bytes else {"media_bytes": None})} for m in doc.media]
    return {k: v for k, v in (("text", doc.text), ("id", doc.id), ("media", media), ("metadata", doc.metadata)) if v}
