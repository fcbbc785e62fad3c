"""Cards: real numbers, a YAML header that parses, the licence rule, report.json used only when it is for this data."""

from __future__ import annotations

import json

import pytest

from hala.pipelines.sources import registry as sources
from hala.quality.bundle import build_bundle
from hala.quality.card import size_category
from tests.helpers.cards import read_card_header
from tests.helpers.publish_data import PAIR_SOURCES, REJECTS, SOURCES, write_instructions, write_pairs, write_validation


def _bundle(ds, out, **kw):
    return build_bundle(ds, out, "hala-org/ar-instr", "1.2.3", write_validation(ds), **kw)


def test_licence_rule_is_most_restrictive_with_explicit_order():
    assert sources.combined_licence(["mit", "apache-2.0"]) == "apache-2.0"
    assert sources.combined_licence(["mit", "odc-by", "cc-by-4.0"]) == "odc-by"
    assert sources.combined_licence(["apache-2.0", "cc-by-nc-4.0"]) == "cc-by-nc-4.0"
    # non-commercial + share-alike: both obligations hold
    assert sources.combined_licence(["cc-by-sa-4.0", "cc-by-nc-4.0"]) == "cc-by-nc-sa-4.0"
    assert sources.combined_licence(["mit", "gpl-3.0"]) == "other"  # unranked licence
    assert sources.combined_licence(["mit", "unknown"]) == "unknown"
    assert sources.combined_licence([]) == "unknown"
    assert sources.lookup("Open-Orca/OpenOrca").licence == "mit"
    assert sources.lookup("opus-100").dataset == "Helsinki-NLP/opus-100"
    assert sources.lookup("local/my-rows").licence == "unknown"
    assert sources.lookup("someone/unregistered").note == "not in the registry"
    registered = {s.name for s in sources.registered()}
    assert {"OpenOrca", "Hermes-3", "SCP-116K", "ReAlign-Alpaca", "LaMini", "Tulu-3 SFT mixture",
            "Synthetic-Instruct", "OPUS-100"} <= registered


def test_instruction_card_real_numbers_and_header(tmp_path):
    ds = write_instructions(tmp_path / "ds")
    bundle = _bundle(ds, tmp_path / "out")
    text = (tmp_path / "out" / "README.md").read_text(encoding="utf-8")
    head = read_card_header(text)
    kept, rejected = sum(SOURCES.values()), sum(REJECTS.values())
    # SCP-116K is cc-by-nc-sa-4.0, the most restrictive of {mit, apache-2.0, cc-by-nc-sa-4.0}
    assert head["license"] == "cc-by-nc-sa-4.0" == bundle.manifest["licence"]
    assert head["language"] == ["ar", "en"]
    assert head["task_categories"] == ["text-generation", "question-answering"]
    assert head["size_categories"] == ["n<1K"]
    assert head["pretty_name"]
    names = [c["config_name"] for c in head["configs"]]
    assert names == ["default", "ericlu_scp_116k", "nousresearch_hermes_3_dataset", "open_orca_openorca"]
    assert head["configs"][0]["data_files"] == [{"split": "train", "path": "data/*/train-*.parquet"}]
    body = text.split("\n---\n", 1)[1]
    assert f"{kept + rejected} rows read, **{kept} kept**, {rejected}" in body
    assert "| lid | 22 | 20 | 2 | lid_not_arabic 2 |" in body
    assert "| quality | 20 | 16 | 4 | repetition 3, arabic_share_low 1 |" in body
    assert "| lid | `lid_not_arabic` | 2 |" in body and "| quality | `repetition` | 3 |" in body
    assert "| [OpenOrca](https://huggingface.co/datasets/Open-Orca/OpenOrca) | `open_orca_openorca` | 7 | mit |" in body
    assert "| translate | `tiny-lfm2` | 16 |" in body
    assert "segments 32, tm_hits 3, model_calls 29" in body
    assert bundle.manifest["fingerprint"] in body and "`1.2.3`" in body and "v1.2.3" in body
    assert "arXiv:2509.14008" in body and "eprint={2509.14008}" in body
    assert "Known limitations" in body and "Stages, in the order they ran: `lid` → `quality`." in body
    assert "suite `arabic_instructions` passed (9/9 expectations)" in body


def test_card_takes_numbers_from_matching_report_only(tmp_path):
    from hala.quality.fingerprint import dataset_fingerprint

    ds = write_instructions(tmp_path / "ds")
    report = {"kind": "instructions", "fingerprint": dataset_fingerprint(ds), "rows_read": 99, "rows_kept": 16,
              "rows_rejected": 83, "stages": {"lid": {"read": 99, "kept": 16, "rejected": 83,
                                                      "reasons": {"lid_not_arabic": 83}}},
              "rejects_by_reason": [{"stage": "lid", "reason": "lid_not_arabic", "rows": 83}], "metrics": {}}
    (ds / "report.json").write_text(json.dumps(report))
    text = _bundle(ds, tmp_path / "a").card
    assert "99 rows read, **16 kept**, 83" in text and "numbers from report.json" in text
    report["fingerprint"] = "sha256:stale"
    (ds / "report.json").write_text(json.dumps(report))
    text = _bundle(ds, tmp_path / "b").card
    assert "22 rows read, **16 kept**, 6" in text and "numbers from data, stats.json and rejects" in text


