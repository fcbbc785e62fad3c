"""The data fingerprint: one hash that names a dataset's content, whatever its paths or mtimes.

The gate writes it into `validation.json` and publish refuses any data whose fingerprint has no passing
validation, so it must change when one byte of data changes and must not change when the folder is copied.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

DATA_DIR = "data"
DATA_SUFFIXES = (".parquet", ".jsonl", ".jsonl.gz", ".json")
# What hala writes next to (or, in a bare folder, among) the data: never part of the content.
NOT_DATA = ("validation.json", "report.json", "stats.json")


def data_files(dataset_dir: str | Path) -> list[Path]:
    """The files whose content is the dataset: everything under `data/` (or the folder itself if it has no `data/`;
    or the file itself). The gate's validation.json and the report's report.json never count."""
    root = Path(dataset_dir)
    if root.is_file():
        return [root]
    base = root / DATA_DIR if (root / DATA_DIR).is_dir() else root
    return sorted(
        p for p in base.rglob("*")
        if p.is_file() and p.name.endswith(DATA_SUFFIXES) and not p.name.startswith(".") and not p.name.endswith(NOT_DATA)
    )


def file_sha256(path: Path, chunk_size: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(chunk_size):
            h.update(chunk)
    return h.hexdigest()


def dataset_fingerprint(dataset_dir: str | Path) -> str:
    """sha256 over the sorted content hashes of the data files (names and order of files do not matter)."""
    files = data_files(dataset_dir)
    if not files:
        raise FileNotFoundError(f"no data files under {dataset_dir}")
    digests = sorted(file_sha256(p) for p in files)
    return "sha256:" + hashlib.sha256("\n".join(digests).encode()).hexdigest()
