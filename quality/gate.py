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

from hala.pipelines.core.errors import UserError
from hala.quality.fingerprint import dataset_fingerprint, translator_set

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
    missing_required: list[str] = field(default_factory=list)  # bundled-suite expectations this suite leaves out
    path: str = ""
    metrics_reused: bool = False  # the metrics table came from hala's cache (`hala report` computed it)

    def __getitem__(self, key: str):
        return getattr(self, key)

    def to_dict(self) -> dict:
        data = asdict(self)
        data.pop("path")
        data.pop("metrics_reused")
        return data


def is_dataset_folder(p: Path) -> bool:
    """A folder hala writes datasets into (data/, a translator set's pairs/, or a run's stats.json/run.json)."""
    return p.is_dir() and ((p / "data").is_dir() or (p / "pairs").is_dir() or (p / "stats.json").is_file()
                           or (p / "run.json").is_file())


def validation_path(dataset_dir: str | Path) -> Path:
    """Where the verdict on DATASET lives: DATASET/validation.json for a dataset folder; for anything else (a
    user's file or plain folder) in hala's cache (`$HALA_CACHE/gate/`, keyed by the absolute path), never next to
    the user's files, where the next run would read it as data. The verdict is bound to the data by its
    fingerprint either way."""
    import hashlib
    import os

    p = Path(dataset_dir)
    if is_dataset_folder(p):
        return p / VALIDATION_FILE
    cache = Path(os.environ.get("HALA_CACHE", Path.home() / ".cache" / "hala")) / "gate"
    key = hashlib.blake2b(str(p.resolve()).encode(), digest_size=8).hexdigest()
    return cache / f"{p.name}.{key}.{VALIDATION_FILE}"


class GateRefused(UserError):
    """Local data without a passing, current gate verdict (missing, failed, stale): publish and training refuse it."""


def require_passing_gate(dataset_dir: str | Path) -> dict:
    """The passing validation.json of exactly this data (its fingerprint now), or GateRefused saying why not: what
    publish and training both require of local data."""
    try:
        current = dataset_fingerprint(dataset_dir)
    except FileNotFoundError:
        raise UserError(f"{dataset_dir} has no data files (data/*.parquet, or pairs/<split>.parquet of a translator "
                        "set): there is nothing to publish") from None
    path = validation_path(dataset_dir)
    if not path.is_file():
        raise GateRefused(f"{dataset_dir} has no {path.name}: run `hala gate {dataset_dir}` first; only data that "
                          "passed the quality gate is published or trained on")
    try:
        validation = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        raise GateRefused(f"{path} is not valid JSON: run `hala gate {dataset_dir}` again") from None
    if validation.get("success") is not True:
        failed = ", ".join(f.get("expectation", "?") for f in validation.get("failed") or []) or "see the file"
        raise GateRefused(f"the quality gate FAILED for {dataset_dir} (suite {validation.get('suite')}: {failed}); "
                             "fix the data and gate it again")
    if not (validation.get("statistics") or {}).get("evaluated_expectations"):
        raise GateRefused(f"{path.name} records a gate that evaluated no expectation: gate {dataset_dir} again with "
                          "a suite that checks something")
    if validation.get("fingerprint") != current:
        raise GateRefused(f"{path.name} is stale: it validated {validation.get('fingerprint')} but the data is now "
                             f"{current}; run `hala gate {dataset_dir}` again")
    layout = translator_set(dataset_dir)
    if layout is not None:
        if validation.get("dataset_kind") != "pairs":
            raise GateRefused(f"{path.name} validated {validation.get('dataset_kind')} records, but a translator "
                                 f"set is gated on its pairs: run `hala gate {dataset_dir}` (suite bilingual_pairs)")
        check_chat_derived(layout)
    return validation


