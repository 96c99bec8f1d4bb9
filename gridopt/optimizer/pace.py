"""How much slower than an idle machine work runs now, for the time estimates around the solver.

The time limit of ``gridopt run`` covers the whole command: the solver gets
what is left after an estimate of the work after it, writing the files
included. The writing estimate was measured on 2 lightly loaded cores; on a
machine whose runnable processes outnumber its cores several times
(``benchmarks/limits.py``: two CPU hogs on a 2-core machine already at load 14)
writing a 1,000-vehicle day took 7.4 s against the 0.5 s estimated, and a 10 s
limit became 18 s. :func:`slowdown` scales that estimate by the 1-minute load
average per core. It is not applied to :func:`gridopt.optimize`'s estimate of
extraction, check and KPIs: there it took the solver's time away for nothing
(10,000 vehicles at load 15, limit 120 s: the work after the solver took about
7 s, its estimate unscaled 6 s, scaled 47 s, and the LP no longer finished).
"""

from __future__ import annotations

import os

#: Largest factor applied to the estimates [-] (beyond it the solver would get almost nothing).
MAX_SLOWDOWN = 8.0


def slowdown() -> float:
    """Runnable processes per core over the last minute, at least 1, at most :data:`MAX_SLOWDOWN` [-].

    1.0 where the load average is unknown (e.g. Windows).
    """
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return 1.0
    cores = os.cpu_count() or 1
    return min(MAX_SLOWDOWN, max(1.0, load / cores))
