"""YAML recipes: one file describes a whole flow; pydantic validates it and names any bad key in one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from hala.pipelines.core.errors import UserError

M = TypeVar("M", bound=BaseModel)


def format_validation_error(source: str, err: ValidationError, names: dict[str, str] | None = None) -> str:
    """`recipe.yaml: server.typ: Extra inputs are not permitted` — one line per problem, keys spelled out. With
    `names` (a command's flags by recipe key, e.g. {"server.model": "--model"}), a key set from the command line is
    named by its flag: `--format: Input should be 'auto', 'alpaca', …`."""
    lines = []
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"]) or "(top level)"
        if names is not None:
            flag = next((names[k] for k in sorted(names, key=len, reverse=True)
                         if where == k or where.startswith(k + ".")), None)
            where = flag or where
        shown = repr(e.get("input"))
        shown = shown if len(shown) <= 80 else shown[:77] + "..."  # never the whole input back
        got = f" (got {shown})" if e["type"] != "missing" and not isinstance(e.get("input"), dict) else ""
        msg = e["msg"].removeprefix("Value error, ")
        lines.append(f"{where}: {msg}{got}" if names is not None and where.startswith(("-", "INPUT", "OUTPUT"))
                     else f"{source}: {where}: {msg}{got}")
    return "\n".join(lines)


def is_recipe(path: str) -> bool:
    """Whether a command's first argument names a recipe file rather than data or a model (commands take either)."""
    return path.endswith((".yaml", ".yml"))


MAX_RECIPE_BYTES = 1_000_000
# what a recipe may expand to with its aliases (a 300-byte "billion laughs" would otherwise build gigabytes)
MAX_EXPANDED_NODES = 100_000


class _RecipeLoader(yaml.SafeLoader):
    """safe_load, plus: a key given twice in one mapping is an error (YAML would silently keep the last)."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                if isinstance(key, (str, int, float, bool)) or key is None:
                    if key in seen:
                        raise yaml.constructor.ConstructorError(None, None, f"duplicate key {str(key)[:80]!r}",
                                                                key_node.start_mark)
                    seen.add(key)
        return super().construct_mapping(node, deep)


def _expanded_size(node, memo: dict, limit: int, active: set | None = None) -> int:
    """Nodes the document stands for once every alias is expanded; raises past `limit` or on a recursive alias."""
    active = active if active is not None else set()
    key = id(node)
    if key in memo:
        return memo[key]
    if key in active:
        raise ValueError("a recursive alias")
    active.add(key)
    if isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_size(n, memo, limit, active) for n in node.value)
    elif isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded_size(k, memo, limit, active) + _expanded_size(v, memo, limit, active)
                       for k, v in node.value)
    else:
        size = 1
    active.discard(key)
    if size > limit:
        raise ValueError(f"aliases expand it past {limit:,} nodes")
    memo[key] = size
    return size


def _yaml_problem(e: yaml.YAMLError) -> str:
    """`line 3, column 5: duplicate key 'x'` — where and what, never the input itself."""
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    what = getattr(e, "problem", None) or getattr(e, "context", None) or type(e).__name__
    return where + str(what)[:200]


def parse_yaml(text: str, source: str):
    """YAML text → Python data: safe types only, no duplicate keys, aliases bounded; a UserError naming where."""
    loader = _RecipeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        try:
            _expanded_size(node, {}, MAX_EXPANDED_NODES)
        except ValueError as e:
            raise UserError(f"{source}: refused: {e}") from None
        return loader.construct_document(node)
    except yaml.YAMLError as e:
        raise UserError(f"{source}: not valid YAML: {_yaml_problem(e)}") from None
    finally:
        loader.dispose()


def load_yaml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise UserError(f"recipe {path}: no such file")
    if p.stat().st_size > MAX_RECIPE_BYTES:
        raise UserError(f"recipe {path}: {p.stat().st_size:,} bytes; a recipe is text of at most "
                        f"{MAX_RECIPE_BYTES:,} bytes")
    raw = p.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UserError(f"recipe {path}: not UTF-8 text (a binary file?)") from None
    if "\x00" in text:
        raise UserError(f"recipe {path}: not a text file (it holds NUL bytes)")
    data = parse_yaml(text, f"recipe {path}")
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
    data = recipe.model_dump(mode="json")
    if data.get("overwrite"):
        data["overwrite"] = False  # re-running the written recipe resumes this run; it never wipes it
    tmp.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True),
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


def validate(model: type[M], data: dict[str, Any], source: str, names: dict[str, str] | None = None) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise UserError(format_validation_error(source, e, names)) from e
