"""The fast metrics path computes exactly what the first implementation computed.

`hala.quality.metrics.build_metrics` was rewritten for speed (benchmarks/report_speed.py). The first implementation is kept
here, frozen, as the reference: its DuckDB macros and queries as they were, and its Python pass for masked-span
survival. Both run on the same few thousand synthetic records, chosen to hit every branch the fast path short-cuts
(code, LaTeX, URLs, HTML, JSON, tashkeel, Latin-1 letters, odd whitespace, untranslated and truncated turns, lost
spans, duplicates, multi-turn, missing or unaligned English, wrong roles, NULL and blank contents), and every value
of every column of the metrics table must be equal.
"""

from __future__ import annotations

import random
import re
from collections import Counter

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hala.quality.metrics import build_metrics, find_dataset, lid_columns, load_records
from hala.quality.sql import query

# -- the reference: the first implementation, frozen (sql/macros.sql, sql/metrics_*.sql, quality/metrics.py) ----------

OLD_MACROS = r"""
CREATE OR REPLACE MACRO ws_tokens(t) AS
    len(list_filter(string_split(replace(replace(replace(t, chr(13), ' '), chr(10), ' '), chr(9), ' '), ' '),
                    lambda s: s <> ''));
CREATE OR REPLACE MACRO may_have_spans(t) AS
    contains(t, '`') OR contains(t, '~~~') OR contains(t, '$') OR contains(t, '\') OR contains(t, '://');
CREATE OR REPLACE MACRO strip_protected(t, hint) AS
    CASE WHEN hint THEN
        regexp_replace(regexp_replace(regexp_replace(t,
            '(?s)```.*?```|~~~.*?~~~|`[^`\n]+`', ' ', 'g'),
            '(?s)\$\$.+?\$\$|\\\[.+?\\\]|\\\(.+?\\\)|\$[^\s$][^$\n]*\$', ' ', 'g'),
            'https?://\S+', ' ', 'g')
    ELSE t END;
CREATE OR REPLACE MACRO has_code(t, hint) AS hint AND regexp_matches(t, '```|~~~|`[^`\n]+`');
CREATE OR REPLACE MACRO has_latex(t, hint) AS
    hint AND regexp_matches(t, '(?s)\$\$.+?\$\$|\\\[.+?\\\]|\\\(.+?\\\)|\$[^\s$][^$\n]*\$');
CREATE OR REPLACE MACRO arabic_letters(t) AS
    length(t) - length(regexp_replace(t, '[\x{0621}-\x{063A}\x{0641}-\x{064A}\x{066E}-\x{06D3}\x{06FA}-\x{06FF}]+', '', 'g'));
CREATE OR REPLACE MACRO latin_letters(t) AS
    CASE WHEN regexp_matches(t, '[A-Za-z\x{00C0}-\x{024F}]')
         THEN length(t) - length(regexp_replace(t, '[A-Za-z\x{00C0}-\x{024F}]+', '', 'g'))
         ELSE 0 END;
CREATE OR REPLACE MACRO arabic_share(t, n_latin) AS
    CASE WHEN n_latin = 0 THEN 1.0
         ELSE 1.0 - n_latin / (arabic_letters(t) + n_latin) END;
CREATE OR REPLACE MACRO latin_run(t) AS regexp_matches(t, '(?:[A-Za-z][A-Za-z''’-]*[ ,;:]+){4}[A-Za-z]');
CREATE OR REPLACE MACRO content_key(t) AS
    hash(regexp_replace(t, '[\x{0610}-\x{061A}\x{064B}-\x{065F}\x{0670}\x{0640}]+', '', 'g'));
CREATE OR REPLACE MACRO is_blank(t) AS t IS NULL OR NOT regexp_matches(t, '\S');
"""

