"""Small helpers the bilingual flows share: whether a folder holds rows, and copying a sub-run's rejects."""

from __future__ import annotations

import shutil
from pathlib import Path

from hala.pipelines.core.datasets import record_files


def has_rows(folder: Path) -> bool:
    """Whether a file or dataset folder holds any record file (a stage that rejected everything writes none)."""
    return bool(record_files(folder))


def merge_rejects(src_out: Path, dst_out: Path) -> None:
    """Copy the rejects of a sub-run (e.g. dedup into a work folder) next to the flow's own output."""
    src = src_out / "rejects"
    if src.is_dir():
        shutil.copytree(src, dst_out / "rejects", dirs_exist_ok=True)
