"""A worker's start-up heap is kept out of the garbage collector's walks.

A worker starts with about 250,000 Python objects (Reflex's page and state classes, the
models, SQLAlchemy's tables) that live as long as it does, and Python's full collection
walked every one of them: under load (benchmarks/bench_load.py, 100 tabs on one worker)
each took about 200 ms, a pause for every tab of the worker. At start-up the heap is
collected once and frozen (`gc.freeze`), so later collections walk only what came after.

Then the young generation is collected after 50,000 new objects, not Python's 700. An
event makes thousands of short-lived containers (a tab's states unpickled, its delta,
SQLAlchemy's rows) that reference counting frees within milliseconds; collected every
700, the ones still in flight were walked and promoted, and promoted again into the old
generation, whose full collections paused the worker for 70-200 ms every few seconds
under load. At 50,000 nearly all of them are gone before a collection looks, and the
collector's time per run of benchmarks/bench_load.py fell from 1.1-1.5 s to 0.04-0.09 s
(one worker, 150 tabs, two interleaved pairs: p99 171 -> 160 and 76 -> 60 ms, CPU per
event equal within 1 %, memory per tab +2 KB). Under overload on two workers the
collector had taken 3 s of every 20 s.
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger(__name__)

YOUNG_COLLECTION_THRESHOLD = 50_000


def freeze_startup_heap() -> None:
    """A Reflex lifespan task (a plain function: it runs once, as the worker starts)."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, middle, old)
    log.info("froze %d start-up objects out of the collector's walks", gc.get_freeze_count())
