"""What every benchmark here shares: the load line, CPU clocks, the target verdicts and the synthetic data.

The machine the figures come from is shared, so absolute rows/s move with other work; each script therefore measures
the stock alternative and the hardware floor in the same run and prints ratios, CPU time per row and the load average
(this module's `load()`), and every target as `met` / `NOT met` (`verdict`).
"""

from __future__ import annotations

import json
import os
import random
import re
import resource
import statistics
import sys
import threading
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

TEMPLATES = [
    ("The {item} costs {n} dollars at the {place}.", "يكلف {item} {n} دولارًا في {place}."),
    ("We bought {n} {item} from the {place} yesterday.", "اشترينا {n} من {item} من {place} أمس."),
    ("The {place} opens at {n} in the morning.", "يفتح {place} أبوابه في الساعة {n} صباحًا."),
    ("Please bring the {item} to the {place} before {n}.", "يرجى إحضار {item} إلى {place} قبل الساعة {n}."),
    ("About {n} people visited the {place} to see the {item}.", "زار نحو {n} شخصًا {place} لرؤية {item}."),
]
ITEMS = [("book", "الكتاب"), ("lamp", "المصباح"), ("bicycle", "الدراجة"), ("coffee", "القهوة"), ("map", "الخريطة"),
         ("camera", "الكاميرا"), ("bread", "الخبز"), ("ticket", "التذكرة"), ("painting", "اللوحة"), ("clock", "الساعة")]
PLACES = [("market", "السوق"), ("museum", "المتحف"), ("library", "المكتبة"), ("station", "المحطة"),
          ("school", "المدرسة"), ("hospital", "المستشفى"), ("park", "الحديقة"), ("airport", "المطار")]


def load() -> str:
    """The 1-, 5- and 15-minute load averages against the cores: other work on the machine skews every time."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "load unknown"
    return f"load {one:.2f}/{five:.2f}/{fifteen:.2f} on {os.cpu_count()} cores"


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (executor workers, servers)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def peak_rss_mb(children: bool = False) -> float:
    """Peak resident memory (MB) of this process, or of its largest finished child."""
    return resource.getrusage(resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF).ru_maxrss / 1024


def met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def verdict(name: str, figure: str, target: str, ok: bool) -> bool:
    """One target line: `name: figure (target …): met | NOT met [load]`; returns `ok` for the caller's tally."""
    print(f"TARGET {name}: {figure}   target {target}: {met(ok)}   [{load()}]")
    return ok


def alternating(sides: dict[str, Callable[[int], tuple]], repeat: int) -> dict[str, list[tuple]]:
    """Every result of each side, run `repeat` times, alternating (side(i) for run i). Whichever runs first in a
    process pays for its fresh memory (20–40% more CPU on this machine: stock_lid.py gave 1.71× with stock first and
    1.22× with hala first on the same rows), so sides are compared by `medians`, never by one pass each."""
    runs: dict[str, list[tuple]] = {name: [] for name in sides}
    for i in range(repeat):
        for name, side in sides.items():
            runs[name].append(side(i))
    return runs


def medians(results: list[tuple], fields: int) -> tuple[float, ...]:
    """The median over the runs of each of the first `fields` figures of a result (wall, CPU…)."""
    return tuple(statistics.median(r[f] for r in results) for f in range(fields))


def quiet_logs() -> None:
    """datatrove's per-task logs (loguru) and library warnings would swamp the figures: the screen gets what the
    `hala` command shows (warnings and errors), the task logs keep the rest."""
    import logging

    from loguru import logger

    from hala.pipelines.core.compat import quiet_datatrove

    logger.remove()
    logging.disable(logging.WARNING)
    quiet_datatrove()


def vocabularies() -> tuple[list[str], list[str]]:
    """English and Arabic words of the bundled audit sample (so the synthetic text has real words of each language)."""
    en, ar = set(), set()
    for line in (REPO / "samples" / "audit" / "instructions.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        for m in row["messages_en"]:
            en.update(w for w in re.findall(r"[A-Za-z]{3,}", m["content"]))
        for m in row["messages"]:
            ar.update(w for w in re.findall(r"[\u0621-\u064A]{3,}", m["content"]))
    return sorted(en), sorted(ar)


def synthetic_pairs(n: int, seed: int = 0) -> list[dict]:
    """N EN→AR pairs: templated sentences with random fills plus audit-sample words; ~8% carry a defect (swapped,
    untranslated, truncated, numbers lost) so every filter has something to reject."""
    rng = random.Random(seed)
    en_words, ar_words = vocabularies()
    rows = []
    for i in range(n):
        src_parts, tgt_parts = [], []
        for _ in range(2):
            t_en, t_ar = rng.choice(TEMPLATES)
            (i_en, i_ar), (p_en, p_ar), num = rng.choice(ITEMS), rng.choice(PLACES), str(rng.randint(2, 9999))
            src_parts.append(t_en.format(item=i_en, place=p_en, n=num))
            tgt_parts.append(t_ar.format(item=i_ar, place=p_ar, n=num))
        k = rng.randint(4, 10)
        src = " ".join(src_parts) + " " + " ".join(rng.choices(en_words, k=k)) + "."
        tgt = " ".join(tgt_parts) + " " + " ".join(rng.choices(ar_words, k=k)) + "."
        defect = rng.random()
        if defect < 0.02:
            src, tgt = tgt, src  # swapped
        elif defect < 0.04:
            tgt = src  # untranslated
        elif defect < 0.06:
            tgt = tgt[: len(tgt) // 6]  # truncated
        elif defect < 0.08:
            tgt = re.sub(r"\d+", "", tgt)  # numbers lost
        rows.append({"id": f"b{i}", "src_lang": "en", "tgt_lang": "ar", "src": src, "tgt": tgt,
                     "origin": "synthetic", "judge": None, "meta": "{}"})
    return rows


def write_shards(rows: list[dict], folder: Path, shards: int) -> None:
    """Pairs as `shards` parquet files (row i in shard i % shards) with hala's pair schema."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from hala.pipelines.core.records import pair_schema

    folder.mkdir(parents=True, exist_ok=True)
    for s in range(shards):
        pq.write_table(pa.Table.from_pylist(rows[s::shards], schema=pair_schema()), folder / f"shard_{s}.parquet")


class TreeMemory:
    """Peak resident memory of a process and all its descendants together, sampled from /proc (forked workers'
    shared pages are counted in each: an upper bound), and of the largest single one. Unlike RUSAGE_CHILDREN, a
    child started from a big benchmark process is not charged that process's pages it held between fork and exec."""

    def __init__(self, pid: int, every_s: float = 0.2):
        self.pid, self.every_s, self.peak, self.peak_procs, self.peak_single = pid, every_s, 0, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _tree(self) -> list[int]:
        parents: dict[int, list[int]] = {}
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    stat = Path(f"/proc/{d}/stat").read_text()
                except OSError:
                    continue
                parents.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(d))
        tree, todo = [], [self.pid]
        while todo:
            pid = todo.pop()
            tree.append(pid)
            todo += parents.get(pid, [])
        return tree

    def _run(self) -> None:
        page = os.sysconf("SC_PAGE_SIZE")
        while not self._stop.is_set():
            total, n = 0, 0
            for pid in self._tree():
                try:
                    rss = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page
                    total, n = total + rss, n + 1
                    self.peak_single = max(self.peak_single, rss)
                except (OSError, IndexError, ValueError):
                    pass
            if total > self.peak:
                self.peak, self.peak_procs = total, n
            self._stop.wait(self.every_s)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak
