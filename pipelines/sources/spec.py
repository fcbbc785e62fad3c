"""One source of a run: where its rows are, how they are read (preset or column mapping), how many, under what name.

`hala translate` has one (its top-level `input`/`format`/`columns`/… keys); a corpus recipe may list several under
`sources:`. A known Hub id picks its preset from the registry; a named preset or a column mapping is checked
against the first rows before any work starts, so a wrong column is one line (exit 2), not a run of rejects.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hala.pipelines.sources.presets import FORMATS

FORMAT_HELP = f"input format: {', '.join(FORMATS)} (auto: a known Hub id's preset, else recognised per row)"


COLUMNS_HELP = ("column mapping (hala.pipelines.sources.columns.ColumnMapping): single-turn system/user/assistant "
                "columns, or a turn list turns/role/content/roles; with a preset in `format`, its keys override the "
                "preset's (e.g. assistant: o1_solution)")


def check_columns(fmt: str, columns: dict | None) -> None:
    """A mapping that is whole once merged with the preset (a ValueError of one line otherwise)."""
    from hala.pipelines.sources.adapters import resolve_mapping

    if columns is not None:
        resolve_mapping(fmt, columns)


def check_format(value: str) -> str:
    if value not in FORMATS:
        raise ValueError(f"unknown format {value!r}; allowed: {', '.join(FORMATS)}")
    return value


class SourceSpec(BaseModel):
    """One source dataset (an entry of a corpus recipe's `sources:` list)."""

    model_config = ConfigDict(extra="forbid")

    input: str = Field(..., description="a local jsonl/json/parquet file or folder, or a Hub dataset id")
    name: str | None = Field(None, description="the source dataset name recorded on every row (and the bundle's "
                             "config); default: the Hub id, or the file's name")
    config: str | None = Field(None, description="Hub dataset config")
    split: str = Field("train", description="split to read and to record")
    revision: str | None = Field(None, description="Hub revision (commit, tag or branch) to read, recorded on every "
                                 "row and on the card")
    format: str = Field("auto", description=FORMAT_HELP)
    limit: int = Field(-1, description="the first N rows of this source (-1: all)")
    columns: dict[str, Any] | None = Field(None, description=COLUMNS_HELP)

    @field_validator("format")
    @classmethod
    def _format(cls, v: str) -> str:
        return check_format(v)

    @model_validator(mode="after")
    def _columns(self):
        check_columns(self.resolved_format(), self.columns)
        return self

    def dataset(self) -> str:
        if self.name:
            return self.name
        p = Path(self.input)
        return (p.stem if p.is_file() else p.name) if p.exists() else self.input

    def resolved_format(self) -> str:
        """The preset rows are read with: the named one; with `auto`, a registered source's (its keys overridden by
        `columns`, if any); else `auto` (each row recognised, or `columns` alone)."""
        if self.format != "auto":
            return self.format
        from hala.pipelines.sources.registry import preset_for

        return preset_for(self.name) or preset_for(self.input) or "auto"

    def reader(self, named: bool = False):
        """The datatrove reader of this source (`named`: a folder's files all count as this one source)."""
        from hala.pipelines.io.sources import source_reader

        return source_reader(self.input, self.dataset() if (named or self.name) else None, self.config, self.split,
                             self.limit, per_file=False if named else None, revision=self.revision)

    def check_first_rows(self, n: int = 5) -> None:
        """A named preset or a column mapping must find its columns in the first rows: else one `UserError`."""
        from hala.pipelines.core.errors import UserError
        from hala.pipelines.io.sources import first_rows
        from hala.pipelines.sources.adapters import resolve_mapping

        mapping = resolve_mapping(self.resolved_format(), self.columns)
        if mapping is None:
            return
        rows = first_rows(self.reader(), n)
        if not rows:
            return  # nothing parses: every row leaves as a reasoned reject
        missing = [mapping.missing(r) for r in rows]
        if all(missing):
            what = f"format {self.resolved_format()}" if self.columns is None else "columns"
            keys = ", ".join(sorted(map(str, rows[0])))
            raise UserError(f"{self.input}: {what}: column {missing[0]!r} is not in the input (its columns: {keys})")
