"""The seven paper sources through their presets (fixtures in their exact Hub schema), `auto`, the registry's
preset for a Hub id, column mappings for any other dataset, and the one-line errors of a wrong format or mapping."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from hala.pipelines.sources.adapters import AdapterError, resolve_mapping, to_messages
from hala.pipelines.sources.columns import ColumnMapping, parse_columns
from hala.pipelines.sources.presets import FORMATS
from hala.pipelines.sources.registry import lookup, preset_for
from hala.pipelines.sources.spec import SourceSpec
from tests.helpers import REPO

FIXTURES = REPO / "samples" / "sources"
# fixture file → (Hub id, preset)
SOURCES = {
    "openorca.jsonl": ("Open-Orca/OpenOrca", "openorca"),
    "hermes3.jsonl": ("NousResearch/Hermes-3-Dataset", "hermes3"),
    "scp116k.jsonl": ("EricLu/SCP-116K", "scp116k"),
    "realign_alpaca.json": ("GAIR/ReAlign-Alpaca", "realign_alpaca"),
    "lamini.jsonl": ("MBZUAI/LaMini-instruction", "lamini"),
    "tulu3.jsonl": ("allenai/tulu-3-sft-mixture", "tulu3"),
    "synthetic_instruct.jsonl": ("Dahoas/synthetic-instruct-gptj-pairwise", "synthetic_instruct"),
}
HERMES_ROLES = {"system": "system", "human": "user", "gpt": "assistant"}


def rows(name: str) -> list[dict]:
    path = FIXTURES / name
    if name.endswith(".json"):
        return json.loads(path.read_text(encoding="utf-8"))
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def expected(name: str, row: dict) -> list[dict]:
    """What each source's row must become, written from its Hub card's schema (samples/sources/README.md)."""
    if name == "openorca.jsonl":
        system = [{"role": "system", "content": row["system_prompt"]}] if row["system_prompt"] else []
        return system + [{"role": "user", "content": row["question"]}, {"role": "assistant", "content": row["response"]}]
    if name == "hermes3.jsonl":
        return [{"role": HERMES_ROLES[t["from"]], "content": t["value"]} for t in row["conversations"]]
    if name == "scp116k.jsonl":
        return [{"role": "user", "content": row["problem"]}, {"role": "assistant", "content": row["matched_solution"]}]
    if name == "realign_alpaca.json":
        human, gpt = row["items"]
        return [{"role": "user", "content": human["value"]}, {"role": "assistant", "content": gpt["value"]}]
    if name == "lamini.jsonl":
        return [{"role": "user", "content": row["instruction"]}, {"role": "assistant", "content": row["response"]}]
    if name == "tulu3.jsonl":
        return [{"role": m["role"], "content": m["content"]} for m in row["messages"]]
    return [{"role": "user", "content": row["prompt"]}, {"role": "assistant", "content": row["chosen"]}]


@pytest.mark.parametrize("name", list(SOURCES))
def test_each_source_through_its_preset_and_auto(name):
    hub_id, preset = SOURCES[name]
    assert preset_for(hub_id) == preset and preset in FORMATS
    for row in rows(name):
        assert to_messages(row, preset) == (preset, expected(name, row))
        assert to_messages(row, "auto") == (preset, expected(name, row))  # auto recognises the schema


def test_roles_and_turns_of_the_hard_rows():
    orca, hermes, tulu = rows("openorca.jsonl"), rows("hermes3.jsonl"), rows("tulu3.jsonl")
    roles = lambda row, fmt: [m["role"] for m in to_messages(row, fmt)[1]]  # noqa: E731
    assert roles(orca[1], "openorca") == ["user", "assistant"]  # empty system_prompt: no system message
    assert roles(orca[0], "openorca") == ["system", "user", "assistant"]
    assert roles(hermes[0], "hermes3") == ["system", "user", "assistant", "user", "assistant"]
    assert roles(hermes[4], "hermes3") == ["user", "assistant"]
    assert roles(tulu[3], "tulu3") == ["user", "assistant", "user", "assistant"]
    synthetic = rows("synthetic_instruct.jsonl")[0]
    assert all(synthetic["rejected"] != m["content"] for m in to_messages(synthetic, "synthetic_instruct")[1])


def test_realign_json_array_file_is_read_row_by_row():
    spec = SourceSpec(input=str(FIXTURES / "realign_alpaca.json"), name="GAIR/ReAlign-Alpaca")
    assert spec.resolved_format() == "realign_alpaca"
    docs = list(spec.reader().run())
    assert len(docs) == 6 and all(d.metadata["raw"]["items"][0]["from"] == "human" for d in docs)
    assert {d.metadata["source"]["dataset"] for d in docs} == {"GAIR/ReAlign-Alpaca"}


def test_registry_citations_and_licences_follow_the_cards():
    assert "teknium2024hermes3technicalreport" in lookup("NousResearch/Hermes-3-Dataset").citation
    assert "lu2025scp116khighqualityproblemsolutiondataset" in lookup("EricLu/SCP-116K").citation
    assert lookup("GAIR/ReAlign-Alpaca").citation.startswith("@article{fan2024reformatted")
    assert lookup("GAIR/ReAlign-Alpaca").licence == "unknown"  # the card declares none
    assert "journal={CoRR}" in lookup("MBZUAI/LaMini-instruction").citation
    assert lookup("allenai/tulu-3-sft-mixture").licence == "odc-by"


def test_empty_system_turn_is_dropped_not_rejected():
    row = {"conversations": [{"from": "system", "value": "  "}, {"from": "human", "value": "Q"},
                             {"from": "gpt", "value": "A"}]}
    assert [m["role"] for m in to_messages(row, "hermes3")[1]] == ["user", "assistant"]


def test_column_mapping_single_turn_and_turn_list():
    single = ColumnMapping.model_validate(parse_columns("system=sys,user=q+ctx,assistant=a"))
    fmt, msgs = to_messages({"sys": "", "q": "Question", "ctx": "Context", "a": "Answer"}, "auto", single)
    assert fmt == "columns" and msgs == [{"role": "user", "content": "Question\n\nContext"},
                                         {"role": "assistant", "content": "Answer"}]
    turns = ColumnMapping.model_validate(
        parse_columns("turns=dialog,role=speaker,content=text,roles.Q=user,roles.A=assistant"))
    _, msgs = to_messages({"dialog": [{"speaker": "Q", "text": "hi"}, {"speaker": "A", "text": "hello"}]},
                          "auto", turns)
    assert msgs == [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    with pytest.raises(AdapterError) as e:
        to_messages({"dialog": [{"speaker": "X", "text": "hi"}]}, "auto", turns)
    assert e.value.reason == "bad_role"
    # a preset's answer column overridden (SCP-116K's o1 answers)
    row = rows("scp116k.jsonl")[0]
    mapping = resolve_mapping("scp116k", {"assistant": "o1_solution"})
    assert to_messages(row, "scp116k", mapping)[1][1]["content"] == row["o1_solution"]


def test_a_row_that_fits_nothing_is_a_reasoned_reject():
    with pytest.raises(AdapterError) as e:
        to_messages({"text": "just text"})
    assert e.value.reason == "unknown_format"


def _translate(*args: str, tmp_path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hala.pipelines.cli.app", "translate", *args],
                          cwd=REPO, capture_output=True, text=True, timeout=120)


def test_wrong_mapping_is_one_line_exit_2_naming_the_column(tmp_path):
    src = str(FIXTURES / "openorca.jsonl")
    r = _translate(src, str(tmp_path / "a"), "--columns", "user=question,assistant=answer", tmp_path=tmp_path)
    assert r.returncode == 2, r.stderr
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "'answer'" in lines[0] and "question" in lines[0], r.stderr
    r = _translate(src, str(tmp_path / "b"), "--format", "lamini", tmp_path=tmp_path)
    assert r.returncode == 2 and "'instruction'" in r.stderr
    r = _translate(src, str(tmp_path / "c"), "--format", "nope", tmp_path=tmp_path)
    assert r.returncode == 2 and all(name in r.stderr for name in FORMATS)
    assert not (tmp_path / "a" / "logs").exists()  # nothing started


def test_a_known_hub_id_picks_its_preset():
    for hub_id, preset in SOURCES.values():
        assert SourceSpec(input=hub_id).resolved_format() == preset
        assert SourceSpec(input=hub_id).dataset() == hub_id  # the name recorded (and the bundle's config)
    assert SourceSpec(input="someone/other").resolved_format() == "auto"
    # a registered id with only an override: the registry's preset, its answer column replaced
    spec = SourceSpec(input="EricLu/SCP-116K", columns={"assistant": "o1_solution"})
    assert spec.resolved_format() == "scp116k"
    assert resolve_mapping(spec.resolved_format(), spec.columns).assistant == "o1_solution"
    with pytest.raises(ValueError, match="needs both `user` and `assistant`"):
        SourceSpec(input="someone/other", columns={"assistant": "answer"})  # nothing to complete it
    with pytest.raises(ValueError, match="asistant: Extra inputs"):
        SourceSpec(input="EricLu/SCP-116K", columns={"asistant": "o1_solution"})
    assert SourceSpec(input="EricLu/SCP-116K", format="scp116k",
                      columns={"assistant": "o1_solution"}).resolved_format() == "scp116k"
