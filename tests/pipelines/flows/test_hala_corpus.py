"""`hala run recipes/hala_corpus_sample.yaml`: the seven paper sources (fixtures in their Hub schemas) through one
CPU server and one translation memory, the filters, and dedup across sources, into one dataset whose publish bundle
has one config per source; counts per source at every stage."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from typer.testing import CliRunner

from tests.helpers import REPO

pytestmark = pytest.mark.slow

FIXTURE_ROWS = {"Open-Orca/OpenOrca": 6, "NousResearch/Hermes-3-Dataset": 6, "EricLu/SCP-116K": 6,
                "GAIR/ReAlign-Alpaca": 6, "MBZUAI/LaMini-instruction": 6, "allenai/tulu-3-sft-mixture": 7,
                "Dahoas/synthetic-instruct-gptj-pairwise": 5}
STAGES = ["normalize", "source_lang", "translate", "lid", "quality", "dedup"]
TWIN_QUESTION = "What are some tips for keeping houseplants alive during the winter?"


def _rejects(out: Path) -> list[dict]:
    return [json.loads(line) for f in sorted((out / "rejects").glob("*/*.jsonl"))
            for line in f.read_text("utf-8").splitlines()]


def _data(out: Path) -> list[dict]:
    return [r for f in sorted((out / "data").glob("*.parquet")) for r in pq.read_table(f).to_pylist()]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    base = tmp_path_factory.mktemp("hala-corpus")
    recipe = yaml.safe_load((REPO / "recipes" / "hala_corpus_sample.yaml").read_text())
    recipe["output"], recipe["tm_path"] = str(base / "out"), str(base / "tm.sqlite")
    path = base / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    r = subprocess.run([sys.executable, "-m", "hala.pipelines.cli.app", "run", str(path)], cwd=REPO,
                       capture_output=True, text=True, timeout=900)
    return r, base / "out"


def test_runs_and_counts_every_row_per_source_at_every_stage(corpus):
    r, out = corpus
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    stats = json.loads((out / "stats.json").read_text())
    assert list(stats["stages"]) == STAGES and list(stats["by_source"]) == STAGES
    assert {src: c["read"] for src, c in stats["by_source"]["normalize"].items()} == FIXTURE_ROWS
    rejects = _rejects(out)
    for stage in STAGES:
        per, total = stats["by_source"][stage], stats["stages"][stage]
        for src, c in per.items():
            assert c["read"] == c["kept"] + c["rejected"] == c["kept"] + sum(c["reasons"].values()), (stage, src)
        assert sum(c["read"] for c in per.values()) == total["read"], stage
        assert sum(c["rejected"] for c in per.values()) == total["rejected"] == \
            sum(1 for x in rejects if x["stage"] == stage), stage
    for before, after in zip(STAGES, STAGES[1:]):  # what a source kept at one stage is what the next one read
        kept = {s: c["kept"] for s, c in stats["by_source"][before].items() if c["kept"]}
        assert kept == {s: c["read"] for s, c in stats["by_source"][after].items()}, (before, after)
    final = {s: c["kept"] for s, c in stats["by_source"]["dedup"].items() if c["kept"]}
    rows = _data(out)
    assert final == {s: sum(1 for x in rows if x["source"]["dataset"] == s) for s in final}
    assert sum(FIXTURE_ROWS.values()) == len(rows) + len(rejects)


def test_tulu_non_english_rows_never_reach_the_model(corpus):
    _, out = corpus
    stats = json.loads((out / "stats.json").read_text())
    assert stats["by_source"]["source_lang"]["allenai/tulu-3-sft-mixture"]["reasons"] == {"source_not_english": 3}
    rejected = [x for x in _rejects(out) if x["stage"] == "source_lang"]
    assert {json.loads(x["record"])["source"]["dataset"] for x in rejected} == {"allenai/tulu-3-sft-mixture"}
    assert {json.loads(json.loads(x["record"])["meta"])["row"] for x in rejected} == {4, 5, 6}  # fixture lines 5, 6, 7


def test_cross_source_duplicate_is_removed_naming_the_kept_twin(corpus):
    _, out = corpus
    twins = [x for x in _data(out) if x["messages_en"][0]["content"] == TWIN_QUESTION]
    dropped = [x for x in _rejects(out) if x["stage"] == "dedup"
               and json.loads(x["record"])["messages_en"][0]["content"] == TWIN_QUESTION]
    assert len(twins) == 1 and len(dropped) == 1
    assert dropped[0]["reason"] == "exact_duplicate" and dropped[0]["detail"] == f"kept={twins[0]['id']}"
    sources = {twins[0]["source"]["dataset"], json.loads(dropped[0]["record"])["source"]["dataset"]}
    assert sources == {"MBZUAI/LaMini-instruction", "Dahoas/synthetic-instruct-gptj-pairwise"}


def test_bundle_has_one_config_per_source_with_the_reports_counts(corpus, tmp_path):
    import datasets

    from hala.pipelines.sources.registry import config_name
    from hala.quality.cli import register
    from hala.quality.report import build_report
    from tests.helpers.publish_data import write_validation

    _, out = corpus
    report = build_report(out, tmp_path / "report", lid=False, show_progress=False)
    per_source = {r["source_dataset"]: r["rows"] for r in report["by_source"]}
    assert per_source and sum(per_source.values()) == report["rows_kept"]
    stage_rows = {(r["source_dataset"], r["stage"]): r for r in report["by_source_and_stage"]}
    stats = json.loads((out / "stats.json").read_text())
    assert stage_rows[("allenai/tulu-3-sft-mixture", "source_lang")]["rejected"] == 3
    assert report["by_source_and_stage_matches_stages"] is True
    write_validation(out)  # the tiny model's Arabic cannot pass the real gate; the binding is what publish checks
    import typer

    app = typer.Typer()
    app.callback()(lambda: None)
    register(app)
    bundle = tmp_path / "bundle"
    result = CliRunner().invoke(app, ["publish", str(out), "--repo", "hala-org/hala-corpus-sample", "--version",
                                      "0.1.0", "--dry-run", str(bundle), "--report", str(tmp_path / "report")])
    assert result.exit_code == 0, result.output
    cache = str(tmp_path / "hf-cache")
    for source, n in per_source.items():
        loaded = datasets.load_dataset(str(bundle), config_name(source), cache_dir=cache)
        assert loaded["train"].num_rows == n == stats["by_source"]["dedup"][source]["kept"], source
        assert set(loaded["train"]["source"][i]["dataset"] for i in range(n)) == {source}
    assert datasets.load_dataset(str(bundle), "default", cache_dir=cache)["train"].num_rows == report["rows_kept"]
    card = (bundle / "README.md").read_text(encoding="utf-8")
    assert "| `allenai/tulu-3-sft-mixture` | source_lang | 7 | 4 | 3 | source_not_english 3 |" in card