def check_chat_derived(layout: dict[str, dict[str, Path]], batch_rows: int = 10_000) -> None:
    """A translator set's chat rows are published and trained on under its pairs' gate verdict, so each must be
    exactly the row its pair gives (same id, order, languages and origin; `messages` = translator prompt + source → target)."""
    import pyarrow.parquet as pq

    from hala.pipelines.bilingual.translator_set import chat_messages

    for split, chat_file in sorted(layout.get("chat", {}).items()):
        pairs_file = layout["pairs"].get(split)
        if pairs_file is None:
            raise GateRefused(f"chat/{split}.parquet has no pairs/{split}.parquet to be derived from: rebuild the "
                                 "translator set")
        pairs = pq.read_table(pairs_file, columns=["id", "src", "tgt", "src_lang", "tgt_lang", "origin"])
        chat = pq.read_table(chat_file, columns=["id", "messages", "src_lang", "tgt_lang", "origin"])
        if chat.num_rows != pairs.num_rows:
            raise GateRefused(f"chat/{split}.parquet has {chat.num_rows} rows but pairs/{split}.parquet "
                                 f"{pairs.num_rows}: the chat rows are not those of the gated pairs; rebuild the set")
        for start in range(0, pairs.num_rows, batch_rows):
            for p, c in zip(pairs.slice(start, batch_rows).to_pylist(), chat.slice(start, batch_rows).to_pylist()):
                expected = {"id": p["id"], "messages": chat_messages(p["src"], p["tgt"], p["tgt_lang"]),
                            "src_lang": p["src_lang"], "tgt_lang": p["tgt_lang"], "origin": p["origin"]}
                if c != expected:
                    raise GateRefused(f"chat/{split}.parquet row {c.get('id')!r} is not the chat row of pair "
                                         f"{p['id']!r}: the chat rows must be derived from the gated pairs; rebuild "
                                         "the translator set")



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


def _exception_message(info) -> str | None:
    """The error that kept GX from evaluating an expectation: `exception_info` is either one
    `{raised_exception, exception_message}` or a dict of those per metric (GX 1.x)."""
    if not isinstance(info, dict):
        return None
    entries = [info] if "raised_exception" in info else [v for v in info.values() if isinstance(v, dict)]
    for entry in entries:
        if entry.get("raised_exception") in (True, "True"):
            return str(entry.get("exception_message") or "unknown error")
    return None


def failed_expectations(validation, ids) -> list[dict]:
    failed = []
    for r in validation.results:
        if r.success:
            continue
        cfg = r.expectation_config
        kwargs = {k: _plain(v) for k, v in cfg.kwargs.items() if k != "batch_id"}
        error = _exception_message(r.exception_info)
        failed.append({"expectation": cfg.type, "column": kwargs.get("column"), "kwargs": kwargs,
                       "observed": _observed(r.result or {}, ids), **({"exception": error} if error else {})})
    return failed


def gated_records(dataset_dir: str | Path):
    """The records the gate validates, as a `hala.quality.metrics.Dataset`, and the kind they must be (None: detect).

    A translator set (pairs/ and chat/ per split) is gated on its pairs: the chat rows are derived from them one by
    one, and publish checks that they still are (hala.quality.bundle), so gating the chat rows too would judge the same
    text twice under a suite written for another record shape."""
    from hala.quality.metrics import find_dataset

    ds = find_dataset(dataset_dir)
    layout = translator_set(dataset_dir)
    if layout is None:
        return ds, None
    ds.data_files = [layout["pairs"][s] for s in sorted(layout["pairs"])]
    ds.fmt = "parquet"
    return ds, "pairs"


def _fingerprint(dataset_dir: str | Path) -> str:

    try:
        return dataset_fingerprint(dataset_dir)
    except FileNotFoundError:  # every row was rejected: nothing to fingerprint (publish refuses an empty dataset)
        return ""


