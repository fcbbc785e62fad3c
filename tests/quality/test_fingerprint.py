"""The data fingerprint names content: one changed byte changes it; copying, renaming the folder, new mtimes, and the
gate's/report's own files (validation.json, report.json, stats.json) do not."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hala.quality.fingerprint import data_files, dataset_fingerprint


@pytest.fixture()
def dataset(tmp_path) -> Path:
    ds = tmp_path / "ds"
    (ds / "data").mkdir(parents=True)
    for i in range(2):
        table = pa.table({"id": [f"{i}-{j}" for j in range(50)], "tgt": [f"نص رقم {j}" for j in range(50)]})
        pq.write_table(table, ds / "data" / f"{i:03d}.parquet")
    (ds / "stats.json").write_text('{"kind": "pairs"}')
    return ds


def test_fingerprint_is_content_not_place(dataset, tmp_path):
    fp = dataset_fingerprint(dataset)
    assert fp.startswith("sha256:") and len(fp) == len("sha256:") + 64
    copy = tmp_path / "elsewhere" / "renamed"
    shutil.copytree(dataset, copy)
    for f in (copy / "data").iterdir():
        os.utime(f, (1_000_000, 1_000_000))
    assert dataset_fingerprint(copy) == fp
    # shard names do not matter either, only their content
    (copy / "data" / "000.parquet").rename(copy / "data" / "zzz.parquet")
    assert dataset_fingerprint(copy) == fp
    # files written next to the data are not data
    (copy / "validation.json").write_text("{}")
    (copy / "rejects").mkdir()
    (copy / "rejects" / "x.jsonl").write_text("{}\n")
    assert dataset_fingerprint(copy) == fp


def test_one_byte_changes_the_fingerprint(dataset):
    fp = dataset_fingerprint(dataset)
    shard = dataset / "data" / "001.parquet"
    raw = bytearray(shard.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    shard.write_bytes(bytes(raw))
    assert dataset_fingerprint(dataset) != fp


def test_bare_folder_and_single_file(tmp_path):
    folder = tmp_path / "bare"
    folder.mkdir()
    f = folder / "rows.jsonl"
    f.write_text('{"id": "a", "src": "hi", "tgt": "مرحبا"}\n', encoding="utf-8")
    fp = dataset_fingerprint(folder)
    assert dataset_fingerprint(f) == fp  # a file is its own dataset
    for name in ("validation.json", "report.json", "rows.jsonl.validation.json"):
        (folder / name).write_text("{}")
    assert data_files(folder) == [f] and dataset_fingerprint(folder) == fp
    f.write_text('{"id": "a", "src": "hi", "tgt": "مرحبأ"}\n', encoding="utf-8")
    assert dataset_fingerprint(folder) != fp
    with pytest.raises(FileNotFoundError):
        dataset_fingerprint(tmp_path / "nothing-here")


def test_folder_without_data_dir_ignores_what_hala_writes_beside_the_records(tmp_path):
    """A translator set (pairs/ and chat/ per split, no data/): its records are the data; rejects/, logs/, work/ and
    report/ beside them are not (the same folders the report's reader skips)."""
    from hala.quality.fingerprint import translator_set

    root = tmp_path / "set"
    for sub in ("pairs", "chat"):
        (root / sub).mkdir(parents=True)
        for split in ("train", "test"):
            pq.write_table(pa.table({"id": [f"{sub}-{split}"]}), root / sub / f"{split}.parquet")
    fp = dataset_fingerprint(root)
    assert [p.relative_to(root).as_posix() for p in data_files(root)] == [
        "chat/test.parquet", "chat/train.parquet", "pairs/test.parquet", "pairs/train.parquet"]
    for extra in ("rejects/dedup/00000.jsonl", "logs/translator_set/executor.json", "work/build/x.parquet",
                  "report/report.json", "report/plots.json"):
        (root / extra).parent.mkdir(parents=True, exist_ok=True)
        (root / extra).write_text("{}\n")
    assert dataset_fingerprint(root) == fp
    layout = translator_set(root)
    assert {c: sorted(s) for c, s in layout.items()} == {"pairs": ["test", "train"], "chat": ["test", "train"]}
    assert translator_set(root / "pairs") is None and translator_set(tmp_path) is None
