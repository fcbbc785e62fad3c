"""`ChunkCheckpoints` and `document_row_adapter` (the translate stage's checkpoint and work-file writing) write what
datatrove's `CheckpointManager` and default JSONL adapter write, byte for byte, with the same chunk bookkeeping."""

from __future__ import annotations

import asyncio
from pathlib import Path

from datatrove.data import Document
from datatrove.pipeline.inference.checkpointing import CheckpointManager
from datatrove.pipeline.writers import JsonlWriter

from hala.pipelines.core.compat import ChunkCheckpoints, read_ahead
from hala.pipelines.core.records import document_row_adapter


def _docs(n: int) -> list[Document]:
    return [Document(text=f"text {i}" if i % 4 else "", id=f"d{i}",
                     metadata={"messages": [{"role": "user", "content": f"سؤال {i}"}], "n": i, "none": None,
                               **({"__no_rollouts_remove": True} if i == 6 else {})}) for i in range(n)]


def _write(folder: Path, manager_cls, adapter, n: int = 17, per_chunk: int = 5) -> dict:
    manager = manager_cls(str(folder / "ckpt"), per_chunk)
    writer = JsonlWriter(str(folder / "out"), output_filename="${rank}_chunk_${chunk_index}.jsonl", compression=None,
                         adapter=adapter)

    async def go():
        with writer as w:
            for i, doc in enumerate(_docs(n)):
                await manager.write_document(doc, 0, i // per_chunk, w)
            if manager_cls is ChunkCheckpoints:
                manager.close_files()

    asyncio.run(go())
    files = {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
    return {"files": files, "last": manager.last_chunk_index, "counts": dict(manager.per_chunk_counts)}


def test_same_checkpoint_and_output_files_as_datatrove(tmp_path):
    stock = _write(tmp_path / "stock", CheckpointManager, None)
    ours = _write(tmp_path / "ours", ChunkCheckpoints, document_row_adapter)
    assert ours == stock
    assert stock["last"] == 2 and "ckpt/00000/chunk_00003.jsonl" in stock["files"]  # a partial chunk is kept


def test_read_ahead_yields_every_document_in_order():
    async def collect(n: int, batch: int) -> list[int]:
        return [x async for x in read_ahead(iter(range(n)), batch)]

    assert asyncio.run(collect(130, 64)) == list(range(130))
    assert asyncio.run(collect(128, 64)) == list(range(128))
    assert asyncio.run(collect(0, 64)) == []


def test_read_ahead_raises_the_readers_error_after_the_rows_before_it():
    def rows():
        yield from range(70)
        raise ValueError("bad row 70")

    async def collect() -> list[int]:
        got = []
        try:
            async for x in read_ahead(rows(), 64):
                got.append(x)
        except ValueError as e:
            got.append(str(e))
        return got

    assert asyncio.run(collect()) == [*range(70), "bad row 70"]  # every row read before the error, then the error


def test_read_ahead_stops_reading_when_the_runner_stops():
    import itertools
    import threading
    import time

    async def first_few() -> list[int]:
        out = []
        gen = read_ahead(itertools.count(), 8, depth=2)
        async for x in gen:
            out.append(x)
            if len(out) == 5:
                break
        await gen.aclose()
        return out

    assert asyncio.run(first_few()) == [0, 1, 2, 3, 4]
    deadline = time.monotonic() + 5
    while any(t.name == "hala-read-ahead" for t in threading.enumerate()):
        assert time.monotonic() < deadline, "the reader thread kept running"
        time.sleep(0.05)
