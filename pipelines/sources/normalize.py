"""The `normalize` stage: raw source rows become instruction records, or reasoned rejects."""

from __future__ import annotations

from datatrove.data import Document

from hala.pipelines.core.records import messages_text
from hala.pipelines.core.stages import HalaStage
from hala.pipelines.sources.adapters import AdapterError, to_messages


class NormalizeStage(HalaStage):
    """Reader errors and rows that fit no format leave here with a reason; the rest leave as records."""

    stage = "normalize"

    def __init__(self, output_dir: str | None = None, fmt: str = "auto"):
        super().__init__(output_dir)
        self.fmt = fmt

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        meta = doc.metadata
        if unreadable := self.read_error(doc):
            return unreadable
        try:
            fmt, messages = to_messages(meta["raw"], self.fmt)
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
