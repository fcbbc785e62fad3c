"""`hala gate` after `hala report` reads the metrics table the report computed for the same bytes (hala's cache)
instead of computing it again (fastText over every message: minutes at 4M records), with the same verdict; changed
data, another LID model or an unreadable entry are measured again, and a bad dataset is still blocked."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from hala.pipelines.cli.app import get_app
from hala.pipelines.core.records import instruction_schema
from tests.helpers import REPO

AUDIT = REPO / "samples" / "audit" / "instructions.jsonl"
REUSED = "reused from hala's cache"


@pytest.fixture(scope="module")
def audit_out(tmp_path_factory) -> Path:
    from hala.pipelines.dedup.flow import DedupConfig, run_filter_and_dedup

    out = tmp_path_factory.mktemp("audit") / "out"
    run_filter_and_dedup(str(AUDIT), str(out), "instructions", dedup=DedupConfig())
    return out


def hala(*args: str):
    return CliRunner().invoke(get_app(), list(args))


def verdict(ds: Path) -> dict:
    data = json.loads((ds / "validation.json").read_text())
    data.pop("created_at")
    return data


def test_gate_reuses_the_reports_metrics_of_the_same_bytes(audit_out, tmp_path, monkeypatch):
    monkeypatch.setenv("HALA_CACHE", str(tmp_path / "cache"))
    ds = tmp_path / "ds"
    shutil.copytree(audit_out / "data", ds / "data")
    shutil.copy(audit_out / "stats.json", ds / "stats.json")
    cold = hala("gate", str(ds))  # nothing cached yet: computed, then stored
    assert cold.exit_code == 0, cold.output
    assert REUSED not in cold.output
    expected = verdict(ds)
    shutil.rmtree(tmp_path / "cache")

    report = hala("report", str(ds), str(tmp_path / "report"))
    assert report.exit_code == 0, report.output
    assert len(list((tmp_path / "cache" / "metrics").glob("*.parquet"))) == 1
    warm = hala("gate", str(ds))
    assert warm.exit_code == 0, warm.output
    assert REUSED in warm.output
    assert verdict(ds) == expected  # the same verdict, statistics and fingerprint as measuring it here

    other_model = tmp_path / "lid.ftz"  # another LID model (same bytes, another file): measured again
    from hala.pipelines.core.langid import default_lid_model

    shutil.copy(default_lid_model(), other_model)
    again = hala("gate", str(ds), "--lid-model", str(other_model))
    assert again.exit_code == 0 and REUSED not in again.output, again.output

    for entry in (tmp_path / "cache" / "metrics").glob("*.parquet"):
        entry.write_bytes(b"not parquet")  # an unreadable entry: measured again and replaced
    broken = hala("gate", str(ds))
    assert broken.exit_code == 0 and REUSED not in broken.output, broken.output
    assert verdict(ds) == expected
    assert REUSED in hala("gate", str(ds)).output

    monkeypatch.setenv("HALA_METRICS_CACHE", "0")
    off = hala("gate", str(ds))
    assert off.exit_code == 0 and REUSED not in off.output, off.output


def test_changed_bytes_are_measured_again_and_a_bad_dataset_is_blocked(audit_out, tmp_path, monkeypatch):
    monkeypatch.setenv("HALA_CACHE", str(tmp_path / "cache"))
    ds = tmp_path / "ds"
    shutil.copytree(audit_out / "data", ds / "data")
    assert hala("report", str(ds), str(tmp_path / "report")).exit_code == 0
    rows = [r for f in sorted((ds / "data").glob("*.parquet")) for r in pq.read_table(f).to_pylist()]
    for r in rows[::3]:  # a third of the answers left in English
        r["messages"] = r["messages_en"]
    for f in (ds / "data").glob("*.parquet"):
        f.unlink()
    pq.write_table(pa.Table.from_pylist(rows, schema=instruction_schema()), ds / "data" / "000.parquet")
    gate = hala("gate", str(ds))
    assert gate.exit_code == 1, gate.output
    assert REUSED not in gate.output and "lid_score" in gate.output
