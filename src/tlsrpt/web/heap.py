"""Long-lived objects out of the garbage collector's way.

`settle()`: what lives then (modules, routes, templates at startup; the
kept verdicts of every domain, `tlsrpt.web.verdicts`, after each count)
is moved out of the collector's generations (`gc.freeze`), after a
collection. Python's full collections walk every tracked object: with the
verdicts of 10,000 domains kept (~300,000 objects), each took several
hundred ms and came every few overview pages (p95 844 ms against p50
226 ms, measured at 10,000 domains on a loaded 2-core machine; frozen:
174 and 97 ms). Frozen objects are still freed when their last reference
goes; a cycle among them stays until `release()` (the app's shutdown)
gives them back to the collector: a process that starts and stops many
apps (the tests) keeps none of them.
"""

from __future__ import annotations

import gc


def settle() -> int:
    """Collect, then freeze what is left; returns the objects now frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def release() -> None:
    """Give every frozen object back to the collector (the app stops)."""
    gc.unfreeze()