def _metrics_frame(ds, kind: str | None, lid_model: str | None, fingerprint: str = "", dataset_dir=None):
    """(metrics frame, kind, whether the table came from the cache) for the records of `ds`: the table `hala report`
    computed for these exact bytes when it is in hala's cache (hala.quality.metrics_cache), else computed here;
    unreadable data is a `UserError` naming the cause."""
    import duckdb
    import pyarrow as pa

    from hala.quality.metrics import build_metrics, load_records
    from hala.quality.metrics_cache import cached_metrics

    con = duckdb.connect()

    def compute() -> str:
        found = load_records(con, ds, kind)
        build_metrics(con, found, lid_model=lid_model)
        con.execute("DROP TABLE records")  # the texts are not judged again: their memory goes before the frame's
        return found

    try:
        kind, reused = cached_metrics(con, dataset_dir or ds.root, fingerprint, kind or (ds.stats or {}).get("kind"),
                                      True, lid_model, compute)
        return con.sql("SELECT * EXCLUDE (_row, content_key) FROM metrics ORDER BY _row").df(), kind, reused
    except (pa.ArrowException, duckdb.Error, OSError, UnicodeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise UserError(f"{ds.root}: cannot read the records ({type(e).__name__}: {first})") from None
    finally:
        con.close()


def run_gate(dataset_dir: str | Path, suite_name: str | None = None, lid_model: str | None = None) -> GateResult:
    """Validate DATASET with a suite (default: the bundled one for its kind) and write validation.json.

    The fingerprint is taken before the data is read and again after: the verdict names exactly the bytes it
    validated, and data that changed meanwhile is an error, not a verdict. A failed suite is a result
    (`success: False`); bad input, or an expectation that could not be evaluated at all, is a `UserError`."""
    import great_expectations as gx

    from hala.quality.suites import DEFAULT_SUITE, load_suite, load_suite_dict, missing_required, validate_frame

    def check_kind(name: str, kind: str) -> None:
        suite_kind = (load_suite_dict(name).get("meta") or {}).get("dataset_kind")
        if suite_kind and suite_kind != kind:
            raise UserError(f"suite {name!r} is for {suite_kind}, but {dataset_dir} holds {kind}")

    ds, kind = gated_records(dataset_dir)
    known = kind or (ds.stats or {}).get("kind")
    if suite_name and known:  # fail before computing anything when the layout or stats.json says the kind
        check_kind(suite_name, known)
    fingerprint = _fingerprint(dataset_dir)
    frame, kind, reused = _metrics_frame(ds, kind, lid_model, fingerprint, dataset_dir)
    suite_name = suite_name or DEFAULT_SUITE[kind]
    check_kind(suite_name, kind)
    suite = load_suite(suite_name)
    validation = validate_frame(frame, suite)
    if _fingerprint(dataset_dir) != fingerprint:
        raise UserError(f"{dataset_dir} changed while the gate read it; run `hala gate` again when nothing writes "
                        "to it")
    result = GateResult(
        suite=suite.name,
        success=bool(validation.success),
        fingerprint=fingerprint,
        dataset_kind=kind,
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        statistics={**_plain(dict(validation.statistics)), "rows": int(len(frame))},
        failed=failed_expectations(validation, list(frame["id"])),
        gx_version=gx.__version__,
        missing_required=missing_required(suite_name, kind),
    )
    result.metrics_reused = reused
    out = validation_path(dataset_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(result.to_dict(), indent=2, ensure_ascii=False), encoding="utf-8")
    tmp.replace(out)
    result.path = str(out)
    broken = [f for f in result.failed if "exception" in f]
    if broken:  # written as a failure (so no earlier pass stands for this data), but not a verdict on the data
        f = broken[0]
        raise UserError(f"suite {suite.name}: {f['expectation']}"
                        + (f" on column {f['column']!r}" if f.get("column") else "")
                        + f" could not be evaluated ({f['exception'].splitlines()[0]})"
                        + (f" (and {len(broken) - 1} more)" if len(broken) > 1 else ""))
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