OLD_QUERY = {
    "instructions": r"""
WITH base AS (
    SELECT
        _row, id,
        coalesce(source_dataset, '(unknown)') AS source_dataset,
        coalesce(len(messages), 0) AS n_turns,
        coalesce(array_to_string(list_transform(messages, lambda m: coalesce(m.content, '')), chr(10) || chr(10)), '') AS text_ar,
        coalesce(array_to_string(list_transform(messages_en, lambda m: coalesce(m.content, '')), chr(10) || chr(10)), '') AS text_en,
        messages_en IS NOT NULL AS has_source,
        list_transform(messages, lambda m: m.role) AS roles,
        list_transform(messages_en, lambda m: m.role) AS roles_en,
        coalesce(list_bool_or(list_transform(messages, lambda m: is_blank(m.content))), true) AS empty_content
    FROM records
),
hinted AS (SELECT *, may_have_spans(text_ar) AS hint FROM base),
measured AS (
    SELECT *, ws_tokens(text_ar) AS tokens_ar, ws_tokens(text_en) AS tokens_en,
        strip_protected(text_ar, hint) AS prose_ar
    FROM hinted
),
scripts AS (SELECT *, latin_letters(prose_ar) AS n_latin FROM measured)
SELECT
    _row, id, source_dataset, n_turns,
    length(text_ar) AS chars_ar, length(text_en) AS chars_en, tokens_ar, tokens_en,
    CASE WHEN has_source AND length(text_en) > 0 THEN length(text_ar) / length(text_en) END AS length_ratio,
    CASE WHEN has_source AND tokens_en > 0 THEN tokens_ar / tokens_en END AS token_ratio,
    n_latin AS latin_letters,
    arabic_share(prose_ar, n_latin) AS arabic_share,
    n_latin >= 5 AND latin_run(prose_ar) AS latin_residue,
    has_code(text_ar, hint) AS has_code,
    has_latex(text_ar, hint) AS has_latex,
    empty_content,
    coalesce(list_bool_and(list_transform(roles, lambda r: r IN ('system', 'user', 'assistant'))), false)
        AND (NOT has_source OR roles = roles_en) AS roles_ok,
    list_contains(roles, 'assistant') AS has_assistant,
    content_key(text_ar) AS content_key
FROM scripts""",
    "pairs": r"""
WITH base AS (
    SELECT _row, id,
        coalesce(source_dataset, '(unknown)') AS source_dataset,
        coalesce(src_lang, 'en') AS src_lang, coalesce(tgt_lang, 'ar') AS tgt_lang,
        coalesce(src, '') AS src, coalesce(tgt, '') AS tgt, judge_verdict
    FROM records
),
sided AS (
    SELECT *, CASE WHEN src_lang LIKE 'ar%' AND tgt_lang NOT LIKE 'ar%' THEN src ELSE tgt END AS side_ar,
           src || chr(10) || tgt AS both_sides
    FROM base
),
measured AS (
    SELECT *, ws_tokens(src) AS tokens_src, ws_tokens(tgt) AS tokens_tgt,
        strip_protected(side_ar, may_have_spans(side_ar)) AS prose_ar,
        may_have_spans(both_sides) AS hint
    FROM sided
),
scripts AS (SELECT *, latin_letters(prose_ar) AS n_latin FROM measured)
SELECT
    _row, id, source_dataset, src_lang, tgt_lang, 1 AS n_turns,
    length(src) AS chars_src, length(tgt) AS chars_tgt, tokens_src, tokens_tgt,
    CASE WHEN length(src) > 0 THEN length(tgt) / length(src) END AS length_ratio,
    CASE WHEN tokens_src > 0 THEN tokens_tgt / tokens_src END AS token_ratio,
    n_latin AS latin_letters,
    arabic_share(prose_ar, n_latin) AS arabic_share,
    n_latin >= 5 AND latin_run(prose_ar) AS latin_residue,
    has_code(both_sides, hint) AS has_code,
    has_latex(both_sides, hint) AS has_latex,
    is_blank(src) OR is_blank(tgt) AS empty_content,
    NOT is_blank(src) AND abs(length(src) - length(tgt)) <= 16 AND trim(src) = trim(tgt) AS identical_to_source,
    judge_verdict,
    content_key(src || chr(31) || tgt) AS content_key
FROM scripts""",
}

_OLD_HINT_RE = re.compile(r"[`~$\\<{\[]|://")


def _old_hint_sql(text_expr: str) -> str:
    return "(" + " OR ".join(f"contains({text_expr}, '{c}')" for c in ("`", "~", "$", "\\", "<", "{", "[", "://")) + ")"


def old_span_rows(con, kind: str) -> list[tuple]:
    """(row, spans_total, spans_survived) the way the first implementation found them, row by row in Python."""
    from hala.pipelines.translate.masking import protected_strings

    if kind == "instructions":
        hint = _old_hint_sql("array_to_string(list_transform(messages_en, lambda m: coalesce(m.content, '')), ' ')")
        rows = con.execute(
            "SELECT _row, list_transform(messages, lambda m: m.content), list_transform(messages_en, lambda m: m.content) "
            f"FROM records WHERE messages_en IS NOT NULL AND len(messages_en) = len(messages) AND {hint}").fetchall()
        unaligned = con.execute("SELECT _row FROM records WHERE messages_en IS NULL OR "
                                "len(messages_en) <> len(messages)").fetchall()
    else:
        rows = con.execute("SELECT _row, [tgt], [src] FROM records WHERE " + _old_hint_sql("coalesce(src, '')")
                           ).fetchall()
        unaligned = con.execute("SELECT _row FROM records WHERE src IS NULL").fetchall()
    out = []
    for r, targets, sources in rows:
        total, ok = 0, True
        for tgt, src in zip(targets, sources):
            if not src or not _OLD_HINT_RE.search(src):
                continue
            spans = Counter(protected_strings(src))
            total += sum(spans.values())
            ok = ok and all((tgt or "").count(span) >= n for span, n in spans.items())
        out.append((r, total, ok))
    return out + [(r, None, None) for (r,) in unaligned]


