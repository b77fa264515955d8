"""CPython's garbage collector, set for a process that serves many requests at once.

By default CPython collects its youngest generation after every 700 net allocations of objects
that may hold references. A web worker with dozens of threads has as many requests in flight,
most of them waiting on Google: each collection traverses the objects those requests hold,
finds them alive and moves them to an older generation, where they die of reference counting
soon after. The older generations then fill and are collected often too, and a full collection
traverses every object the process has, its loaded app included. Under load (bench/latency.py:
2 workers x 36 threads, Gmail answering after 200 ms) the collector had about a seventh of the
machine's CPU samples (perf), against a fiftieth with one request per process.

Once the app is loaded, `tune_for_serving()`:
- freezes what exists then (modules, classes, URL patterns, settings: they live as long as the
  process), so that no collection traverses it again;
- collects the youngest generation after YOUNGEST_GENERATION allocations instead, by which time
  most of a request's objects have been freed by reference counting without a collection.

The cost: garbage in reference cycles is freed after up to 20,000 allocations instead of 700.
"""

import gc

YOUNGEST_GENERATION = 20_000
# Collections of the youngest generation between two of the middle one (CPython: 10), and of
# the middle one between two full collections (CPython: 10).
MIDDLE_GENERATION = 20
OLDEST_GENERATION = 10


def tune_for_serving() -> None:
    gc.freeze()
    gc.set_threshold(YOUNGEST_GENERATION, MIDDLE_GENERATION, OLDEST_GENERATION)
