"""The online rules charging networks use, as pure power allocations for one step.

Each rule shares the site's headroom,
``headroom_kw = import_limit_kw - base_load_kw + pv_kw`` (PV serves charging
first), among the plugged-in vehicles. A vehicle never gets more than it
``want_kw``: its charger's power, and what brings it exactly to the SoC it
needs (never beyond, never above ``max_soc``). A vehicle that would get less
than its ``min_charge_kw`` gets nothing (a charger cannot deliver less); one
whose whole remaining need is below that minimum is not charged (that would
exceed its need).

* **earliest deadline first** (EDF): vehicles in order of their (estimated)
  departure, each filled up to what it wants while headroom lasts;
* **least laxity first** (LLF): the same, in order of laxity = time to
  departure minus the time its remaining need takes at full power [h];
* **round robin**: equal shares, as acnportal's ``RoundRobin`` hands out
  equal increments in turn, here without the increments (water filling: a
  vehicle that wants less than its share gets what it wants and the rest is
  shared again; a share below a charger's minimum is lifted to it).
"""

from __future__ import annotations

import numpy as np

#: Smallest power handed out [kW].
EPS_KW = 1e-9


def _usable(want_kw: np.ndarray, min_kw: np.ndarray) -> np.ndarray:
    return (want_kw > EPS_KW) & (want_kw >= min_kw - 1e-12)


def fill_in_order(order: np.ndarray, headroom_kw: float, want_kw: np.ndarray, min_kw: np.ndarray) -> np.ndarray:
    """Give each vehicle, in ``order``, what it wants while ``headroom_kw`` lasts.

    Parameters
    ----------
    order : array of int
        Positions into ``want_kw``, first served first.
    headroom_kw : float
        Power left for charging [kW] (``inf`` without an import limit).
    want_kw, min_kw : ndarray
        Per vehicle: the most it should get, and its charger's minimum [kW].

    Returns
    -------
    ndarray
        Power per vehicle [kW]: ``0`` or within ``[min_kw, want_kw]``, summing to
        at most ``headroom_kw``.
    """
    want_kw = np.asarray(want_kw, dtype=float)
    min_kw = np.asarray(min_kw, dtype=float)
    out = np.zeros(len(want_kw))
    left = max(0.0, float(headroom_kw))
    ok = _usable(want_kw, min_kw)
    for i in order:
        if not ok[i]:
            continue
        p = min(want_kw[i], left)
        if p < max(min_kw[i], EPS_KW):
            continue
        out[i] = p
        left -= p
    return out


def water_fill(
    headroom_kw: float, want_kw: np.ndarray, min_kw: np.ndarray, order: np.ndarray | None = None
) -> np.ndarray:
    """Equal shares of ``headroom_kw``, none above what a vehicle wants (round robin).

    Every vehicle that charges gets ``clip(level, min_kw, want_kw)`` for one
    common ``level``: equal shares, lifted to a charger's minimum where needed.
    When the minimums alone do not fit, the last vehicle in ``order`` drops out
    until they do.
    """
    want_kw = np.asarray(want_kw, dtype=float)
    min_kw = np.asarray(min_kw, dtype=float)
    n = len(want_kw)
    order = np.arange(n) if order is None else np.asarray(order)
    active = _usable(want_kw, min_kw)
    out = np.zeros(n)
    if not np.isfinite(headroom_kw):
        out[active] = want_kw[active]
        return out
    head = max(0.0, float(headroom_kw))
    floor = np.maximum(min_kw, 0.0)
    for i in order[::-1]:
        if floor[active].sum() <= head + 1e-12:
            break
        active[i] = False
    idx = np.flatnonzero(active)
    if not len(idx):
        return out
    lo_w, hi_w = floor[idx], want_kw[idx]
    if hi_w.sum() <= head:
        out[idx] = hi_w
        return out
    lo, hi = 0.0, float(hi_w.max())
    for _ in range(100):  # bisection on the common level
        mid = 0.5 * (lo + hi)
        if np.clip(mid, lo_w, hi_w).sum() > head:
            hi = mid
        else:
            lo = mid
    out[idx] = np.clip(lo, lo_w, hi_w)
    return out


def laxity_h(hours_left: np.ndarray, need_kwh: np.ndarray, max_kw: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """Time to departure minus the time the remaining need takes at full power [h]."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(max_kw > 0, need_kwh / (eta * max_kw), np.inf)
    return hours_left - t