def old_metrics(con, kind: str, lid: bool) -> None:
    """Table `metrics` as the first implementation built it (same records table, same LID, same cluster query)."""
    con.execute(OLD_MACROS)
    con.execute(f"CREATE TABLE metrics_sql AS {OLD_QUERY[kind]}")
    con.execute("CREATE TABLE spans_old (_row BIGINT, spans_total BIGINT, spans_survived BOOLEAN)")
    con.executemany("INSERT INTO spans_old VALUES (?, ?, ?)", old_span_rows(con, kind))
    if lid:
        con.register("lid_frame", lid_columns(con, kind).to_arrow())
        lid_select, lid_join = "l.lid_label, l.lid_score", "LEFT JOIN lid_frame l USING (_row)"
    else:
        lid_select, lid_join = "NULL::VARCHAR AS lid_label, NULL::DOUBLE AS lid_score", ""
    con.execute(f"""
        CREATE TABLE metrics AS
        SELECT d.*, {lid_select},
               coalesce(s.spans_total, CASE WHEN s._row IS NULL THEN 0 END) AS spans_total,
               CASE WHEN s._row IS NULL THEN true ELSE s.spans_survived END AS spans_survived
        FROM ({query('duplicate_clusters', metrics='metrics_sql')}) d
        {lid_join} LEFT JOIN spans_old s USING (_row)""")


# -- varied synthetic records -----------------------------------------------------------------------------------------

AR = ["الكتاب", "المدينة", "الطالب", "المعلم", "السوق", "القهوة", "البيانات", "البرنامج", "الجامعة", "ڤيديو", "گرافيك",
      "ئ", "ۓ", "ٮ", "ے"]
AR_DIACRITIC = ["كِتَابٌ", "مُعَلِّمٌ", "الـــكتاب", "ٰ", "ؐسلام", "قرأَ"]
EN = ["book", "city", "student", "teacher", "market", "coffee", "data", "program", "don't", "re-use", "it’s", "O'Neil"]
LATIN_EXTRA = ["café", "straße", "naïve", "×", "÷", "Ɛ", "ǂ", "ȷ", "ɏ", "Ā", "ÿ"]
SPACES = [" ", " ", " ", "  ", "\t", "\n", "\r\n", "\n\n", " \u00a0", "\u2003", "\x0b", "\x0c", " , ", "; ", ": "]
SPANS = [
    "```python\nprint('x')\n```", "~~~\nls -la\n~~~", "```js\nlet a = 1;", "````\n```\ninner\n```\n````",
    "   ```\nindented\n```", "```\n```", "`f(x)`", "``a ` b``", "`", "$$E=mc^2$$", "\\[a+b\\]", "\\(x\\)", "$x^2$",
    "و$b$", "$5 and $10", "$ x$", "$\n$", "https://example.com/a?b=1.", "http://x.y/z)", "ftp://files.example.org/x",
    "www.example.com", "<b>bold</b>", "<br/>", '<a href="x">', "< not a tag >", '{\n  "a": 1\n}', "[\n 1, 2\n]",
    "{\n not json\n}", "{}", "[[1]]", "a \\ b", "~~strike~~", "://", "```` `` ````",
]


def _words(rng: random.Random, pool: list[str], n: int) -> str:
    return "".join(rng.choice(pool) + rng.choice(SPACES) for _ in range(n)).rstrip(" ") if n else ""


