"""`tlsrpt.web.heap.settle`: garbage collected, what lives frozen."""

from __future__ import annotations

import gc
import weakref

from tlsrpt.web.heap import settle


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def test_garbage_is_collected_and_the_living_frozen() -> None:
    cycle = Node()
    cycle.other = cycle  # freed only by a collection
    gone = weakref.ref(cycle)
    del cycle
    living = [[i] for i in range(1_000)]  # lists are tracked by the collector
    before = gc.get_freeze_count()
    frozen = settle()
    assert gone() is None
    assert frozen == gc.get_freeze_count() >= before + len(living)
