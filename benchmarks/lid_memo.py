"""What the LID memo saves on Open-Orca-shaped records: hala's `lid` stage with its memo against the same stage
asking fastText about every text (the code before the memo), same rows, same run.

    python benchmarks/lid_memo.py [--rows 20000] [--system-prompts 8] [--repeat 3]

Rows are translated instruction records shaped like Open-Orca's: a system prompt drawn from `--system-prompts`
Arabic prompts on ~70% of the rows (Open-Orca's rows carry one of the Orca paper's 16 system messages, or none, and
hala's translation memory translates each the same way every time), a unique question and a unique answer of
audit-sample words. Both sides run in this process under hala's collector settings, `--repeat` times each,
alternating (the first pass in a process pays for its fresh memory: 20–40% more CPU here); the medians are compared.
The stage's verdicts, details and recorded scores must be identical (else exit 1). Prints CPU µs/row of every run,
the ratio, the texts fastText was asked about, and the load.
"""

from __future__ import annotations

import argparse
import random
import sys
import time

from bench_common import alternating, cpu_seconds, load, medians, quiet_logs, vocabularies

SYSTEM_PROMPTS = [
    "أنت مساعد ذكي. سيعطيك المستخدم مهمة، وهدفك أن تنجزها بأمانة قدر استطاعتك، مفكرًا خطوة بخطوة ومبررًا خطواتك.",
    "أنت مساعد مفيد يقدم إجابات مفصلة حتى لا يحتاج المستخدم إلى البحث في مكان آخر لفهم الإجابة.",
    "أنت معلم. عندما تُعطى مهمة، اشرح بخطوات بسيطة ما تطلبه المهمة وأي إرشادات تقدمها وكيف تستخدمها للإجابة.",
    "يجب أن تصف المهمة وتشرح إجابتك. عند الإجابة عن سؤال متعدد الخيارات، اذكر الإجابة الصحيحة أولًا ثم اشرح.",
    "أنت مساعد ذكي يساعد الناس في العثور على المعلومات. قدم إجابة يمكن للمستخدم فهمها دون الحاجة إلى البحث.",
    "أنت مساعد ذكي. قدم إجابة مفصلة وطويلة عن السؤال المطروح، مع أمثلة عندما تساعد على الفهم.",
    "اشرح كما لو كنت تخاطب طفلًا في الخامسة من عمره، بكلمات بسيطة وجمل قصيرة وأمثلة من الحياة اليومية.",
    "المستخدم سيعطيك مهمة مع بعض التعليمات. مهمتك أن تتبع التعليمات بأمانة قدر الإمكان وأن تبرر إجابتك.",
]


def records(n: int, prompts: int, seed: int = 0) -> list[dict]:
    """N records; prompts beyond the eight written here are numbered variants of them (distinct texts)."""
    rng = random.Random(seed)
    _, ar_words = vocabularies()
    pool = [SYSTEM_PROMPTS[i % len(SYSTEM_PROMPTS)] + ("" if i < len(SYSTEM_PROMPTS) else f" ({i})")
            for i in range(prompts)]
    rows = []
    for i in range(n):
        messages = [] if rng.random() < 0.3 else [{"role": "system", "content": rng.choice(pool)}]
        messages.append({"role": "user", "content": " ".join(rng.choices(ar_words, k=rng.randint(8, 30))) + "؟"})
        messages.append({"role": "assistant", "content": " ".join(rng.choices(ar_words, k=rng.randint(20, 120)))})
        rows.append({"id": f"o{i}", "source": {"dataset": "bench/orca", "config": "default", "split": "train",
                                               "revision": ""}, "messages": messages, "messages_en": None,
                     "lang": "ar", "meta": {}})
    return rows


class TimedModel:
    """A fastText model that counts the texts it is asked about and the seconds it spends answering."""

    def __init__(self, model):
        self.model, self.texts, self.seconds = model, 0, 0.0

    def predict(self, texts: list[str], k: int):
        t0 = time.perf_counter()
        answer = self.model.predict(texts, k=k)
        self.seconds += time.perf_counter() - t0
        self.texts += len(texts)
        return answer


def run(stage, rows: list[dict]) -> tuple[float, dict]:
    """CPU seconds of the stage over `rows`; what it decided on each (kept with its scores, or the reject)."""
    from hala.pipelines.core.records import record_to_document

    docs = [record_to_document({**r, "meta": {}}) for r in rows]
    c0 = cpu_seconds()
    kept = {d.id for d in stage.run(iter(docs), 0, 1)}
    cpu = cpu_seconds() - c0
    return cpu, {d.id: (d.id in kept, d.metadata.get("filter_reason"), d.metadata.get("reject_detail"),
                        repr(d.metadata.get("meta"))) for d in docs}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--system-prompts", type=int, default=8, help="distinct system prompts over the rows")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each side, alternating (the median counts)")
    args = ap.parse_args(argv)
    quiet_logs()
    from hala.pipelines.core.gc_tuning import tune_gc_for_rows
    from hala.pipelines.filters.lid import LidStage

    rows = records(args.rows, args.system_prompts)
    texts = [m["content"] for r in rows for m in r["messages"]]
    chars = sum(map(len, texts))
    system_chars = sum(len(m["content"]) for r in rows for m in r["messages"] if m["role"] == "system")
    print(f"{len(rows):,} Open-Orca-shaped records, {len(texts):,} messages, {len(set(texts)):,} distinct; system "
          f"prompts {system_chars / chars:.0%} of the characters   [{load()}]")
    tune_gc_for_rows()
    plain, memo = LidStage(None, "instructions"), LidStage(None, "instructions")
    models = {"plain": TimedModel(plain.lid.model), "memo": TimedModel(memo.lid.model)}
    memo.lid._model = models["memo"]

    def every_text(texts: list[str], k=plain.lid.k):  # the stage's fastText call before the memo
        return models["plain"].predict([t.replace("\n", " ") for t in texts], k=k)

    plain.lid.predict_raw = every_text
    def with_memo(i: int) -> tuple[float, dict]:
        memo.lid._memo.clear()  # every run starts with an empty memo
        return run(memo, rows)

    runs = alternating({"plain": lambda i: run(plain, rows), "memo": with_memo}, args.repeat)
    n = len(rows)
    (c_plain,), (c_memo,) = medians(runs["plain"], 1), medians(runs["memo"], 1)
    for name, label in (("plain", "every text asked"), ("memo", "with its memo   ")):
        m = models[name]
        print(f"lid stage, {label}: CPU {medians(runs[name], 1)[0] / n * 1e6:6.1f} µs/row (runs "
              f"{', '.join(f'{r[0] / n * 1e6:.0f}' for r in runs[name])}); in fastText {m.seconds / args.repeat / n * 1e6:6.1f} "
              f"µs/row, {m.texts // args.repeat:,} texts asked per run")
    print(f"with the memo: {models['plain'].seconds / models['memo'].seconds:.2f}× less fastText time, "
          f"{c_plain / c_memo:.2f}× less stage CPU per row (medians)   [{load()}]")
    decisions = {name: results[-1][1] for name, results in runs.items()}
    differ = [i for i, d in decisions["plain"].items() if d != decisions["memo"][i]]
    print(f"verdicts, details and scores differ on {len(differ)} of {n:,} rows")
    if differ:
        print(f"MISMATCH: {differ[:10]}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
