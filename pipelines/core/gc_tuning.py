"""The cyclic garbage collector of a process that streams rows, set once: fewer, cheaper collections.

A row's objects (documents, metadata dicts, text views) die by reference counting, but with Python's default young
threshold (700 allocations) a batch of rows outlives several young collections, reaches the old generation, and
makes full collections run over everything alive: the modules, the models, the rows in flight. Measured on
`hala filter` (benchmarks/filter_throughput.py, 60k rows, 2 tasks): a fifth of the workers' CPU (263 → 205 µs
per row with this tuning). Collection stays on, so reference cycles are still freed.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 10_000  # allocations between young collections (Python's default: 700)
_tuned = False


def tune_gc_for_rows() -> None:
    """Once per process (a forked worker inherits it): what is alive now — imports, loaded models — leaves the
    collector's view (`gc.freeze`), and young collections run every YOUNG_THRESHOLD allocations."""
    global _tuned
    if _tuned:
        return
    _tuned = True
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
