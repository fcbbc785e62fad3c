"""The bundled samples are data the demo and the audit rely on: check they say what their READMEs claim.

No model is needed: the demo sample must parse except exactly the rows listed in BROKEN.md (each with its reject
reason), and the Arabic audit sample must keep roles, message counts, protected spans and numbers of its clean rows,
while each labelled defective row really carries the defect its label names.
"""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest

from hala.pipelines.sources.adapters import AdapterError, to_messages
from hala.pipelines.translate.masking import protected_strings, strip_protected
from tests.helpers import REPO

SAMPLES = REPO / "samples"
DEMO = SAMPLES / "demo"
AUDIT = SAMPLES / "audit"
FORMATS = ("alpaca", "sharegpt", "openorca", "messages")

# The reason vocabulary of .notes/COMMON.md (stage -> reasons).
REASONS = {
    "normalize": {"malformed_json", "bad_utf8", "unknown_format", "empty_content", "non_string_content", "too_large",
                  "bad_role"},
    "translate": {"structure", "truncated", "repetition", "empty_output", "bad_request"},
    "lid": {"lid_not_arabic", "lid_src_mismatch", "lid_tgt_mismatch"},
    "quality": {"length_ratio_chars", "length_ratio_tokens", "arabic_share_low", "untranslated_residue",
                "identical_to_source", "repetition", "empty_content", "leaked_prompt", "missing_numbers",
                "missing_placeholders", "masked_span_changed", "roles_mismatch"},
    "dedup": {"exact_duplicate", "near_duplicate"},
}

