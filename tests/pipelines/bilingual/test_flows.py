"""Bilingual supervision end to end: teacher pairs, OPUS mining with the judge, the translator set.

The tiny CPU model (behind `transformers serve`) runs the recipes as shipped: its judge answers are never verdicts,
so those runs check plumbing and accounting. A fake OpenAI-compatible judge (an endpoint server in a thread) gives
deterministic verdicts so the ACCEPT / REJECT / unparseable paths are checked with real numbers.
"""

from __future__ import annotations

import glob
import json
import re
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from hala.pipelines.bilingual.mining import MineRecipe, run_mine
from hala.pipelines.bilingual.translator_set import (
    INSTRUCTIONS,
    TranslatorSetRecipe,
    build_translator_set,
    source_key,
    split_of,
)
from hala.pipelines.core.records import pair_schema
from hala.pipelines.flows.registry import run_recipe
from hala.pipelines.serving.tiny_model import TRANSLATE_INSTRUCTION
from tests.helpers import REPO

OPUS = REPO / "samples" / "opus" / "ar_en.jsonl"


def read_parquet(folder: Path) -> list[dict]:
    rows = []
    for f in sorted(glob.glob(str(folder / "*.parquet"))):
        rows += pq.read_table(f).to_pylist()
    return rows


def read_rejects(out: Path) -> list[dict]:
    rows = []
    for f in sorted(glob.glob(str(out / "rejects" / "*" / "*.jsonl"))):
        rows += [json.loads(line) for line in Path(f).read_text().splitlines() if line.strip()]
    return rows


def assert_stage_chain(stats: dict, order: list[str], rows_in: int) -> int:
    """Every stage: read = kept + rejected, and each stage reads what the previous one kept. Returns the last kept."""
    expected = rows_in
    for name in order:
        s = stats["stages"][name]
        assert s["read"] == s["kept"] + s["rejected"], (name, s)
        assert s["rejected"] == sum(s["reasons"].values()), (name, s)
        assert s["read"] == expected, (name, s, expected)
        expected = s["kept"]
    return expected


# ------------------------------------------------------------------------------------------------- fake judge
ANSWERS = {  # English source (prefix) → the fake judge's answer; anything else gets "ACCEPT"
    "The museum is closed on Mondays": "REJECT",
    "Please turn off the lights": "ACCEPT. Actually REJECT",
    "The company hired 25": "",
    "Reading books is one": "مقبول",
    "The library opens at nine": " accept.\n",
    "Children need at least": "reject",
}


