"""What a published card may say about where its data and models came from: never a path of the machine that built it.

A run records local paths (its input under a temp folder, the tiny model's cache folder under the home directory,
the translation memory); a card is published as is. Here every recorded value becomes a portable name:

- a Hub id stays a Hub id (with its revision when one is recorded);
- a path inside the recipe's folder becomes relative to it, a bundled asset `hala:samples/...`;
- any other local path becomes `local:<name>` (its last component only);
- a local model folder becomes `<name>@sha256:<12 hex>` of its weights and config (a content hash: the same weights
  give the same name on any machine); the tiny demo model is named by its build version.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from hala.pipelines.core.assets import asset_dir

MODEL_FILES = ("*.safetensors", "*.bin", "config.json")


def _under(path: Path, root: Path) -> str | None:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return None


def looks_local(value: str) -> bool:
    """Whether a recorded string names something on this machine rather than a Hub id."""
    if value.startswith(("/", "~", "./", "../")):
        return True
    pathlike = "/" in value or value.endswith((".jsonl", ".json", ".parquet", ".yaml", ".yml", ".sqlite", ".bin"))
    return pathlike and os.path.exists(value)


def portable_path(value: str, base: Path) -> str:
    """A recorded path as a card may show it (see the module doc)."""
    if not looks_local(value):
        return value
    path = Path(os.path.abspath(os.path.expanduser(value)))
    inside = _under(path, Path(os.path.abspath(base)))
    if inside is not None:
        return inside or "."
    for folder in ("samples", "recipes"):
        bundled = _under(path, Path(os.path.abspath(asset_dir(folder))))
        if bundled is not None:
            return f"hala:{folder}/{bundled}".rstrip("/")
    return f"local:{path.name}"


def model_hash(folder: Path) -> str:
    """sha256 over a model folder's weights and config, in name order (12 hex digits)."""
    h = hashlib.sha256()
    files = sorted({f for pattern in MODEL_FILES for f in folder.glob(pattern) if f.is_file()})
    for f in files:
        h.update(f.name.encode())
        with f.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
    return h.hexdigest()[:12]


def portable_model(value: str | None, revision: str | None = None) -> str:
    """A model as a card names it: `org/name@rev`, `tiny (tiny-lfm2-v1-<digest>)`, or `<folder>@sha256:<hash>`."""
    from hala.pipelines.serving.tiny_model import TINY_VERSION

    if not value:
        return "not recorded"
    if value == "tiny":
        return "tiny (hala's tiny demo model: meaningless output)"
    path = Path(os.path.expanduser(value))
    if path.is_dir():
        if path.name.startswith(TINY_VERSION):
            return f"tiny ({path.name}: hala's tiny demo model, meaningless output)"
        return f"{path.name}@sha256:{model_hash(path)}"
    if path.is_file():  # a model in one file (a fastText LID model)
        h = hashlib.sha256()
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
        return f"{path.name}@sha256:{h.hexdigest()[:12]}"
    if looks_local(value):
        return f"local:{path.name} (not found when the card was built)"
    return f"{value}@{revision}" if revision and "@" not in value else value


def portable_recipe(data: Any, base: Path, key: str = "") -> Any:
    """A recipe (as a dict) with every path and model replaced by its portable name."""
    if isinstance(data, dict):
        return {k: portable_recipe(v, base, f"{key}.{k}" if key else str(k)) for k, v in data.items()}
    if isinstance(data, list):
        return [portable_recipe(v, base, key) for v in data]
    if isinstance(data, str):
        if key.endswith("model") or key == "model_name_or_path":
            return portable_model(data) if looks_local(data) or data == "tiny" else data
        return portable_path(data, base)
    return data
