"""What a model *is*, not what it is called: the translation memory and the run fingerprint key on it, so other
weights under the same name never reuse old translations.

- a local folder: its name plus a hash of `config.json`, the weights' index and, for every weight file, its size and
  first and last MiB (fine-tuned weights share the config and index, never the bytes);
- a Hub id: `id@commit` (the cached snapshot's commit, else the Hub's answer for `model_revision`);
- an endpoint: `name@model_revision`, or `name@unversioned` when the recipe gives none (the card says so).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".gguf")
UNVERSIONED = "unversioned"


def folder_hash(folder: Path) -> str:
    h = hashlib.blake2b(digest_size=12)
    for f in sorted(folder.iterdir()):
        if not f.is_file():
            continue
        if f.name == "config.json" or f.name.endswith(".index.json"):
            h.update(f.name.encode() + b"\0" + f.read_bytes())
        elif f.name.endswith(WEIGHT_SUFFIXES):
            size = f.stat().st_size
            h.update(f"{f.name}\0{size}\0".encode())
            with open(f, "rb") as fh:
                h.update(fh.read(1 << 20))
                if size > 2 << 20:
                    fh.seek(-(1 << 20), 2)
                    h.update(fh.read())
    return h.hexdigest()


def hub_commit(repo_id: str, revision: str | None) -> str:
    """The commit a Hub model id (at `revision`) resolves to: from the local cache when it is there."""
    from huggingface_hub import HfApi, snapshot_download

    try:
        return Path(snapshot_download(repo_id, revision=revision, local_files_only=True)).name
    except Exception:  # not cached: ask the Hub (locate() already checked that it can be opened)
        return HfApi().model_info(repo_id, revision=revision, timeout=15).sha or (revision or "main")


def model_identity(server_type: str, model: str, revision: str | None = None) -> str:
    """`name@what-it-is` for the served model (see the module doc)."""
    if server_type == "endpoint":
        return f"{model}@{revision or UNVERSIONED}"
    p = Path(model)
    if p.is_dir():
        return f"{p.name}@{folder_hash(p)}"
    return f"{model}@{hub_commit(model, revision)}"