class _FakeJudge(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _send(self, body: dict):
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self._send({"object": "list", "data": [{"id": "fake-judge", "object": "model"}]})

    def do_POST(self):
        payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append(payload)
        english = re.search(r"English:\n(.*?)\n\nArabic:", payload["messages"][-1]["content"], re.S).group(1)
        answer = next((a for k, a in ANSWERS.items() if english.startswith(k)), "ACCEPT")
        self._send({"choices": [{"index": 0, "message": {"role": "assistant", "content": answer},
                                 "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11}})


@pytest.fixture()
def fake_judge():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeJudge)
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


def test_mining_prefilters_then_judges_strictly(tmp_path, fake_judge):
    out = tmp_path / "mined"
    recipe = MineRecipe(input=str(OPUS), output=str(out), limit=20,
                        server={"type": "endpoint", "endpoint": f"http://127.0.0.1:{fake_judge.server_port}",
                                "model": "fake-judge", "max_concurrency": 4})
    stats = run_mine(recipe)
    kept = assert_stage_chain(stats, ["parallel_rows", "lid", "quality", "dedup", "judge"], 20)
    st = stats["stages"]
    # the bundled sample's first 20 rows: 3 wrong-language/swapped, 1 empty + 1 truncated, 1 exact duplicate
    assert st["lid"]["reasons"] == {"lid_tgt_mismatch": 1, "lid_src_mismatch": 2}
    assert st["quality"]["reasons"] == {"empty_content": 1, "length_ratio_chars": 1}
    assert st["dedup"]["reasons"] == {"exact_duplicate": 1}
    # only what survived the cheap filters cost a judge request
    assert len(fake_judge.requests) == st["judge"]["read"] == 14
    assert st["judge"]["reasons"] == {"judge_reject": 2, "judge_unparseable": 3}
    assert kept == 9
    rows = read_parquet(out / "data")
    assert len(rows) == 9
    version = stats["judge"]["prompt_version"]
    assert version.startswith("judge_v1@")
    for r in rows:
        assert r["judge"]["verdict"] == "ACCEPT" and r["judge"]["model"] == "fake-judge"
        assert r["judge"]["prompt_version"] == version and r["origin"] == "opus-100"
        assert (r["src_lang"], r["tgt_lang"]) == ("en", "ar")
    assert any(r["src"].startswith("The library opens") for r in rows)  # " accept.\n" is a clean verdict
    rejects = read_rejects(out)
    assert len(rejects) == 20 - kept
    judged = {json.loads(r["record"])["src"][:27]: r["reason"] for r in rejects if r["stage"] == "judge"}
    assert judged == {"The museum is closed on Mon": "judge_reject", "Children need at least nine": "judge_reject",
                      "Please turn off the lights ": "judge_unparseable", "The company hired 25 new en": "judge_unparseable",
                      "Reading books is one of the": "judge_unparseable"}
    dup = next(r for r in rejects if r["stage"] == "dedup")
    assert dup["reason"] == "exact_duplicate" and dup["detail"].startswith("kept=")
    # the judged pairs, both directions, pass the quality gate's bilingual suite
    from hala.quality.gate import run_gate

    built = build_translator_set(TranslatorSetRecipe(inputs=[str(out)], output=str(tmp_path / "set"), reverse=True,
                                                     test_size=0.3, dev_size=0.0))
    assert built["total"] == 2 * kept - built["stages"]["split"]["rejected"]
    gate = run_gate(tmp_path / "set" / "pairs")
    assert gate.success, gate.to_dict()


def test_mining_reads_parquet_rows_and_rejects_malformed_ones(tmp_path):
    table = pa.Table.from_pylist([{"translation": {"ar": "يدرس أخي الطب في جامعة القاهرة.",
                                                   "en": "My brother is studying medicine at Cairo University."}},
                                  {"translation": {"ar": "أنهى الطلاب المشروع قبل الموعد النهائي.",
                                                   "en": "The students finished the project before the deadline."}}])
    folder = tmp_path / "opus"
    folder.mkdir()
    pq.write_table(table, folder / "train-00000.parquet")
    broken = tmp_path / "broken" / "rows.jsonl"
    broken.parent.mkdir()
    broken.write_text('{"translation": {"en": "Only English here, no Arabic side."}}\n'
                      '{"translation": {"en": 5, "ar": "خمسة"}}\n'
                      '{"en": "Flat rows work too: this one is kept.", "ar": "الصفوف المسطحة تعمل أيضًا: هذا الصف محفوظ."}\n'
                      '{broken json\n')
    stats = run_mine(MineRecipe(input=str(folder), output=str(tmp_path / "a"), judge=None, dataset_name="opus-local"))
    assert assert_stage_chain(stats, ["parallel_rows", "lid", "quality", "dedup"], 2) == 2
    rows = read_parquet(tmp_path / "a" / "data")
    assert {r["src"][:10] for r in rows} == {"My brother", "The studen"} and all(r["judge"] is None for r in rows)
    assert {json.loads(r["meta"])["source"] for r in rows} == {"opus-local/train-00000"}  # a folder: per file
    stats = run_mine(MineRecipe(input=str(broken), output=str(tmp_path / "b"), judge=None, filters=None, dedup=None))
    assert stats["stages"]["parallel_rows"] == {"read": 4, "kept": 1, "rejected": 3, "reasons": {
        "unknown_format": 1, "non_string_content": 1, "malformed_json": 1}}
    assert len(read_parquet(tmp_path / "b" / "data")) == 1


def _pairs_dataset(folder: Path, rows: list[dict]) -> Path:
    (folder / "data").mkdir(parents=True)
    full = [{"judge": None, "meta": "{}", "src_lang": "en", "tgt_lang": "ar", **r} for r in rows]
    pq.write_table(pa.Table.from_pylist(full, schema=pair_schema()), folder / "data" / "00000.parquet")
    return folder


def _sample_pairs(n: int, origin: str, prefix: str) -> list[dict]:
    return [{"id": f"{prefix}{i}", "src": f"Sentence number {i} about the {prefix} topic.",
             "tgt": f"الجملة رقم {i} عن موضوع {prefix}.", "origin": origin} for i in range(n)]


def test_translator_set_splits_by_source_and_reverses(tmp_path):
    teacher = _sample_pairs(40, "teacher:big@main", "t")
    judged = _sample_pairs(30, "opus-100", "o")
    judged[0]["judge"] = {"verdict": "ACCEPT", "model": "fake", "prompt_version": "judge_v1@x", "raw": "ACCEPT"}
    extra = [
        {**teacher[3], "id": "x-dup-exact"},                                        # exact duplicate across inputs
        {**teacher[4], "id": "x-dup-variant", "src": teacher[4]["src"].upper() + "!!"},  # same normalized pair
        {**teacher[5], "id": "same-src", "tgt": "ترجمة أخرى للجملة نفسها."},      # same source, other target
        {"id": "empty", "src": "", "tgt": "نص", "origin": "opus-100"},
    ]
    a = _pairs_dataset(tmp_path / "teacher", teacher)
    b = _pairs_dataset(tmp_path / "mined", judged + extra)
    out = tmp_path / "set"
    stats = build_translator_set(TranslatorSetRecipe(inputs=[str(a), str(b)], output=str(out), reverse=True,
                                                     test_size=0.2, dev_size=0.15))
    st = stats["stages"]
    assert st["pair_check"] == {"read": 74, "kept": 73, "rejected": 1, "reasons": {"empty_content": 1}}
    assert st["dedup"] == {"read": 73, "kept": 71, "rejected": 2, "reasons": {"exact_duplicate": 2}}
    # dedup (hala.pipelines.dedup.flow) keeps the smallest id of each group, whatever the task count
    dups = {r["id"]: r["detail"] for r in read_rejects(out) if r["stage"] == "dedup"}
    assert dups == {"x-dup-exact": "kept=t3", "x-dup-variant": "kept=t4"}
    assert stats["rows_added"] == {"reverse": 71}
    assert st["split"]["read"] == st["dedup"]["kept"] + stats["rows_added"]["reverse"]
    assert st["split"]["read"] == 142 and st["split"]["read"] == st["split"]["kept"] + st["split"]["rejected"]
    pairs = {s: pq.read_table(out / "pairs" / f"{s}.parquet").to_pylist() for s in ("train", "dev", "test")}
    chats = {s: pq.read_table(out / "chat" / f"{s}.parquet").to_pylist() for s in ("train", "dev", "test")}
    assert all(pairs[s] for s in pairs), {s: len(v) for s, v in pairs.items()}
    assert sum(len(v) for v in pairs.values()) == stats["total"] == st["split"]["kept"]
    # no source text (normalized) in two splits, in either direction
    where: dict[str, set] = {}
    for s, rows in pairs.items():
        for r in rows:
            where.setdefault(source_key(r["src"]), set()).add(s)
    assert all(len(v) == 1 for v in where.values())
    test_sources = {source_key(r["src"]) for r in pairs["test"]}
    assert not test_sources & {source_key(r["src"]) for r in pairs["train"]}
    # the split is the hash of the (forward) source; same source → same split
    for s, rows in pairs.items():
        for r in rows:
            if r["src_lang"] == "en":
                assert split_of(r["src"], 0.2, 0.15, "hala") == s
    # every forward row has its reverse twin in the same split, sides swapped (bar the split guard's rejects)
    forward = [r for rows in pairs.values() for r in rows if r["src_lang"] == "en"]
    reverse = [r for rows in pairs.values() for r in rows if r["src_lang"] == "ar"]
    assert len(forward) == st["dedup"]["kept"] == 71
    assert len(reverse) == 71 - st["split"]["rejected"]
    assert set(st["split"]["reasons"]) <= {"source_in_other_split"}
    for s, rows in pairs.items():
        fwd = {r["id"]: r for r in rows if r["src_lang"] == "en"}
        for r in (r for r in rows if r["src_lang"] == "ar"):
            f = fwd[json.loads(r["meta"])["reverse_of"]]  # KeyError: a twin in another split
            assert (r["src"], r["tgt"], r["tgt_lang"], r["origin"]) == (f["tgt"], f["src"], "en", f["origin"])
            assert r["judge"] == f["judge"]
    # chat rows: user = instruction + source, assistant = target; one per pair, same ids
    for s in pairs:
        assert [c["id"] for c in chats[s]] == [p["id"] for p in pairs[s]]
        for c, p in zip(chats[s], pairs[s]):
            instruction = TRANSLATE_INSTRUCTION if p["tgt_lang"] == "ar" else INSTRUCTIONS["en"]
            assert c["messages"] == [{"role": "user", "content": f"{instruction}\n{p['src']}"},
                                     {"role": "assistant", "content": p["tgt"]}]
    # counts per origin and split add up
    for origin, by_split in stats["origins"].items():
        for s, n in by_split.items():
            assert n == sum(1 for r in pairs[s] if r["origin"] == origin)
    judged_row = next(r for rows in pairs.values() for r in rows if r["id"] == "o0")
    assert judged_row["judge"]["verdict"] == "ACCEPT"
    # a rebuild gives the same split (deterministic), and without --reverse only forward rows; another recipe into
    # the same folder is refused unless it asks to overwrite
    from hala.pipelines.core.errors import UserError

    with pytest.raises(UserError, match="reverse differ"):
        build_translator_set(TranslatorSetRecipe(inputs=[str(a), str(b)], output=str(out), test_size=0.2,
                                                 dev_size=0.15))
    again = build_translator_set(TranslatorSetRecipe(inputs=[str(a), str(b)], output=str(out), test_size=0.2,
                                                     dev_size=0.15, overwrite=True))
    assert again["splits"]["test"]["directions"] == {"en-ar": sum(1 for r in pairs["test"] if r["src_lang"] == "en")}
    assert not list((out / "work" / "build").glob("**/*.parquet"))  # everything moved into place


def _recipe(tmp_path: Path, name: str, **changes) -> Path:
    data = yaml.safe_load((REPO / "recipes" / name).read_text())
    data.update(changes)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.slow
def test_three_recipes_end_to_end_with_the_tiny_model(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)  # the recipes name bundled inputs relative to the repository
    teacher_out, mined_out, set_out = tmp_path / "teacher", tmp_path / "mined", tmp_path / "set"

    stats, out = run_recipe(str(_recipe(tmp_path, "teacher_pairs_demo.yaml", output=str(teacher_out),
                                        tm_path=str(tmp_path / "tm.sqlite"))))
    assert out == teacher_out
    translated = assert_stage_chain(stats, ["normalize", "source_lang", "translate"], 6)
    parent = stats["pairs"]["parent_rows"]
    assert parent == translated
    # every message of every translated row is a pair or a reject (the system prompts: role_not_paired)
    selected = stats["stages"]["pairs"]
    assert selected["read"] == stats["pairs"]["messages"] == parent + stats["rows_added"]["messages"]
    assert selected["read"] == selected["kept"] + selected["rejected"]
    assert set(selected["reasons"]) <= {"role_not_paired"}
    rejected = sum(s["rejected"] for s in stats["stages"].values())
    assert 6 + stats["rows_added"]["messages"] == selected["kept"] + rejected == len(read_parquet(teacher_out / "data")) \
        + len(read_rejects(teacher_out))
    pairs = read_parquet(teacher_out / "data")
    assert len(pairs) == stats["pairs"]["pairs"] == 2 * parent  # every Open-Orca row: instruction + response
    orca = [json.loads(l) for l in (REPO / "samples/demo/openorca.jsonl").read_text().splitlines()[:6]]
    english = {o["question"] for o in orca} | {o["response"] for o in orca}
    assert stats["origin"].startswith("teacher:tiny-lfm2") and stats["origin"].endswith("@local")
    for p in pairs:
        assert p["src"] in english and p["tgt"] and p["judge"] is None
        assert (p["src_lang"], p["tgt_lang"], p["origin"]) == ("en", "ar", stats["origin"])
    assert len({p["id"] for p in pairs}) == len(pairs)
    assert {json.loads(p["meta"])["role"] for p in pairs} == {"user", "assistant"}

    stats, _ = run_recipe(str(_recipe(tmp_path, "opus_mining_demo.yaml", output=str(mined_out))))
    kept = assert_stage_chain(stats, ["parallel_rows", "lid", "quality", "dedup", "judge"], 20)
    judge = stats["stages"]["judge"]
    assert judge["read"] == 14 and kept == len(read_parquet(mined_out / "data"))
    assert set(judge["reasons"]) <= {"judge_reject", "judge_unparseable"}
    assert len(read_rejects(mined_out)) == 20 - kept
    judged = [json.loads(r["record"]) for r in read_rejects(mined_out) if r["stage"] == "judge"]
    assert len(judged) == judge["rejected"]
    assert all(r["judge"]["prompt_version"].startswith("judge_v1@") and r["judge"]["model"].startswith("tiny-lfm2")
               for r in judged)

    stats, _ = run_recipe(str(_recipe(tmp_path, "translator_set_demo.yaml", output=str(set_out),
                                      inputs=[str(teacher_out), str(mined_out)])))
    st = assert_stage_chain(stats, ["pair_check", "dedup"], len(pairs) + kept)
    split = stats["stages"]["split"]
    assert split["read"] == 2 * st and stats["total"] == split["kept"] == 2 * st - split["rejected"]  # reverse: true
    assert sum(n for by in stats["origins"].values() for n in by.values()) == stats["total"]
    assert sum(stats["origins"][pairs[0]["origin"]].values()) <= 2 * len(pairs)
    assert sum(len(pq.read_table(set_out / "chat" / f"{s}.parquet")) for s in ("train", "dev", "test")) == stats["total"]


def test_cli_build_translator_set_and_errors(tmp_path):
    a = _pairs_dataset(tmp_path / "a", _sample_pairs(12, "opus-100", "c"))
    out = tmp_path / "set"
    cmd = [sys.executable, "-m", "hala.pipelines.cli.app", "build-translator-set"]
    r = subprocess.run([*cmd, str(a), str(out), "--reverse", "--test-size", "0.25", "--dev-size", "0"], cwd=REPO,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    stats = json.loads((out / "stats.json").read_text())
    assert stats["reverse"] is True and stats["splits"]["dev"]["rows"] == 0
    assert stats["total"] == sum(s["rows"] for s in stats["splits"].values()) > 12
    assert "train" in r.stdout and "test" in r.stdout
    bad = subprocess.run([*cmd, str(a), str(out), "--test-size", "0.7", "--dev-size", "0.5"], cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "test_size + dev_size" in bad.stderr and "Traceback" not in bad.stderr
    missing = subprocess.run([sys.executable, "-m", "hala.pipelines.cli.app", "mine", str(REPO / "samples/opus/ar_en.jsonl")],
                             cwd=REPO, capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and "give INPUT OUTPUT" in missing.stderr


# ------------------------------------------------------------------------------------- global "first N rows" limit
def test_first_rows_reader_is_a_global_limit_across_tasks(tmp_path):
    """datatrove's `limit` is per task (N tasks read up to N x limit); FirstRowsReader reads the first `limit` rows
    of the whole input, each in exactly one task."""
    from datatrove.pipeline.readers.base import BaseDiskReader

    from hala.pipelines.io.sources import FirstRowsReader, source_reader

    folder = tmp_path / "rows"
    folder.mkdir()
    lines = OPUS.read_text(encoding="utf-8").splitlines()
    for k in range(3):  # three files: datatrove would shard them by file across the tasks
        (folder / f"part-{k}.jsonl").write_text("\n".join(lines[k * 8:(k + 1) * 8]) + "\n", encoding="utf-8")
    everything = [d.id for d in source_reader(str(folder)).run(None, 0, 1)]
    assert len(everything) == 24
    per_task = [[d.id for d in source_reader(str(folder), limit=10).run(None, rank, 3)] for rank in range(3)]
    assert sorted(sum(per_task, [])) == sorted(everything[:10]) and all(per_task)
    assert len(set(sum(per_task, []))) == 10  # no row in two tasks
    assert isinstance(source_reader(str(folder), limit=10), FirstRowsReader)
    assert isinstance(source_reader(str(folder)), BaseDiskReader)  # -1: every row, sharded by file as usual


def test_mining_limit_counts_rows_in_total_with_several_tasks(tmp_path):
    stats = run_mine(MineRecipe(input=str(OPUS), output=str(tmp_path / "m"), limit=7, judge=None, filters=None,
                                dedup=None, executor={"tasks": 3, "workers": 1}))
    assert stats["stages"]["parallel_rows"]["read"] == 7
    assert yaml.safe_load((tmp_path / "m" / "recipe.yaml").read_text())["limit"] == 7  # for the card and `hala run`
    first = [json.loads(line) for line in OPUS.read_text(encoding="utf-8").splitlines()[:7]]
    kept = {r["src"] for r in read_parquet(tmp_path / "m" / "data")}
    rejected = [json.loads(r["record"]) for r in read_rejects(tmp_path / "m")]
    assert len(kept) + len(rejected) == 7
    assert kept <= {(r.get("translation") or r).get("en") for r in first}


def test_teacher_translate_reads_the_first_rows_in_total(tmp_path, fake_judge):
    """The teacher's translate executors get the limit once for all tasks, not datatrove's per-task limit."""
    from hala.pipelines.bilingual.teacher_pairs import TeacherPairsRecipe
    from hala.pipelines.io.sources import FirstRowsReader
    from hala.pipelines.translate.flow import translate_pipelines

    recipe = TeacherPairsRecipe(input=str(REPO / "samples/demo/openorca.jsonl"), output=str(tmp_path / "t"), limit=5,
                                server={"type": "endpoint", "model": "fake-judge",
                                        "endpoint": f"http://127.0.0.1:{fake_judge.server_port}"},
                                executor={"tasks": 3, "workers": 1})
    _, finalize = translate_pipelines(recipe, [], data_dir=str(tmp_path / "t" / "work" / "records" / "data"))
    reader = finalize.depends.pipeline[0]
    assert isinstance(reader, FirstRowsReader) and reader.limit == 5 and finalize.depends.tasks == 3
    ids = [d.id for rank in range(3) for d in reader.run(None, rank, 3)]
    assert len(ids) == len(set(ids)) == 5
    # OUT/recipe.yaml records the recipe as given (limit 5)
    recorded = yaml.safe_load((tmp_path / "t" / "recipe.yaml").read_text())
    assert recorded["flow"] == "teacher_pairs" and recorded["limit"] == 5 and recorded["executor"]["tasks"] == 3
    with pytest.raises(Exception, match="greater than or equal to -1"):
        TeacherPairsRecipe(input="x", output="y", limit=-2)


# ------------------------------------------------------------------------ teacher pairs: every message accounted
def _translated_records(path: Path) -> Path:
    """Arabic instruction records as the translate stage writes them (messages + messages_en)."""
    from hala.pipelines.core.records import instruction_schema

    def rec(i, pairs_of_messages):
        return {"id": f"r{i}", "source": {"dataset": "open-orca-demo", "config": "default", "split": "train",
                                           "revision": ""},
                "messages": [{"role": r, "content": ar} for r, _, ar in pairs_of_messages],
                "messages_en": [{"role": r, "content": en} for r, en, _ in pairs_of_messages],
                "lang": "ar", "meta": json.dumps({"translate": {"model": "teacher"}})}

    rows = [rec(0, [("system", "Be brief.", "كن موجزًا."), ("user", "What is two plus two?", "كم يساوي اثنان زائد اثنين؟"),
                    ("assistant", "Four.", "أربعة.")]),
            rec(1, [("system", "You are a helpful assistant.", "أنت مساعد مفيد.")]),  # nothing to pair
            rec(2, [("user", "Name a colour.", "اذكر لونًا."), ("assistant", "Blue.", "الأزرق.")])]
    rows[2]["messages"].append({"role": "assistant", "content": "وأيضًا الأحمر."})  # no English original
    rows.append({**rec(3, [("user", "Say hi.", "قل مرحبًا."), ("assistant", "Hi.", "مرحبًا.")])})
    rows[3]["messages"][1]["role"] = "user"  # roles differ between the English and the Arabic
    path.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=instruction_schema()), path / "00000.parquet")
    return path


def test_teacher_pairs_every_message_is_a_pair_or_a_reject(tmp_path):
    from datatrove.executor import LocalPipelineExecutor

    from hala.pipelines.bilingual.teacher_pairs import PAIRS_STEP, InstructionMessages, PairSelection
    from hala.pipelines.core.stats import stage_accounting, step_counters
    from hala.pipelines.io.records import record_reader, record_writer

    records = _translated_records(tmp_path / "records")
    out = tmp_path / "out"
    LocalPipelineExecutor(pipeline=[record_reader(str(records)), InstructionMessages("teacher:t@main",
                                                                                       ["user", "assistant"]),
                                    PairSelection(str(out)), record_writer("pairs", str(out / "data"))],
                          tasks=1, workers=1, logging_dir=str(out / "logs")).run()
    stage = stage_accounting(out / "logs")["pairs"]
    counters = step_counters(out / "logs", PAIRS_STEP)
    assert counters["rows"] == 4 and counters["candidates"] == 3 + 1 + 3 + 2 == stage["read"]
    assert counters["rows_without_pairs"] == 1
    pairs = read_parquet(out / "data")
    assert stage["kept"] == len(pairs) == 2 + 2 + 1  # r0 user+assistant, r2 user+assistant, r3 the English user
    assert stage["reasons"] == {"role_not_paired": 2, "unaligned_message": 1, "role_mismatch": 1}
    rejects = read_rejects(out)
    assert len(rejects) == stage["rejected"] == stage["read"] - stage["kept"]
    by_parent = {(json.loads(json.loads(r["record"])["meta"])["parent"], r["reason"]): r["detail"] for r in rejects}
    assert "record r1 gave no pair" in by_parent[("r1", "role_not_paired")]
    assert by_parent[("r2", "unaligned_message")] == "no English original"
    assert all(json.loads(r["record"])["origin"] == "teacher:t@main" for r in rejects)
    assert {(p["src"], p["tgt"]) for p in pairs} >= {("What is two plus two?", "كم يساوي اثنان زائد اثنين؟"),
                                                      ("Four.", "أربعة.")}
