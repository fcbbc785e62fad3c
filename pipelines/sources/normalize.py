"""The `normalize` stage: raw source rows become instruction records, or reasoned rejects."""

from __future__ import annotations

from datatrove.data import Document

from hala.pipelines.core.records import messages_text
from hala.pipelines.core.stages import HalaStage
from hala.pipelines.sources.adapters import AdapterError, resolve_mapping, to_messages
from hala.pipelines.sources.columns import ColumnMapping


class NormalizeStage(HalaStage):
    """Reader errors and rows that fit no format leave here with a reason; the rest leave as records.

    `fmt`/`columns` say how rows are read (`hala.pipelines.sources.adapters`); a multi-source run gives them per
    recorded source dataset in `per_source` ({dataset: (format, columns)})."""

    stage = "normalize"

    def __init__(self, output_dir: str | None = None, fmt: str = "auto", columns: ColumnMapping | dict | None = None,
                 per_source: dict[str, tuple[str, dict | None]] | None = None):
        super().__init__(output_dir)
        self.fmt = fmt
        self.mapping = resolve_mapping(fmt, columns)
        self.per_source = {name: (f, resolve_mapping(f, c)) for name, (f, c) in (per_source or {}).items()}

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        meta = doc.metadata
        if unreadable := self.read_error(doc):
            return unreadable
        fmt, mapping = self.per_source.get(meta["source"]["dataset"], (self.fmt, self.mapping))
        try:
            fmt, messages = to_messages(meta["raw"], fmt, mapping)
        except AdapterError as e:
            return self.reject(doc, e.reason, e.detail)
        raw = meta.pop("raw")
        meta.pop("file", None)
        row = meta.pop("row", None)
        meta["messages"] = messages
        meta["messages_en"] = None
        meta["lang"] = "en"
        meta["meta"] = {"format": fmt, "row": row, "source_id": str(raw.get("id", "")) if isinstance(raw, dict) else ""}
        doc.text = messages_text(messages)
        return True