def _turn(rng: random.Random) -> tuple[str | None, str | None]:
    """(Arabic, English) contents of one message, with the defects the metrics must see."""
    spans = [rng.choice(SPANS) for _ in range(rng.choice([0, 0, 0, 1, 1, 2, 3]))]
    en = _words(rng, EN, rng.randint(0, 12))
    ar = _words(rng, AR + AR_DIACRITIC * (rng.random() < 0.2), rng.randint(0, 14))
    for span in spans:
        en += rng.choice(SPACES) + span
        fate = rng.random()
        kept = span if fate < 0.75 else ("" if fate < 0.85 else (span[:-1] if fate < 0.95 else span + span))
        ar += rng.choice(SPACES) + kept
    extra = rng.random()
    if extra < 0.08:
        ar += " " + _words(rng, EN, rng.randint(3, 8))  # Latin residue, short or long
    elif extra < 0.12:
        ar += " " + _words(rng, LATIN_EXTRA + AR, 6)
    fate = rng.random()
    if fate < 0.04:
        ar = en  # untranslated
    elif fate < 0.07:
        ar = ar[: rng.randint(0, 12)]  # truncated
    elif fate < 0.09:
        ar = rng.choice(["", " ", "\n\t ", None])
    if rng.random() < 0.02:
        en = rng.choice(["", "  ", None])
    if rng.random() < 0.1:
        ar = rng.choice([" ", "\t", "\r"]) + (ar or "") + rng.choice([" ", "\r", "\n"])
    return ar, en


MESSAGE = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))