def test_card_from_real_hala_report(tmp_path):
    """The card reads what `hala report` (hala.quality.report.build_report) writes."""
    from hala.quality.report import build_report

    ds = write_instructions(tmp_path / "ds")
    report = build_report(ds, ds / "report", lid=False, show_progress=False)
    text = _bundle(ds, tmp_path / "out").card
    assert "numbers from report.json" in text
    assert f"{report['rows_read']} rows read, **{report['rows_kept']} kept**, {report['rows_rejected']}" in text
    assert report["rows_kept"] == sum(SOURCES.values())


def test_local_source_makes_licence_unknown(tmp_path):
    ds = write_instructions(tmp_path / "ds", {"Open-Orca/OpenOrca": 3, "local/mine": 2}, files=1)
    bundle = _bundle(ds, tmp_path / "out")
    head = read_card_header(bundle.card)
    assert head["license"] == "unknown"
    assert "| `local/mine` | `local_mine` | 2 | unknown |" in bundle.card


def test_pairs_card(tmp_path):
    ds = write_pairs(tmp_path / "ds")
    bundle = _bundle(ds, tmp_path / "out")
    head = read_card_header(bundle.card)
    assert head["task_categories"] == ["translation"]
    assert head["license"] == "unknown"  # OPUS-100 declares none
    assert bundle.manifest["configs"] == {"default": {"train": 9}, "opus_100": {"train": 6},
                                          "teacher_tiny_teacher": {"train": 3}}
    assert "| judge | `tiny-judge (prompt v1)` | 9 |" in bundle.card
    assert "| teacher | `tiny-teacher` | 3 |" in bundle.card
    assert "[OPUS-100](https://huggingface.co/datasets/Helsinki-NLP/opus-100)" in bundle.card
    assert sum(PAIR_SOURCES.values()) == bundle.manifest["rows"]


@pytest.mark.parametrize("n,label", [(0, "n<1K"), (999, "n<1K"), (1000, "1K<n<10K"), (4_600_000, "1M<n<10M")])
def test_size_category(n, label):
    assert size_category(n) == label


def test_card_carries_the_recipe(tmp_path):
    ds = write_instructions(tmp_path / "ds")
    (ds / "recipe.yaml").write_text("flow: corpus\nserver:\n  model: hammh0a/Hala-1.2B@abc123\nfilters:\n"
                                    "  quality:\n    min_length_ratio: 0.5\n", encoding="utf-8")
    text = _bundle(ds, tmp_path / "out").card
    assert "```yaml\nflow: corpus\nserver:\n  model: hammh0a/Hala-1.2B@abc123" in text
    assert "min_length_ratio: 0.5" in text


def test_card_provenance_from_the_flows_recipe_yaml(tmp_path):
    """OUT/recipe.yaml (what the flows write next to their output) gives the card the models with their revision,
    the prompts with version and text, and the thresholds the run used (defaults filled in)."""
    from hala.pipelines.bilingual.judge import load_judge_prompt
    from hala.pipelines.translate.prompts import BUILTIN_PROMPTS

    ds = write_instructions(tmp_path / "ds")
    (ds / "recipe.yaml").write_text(
        "flow: teacher_pairs\ninput: samples/demo/openorca.jsonl\noutput: out/t\nrevision: 5f1e2d3\nprompt: teacher\n"
        "server:\n  type: vllm\n  model: Qwen/Qwen2.5-72B-Instruct\nfilters:\n  quality:\n    length_ratio:\n"
        "      chars_min: 0.42\n", encoding="utf-8")
    body = _bundle(ds, tmp_path / "a").card.split("\n---\n", 1)[1]
    assert "| teacher | `Qwen/Qwen2.5-72B-Instruct` | 5f1e2d3 | vllm |" in body
    teacher = BUILTIN_PROMPTS["teacher"]
    assert f"Translation prompt `teacher` (version `{teacher.version}`)" in body and teacher.system in body
    assert "| `filters.quality.length_ratio.chars_min` | `0.42` |" in body  # as written
    assert "| `filters.quality.length_ratio.chars_max` | `2.5` |" in body  # the default the run used
    assert "| `roles` | `user, assistant` |" in body

    (ds / "recipe.yaml").write_text("flow: mine\ninput: samples/opus/ar_en.jsonl\noutput: out/m\n"
                                    "server:\n  model: Qwen/Qwen2.5-3B-Instruct@main\njudge:\n  max_tokens: 8\n",
                                    encoding="utf-8")
    body = _bundle(ds, tmp_path / "b").card
    judge = load_judge_prompt("judge_v1")
    assert "| judge | `Qwen/Qwen2.5-3B-Instruct` | main | transformers |" in body
    assert f"Judge prompt `judge_v1` (version `{judge.version}`)" in body and judge.user.splitlines()[0] in body
    assert "| `judge.max_tokens` | `8` |" in body and "| `dedup.near` | `false` |" in body

    (ds / "recipe.yaml").write_text("flow: corpus\nserver: [not, a, mapping\n", encoding="utf-8")
    body = _bundle(ds, tmp_path / "c").card
    assert "the recipe is not valid YAML" in body and "server: [not, a, mapping" in body
    (ds / "recipe.yaml").unlink()
    assert "recipe was not recorded next to the data" in _bundle(ds, tmp_path / "d").card