ARABIC_LETTER = re.compile(r"[\u0621-\u064A\u066E-\u06D3\u06FA-\u06FF]")
LATIN_LETTER = re.compile(r"[A-Za-z]")
TASHKEEL = re.compile(r"[\u064B-\u0652\u0670]")
NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def parse_line(line: bytes) -> tuple[str | None, list[dict] | None]:
    """(reject reason, messages) for one raw jsonl line, the way the normalize stage judges it."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return "bad_utf8", None
    try:
        row = json.loads(text)
    except json.JSONDecodeError:
        return "malformed_json", None
    try:
        return None, to_messages(row)[1]
    except AdapterError as e:
        return e.reason, None


def demo_rows() -> dict[tuple[str, int], tuple[str | None, list[dict] | None]]:
    out = {}
    for path in sorted(DEMO.glob("*.jsonl")):
        for n, line in enumerate(path.read_bytes().splitlines(), 1):
            out[(path.name, n)] = parse_line(line)
    return out


def broken_listed() -> dict[tuple[str, int], str]:
    """The table of BROKEN.md: (file, line) -> expected reason (without the stage)."""
    listed = {}
    for row in (DEMO / "BROKEN.md").read_text(encoding="utf-8").splitlines():
        m = re.match(r"^\|\s*(\S+\.jsonl)\s*\|\s*(\d+)\s*\|.*\|\s*normalize/(\w+)\s*\|\s*$", row)
        if m:
            listed[(m.group(1), int(m.group(2)))] = m.group(3)
    return listed


def arabic_share(text: str) -> float | None:
    """Arabic letters / (Arabic + Latin letters) outside protected spans; None when there are no letters."""
    rest = strip_protected(text)
    ar, la = len(ARABIC_LETTER.findall(rest)), len(LATIN_LETTER.findall(rest))
    return ar / (ar + la) if ar + la else None


@pytest.fixture(scope="module")
def demo():
    return demo_rows()


@pytest.fixture(scope="module")
def audit():
    rows = [json.loads(line) for line in (AUDIT / "instructions.jsonl").read_text(encoding="utf-8").splitlines()]
    labels = [json.loads(line) for line in (AUDIT / "labels.jsonl").read_text(encoding="utf-8").splitlines()]
    return rows, {lab["id"]: lab for lab in labels}


# ---------------------------------------------------------------- demo sample


def test_demo_broken_rows_are_exactly_those_listed(demo):
    listed = broken_listed()
    assert len(listed) == 7
    failing = {key: reason for key, (reason, _) in demo.items() if reason is not None}
    assert failing == listed
    # one broken row per normalize reason (the huge one in its own file)
    assert set(listed.values()) == REASONS["normalize"]
    assert listed[("huge.jsonl", 1)] == "too_large"
    assert (DEMO / "huge.jsonl").stat().st_size > 250_000
    for name in FORMATS:
        assert (DEMO / f"{name}.jsonl").stat().st_size < 60_000, "only huge.jsonl may be large"


def test_demo_row_counts_and_shapes(demo):
    valid = Counter()
    multi_turn = Counter()
    for (file, _), (reason, messages) in demo.items():
        if reason is None:
            name = file.removesuffix(".jsonl")
            valid[name] += 1
            if sum(m["role"] == "user" for m in messages) >= 2:
                multi_turn[name] += 1
    assert 45 <= valid["alpaca"] <= 55
    assert 40 <= valid["sharegpt"] <= 50
    assert 55 <= valid["openorca"] <= 65
    assert 35 <= valid["messages"] <= 45
    assert 180 <= sum(valid.values()) <= 210
    assert multi_turn["sharegpt"] >= 12
    assert multi_turn["messages"] >= 6


def test_demo_openorca_has_four_repeated_system_prompts():
    rows = []
    for line in (DEMO / "openorca.jsonl").read_bytes().splitlines():
        row = json.loads(line)
        if "system_prompt" in row:
            rows.append(row["system_prompt"])
    prompts = Counter(rows)
    assert len([p for p in prompts if p]) == 4
    assert prompts[""] >= 5
    assert all(n >= 7 for p, n in prompts.items() if p)


def test_demo_duplicates(demo):
    by_content = Counter(json.dumps(m) for reason, m in demo.values() if reason is None)
    assert sorted(by_content.values(), reverse=True)[:4] == [2, 2, 2, 1], "exactly 3 exact-duplicate pairs"
    # near duplicates: one word changed
    texts = {key: " ".join(m["content"] for m in msgs) for key, (reason, msgs) in demo.items() if reason is None}
    for a, b in [(("alpaca.jsonl", 40), ("alpaca.jsonl", 51)), (("openorca.jsonl", 20), ("openorca.jsonl", 56))]:
        wa, wb = texts[a].split(), texts[b].split()
        assert len(wa) == len(wb) and sum(x != y for x, y in zip(wa, wb)) == 1


def test_demo_content_exercises_protected_spans(demo):
    contents = [m["content"] for reason, msgs in demo.values() if reason is None for m in msgs]
    joined = "\n".join(contents)
    for needle in ["```python", "```js", "```sql", "```bash", "````markdown\n```python", "$x^2$", r"$$\int_0^1 x\,dx",
                   r"\(a^2 + b^2 = c^2\)", r"\[E=mc^2\]", "costs $5 and a pen costs $10", "https://", "<br>", "<div>",
                   "|---|", "\n# ", "\n## ", "\n1. ", "\n- ", "\n\n", "12 March 2023"]:
        assert needle in joined, needle
    kinds = Counter()
    for text in contents:
        for s in protected_strings(text):
            kinds["fence" if s.startswith(("```", "~~~")) else "json" if s.startswith("{") else "other"] += 1
    assert kinds["fence"] >= 20 and kinds["json"] >= 2
    # "$" as currency is not a protected (LaTeX) span
    currency = next(t for t in contents if t.startswith("If a notebook costs $5"))
    assert protected_strings(currency) == []
    lengths = sorted(len(t.splitlines()) for t in contents)
    assert lengths[len(lengths) // 2] <= 6 and lengths[-1] >= 15


# ---------------------------------------------------------------- audit sample


def test_audit_records_follow_the_contract(audit):
    rows, labels = audit
    assert 140 <= len(rows) - len(labels) <= 170
    assert len({r["id"] for r in rows}) == len(rows)
    for r in rows:
        assert set(r) == {"id", "source", "messages", "messages_en", "lang", "meta"}
        assert set(r["source"]) == {"dataset", "config", "split", "revision"}
        assert r["source"]["dataset"].split("/")[0] == "hala-demo"
        assert r["lang"] == "ar" and r["meta"] == {}
        for m in r["messages"] + r["messages_en"]:
            assert set(m) == {"role", "content"} and isinstance(m["content"], str) and m["content"]


def test_audit_labels(audit):
    rows, labels = audit
    ids = {r["id"] for r in rows}
    assert 12 <= len(labels) <= 16
    assert set(labels) <= ids
    for lab in labels.values():
        assert lab["expected_reason"] in REASONS[lab["expected_stage"]], lab
    defects = Counter(lab["defect"] for lab in labels.values())
    assert defects == {"untranslated": 2, "partially_untranslated": 2, "truncated": 2, "code_translated": 2,
                       "duplicated": 2, "diacritics_duplicate": 1, "wrong_roles": 2, "leaked_prompt": 1}
    # defective rows come after the clean ones
    order = [r["id"] in labels for r in rows]
    assert order == sorted(order)


def test_audit_clean_rows_keep_structure_spans_numbers_and_script(audit):
    rows, labels = audit
    clean = [r for r in rows if r["id"] not in labels]
    spans = 0
    for r in clean:
        ar, en = r["messages"], r["messages_en"]
        assert [m["role"] for m in ar] == [m["role"] for m in en], r["id"]
        for a, e in zip(ar, en):
            kept = Counter(protected_strings(e["content"]))
            spans += sum(kept.values())
            # every protected string of the English is in the Arabic byte-identical (as often), and nothing the
            # masker protects in the Arabic is new. Containment rather than equality of the two span lists:
            # Arabic glues the conjunction "و" to the next word ("و$b$"), which the masker's inline-LaTeX rule
            # does not treat as math.
            assert all(a["content"].count(s) >= n for s, n in kept.items()), (r["id"], e["content"][:60])
            assert not Counter(protected_strings(a["content"])) - kept, (r["id"], e["content"][:60])
            a_rest, e_rest = strip_protected(a["content"]), strip_protected(e["content"])
            missing = Counter(NUMBER.findall(e_rest)) - Counter(NUMBER.findall(a_rest))
            assert not missing, (r["id"], dict(missing))
            share = arabic_share(a["content"])
            assert share is None or share >= 0.5, (r["id"], share, a["content"][:60])
            # markdown layout: same number of lines that start a list item, heading or table row
            layout = re.compile(r"^(?:\d+\. |- |#+ |\|)", re.MULTILINE)
            assert len(layout.findall(a_rest)) == len(layout.findall(e_rest)), r["id"]
    assert spans >= 150


def test_audit_defects_are_real(audit):
    rows, labels = audit
    by_id = {r["id"]: r for r in rows}
    clean = [r for r in rows if r["id"] not in labels]
    for rid, lab in labels.items():
        r = by_id[rid]
        ar, en = r["messages"], r["messages_en"]
        defect = lab["defect"]
        if defect == "untranslated":
            assert min(s for m in ar if (s := arabic_share(m["content"])) is not None) < 0.1
        elif defect == "partially_untranslated":
            text = ar[-1]["content"]
            assert arabic_share(text) >= 0.5
            assert re.search(r"(?:[A-Za-z'’]+[ ,—-]+){10,}", text), "a long English run"
        elif defect == "truncated":
            assert len(ar[-1]["content"]) < 0.25 * len(en[-1]["content"])
        elif defect == "code_translated":
            assert any(protected_strings(a["content"]) != protected_strings(e["content"]) for a, e in zip(ar, en))
            assert any(ARABIC_LETTER.search(s) for m in ar for s in protected_strings(m["content"]))
        elif defect == "duplicated":
            assert any(c["messages"] == ar for c in clean)
        elif defect == "diacritics_duplicate":
            assert TASHKEEL.search(ar[-1]["content"])
            plain = [{"role": m["role"], "content": TASHKEEL.sub("", m["content"])} for m in ar]
            assert any(c["messages"] == plain for c in clean)
        elif defect == "wrong_roles":
            assert [m["role"] for m in ar] != [m["role"] for m in en] and len(ar) == len(en)
        elif defect == "leaked_prompt":
            text = ar[-1]["content"]
            i = text.find("Here is the translation:")
            assert 0 < i < len(text) - 30
        else:
            pytest.fail(f"unknown defect {defect}")
