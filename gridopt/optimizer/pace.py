"""How much slower than an idle machine work runs now, for the time estimates around the solver.

The time limit of ``gridopt run`` covers the whole command: the solver gets
what is left after an estimate of the work after it (extraction, checks, KPIs,
baseline, writing the files). The estimates were measured on 2 lightly loaded
cores; on a busy machine the same work takes longer.

:func:`slowdown` measures it: it spins for :data:`SAMPLE_S` of wall time and
counts the CPU time the thread got (``time.thread_time``); wall over CPU is how
many times slower CPU-bound work runs now. It is cached for :data:`CACHE_S`.
The 1-minute load average per core, used before, is a poor proxy: it counts
every process of the machine and lags by a minute. Beside two CPU hogs
(``benchmarks/limits.py``) it read 3.6 while writing ran 1.6 times slower
(a 10 s limit then left the solver 3.2 s and the LP did not finish), and with
10,000 vehicles at load 15 it estimated 47 s for 7 s of work. The process's
own CPU share since it started is no better: its imports wait on files (1.7
on an idle machine).
"""

from __future__ import annotations

import time

#: Largest factor applied to the estimates [-] (beyond it the solver would get almost nothing).
MAX_SLOWDOWN = 8.0
#: Wall time of one measurement [s] (a few of the scheduler's time slices).
SAMPLE_S = 0.06
#: A measurement is reused for this long [s].
CACHE_S = 20.0

_cache: tuple[float, float] | None = None  # (time.monotonic() of the measurement, slowdown)


def measure(sample_s: float = SAMPLE_S) -> float:
    """Spin for ``sample_s`` [s] of wall time; wall over the CPU time this thread got, 1 to :data:`MAX_SLOWDOWN`."""
    w0, c0 = time.monotonic(), time.thread_time()
    w1 = w0
    while w1 - w0 < sample_s:
        w1 = time.monotonic()
    cpu = time.thread_time() - c0
    if cpu <= 0:
        return MAX_SLOWDOWN
    return min(MAX_SLOWDOWN, max(1.0, (w1 - w0) / cpu))


def slowdown() -> float:
    """How many times slower than idle CPU-bound work runs now [-], measured (:func:`measure`), cached."""
    global _cache
    now = time.monotonic()
    if _cache is None or now - _cache[0] > CACHE_S:
        _cache = (now, measure())
    return _cache[1]


#: An estimate is scaled only where, at :data:`MAX_SLOWDOWN`, it would exceed this share of the time left.
NEGLIGIBLE_SHARE = 0.02


def scaled(estimate_s: float, left_s: float) -> float:
    """``estimate_s`` [s] times :func:`slowdown`; unscaled (no measuring spin) where even the largest
    factor would leave it below :data:`NEGLIGIBLE_SHARE` of ``left_s`` [s] (a small plan, a long limit)."""
    if estimate_s * MAX_SLOWDOWN <= NEGLIGIBLE_SHARE * left_s:
        return estimate_s
    return estimate_s * slowdown()
