"""The quality gate: a great-expectations suite over the metrics table decides whether a dataset may be published.

`run_gate` writes `DATASET/validation.json` with the verdict and the dataset fingerprint (content hash of its data
files); publish refuses data whose current fingerprint has no passing validation, so editing one byte after the gate
means gating again.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from pipelines.errors import UserError

VALIDATION_FILE = "validation.json"


@dataclass
class GateResult:
    """The verdict as written to validation.json (plus where it was written)."""

    suite: str
    success: bool
    fingerprint: str
    dataset_kind: str
    created_at: str
    statistics: dict
    failed: list[dict] = field(default_factory=list)
    gx_version: str = ""
    path: str = ""

    def __getitem__(self, key: str):
        return getattr(self, key)

    def to_dict(self) -> dict:
        data = asdict(self)
        data.pop("path")
        return data


def validation_path(dataset_dir: str | Path) -> Path:
    """DATASET/validation.json (for a single-file dataset: FILE.validation.json next to it)."""
    p = Path(dataset_dir)
    return p.with_name(p.name + "." + VALIDATION_FILE) if p.is_file() else p / VALIDATION_FILE


def _plain(value):
    """JSON-safe copy of a GX result value (numpy scalars, NaN)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _observed(result: dict, ids) -> dict:
    """What the data showed: the observed value, or the unexpected count/percent with sample values and their ids."""
    if "observed_value" in result:
        return {"observed_value": _plain(result["observed_value"])}
    out = {k: _plain(result[k]) for k in ("element_count", "unexpected_count", "unexpected_percent", "missing_count")
           if k in result}
    out["unexpected_sample"] = _plain(result.get("partial_unexpected_list", []))
    index = result.get("partial_unexpected_index_list") or []
    out["unexpected_ids"] = [str(ids[i]) for i in index if isinstance(i, int) and 0 <= i < len(ids)]
    return out


def failed_expectations(validation, ids) -> list[dict]:
    failed = []
    for r in validation.results:
        if r.success:
            continue
        cfg = r.expectation_config
        kwargs = {k: _plain(v) for k, v in cfg.kwargs.items() if k != "batch_id"}
        failed.append({"expectation": cfg.type, "column": kwargs.get("column"), "kwargs": kwargs,
                       "observed": _observed(r.result or {}, ids),
                       **({"exception": str(r.exception_info.get("exception_message"))}
                          if r.exception_info and r.exception_info.get("raised_exception") else {})})
    return failed


def run_gate(dataset_dir: str | Path, suite_name: str | None = None, lid_model: str | None = None) -> GateResult:
    """Validate DATASET with a suite (default: the bundled one for its kind) and write validation.json."""
    import great_expectations as gx

    from quality.fingerprint import dataset_fingerprint
    from quality.metrics import locate, open_dataset
    from quality.suites import DEFAULT_SUITE, load_suite, load_suite_dict

    def check_kind(name: str, kind: str) -> None:
        suite_kind = (load_suite_dict(name).get("meta") or {}).get("dataset_kind")
        if suite_kind and suite_kind != kind:
            raise UserError(f"suite {name!r} is for {suite_kind}, but {dataset_dir} holds {kind}")

    known = (locate(dataset_dir).stats or {}).get("kind")
    if suite_name and known:  # fail before computing anything when stats.json already says the kind
        check_kind(suite_name, known)
    con, ds, kind = open_dataset(dataset_dir, lid_model=lid_model)
    try:
        frame = con.sql("SELECT * EXCLUDE (_row, content_key) FROM metrics ORDER BY _row").df()
    finally:
        con.close()
    suite_name = suite_name or DEFAULT_SUITE[kind]
    check_kind(suite_name, kind)
    suite = load_suite(suite_name)

    from quality.suites import validate_frame

    validation = validate_frame(frame, suite)
    try:
        fingerprint = dataset_fingerprint(dataset_dir)
    except FileNotFoundError:
        fingerprint = ""
    result = GateResult(
        suite=suite.name,
        success=bool(validation.success),
        fingerprint=fingerprint,
        dataset_kind=kind,
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        statistics={**_plain(dict(validation.statistics)), "rows": int(len(frame))},
        failed=failed_expectations(validation, list(frame["id"])),
        gx_version=gx.__version__,
    )
    out = validation_path(dataset_dir)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(result.to_dict(), indent=2, ensure_ascii=False), encoding="utf-8")
    tmp.replace(out)
    result.path = str(out)
    return result


def format_failures(result: GateResult) -> list[str]:
    """One line per failed expectation with what was observed (what `hala gate` prints)."""
    lines = []
    for f in result.failed:
        obs = f["observed"]
        bounds = {k: v for k, v in f["kwargs"].items() if k not in ("column", "batch_id")}
        if "observed_value" in obs:
            seen = f"observed {obs['observed_value']}"
        else:
            pct = obs.get("unexpected_percent")
            seen = (f"{obs.get('unexpected_count')} of {obs.get('element_count')} rows unexpected"
                    + (f" ({pct:.1f}%)" if isinstance(pct, (int, float)) else "")
                    + (f", e.g. {obs['unexpected_sample'][:3]} in ids {obs['unexpected_ids'][:3]}"
                       if obs.get("unexpected_sample") else ""))
        column = f"[{f['column']}] " if f.get("column") else ""
        lines.append(f"✗ {f['expectation']} {column}{bounds}: {seen}")
    return lines
