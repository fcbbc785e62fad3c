"""YAML recipes: one file describes a whole flow; pydantic validates it and names any bad key in one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from hala.pipelines.core.errors import UserError

M = TypeVar("M", bound=BaseModel)


def format_validation_error(source: str, err: ValidationError) -> str:
    """`recipe.yaml: server.typ: Extra inputs are not permitted` — one line per problem, keys spelled out."""
    lines = []
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"]) or "(top level)"
        got = f" (got {e['input']!r})" if e["type"] != "missing" and not isinstance(e.get("input"), dict) else ""
        msg = e["msg"].removeprefix("Value error, ")
        lines.append(f"{source}: {where}: {msg}{got}")
    return "\n".join(lines)


def is_recipe(path: str) -> bool:
    """Whether a command's first argument names a recipe file rather than data or a model (commands take either)."""
    return path.endswith((".yaml", ".yml"))


def load_yaml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise UserError(f"recipe {path}: no such file")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise UserError(f"recipe {path}: not valid YAML: {e}".splitlines()[0]) from e
    if not isinstance(data, dict):
        raise UserError(f"recipe {path}: the top level must be a mapping of keys")
    return data


def write_recipe(out: str | Path, recipe: BaseModel) -> Path:
    """OUT/recipe.yaml: the validated recipe with every default filled in, so the run is reproducible with
    `hala run OUT/recipe.yaml` and the dataset card can state the models, prompts and thresholds it used. Holds
    environment-variable names, never their values (keys stay in the environment)."""
    path = Path(out) / "recipe.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".yaml.tmp")
    tmp.write_text(yaml.safe_dump(recipe.model_dump(mode="json"), sort_keys=False, allow_unicode=True),
                   encoding="utf-8")
    tmp.replace(path)
    return path


def apply_overrides(data: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Set dotted keys (`training.max_steps`) in recipe data, creating blocks as needed; None means "not given".
    How every command lets a flag override its recipe key."""
    for dotted, value in overrides.items():
        if value is None:
            continue
        node = data
        *parents, leaf = dotted.split(".")
        for part in parents:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[leaf] = value
    return data


def validate(model: type[M], data: dict[str, Any], source: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise UserError(format_validation_error(source, e)) from e