def instruction_rows(n: int, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    rows: list[dict] = []
    for i in range(n):
        if rows and rng.random() < 0.06:  # an exact copy of an earlier record (sometimes under the same id)
            copy = dict(rng.choice(rows))
            rows.append({**copy, "id": copy["id"] if rng.random() < 0.3 else f"r{i}"})
            continue
        plain = [r for r in rows[-50:] if r["messages"] and None not in r["messages"]]
        if plain and rng.random() < 0.02:  # a copy with tashkeel and tatweel added
            copy = dict(rng.choice(plain))
            messages = [{**m, "content": None if m["content"] is None else m["content"].replace("ا", "اَ").replace(
                "ل", "لـ")} for m in copy["messages"]]
            rows.append({**copy, "id": f"d{i}", "messages": messages})
            continue
        turns = rng.choice([0, 1, 2, 2, 2, 2, 3, 4, 6])
        roles = (["system"] if rng.random() < 0.2 else []) + [("user", "assistant")[k % 2] for k in range(turns)]
        if roles and rng.random() < 0.04:
            roles[rng.randrange(len(roles))] = rng.choice(["human", "gpt", "tool"])
        pairs = [_turn(rng) for _ in roles]
        messages = [{"role": r, "content": a} for r, (a, _) in zip(roles, pairs)]
        english = [{"role": r, "content": e} for r, (_, e) in zip(roles, pairs)]
        fate = rng.random()
        if fate < 0.01:
            messages = None
        elif fate < 0.02 and english:
            messages[rng.randrange(len(messages))] = None  # a NULL message inside the list
            english[rng.randrange(len(english))] = None
        elif fate < 0.05:
            english = None
        elif fate < 0.08 and english:
            english = english[:-1]  # unaligned
        elif fate < 0.10 and english:
            english[0] = {**english[0], "role": "user" if english[0]["role"] != "user" else "assistant"}
        source = None if rng.random() < 0.05 else {"dataset": rng.choice(["a/alpaca", "b/orca", "c/share"]),
                                                   "config": "default", "split": "train", "revision": ""}
        rows.append({"id": f"r{i}", "source": source, "messages": messages, "messages_en": english})
    return rows


def pair_rows(n: int, seed: int = 11) -> list[dict]:
    rng = random.Random(seed)
    rows: list[dict] = []
    for i in range(n):
        if rows and rng.random() < 0.05:
            rows.append({**rng.choice(rows), "id": f"p{i}"})
            continue
        ar, en = _turn(rng)
        src_lang, tgt_lang = rng.choice([("en", "ar"), ("en", "ar"), ("ar", "en"), (None, None), ("en", "ar-EG"),
                                         ("fr", "ar"), ("ar", "ar")])
        src, tgt = (ar, en) if src_lang == "ar" else (en, ar)
        if rng.random() < 0.05:
            tgt = rng.choice(["", " "]) + (src or "") + rng.choice(["", " ", "\t"])  # identical to its source
        rows.append({"id": f"p{i}", "src_lang": src_lang, "tgt_lang": tgt_lang, "src": src, "tgt": tgt,
                     "origin": rng.choice(["teacher:m", "opus-100", None]),
                     "judge": None if rng.random() < 0.5 else {"verdict": rng.choice(["good", "bad"])}})
    return rows


def write(tmp_path, name: str, rows: list[dict], schema: pa.Schema):
    path = tmp_path / f"{name}.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    return path


INSTRUCTION_SCHEMA = pa.schema([("id", pa.string()), ("source", pa.struct([(k, pa.string()) for k in
                                ("dataset", "config", "split", "revision")])), ("messages", MESSAGE),
                                ("messages_en", MESSAGE)])
PAIR_SCHEMA = pa.schema([("id", pa.string()), ("src_lang", pa.string()), ("tgt_lang", pa.string()),
                         ("src", pa.string()), ("tgt", pa.string()), ("origin", pa.string()),
                         ("judge", pa.struct([("verdict", pa.string())]))])


def both_tables(path, lid: bool) -> tuple[list[dict], list[dict]]:
    old, new = duckdb.connect(), duckdb.connect()
    kind = load_records(old, find_dataset(path))
    assert load_records(new, find_dataset(path)) == kind
    old_metrics(old, kind, lid)
    build_metrics(new, kind, lid=lid)
    read = "SELECT * FROM metrics ORDER BY _row"
    cols_old = [d[0] for d in old.sql(read).description]
    cols_new = [d[0] for d in new.sql(read).description]
    assert cols_new == cols_old
    types_old, types_new = old.sql(read).types, new.sql(read).types
    assert [str(t) for t in types_new] == [str(t) for t in types_old]
    return ([dict(zip(cols_old, r)) for r in old.sql(read).fetchall()],
            [dict(zip(cols_new, r)) for r in new.sql(read).fetchall()])


def assert_same(old: list[dict], new: list[dict]) -> None:
    assert len(new) == len(old)
    for o, n in zip(old, new):
        diff = {k: (o[k], n[k]) for k in o if o[k] != n[k] or type(o[k]) is not type(n[k])}
        assert not diff, f"row {o['_row']} ({o['id']}): old vs new {diff}"


@pytest.mark.parametrize("kind", ["instructions", "pairs"])
def test_fast_metrics_equal_the_first_implementation(tmp_path, kind):
    rows, schema = (instruction_rows(3000), INSTRUCTION_SCHEMA) if kind == "instructions" else (pair_rows(2000),
                                                                                                PAIR_SCHEMA)
    old, new = both_tables(write(tmp_path, kind, rows, schema), lid=False)
    assert_same(old, new)
    # the sample reaches every branch the fast path short-cuts (else equality would prove little)
    def count(pred):
        return sum(1 for r in old if pred(r))
    assert count(lambda r: r["has_code"]) > 50 and count(lambda r: r["has_latex"]) > 50
    assert count(lambda r: r["latin_residue"]) > 20 and count(lambda r: 0 < r["latin_letters"] < 5) > 5
    assert count(lambda r: r["arabic_share"] < 1) > 50 and count(lambda r: r["empty_content"]) > 20
    assert count(lambda r: r["spans_survived"] is False) > 50 and count(lambda r: r["spans_total"] is None) > 10
    assert count(lambda r: (r["spans_total"] or 0) > 0 and r["spans_survived"]) > 50
    assert count(lambda r: r["dup_cluster_size"] > 1) > 50
    if kind == "instructions":
        assert count(lambda r: r["n_turns"] >= 4) > 100 and count(lambda r: not r["roles_ok"]) > 50
        assert count(lambda r: r["id"].startswith("d") and r["dup_cluster_size"] > 1) > 10  # copies with tashkeel
        assert count(lambda r: r["tokens_ar"] > 0 and r["length_ratio"] is None) > 20
    else:
        assert count(lambda r: r["identical_to_source"]) > 20


def test_fast_metrics_equal_the_first_implementation_with_lid(tmp_path):
    old, new = both_tables(write(tmp_path, "lid", instruction_rows(300, seed=3), INSTRUCTION_SCHEMA), lid=True)
    assert_same(old, new)
    assert sum(1 for r in old if r["lid_score"] is not None) > 100


def test_lid_streamed_in_batches_equals_one_batch(tmp_path, monkeypatch):
    """LID reads the texts from DuckDB LID_BATCH at a time (a corpus's messages never sit in Python at once): batches
    that cut records apart give the same per-record label and score as one batch, and progress counts every text."""
    import hala.quality.metrics as metrics

    con = duckdb.connect()
    kind = load_records(con, find_dataset(write(tmp_path, "lid", instruction_rows(300, seed=3), INSTRUCTION_SCHEMA)))
    whole = lid_columns(con, kind).sort("_row")
    monkeypatch.setattr(metrics, "LID_BATCH", 7)
    seen: list[tuple[int, int]] = []
    batched = lid_columns(con, kind, progress=lambda done, total: seen.append((done, total))).sort("_row")
    assert batched.to_dicts() == whole.to_dicts() and whole.height > 100
    texts = con.sql("SELECT count(*) FROM (SELECT unnest(messages) AS m FROM records) WHERE m.content IS NOT NULL"
                    ).fetchall()[0][0]
    assert len(seen) > 50 and seen[-1] == (texts, texts)
