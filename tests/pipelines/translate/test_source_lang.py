"""The English-source check: Tulu-3's Arabic, Chinese and code-only rows are rejected before any token is spent."""

from __future__ import annotations

from hala.pipelines.sources.normalize import NormalizeStage
from hala.pipelines.sources.spec import SourceSpec
from hala.pipelines.translate.source_lang import SourceLangStage
from tests.helpers import REPO

FIXTURES = REPO / "samples" / "sources"


def _records(name: str, hub_id: str):
    spec = SourceSpec(input=str(FIXTURES / name), name=hub_id)
    normalize = NormalizeStage(None, spec.resolved_format())
    docs = list(spec.reader().run())
    assert all(normalize.filter(d) is True for d in docs)
    return docs


def test_tulu_non_english_and_code_only_rows_are_rejected():
    docs = _records("tulu3.jsonl", "allenai/tulu-3-sft-mixture")
    verdicts = SourceLangStage(None).filter_batch(docs)
    # fixture lines 5 (Arabic), 6 (Chinese), 7 (code only) — samples/sources/README.md
    assert [v is True for v in verdicts] == [True, True, True, True, False, False, False]
    assert {v[1] for v in verdicts if v is not True} == {"source_not_english"}
    details = [d.metadata["reject_detail"] for d, v in zip(docs, verdicts) if v is not True]
    assert "detected ar" in details[0] and "detected zh" in details[1] and "no prose" in details[2]


def test_every_english_fixture_row_passes():
    for name, hub_id in [("openorca.jsonl", "Open-Orca/OpenOrca"), ("hermes3.jsonl", "NousResearch/Hermes-3-Dataset"),
                         ("scp116k.jsonl", "EricLu/SCP-116K"), ("realign_alpaca.json", "GAIR/ReAlign-Alpaca"),
                         ("lamini.jsonl", "MBZUAI/LaMini-instruction"),
                         ("synthetic_instruct.jsonl", "Dahoas/synthetic-instruct-gptj-pairwise")]:
        docs = _records(name, hub_id)
        assert SourceLangStage(None).filter_batch(docs) == [True] * len(docs), name
