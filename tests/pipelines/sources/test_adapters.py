"""Source adapters: every format maps to the instruction record; bad rows get a reason, ids are stable."""

import json

import pytest

from hala.pipelines.io.sources import SourceFileReader
from hala.pipelines.sources.adapters import AdapterError, to_messages
from hala.pipelines.sources.normalize import NormalizeStage


def test_alpaca_with_and_without_input():
    fmt, msgs = to_messages({"instruction": "Add.", "input": "2 and 3", "output": "5"})
    assert fmt == "alpaca"
    assert msgs == [{"role": "user", "content": "Add.\n\n2 and 3"}, {"role": "assistant", "content": "5"}]
    _, msgs = to_messages({"instruction": "Say hi.", "input": "", "output": "Hi"})
    assert msgs[0]["content"] == "Say hi."


def test_sharegpt_multi_turn_roles():
    row = {"conversations": [{"from": "system", "value": "Be brief."}, {"from": "human", "value": "Q1"},
                             {"from": "gpt", "value": "A1"}, {"from": "human", "value": "Q2"},
                             {"from": "gpt", "value": "A2"}]}
    fmt, msgs = to_messages(row)
    assert fmt == "hermes3"  # a bare `conversations` column is Hermes-3's schema; same roles as ShareGPT
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user", "assistant"]
    fmt, msgs = to_messages({"id": "x1", "conversations": [{"from": "human", "value": "Q"},
                                                           {"from": "chatgpt", "value": "A"}]})
    assert fmt == "sharegpt" and [m["role"] for m in msgs] == ["user", "assistant"]


def test_openorca_empty_system_prompt_is_dropped():
    _, msgs = to_messages({"system_prompt": "", "question": "Q", "response": "A"})
    assert [m["role"] for m in msgs] == ["user", "assistant"]
    _, msgs = to_messages({"system_prompt": "You are an AI.", "question": "Q", "response": "A"})
    assert msgs[0] == {"role": "system", "content": "You are an AI."}


def test_messages_format():
    fmt, msgs = to_messages({"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}]})
    assert fmt == "messages" and len(msgs) == 2


@pytest.mark.parametrize(
    "row, reason",
    [
        ({"foo": 1}, "unknown_format"),
        ({"instruction": "x", "input": "", "output": ""}, "empty_content"),
        ({"instruction": "x", "input": "", "output": 42}, "non_string_content"),
        ({"instruction": "x", "input": "", "output": ["a"]}, "non_string_content"),
        ({"messages": [{"role": "narrator", "content": "x"}]}, "bad_role"),
        ({"conversations": [{"from": "alien", "value": "x"}]}, "bad_role"),
        ({"messages": [{"role": "user", "content": "only a question"}]}, "unknown_format"),
        ({"instruction": "x", "input": "", "output": "y" * 100_001}, "too_large"),
        ([1, 2], "unknown_format"),
    ],
)
def test_bad_rows_have_reasons(row, reason):
    with pytest.raises(AdapterError) as e:
        to_messages(row)
    assert e.value.reason == reason


def test_forced_format_mismatch_is_rejected():
    with pytest.raises(AdapterError) as e:
        to_messages({"question": "q", "response": "r"}, "alpaca")
    assert e.value.reason in {"non_string_content", "unknown_format"}


def _read(path):
    reader = SourceFileReader(str(path))
    return list(reader.run())


def test_reader_quarantines_broken_lines_and_ids_are_stable(tmp_path):
    f = tmp_path / "mix.jsonl"
    with open(f, "wb") as out:
        out.write(json.dumps({"instruction": "a", "input": "", "output": "b"}).encode() + b"\n")
        out.write(b"{not json\n")
        out.write(b'{"instruction": "caf\xe9", "input": "", "output": "x"}\n')
        out.write(b"\n")
        out.write(json.dumps({"question": "q", "response": "r"}).encode() + b"\n")
    docs = _read(f)
    assert len(docs) == 5  # nothing dropped by the reader
    errors = [d.metadata.get("read_error") for d in docs]
    assert errors == [None, "malformed_json", "bad_utf8", "malformed_json", None]
    assert [d.id for d in docs] == [d.id for d in _read(f)]  # stable across runs
    assert len({d.id for d in docs}) == 5
    stage = NormalizeStage()
    verdicts = [stage.filter(d) for d in docs]
    assert verdicts[0] is True and verdicts[4] is True
    assert [v[1] for v in verdicts if v is not True] == ["malformed_json", "bad_utf8", "malformed_json"]
    assert docs[0].metadata["source"]["dataset"] == "mix"
    assert docs[0].metadata["messages"][0] == {"role": "user", "content": "a"}


def test_reader_parquet(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist([{"question": "q1", "response": "r1", "system_prompt": ""}] * 3),
                   tmp_path / "orca.parquet")
    docs = _read(tmp_path)
    assert len(docs) == 3 and len({d.id for d in docs}) == 3
    assert docs[0].metadata["source"]["dataset"].endswith("/orca")
