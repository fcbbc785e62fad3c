"""The dataset card: a YAML header the Hub and `datasets` read, and a body a reviewer reads.

The header is built as a dict and dumped with PyYAML (never hand-templated), so it always parses; the body is a Jinja
template per dataset kind in `dataset_cards/`. Numbers come from the quality report (report.json) when one was written
for exactly this data (same fingerprint), else they are counted here from the parquet, stats.json and the rejects, so
the card always carries real numbers.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from hala.pipelines.core.assets import asset_dir
from hala.pipelines.sources import registry as source_registry
from hala.quality.portable import portable_model, portable_path, portable_recipe

CARDS_DIR = asset_dir("dataset_cards")
TEMPLATES = {"instructions": "arabic_instructions.md.j2", "pairs": "bilingual_pairs.md.j2",
             "translator_set": "translator_set.md.j2"}
PRETTY_NAMES = {"instructions": "Hala Arabic instructions", "pairs": "Hala EN-AR pairs",
                "translator_set": "Hala EN-AR translator training set"}
HALA_CITATION = """@misc{hammoud2025hala,
  title={Hala Technical Report: Building Arabic-Centric Instruction & Translation Models at Scale},
  author={Hasan Abed Al Kader Hammoud and Mohammad Zbeeb and Bernard Ghanem},
  year={2025},
  eprint={2509.14008},
  archivePrefix={arXiv},
  primaryClass={cs.CL},
  url={https://arxiv.org/abs/2509.14008}
}"""
# Where `hala report` output is looked for when no --report is given.
REPORT_CANDIDATES = ("report.json", "report/report.json")


def size_category(n: int) -> str:
    """The Hub's size_categories bucket for n rows."""
    bounds = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
              (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B")]
    for bound, label in bounds:
        if n < bound:
            return label
    return "1B<n<10B"


def find_report(dataset_dir: Path, report: str | Path | None, fingerprint: str) -> dict | None:
    """report.json for exactly this data: an explicit path, or one next to the data; stale ones are ignored."""
    candidates = [Path(report)] if report else [dataset_dir / c for c in REPORT_CANDIDATES]
    for path in candidates:
        if path.is_dir():
            path = path / "report.json"
        if path.is_file():
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("fingerprint") == fingerprint:
                return data
    return None


def rejects_by_reason(dataset_dir: Path) -> list[dict]:
    """[{stage, reason, rows}] counted from DATASET/rejects/<stage>/*.jsonl (what every stage writes)."""
    counts: Counter = Counter()
    for path in sorted((dataset_dir / "rejects").glob("*/*.jsonl")):
        with path.open(encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    row = json.loads(line)
                    counts[(row.get("stage") or path.parent.name, row.get("reason") or "")] += 1
    return [{"stage": s, "reason": r, "rows": n}
            for (s, r), n in sorted(counts.items(), key=lambda kv: (kv[0][0], -kv[1], kv[0][1]))]


def numbers(dataset_dir: Path, rows_by_source: dict[str, int], fingerprint: str,
            report: str | Path | None = None) -> dict:
    """rows_read/kept/rejected, stages, rejects_by_reason and the report's metrics summary (when there is one)."""
    stats_path = dataset_dir / "stats.json"
    stats = json.loads(stats_path.read_text(encoding="utf-8")) if stats_path.is_file() else {}
    found = find_report(dataset_dir, report, fingerprint)
    rows_kept = sum(rows_by_source.values())
    if found:
        return {"from": "report.json", "rows_read": found["rows_read"], "rows_kept": found["rows_kept"],
                "rows_rejected": found["rows_rejected"], "stages": found.get("stages") or {},
                "rejects_by_reason": found.get("rejects_by_reason") or [], "metrics": found.get("metrics") or {},
                "stats": stats}
    rejected = rejects_by_reason(dataset_dir)
    rows_rejected = sum(r["rows"] for r in rejected)
    stages = stats.get("stages") or {}
    first = next(iter(stages.values()), None)
    rows_read = first["read"] if first and first.get("read") is not None else rows_kept + rows_rejected
    return {"from": "data, stats.json and rejects", "rows_read": rows_read, "rows_kept": rows_kept,
            "rows_rejected": rows_rejected, "stages": stages, "rejects_by_reason": rejected, "metrics": {},
            "stats": stats}


def header(kind: str, pretty_name: str, licence: str, n_rows: int, configs: list[dict]) -> dict:
    """The card's YAML metadata: what the Hub indexes and what `datasets.load_dataset(repo, config)` follows."""
    instructions = kind == "instructions"
    tags = {"instructions": ["instruction-tuning"], "pairs": ["parallel-corpus"],
            "translator_set": ["parallel-corpus", "translator-training"]}[kind]
    return {
        "pretty_name": pretty_name,
        "license": licence,
        "language": ["ar", "en"],
        "multilinguality": ["multilingual"] if instructions else ["translation"],
        "task_categories": ["text-generation", "question-answering"] if instructions else ["translation"],
        "size_categories": [size_category(n_rows)],
        "tags": ["arabic", "hala", *tags],
        "configs": configs,
    }


def render_card(kind: str, head: dict, context: dict[str, Any]) -> str:
    """README.md text: `---` YAML `---` then the kind's Jinja template filled with `context`."""
    import jinja2
    import markupsafe
    import yaml

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(CARDS_DIR)), undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["num"] = lambda v: "–" if v is None else (f"{v:,}" if isinstance(v, int) else str(v))
    # text inside an HTML table cell: escaped, line breaks kept (a blank line would end the HTML block)
    env.filters["cell"] = lambda v: str(markupsafe.escape(v or "")).replace("\n", "<br>")
    body = env.get_template(TEMPLATES[kind]).render(**context)
    meta = yaml.safe_dump(head, sort_keys=False, allow_unicode=True, width=1000)
    return f"---\n{meta}---\n\n{body}"


def source_rows(rows_by_source: dict[str, int], revisions: dict[str, list[str]], configs: dict[str, str]) -> list[dict]:
    """Per-source table of the card: registry facts next to the rows kept."""
    out = []
    for dataset, rows in sorted(rows_by_source.items(), key=lambda kv: (-kv[1], kv[0])):
        info = source_registry.lookup(dataset)
        out.append({"dataset": dataset, "name": info.name, "licence": info.licence, "url": info.url,
                    "citation": info.citation, "note": info.note, "rows": rows, "config": configs.get(dataset, ""),
                    "revisions": ", ".join(r for r in revisions.get(dataset, []) if r) or "–"})
    return out


def stage_rows(stages: dict) -> list[dict]:
    out = []
    for name, s in stages.items():
        reasons = ", ".join(f"{k} {v:,}" for k, v in sorted((s.get("reasons") or {}).items(), key=lambda kv: -kv[1]))
        out.append({"stage": name, "read": s.get("read"), "kept": s.get("kept"), "rejected": s.get("rejected"),
                    "reasons": reasons or "–"})
    return out


def source_stage_rows(stats: dict | None) -> list[dict]:
    """Per source, per stage read/kept/rejected with reasons (stats.json `by_source`, what the stages counted)."""
    out = []
    by_source = (stats or {}).get("by_source") or {}
    for source in sorted({src for per in by_source.values() for src in per}):
        for stage, per in by_source.items():
            if source in per:
                out.append({"source": source, **stage_rows({stage: per[source]})[0]})
    return out


def origin_table(stats: dict) -> dict:
    """Rows per origin and split of a translator set (stats.json `splits` and `origins`), and its empty splits."""
    splits = list(stats.get("splits") or {})
    rows = [{"origin": origin, "counts": [by_split.get(s, 0) for s in splits]}
            for origin, by_split in sorted((stats.get("origins") or {}).items())]
    empty = [s for s in splits if not (stats["splits"][s] or {}).get("rows")]
    return {"splits": splits, "rows": rows, "empty": empty}


def models_used(meta_values: list[str]) -> list[dict]:
    """The translate model named in each row's `meta` JSON (`translate.model`), with how many rows it translated.

    Only the translate stage records its model in `meta`; a pair's judge and teacher live in its own `judge` and
    `origin` columns and are counted from those (hala.quality.bundle._models)."""
    counts: Counter = Counter()
    for raw in meta_values:
        if not raw:
            continue
        try:
            meta = json.loads(raw)
        except (TypeError, ValueError):
            continue
        model = (meta.get("translate") or {}).get("model") if isinstance(meta, dict) else None
        if model:
            counts[("translate", portable_model(model))] += 1
    return [{"stage": s, "model": m, "rows": n} for (s, m), n in sorted(counts.items())]


def find_recipe(dataset_dir: Path, recipe: str | Path | None) -> Path | None:
    """The run's recipe: an explicit file, else DATASET/recipe.yaml (what the flows write next to their output)."""
    if recipe:
        if not Path(recipe).is_file():
            from hala.pipelines.core.errors import UserError

            raise UserError(f"--recipe {recipe}: no such file")
        return Path(recipe)
    path = dataset_dir / "recipe.yaml"
    return path if path.is_file() else None


MODEL_ROLE = {"translate": "translate", "corpus": "translate", "teacher_pairs": "teacher", "mine": "judge"}


def _recipe_model(flow: str):
    """The pydantic model of a flow's recipe (defaults filled in show what the run used), or None."""
    from hala.pipelines.flows.registry import FLOWS

    entry = FLOWS.get(flow)
    return entry[0] if entry else None


def _model_entry(flow: str, data: dict) -> list[dict]:
    server = data.get("server") or {}
    if flow not in MODEL_ROLE:
        return []
    model = server.get("model")
    revision = server.get("model_revision") or data.get("revision")
    if server.get("type") == "endpoint" and not revision:
        revision = ("none given: an endpoint model without server.model_revision, so neither this card nor the "
                    "translation memory can tell which weights answered")
    if model and "@" in model and not Path(model).exists():  # `org/name@revision`
        model, revision = model.rsplit("@", 1)[0], revision or model.rsplit("@", 1)[1]
    name = portable_model(model)  # a Hub id stays plain: its revision has its own column
    if model == "tiny" or (model and Path(model).is_dir()):
        revision = "content hash in the name" if "@sha256:" in name else "–"
    return [{"role": MODEL_ROLE[flow], "model": name, "revision": revision or "not recorded",
             "server": server.get("type", "transformers")}]


def _prompt_entries(flow: str, data: dict, base: Path) -> list[dict]:
    """The translation prompt (corpus, teacher pairs) and the judge prompt (mining), with version and text."""
    from hala.pipelines.bilingual.judge import BUILTIN_JUDGE_PROMPTS, DEFAULT_JUDGE_PROMPT, load_judge_prompt
    from hala.pipelines.core.errors import UserError
    from hala.pipelines.translate.prompts import BUILTIN_PROMPTS, load_prompt

    wanted = []
    if flow in ("translate", "corpus", "teacher_pairs"):
        wanted.append(("translation", str(data.get("prompt") or "lfm2"), BUILTIN_PROMPTS, load_prompt))
    if flow == "mine" and data.get("judge", {}) is not None:
        spec = str((data.get("judge") or {}).get("prompt") or DEFAULT_JUDGE_PROMPT)
        wanted.append(("judge", spec, BUILTIN_JUDGE_PROMPTS, load_judge_prompt))
    out = []
    for use, spec, builtin, load in wanted:
        candidates = [spec] if spec in builtin or Path(spec).is_absolute() else [str(base / spec), spec]
        prompt = None
        for candidate in candidates:
            try:
                prompt = load(candidate)
                break
            except UserError:
                continue
        if prompt is None:
            out.append({"use": use, "name": spec, "version": None, "system": None, "user": None,
                        "note": "prompt file not found when the card was built"})
        else:
            out.append({"use": use, "name": spec, "version": prompt.version, "system": prompt.system,
                        "user": prompt.user, "note": ""})
    return out


def provenance(recipe_path: Path | None) -> dict | None:
    """How the data was made, from the run's recipe: the models (named by Hub id and revision or by content hash),
    the prompts (name, version, text) and the whole recipe with every default filled in — every path in it made
    portable (hala.quality.portable: a card never carries a path of the machine that built it). A recipe that does
    not parse or validate is shown with the reason, its paths made portable the same way."""
    import yaml
    from pydantic import ValidationError

    if recipe_path is None:
        return None
    text = recipe_path.read_text(encoding="utf-8")
    base = recipe_path.parent
    result = {"path": recipe_path.name, "text": "", "flow": None, "models": [], "prompts": [], "note": ""}
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        return {**result, "text": _scrub_text(text, base),
                "note": f"the recipe is not valid YAML ({str(e).splitlines()[0]})"}
    if not isinstance(data, dict):
        return {**result, "text": _scrub_text(text, base), "note": "the recipe is not a mapping"}
    flow = str(data.get("flow") or "corpus")
    model = _recipe_model(flow)
    if model is not None:
        try:
            data = model.model_validate({**data, "flow": flow}).model_dump(mode="json")
        except ValidationError as e:
            result["note"] = (f"the recipe does not validate as a {flow} recipe of this version "
                              f"({e.error_count()} errors); settings shown as written")
    shown = yaml.safe_dump(portable_recipe(data, base), sort_keys=False, allow_unicode=True)
    return {**result, "text": shown, "flow": flow, "models": _model_entry(flow, data),
            "prompts": _prompt_entries(flow, data, base)}


def _scrub_text(text: str, base: Path) -> str:
    """A recipe that does not parse, its path-looking words made portable one by one."""
    import re

    return re.sub(r"(?<![\w:/.])(?:~|\.{1,2})?/[^\s'\",}\]]+", lambda m: portable_path(m.group(0), base), text)


EXAMPLE_CHARS = 600  # a longer text is cut in the card's example (the data holds it whole)


def schema_fields(schema) -> list[dict]:
    """The published columns and their Arrow types, as `datasets` will read them."""
    return [{"name": f.name, "type": str(f.type)} for f in schema]


def _cut(text: str) -> tuple[str, bool]:
    text = text or ""
    return (text[:EXAMPLE_CHARS] + "…", True) if len(text) > EXAMPLE_CHARS else (text, False)


def example_record(row: dict, kind: str) -> dict | None:
    """One record shown English and Arabic side by side: each turn of a conversation (`messages_en[i]` next to
    `messages[i]`), or a pair's two sides."""
    turns = []
    if kind == "instructions":
        arabic, english = row.get("messages") or [], row.get("messages_en") or []
        for i, ar in enumerate(arabic):
            en = english[i] if i < len(english) else {}
            turns.append((ar.get("role", "?"), en.get("content", ""), ar.get("content", "")))
    else:
        src_lang, tgt_lang = row.get("src_lang"), row.get("tgt_lang")
        en, ar = (row.get("src"), row.get("tgt")) if src_lang == "en" else (row.get("tgt"), row.get("src"))
        turns.append((f"{src_lang}→{tgt_lang}", en or "", ar or ""))
    if not turns:
        return None
    shown, cut = [], False
    for role, en, ar in turns:
        (en, c1), (ar, c2) = _cut(en), _cut(ar)
        cut = cut or c1 or c2
        shown.append({"role": role, "en": en, "ar": ar})
    source = row.get("source") or {}
    origin = source.get("dataset") if isinstance(source, dict) else None
    return {"id": row.get("id"), "source": origin or row.get("origin"), "turns": shown, "truncated": cut,
            "limit": EXAMPLE_CHARS}
