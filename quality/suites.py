"""great-expectations suites as JSON files (`quality/expectations/<name>.json`), validated on the metrics table.

GX has no polars or working DuckDB source, so the metrics frame goes in as pandas through an ephemeral context
(nothing is written to disk, no project folder, analytics off).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from hala.pipelines.core.errors import UserError

EXPECTATIONS_DIR = Path(__file__).resolve().parent / "expectations"
DEFAULT_SUITE = {"instructions": "arabic_instructions", "pairs": "bilingual_pairs"}


def suite_names() -> list[str]:
    return sorted(p.stem for p in EXPECTATIONS_DIR.glob("*.json"))


def suite_path(name: str) -> Path:
    """A bundled suite by name, or any suite JSON file by path."""
    p = Path(name)
    if p.suffix == ".json" and p.is_file():
        return p
    bundled = EXPECTATIONS_DIR / f"{name}.json"
    if bundled.is_file():
        return bundled
    raise UserError(f"no suite {name!r}: give one of {', '.join(suite_names())} or a suite .json file")


def load_suite_dict(name: str) -> dict:
    path = suite_path(name)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise UserError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data.get("expectations"), list):
        raise UserError(f"{path}: a suite needs an `expectations` list")
    check_expectations(data["expectations"], path)
    return data


def check_expectations(expectations: list, path: Path) -> None:
    """A suite that checks nothing must not pass: at least one expectation, each of a type GX knows."""
    from great_expectations.exceptions import ExpectationNotFoundError
    from great_expectations.expectations.registry import get_expectation_impl

    if not expectations:
        raise UserError(f"{path}: the suite holds no expectation; a gate that checks nothing cannot pass")
    for i, e in enumerate(expectations):
        kind = e.get("type") if isinstance(e, dict) else None
        if not isinstance(kind, str):
            raise UserError(f"{path}: expectations[{i}] has no `type`")
        try:
            get_expectation_impl(kind)
        except ExpectationNotFoundError:
            raise UserError(f"{path}: expectations[{i}]: great-expectations has no expectation {kind!r}") from None


def _signature(e: dict) -> str:
    column = (e.get("kwargs") or {}).get("column")
    return f"{e.get('type')}[{column}]" if column else str(e.get("type"))


def missing_required(name: str, kind: str) -> list[str]:
    """The bundled suite's expectations for `kind` (type and column) that suite `name` leaves out: a custom suite
    may drop them, and the dataset card then says which."""
    bundled = DEFAULT_SUITE.get(kind)
    if not bundled or suite_path(name) == suite_path(bundled):
        return []
    have = {_signature(e) for e in load_suite_dict(name)["expectations"]}
    return [sig for sig in (_signature(e) for e in load_suite_dict(bundled)["expectations"]) if sig not in have]


def load_suite(name: str):
    """The suite as a `gx.ExpectationSuite` (an unknown expectation type or bad kwargs is a `UserError`)."""
    import great_expectations as gx

    data = load_suite_dict(name)
    try:
        return gx.ExpectationSuite(name=data.get("name", Path(name).stem), expectations=data["expectations"],
                                   meta=data.get("meta") or {})
    except Exception as e:  # GX raises several error types for a malformed expectation
        raise UserError(f"{suite_path(name)}: invalid suite ({e})") from None


def _context():
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import logging

    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def validate_frame(frame, suite) -> object:
    """Validate a pandas frame with a suite; returns GX's `ExpectationSuiteValidationResult`."""
    context = _context()
    source = context.data_sources.add_pandas("hala_metrics")
    asset = source.add_dataframe_asset("metrics")
    batch = asset.add_batch_definition_whole_dataframe("all").get_batch(batch_parameters={"dataframe": frame})
    return batch.validate(suite, result_format={"result_format": "SUMMARY", "partial_unexpected_count": 5})


def bands(name: str) -> dict[str, tuple[float | None, float | None]]:
    """column → (min, max) of the suite's `expect_column_values_to_be_between` expectations: the report flags and
    draws the gate's own thresholds instead of repeating them."""
    out: dict[str, tuple[float | None, float | None]] = {}
    for e in load_suite_dict(name)["expectations"]:
        kwargs = e.get("kwargs") or {}
        if e.get("type") == "expect_column_values_to_be_between" and kwargs.get("column"):
            out[kwargs["column"]] = (kwargs.get("min_value"), kwargs.get("max_value"))
    return out
