"""How much slower than an idle machine work runs now, for the time estimates around the solver.

The time limit covers the whole run (:func:`gridopt.optimize`, ``gridopt run``):
the solver gets what is left after an estimate of the work after it
(extraction, the physics check, KPIs, writing the files). Those estimates were
measured on 2 lightly loaded cores; on a machine whose runnable processes
outnumber its cores several times (``benchmarks/limits.py``: two CPU hogs on a
2-core machine already at load 12) the same work took seven times as long and
a 10 s limit became 18 s. :func:`slowdown` scales the estimates by the 1-minute
load average per core: the solver then stops earlier and the run ends in time.
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
