"""Reading training and evaluation rows: Hub ids, hala dataset folders, translator-set folders, loose files.

A hala dataset folder keeps its rows in `DATASET/data/*.parquet`; a translator-set folder in `chat/<split>.parquet`
(messages) and `pairs/<split>.parquet` (src/tgt). Any other folder: its `<split>.parquet|jsonl`, else every
parquet/jsonl file in it — unless its files are named after other splits (asking a train/test folder for `dev` must
not train on train and test together). What hala writes next to data (validation.json, stats.json) is never a row.
"""

from __future__ import annotations

import json
from pathlib import Path

from hala.pipelines.core.datasets import is_sidecar
from hala.pipelines.core.errors import UserError

_EXTS = (".parquet", ".jsonl", ".json")
_SPLIT_NAMES = {"train", "dev", "test", "validation", "valid", "eval"}


def _files_in(folder: Path, split: str, sub: str | None) -> list[Path]:
    if sub and (folder / sub).is_dir():
        folder = folder / sub
    if (folder / "data").is_dir():
        folder = folder / "data"
    for ext in _EXTS:
        if (folder / f"{split}{ext}").is_file():
            return [folder / f"{split}{ext}"]
    files = sorted(p for p in folder.iterdir() if p.suffix in _EXTS and p.is_file() and not is_sidecar(p))
    if not files:
        raise UserError(f"{folder}: no .parquet or .jsonl files")
    splits = sorted({p.stem for p in files} & _SPLIT_NAMES)
    if splits:
        raise UserError(f"{folder}: no {split!r} split (its files are the splits {', '.join(splits)})")
    return files


def local_files(path: str, split: str, sub: str | None = None) -> list[Path] | None:
    """The files a local path means; None: not on disk but a Hub dataset id that can be opened. Anything else is a
    one-line UserError (hala.pipelines.core.hub.locate), never a Hub lookup that ends in a traceback."""
    p = Path(path).expanduser()
    if p.is_file():
        return [p]
    if p.is_dir():
        return _files_in(p, split, sub)
    from hala.pipelines.core.hub import locate

    locate(path, "dataset")
    return None


def hub_rows(path: str, split: str, name: str | None = None, revision: str | None = None) -> list[dict]:
    """The rows of a Hub dataset split; a split, config or revision the Hub (or the HF cache) cannot give is one line."""
    from datasets import load_dataset

    try:
        return list(load_dataset(path, name, split=split, revision=revision))
    except (OSError, ValueError) as e:  # DatasetNotFoundError and ConnectionError are OSErrors; a bad split ValueError
        first = (str(e).strip().splitlines() or [""])[0]
        raise UserError(f"dataset {path!r} (split {split}): cannot be loaded ({type(e).__name__}: {first})") from None


def read_rows(files: list[Path]) -> list[dict]:
    """All rows of parquet/jsonl files, in file order."""
    rows: list[dict] = []
    for f in files:
        if f.suffix == ".parquet":
            import pyarrow.parquet as pq

            rows.extend(pq.read_table(f).to_pylist())
        else:
            with open(f, encoding="utf-8") as fh:
                rows.extend(json.loads(line) for line in fh if line.strip())
    return rows


def clean_messages(messages) -> list[dict]:
    """Only role/content (parquet structs may carry extra null fields TRL would render)."""
    if isinstance(messages, str):
        messages = json.loads(messages)
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def load_messages_dataset(path: str, *, split: str = "train", name: str | None = None, revision: str | None = None,
                          field: str = "messages", max_samples: int | None = None):
    """A `datasets.Dataset` with one column, `messages`, ready for TRL's conversational SFT."""
    from datasets import Dataset

    files = local_files(path, split, sub="chat")
    rows = read_rows(files) if files is not None else hub_rows(path, split, name, revision)
    if max_samples:
        rows = rows[:max_samples]
    if not rows:
        raise UserError(f"{path} ({split}): no rows")
    return Dataset.from_list([{"messages": _row_messages(r, field, path)} for r in rows])


def _row_messages(row: dict, field: str, path: str) -> list[dict]:
    """`messages` as stored, or the translator prompt built from a pair row (src/tgt or en/ar), as the translator
    set's chat files do."""
    if field in row:
        return clean_messages(row[field])
    from hala.pipelines.bilingual.translator_set import chat_messages

    if "src" in row and "tgt" in row:
        return chat_messages(row["src"], row["tgt"], row.get("tgt_lang") or "ar")
    if "en" in row and "ar" in row:
        return chat_messages(row["en"], row["ar"], "ar")
    raise UserError(f"{path}: rows have no {field!r} column and are not src/tgt or en/ar pairs "
                    f"(columns: {sorted(row)})")


def load_pairs(path: str, *, split: str = "test", src_lang: str | None = "en",
               max_samples: int | None = None) -> list[tuple[str, str]]:
    """(source, reference) pairs from `src`/`tgt` rows, or from chat rows (last user turn's text → assistant).

    Chat rows: the user turn is the translator prompt ("instruction\\ntext"); the text after the first line is taken
    as the source, matching what `translate_texts` sends.
    """
    files = local_files(path, split, sub="pairs")
    rows = read_rows(files) if files is not None else hub_rows(path, split)
    pairs: list[tuple[str, str]] = []
    for r in rows:
        if "src" in r and "tgt" in r:
            if src_lang and r.get("src_lang") and r["src_lang"] != src_lang:
                continue
            pairs.append((r["src"], r["tgt"]))
        elif "en" in r and "ar" in r:
            pairs.append((r["en"], r["ar"]))
        elif "messages" in r:
            msgs = clean_messages(r["messages"])
            user = next(m["content"] for m in msgs if m["role"] == "user")
            answer = next(m["content"] for m in msgs if m["role"] == "assistant")
            pairs.append((user.split("\n", 1)[1] if "\n" in user else user, answer))
        else:
            raise UserError(f"{path}: rows need src/tgt, en/ar or messages (got {sorted(r)})")
    if max_samples:
        pairs = pairs[:max_samples]
    if not pairs:
        raise UserError(f"{path}: no held-out pairs")
    return pairs
