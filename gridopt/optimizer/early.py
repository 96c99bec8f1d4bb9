"""Prefer early charging among plans of equal cost (``site.prefer_early_charging``).

Many plans often cost exactly the same (one price for hours on end, PV enough
for everyone); the solver returns any of them. With the preference set, the
fast path's plan is **polished lexicographically**: with its binaries fixed
(each vehicle's modes, the meter's direction) one more LP finds, among the
plans whose objective is at most the plan's own (``cost @ x <= objective +
1e-9 max(1, |objective|)``), one that minimises the energy-weighted charging
time ``sum_(v,t) (t + 1) c[v,t] dt``. So the reported cost never rises (the
proven gap holds as before, against the same bound), and charging moves as
early as that cost allows.

Why not a tiny time-increasing price on every kWh, as issue 13 first had it: to
break ties it must beat HiGHS's tolerances (about 1e-7 per kW and step), which
on a day of 96 steps takes a few 1e-4 per kWh at the end of the horizon; that
is no longer "tiny" next to a gap target of 1e-4, and where two steps' prices
differ by less it changes the plan's real cost. The polish has no such weight.

Limits: vehicles with mode binaries (V2G, a minimum power, above ``max_soc``)
keep their charging steps (only their power moves); the Pyomo path
(``method="milp"``) is not polished.
"""

from __future__ import annotations

import time
from dataclasses import replace

import highspy
import numpy as np

from .solve import relative_gap

#: Slack of the objective row of the polish, relative to ``max(1, |objective|)`` [-].
OBJECTIVE_SLACK = 1e-9


def prefer_early(sc) -> bool:
    return bool(getattr(sc, "prefer_early_charging", False))


def early_weights(mm) -> np.ndarray:
    """Cost vector of the polish: ``t + 1`` on each charge column (``c[v,t]``), 0 elsewhere."""
    w = np.zeros(mm.n_cols)
    w[mm.col_c] = mm.pair_t + 1.0
    return w


def polish_early(sc, fast, deadline: float):
    """The fast path's solution with its plan polished towards early charging (see the module's notes).

    Parameters
    ----------
    sc : Scenario
    fast : FastSolution
        From :func:`gridopt.optimizer.fast.solve_fast`.
    deadline : float
        ``time.monotonic()`` instant by which the polish must be over; without
        time left, or when the LP does not finish optimal, ``fast`` comes back unchanged.

    Returns
    -------
    FastSolution
        With ``values`` and ``report.objective`` / ``gap`` of the polished plan,
        ``method`` ending in ``+early`` and ``stages["early"]`` its seconds.
    """
    from .fast import _highs, _pass, _run

    x = fast.values
    left = deadline - time.monotonic()
    if not prefer_early(sc) or x is None or left <= 0.05 or not len(fast.model.col_c):
        return fast
    t0 = time.perf_counter()
    mm = fast.model
    objective = float(mm.cost @ x)
    h = _highs()
    _pass(h, mm, integral=False)
    if len(mm.binary):
        fixed = np.round(x[mm.binary])
        h.changeColsBounds(len(mm.binary), mm.binary.astype(np.int32), fixed, fixed)
    nz = np.flatnonzero(mm.cost)
    slack = OBJECTIVE_SLACK * max(1.0, abs(objective))
    h.addRow(-highspy.kHighsInf, objective + slack, len(nz), nz.astype(np.int32), mm.cost[nz])
    w = early_weights(mm)
    h.changeColsCost(mm.n_cols, np.arange(mm.n_cols, dtype=np.int32), w)
    _run(h, left)
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return fast
    polished = np.asarray(h.getSolution().col_value, dtype=float)
    new_objective = float(mm.cost @ polished)
    if new_objective > objective + 10 * slack + 1e-7:  # never a dearer plan (solver tolerance aside)
        return fast
    rep = fast.report
    report = replace(
        rep,
        objective=new_objective,
        gap=relative_gap(new_objective, rep.lower_bound),
        method=f"{rep.method}+early",
    )
    stages = dict(fast.stages)
    stages["early"] = time.perf_counter() - t0
    return replace(fast, values=polished, report=report, stages=stages)


def charging_time_h(schedule, start) -> float:
    """Energy-weighted mean start of the charging steps [h after ``start``]; nan without charging."""
    c = schedule["charge_kw"].to_numpy(float)
    if c.sum() <= 0:
        return float("nan")
    hours = (schedule["time"] - start).dt.total_seconds().to_numpy() / 3600.0
    return float((hours * c).sum() / c.sum())
