"""A worker that streams rows sets its garbage collector once: start-up objects frozen, a larger young threshold."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import gc
from hala.pipelines.core.gc_tuning import YOUNG_THRESHOLD, tune_gc_for_rows
before = gc.get_threshold()
tune_gc_for_rows()
frozen = gc.get_freeze_count()
assert frozen > 1000, frozen                      # the imports left the collector's view
assert gc.get_threshold() == (YOUNG_THRESHOLD, *before[1:]), gc.get_threshold()
assert gc.isenabled()                             # cycles are still collected
tune_gc_for_rows()
assert gc.get_freeze_count() == frozen            # once per process
class Cycle: pass
a = Cycle(); a.me = a; del a
assert gc.collect() >= 1                          # a cycle made after the tuning is still freed
print("ok")
"""


def test_tuning_freezes_start_up_objects_once_and_keeps_collecting_cycles():
    r = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"


def _probe(out):
    """A last step that writes its worker's pid and collector settings (one file per rank); defined here so that
    the executor pickles it by value for its spawned workers."""
    from datatrove.pipeline.base import PipelineStep

    class Probe(PipelineStep):
        name = "probe"

        def run(self, data, rank: int = 0, world_size: int = 1):
            import gc
            import json
            import os

            for _ in data or []:
                pass
            (out / f"{rank}.json").write_text(json.dumps({"pid": os.getpid(), "young": gc.get_threshold()[0],
                                                          "frozen": gc.get_freeze_count()}))

    return Probe()


def test_record_readers_tune_each_worker_of_a_real_executor(tmp_path):
    import json
    import os

    from datatrove.executor import LocalPipelineExecutor

    from hala.pipelines.core.gc_tuning import YOUNG_THRESHOLD
    from hala.pipelines.io.records import record_reader

    (tmp_path / "in").mkdir()
    for shard in range(2):
        rows = [{"id": f"r{shard}-{i}", "src": "Hello there.", "tgt": "مرحبا.", "src_lang": "en", "tgt_lang": "ar"}
                for i in range(5)]
        (tmp_path / "in" / f"{shard}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "probe").mkdir()
    pipeline = [record_reader(str(tmp_path / "in"), kind="pairs"), _probe(tmp_path / "probe")]
    LocalPipelineExecutor(pipeline=pipeline, tasks=2, workers=2, logging_dir=str(tmp_path / "logs"),
                          start_method="spawn").run()  # fresh workers: nothing inherited from this process
    seen = [json.loads((tmp_path / "probe" / f"{r}.json").read_text()) for r in range(2)]
    assert all(s["young"] == YOUNG_THRESHOLD and s["frozen"] > 1000 for s in seen), seen
    assert os.getpid() not in {s["pid"] for s in seen}  # the settings are the workers' own
