"""A worker's start-up heap is kept out of the garbage collector's walks.

A worker starts with about 250,000 Python objects (Reflex's page and state classes, the
models, SQLAlchemy's tables) that live as long as it does, and Python's full collection
walked every one of them: under load (benchmarks/bench_load.py, 100 tabs on one worker)
each took about 200 ms, a pause for every tab of the worker. At start-up the heap is
collected once and frozen (`gc.freeze`), so later collections walk only what came after.
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger(__name__)


def freeze_startup_heap() -> None:
    """A Reflex lifespan task (a plain function: it runs once, as the worker starts)."""
    gc.collect()
    gc.freeze()
    log.info("froze %d start-up objects out of the collector's walks", gc.get_freeze_count())
