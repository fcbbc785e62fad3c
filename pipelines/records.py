"""The data contracts of DESIGN.md, in one small module every stage imports.

A record travels through datatrove as a `Document`: `doc.id` is the record id, `doc.text` is the text the
stage judges (the message contents joined by blank lines), and `doc.metadata` holds the record's fields.
`record_to_document` / `document_to_record` are the only two places that know this mapping.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Iterable, Literal, TypedDict

from datatrove.data import Document

Role = Literal["system", "user", "assistant"]
ROLES: tuple[str, ...] = ("system", "user", "assistant")

# Fields of an instruction record (besides `id`), in the order they are written.
INSTRUCTION_FIELDS: tuple[str, ...] = ("source", "messages", "messages_en", "lang", "meta")
# Fields of a bilingual pair (besides `id`).
PAIR_FIELDS: tuple[str, ...] = ("src_lang", "tgt_lang", "src", "tgt", "origin", "judge", "meta")
# Columns of every rejects row.
REJECT_FIELDS: tuple[str, ...] = ("id", "stage", "reason", "detail", "record")


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
            value = json.dumps(value or {}, ensure_ascii=False, sort_keys=True)
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
