"""HiGHS through highspy: the one place that creates solver instances.

Two behaviours of highspy 1.16 that gridopt works around here:

* The first ``highspy.Highs()`` of a process prints a banner ("Running HiGHS
  1.16.0 ...") on standard output from C++, before any option can turn output
  off. :func:`new_highs` constructs that first instance with file descriptor 1
  pointed at ``/dev/null`` (standard error stays as it is, so real errors still
  show), and later instances print nothing.
* ``Highs.cancelSolve()`` only sets a flag that an interrupt callback reads
  (without ``HandleUserInterrupt`` it does nothing, and the flag is never
  cleared for the next solve). :func:`run_until` subscribes its own interrupt
  callback, set by a watchdog timer, for the length of one solve.

The highspy versions gridopt is tested with are :data:`TESTED_HIGHSPY`
(``pyproject.toml`` requires the same range; ``tests/test_cli_solver.py``
checks both behaviours).
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
from importlib import metadata

import highspy
import numpy as np

#: highspy releases gridopt is tested with: ``>= 1.16, < 1.17`` (as in pyproject.toml).
TESTED_HIGHSPY = ((1, 16), (1, 17))
#: Longest interval given to a ``threading.Timer`` [s]; longer waits overflow (about 292 years).
MAX_TIMER_S = 1e9
#: Extra time granted to HiGHS beyond its own limit before the watchdog cancels it [s].
WATCHDOG_GRACE_S = 0.3

_lock = threading.Lock()
_banner_silenced = False


def _flush_c_stdout() -> None:
    """Flush C's stdio buffers (the banner may sit in them when stdout is a file)."""
    try:
        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError, TypeError):  # no C library handle (e.g. Windows)
        pass


def silence_banner() -> None:
    """Construct the process's first ``Highs`` with standard output discarded (once per process)."""
    global _banner_silenced
    with _lock:
        if _banner_silenced:
            return
        try:
            sys.stdout.flush()
        except (AttributeError, ValueError, OSError):
            pass
        try:
            saved = os.dup(1)
        except OSError:  # no standard output at all: nothing to protect
            highspy.Highs()
            _banner_silenced = True
            return
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(null, 1)
            try:
                highspy.Highs()
            finally:
                _flush_c_stdout()
                os.dup2(saved, 1)
        finally:
            os.close(null)
            os.close(saved)
        _banner_silenced = True


def new_highs() -> highspy.Highs:
    """A silent HiGHS instance (no banner, no log)."""
    silence_banner()
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    return h


def highs_version() -> str:
    """Version of the HiGHS library inside highspy, e.g. ``'1.16.0'``."""
    try:
        return f"{highspy.HIGHS_VERSION_MAJOR}.{highspy.HIGHS_VERSION_MINOR}.{highspy.HIGHS_VERSION_PATCH}"
    except AttributeError:
        h = new_highs()
        return f"{h.versionMajor()}.{h.versionMinor()}.{h.versionPatch()}"


def highspy_version() -> str | None:
    """Installed highspy distribution version, e.g. ``'1.16.0'`` (None if unknown)."""
    try:
        return metadata.version("highspy")
    except metadata.PackageNotFoundError:
        return None


def timer_interval(seconds: float) -> float:
    """``seconds`` as a ``threading.Timer`` accepts it: at least 0.01 s, at most :data:`MAX_TIMER_S`."""
    if seconds != seconds:  # nan
        return MAX_TIMER_S
    return min(max(0.01, float(seconds)), MAX_TIMER_S)


def run_until(h: highspy.Highs, seconds: float) -> None:
    """Run ``h`` for at most ``seconds`` [s]: HiGHS's own time limit, and a watchdog that cancels shortly after it.

    HiGHS can overrun its own limit (in presolve, or the root of a branch and
    bound); the watchdog interrupts it :data:`WATCHDOG_GRACE_S` later. HiGHS
    compares its ``time_limit`` with the run time of *all* runs of ``h`` so far
    (ERGO-Code/HiGHS#1477), so the limit set is that run time plus ``seconds``:
    a warm re-solve after a long first solve (the fast path's repair) gets its
    own time, not none.
    """
    limit = timer_interval(seconds)
    h.setOptionValue("time_limit", h.getRunTime() + limit)
    stop = threading.Event()
    watch = watched()  # the app's Stop button and progress (None outside the app)
    user_stop = watch.stop if watch is not None else stop

    def interrupt(event) -> None:
        # set both ways: HiGHS keeps the flag of an earlier interrupted solve
        event.interrupt(stop.is_set() or user_stop.is_set())

    def progress(event) -> None:
        watch.highs(event.data_out.mip_primal_bound, event.data_out.mip_dual_bound)

    callbacks = (h.cbSimplexInterrupt, h.cbIpmInterrupt, h.cbMipInterrupt)
    for cb in callbacks:
        cb.subscribe(interrupt)
    if watch is not None:
        h.cbMipInterrupt.subscribe(progress)
    timer = threading.Timer(timer_interval(limit + WATCHDOG_GRACE_S), stop.set)
    timer.daemon = True
    timer.start()
    try:
        h.run()
    finally:
        timer.cancel()
        for cb in callbacks:
            cb.unsubscribe(interrupt)
        if watch is not None:
            h.cbMipInterrupt.unsubscribe(progress)


# ---------------------------------------------------------------------------
# Watching the solves of one thread from another (the app's progress and Stop)
# ---------------------------------------------------------------------------

_watched = threading.local()


class Watch:
    """What the app watches of a solve running in another thread; subclassed by the app.

    ``stop`` is set by the watcher (a Stop button): every HiGHS run of the
    watched thread is then interrupted, as at a time limit, so the solve
    returns its best plan so far. :meth:`stage` and :meth:`highs` are called
    from the solving thread; the base class ignores them.
    """

    def __init__(self) -> None:
        self.stop = threading.Event()

    def stage(self, name: str, incumbent: float, bound: float) -> None:
        """The solve entered stage ``name`` with the best plan's cost ``incumbent`` and a proven ``bound``."""

    def highs(self, primal: float, dual: float) -> None:
        """HiGHS's own primal and dual bound of the run in progress (branch and bound only)."""


def watching(watch: Watch | None):
    """Context manager: watch the solves of the current thread with ``watch`` (None: stop watching)."""
    from contextlib import contextmanager

    @contextmanager
    def _ctx():
        before = getattr(_watched, "watch", None)
        _watched.watch = watch
        try:
            yield watch
        finally:
            _watched.watch = before

    return _ctx()


def watched() -> Watch | None:
    """The :class:`Watch` of the current thread, if any."""
    return getattr(_watched, "watch", None)


def note_stage(name: str, incumbent: float, bound: float) -> None:
    """Tell the current thread's watch (if any) that the solve entered stage ``name``."""
    w = watched()
    if w is not None:
        w.stage(name, incumbent, bound)


def highs_inf(a: np.ndarray) -> np.ndarray:
    """``a`` (bounds, any shape) with numpy's infinities as HiGHS's (``highspy.kHighsInf``), as floats."""
    return np.where(a == np.inf, highspy.kHighsInf, np.where(a == -np.inf, -highspy.kHighsInf, a))
