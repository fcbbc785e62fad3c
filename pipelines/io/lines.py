"""One JSON line → one row or one reason: the rule both raw readers (sources and records) follow, so a line is
too large, not UTF-8 or not JSON by the same measure whichever command reads it."""

from __future__ import annotations

from typing import Any, NamedTuple

import orjson

# A translated record is ≤ 1M characters (hala.pipelines.core.records.MAX_RECORD_CHARS); JSON escapes may take
# 6 bytes per Arabic character, so a line may take up to ~8 MB before it is certainly not a row.
MAX_LINE_BYTES = 8_000_000
BOM = b"\xef\xbb\xbf"  # a UTF-8 byte-order mark some editors put at the start of a file: not part of the row


class ParsedLine(NamedTuple):
    row: Any  # the parsed value, or (when `reason` is set) the line as text, shortened when too large
    reason: str | None = None  # too_large, bad_utf8, malformed_json
    detail: str = ""


def parse_line(line: bytes) -> ParsedLine:
    """Parse one line of a JSON-lines file (orjson first: the common case costs one call)."""
    if len(line) > MAX_LINE_BYTES:
        return ParsedLine(line[:200].decode("utf-8", "replace") + "…", "too_large",
                          f"line of {len(line)} bytes (limit {MAX_LINE_BYTES})")
    if line.startswith(BOM):
        line = line[len(BOM):]
    try:
        return ParsedLine(orjson.loads(line))
    except orjson.JSONDecodeError as e:
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as u:
            return ParsedLine(line.decode("utf-8", "replace").rstrip("\n"), "bad_utf8", str(u))
        return ParsedLine(text.rstrip("\n"), "malformed_json", "blank line" if not text.strip() else str(e))


def too_large(item: Any) -> ParsedLine | None:
    """The `too_large` verdict for an element of a JSON array file (measured as its own JSON line), else None."""
    size = len(data := orjson.dumps(item))
    if size > MAX_LINE_BYTES:
        return ParsedLine(data[:200].decode("utf-8", "replace") + "…", "too_large",
                          f"row of {size} bytes (limit {MAX_LINE_BYTES})")
    return None
