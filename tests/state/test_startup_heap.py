"""A worker's start-up heap is frozen out of the garbage collector's walks (heap.py)."""

from __future__ import annotations

import gc

from health_app.health_app import app
from health_app.heap import YOUNG_COLLECTION_THRESHOLD, freeze_startup_heap


def test_the_app_freezes_its_start_up_heap_as_a_worker_starts() -> None:
    assert freeze_startup_heap in app.get_lifespan_tasks()


def test_what_lives_at_start_up_is_out_of_later_walks() -> None:
    gc.unfreeze()
    tracked_before = len(gc.get_objects())
    thresholds = gc.get_threshold()
    try:
        freeze_startup_heap()
        assert gc.get_freeze_count() >= tracked_before // 2
        # Later collections walk only what came after: far fewer than before.
        assert len(gc.get_objects()) < tracked_before // 10
        # The young generation is collected rarely; the older ones as Python does.
        assert gc.get_threshold() == (YOUNG_COLLECTION_THRESHOLD, *thresholds[1:])
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
