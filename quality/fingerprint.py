"""The data fingerprint: one hash that names a dataset's content, whatever its paths or mtimes.

The gate writes it into `validation.json` and publish refuses any data whose fingerprint has no passing
validation, so it must change when one byte of data changes and must not change when the folder is copied.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from hala.pipelines.core.datasets import DATA_DIR, record_files

# `hala build-translator-set` writes pairs/<split>.parquet and chat/<split>.parquet (chat rows derived from pairs).
TRANSLATOR_SET_DIRS = ("pairs", "chat")


def data_files(dataset_dir: str | Path) -> list[Path]:
    """The files whose content is the dataset: everything under `data/` (or, in a folder without `data/` such as a
    translator set, every record file outside rejects/, logs/, work/ and report/; or the file itself). The gate's
    validation.json, the report's report.json and stats.json never count."""
    return record_files(dataset_dir)


def translator_set(dataset_dir: str | Path) -> dict[str, dict[str, Path]] | None:
    """`{"pairs": {split: file}, "chat": {split: file}}` for a folder written by `hala build-translator-set`
    (a `pairs/` folder of `<split>.parquet` files and no `data/`), else None."""
    root = Path(dataset_dir)
    if not root.is_dir() or (root / DATA_DIR).is_dir() or not (root / "pairs").is_dir():
        return None
    found = {sub: {p.stem: p for p in sorted((root / sub).glob("*.parquet"))}
             for sub in TRANSLATOR_SET_DIRS if (root / sub).is_dir()}
    return found if found.get("pairs") else None


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
