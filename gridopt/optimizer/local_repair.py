"""Local repair: the fast path's repair re-solving only the vehicles whose LP plan breaks a binary rule.

The fast path's repair (:mod:`gridopt.optimizer.fast`, stage 2) fixes every
mode binary from the LP's plan and re-solves the binary-free LP with those
modes as column bounds (:func:`~gridopt.optimizer.fast.fixed_mode_bounds`):
an LP over the whole fleet, warm-started from the LP's basis. On 10,000
vehicles that warm re-solve took 2.3 s of CPU, although only the vehicles whose
LP plan breaks a binary rule (:func:`~gridopt.optimizer.fast.conflict_vehicles`)
need another plan.

:func:`local_repair` solves a **restriction** of that fixed-mode LP: every
other vehicle keeps its LP plan, its charge and discharge columns fixed at
their LP values (its SoC columns follow by the SoC equalities), and only the
conflict vehicles and the site's columns (import, export, PV, ...) move. It is
the fixed-mode LP with more bounds, so any plan it returns is a plan of the
MILP with the same modes (an **upper bound**), never better than the full
repair's. It is small after presolve (the fixed columns go), so it solves cold
in a fraction of the warm re-solve. When it is infeasible (the site cannot
absorb the conflict vehicles' new plans with the others fixed), or its plan is
not within the gap target, the caller runs the full repair as before.

A vehicle counts as "kept" only if its LP plan already meets every bound of
the fixed-mode LP (a step that charges charges at least ``min_charge_kw``; no
charge or discharge outside its mode; SoC within ``max_soc`` / ``min_soc``
where the modes guard it); otherwise it is repaired with the conflict vehicles.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import highspy
import numpy as np

from .highs import new_highs, run_until
from .matrix import MatrixModel

#: Smallest model (columns of the MILP) for which the fast path tries the local repair first:
#: below it the full warm re-solve is quick already (1,000 vehicles: about 0.1 s).
LOCAL_REPAIR_MIN_COLUMNS = 200_000
#: A column value this far outside a bound of the fixed-mode LP frees its vehicle [kW or kWh].
BOUND_TOL = 1e-7


@dataclass
class LocalRepair:
    """Outcome of :func:`local_repair`."""

    objective: float | None  # optimum of the restricted fixed-mode LP, None if not solved to optimality
    values: np.ndarray | None  # its plan, in the binary-free LP's layout
    repaired_vehicles: int  # vehicles whose columns were free
    kept_vehicles: int  # vehicles fixed at their LP plan
    seconds: float
    status: str


def vehicles_to_repair(
    lp: MatrixModel, mm: MatrixModel, x: np.ndarray, conflict: np.ndarray, lb: np.ndarray, ub: np.ndarray
) -> np.ndarray:
    """Vehicles (bool per vehicle) whose columns stay free in the local repair.

    Parameters
    ----------
    lp, mm : MatrixModel
        The binary-free LP and the MILP (pairs in the same order).
    x : numpy.ndarray
        The LP's plan in ``mm``'s layout, shape ``(mm.n_cols,)``.
    conflict : numpy.ndarray
        Vehicles whose LP plan breaks a binary rule, bool, shape ``(n_vehicles,)``.
    lb, ub : numpy.ndarray
        Column bounds of the fixed-mode LP in ``lp``'s layout, shape ``(lp.n_cols,)``.

    Returns
    -------
    numpy.ndarray
        ``conflict`` plus every vehicle with a charge, discharge or SoC value of ``x``
        outside ``lb``/``ub`` by more than :data:`BOUND_TOL`.
    """
    free = conflict.copy()
    vals = [(mm.col_c, lp.col_c, np.ones(len(mm.col_c), bool))]
    hd = mm.col_d >= 0
    vals.append((np.where(hd, mm.col_d, 0), np.where(hd, lp.col_d, 0), hd))
    he = mm.col_e_after >= 0
    vals.append((np.where(he, mm.col_e_after, 0), np.where(he, lp.col_e_after, 0), he))
    for src, dst, has in vals:
        v = x[src]
        out = has & ((v < lb[dst] - BOUND_TOL) | (v > ub[dst] + BOUND_TOL))
        free[mm.pair_v[out]] = True
    return free


def local_repair(
    lp: MatrixModel,
    mm: MatrixModel,
    x: np.ndarray,
    conflict: np.ndarray,
    bounds: tuple[np.ndarray, np.ndarray, np.ndarray],
    seconds: float,
    unscaled: bool = True,
) -> LocalRepair:
    """Solve the fixed-mode LP with every vehicle outside the conflict set fixed at its LP plan.

    Parameters
    ----------
    lp : MatrixModel
        The binary-free LP (its mode-hull rows, if any, are left out: the fixed modes imply them).
    mm : MatrixModel
        The MILP, for the pair layout of ``x``.
    x : numpy.ndarray
        The LP's plan in ``mm``'s layout, shape ``(mm.n_cols,)`` [kW, kWh].
    conflict : numpy.ndarray
        Vehicles whose LP plan breaks a binary rule (bool per vehicle).
    bounds : tuple of numpy.ndarray
        ``(columns, lower, upper)`` of :func:`~gridopt.optimizer.fast.fixed_mode_bounds`.
    seconds : float
        Time limit of the solve [s].
    unscaled : bool
        Solve without HiGHS's scaling (as the fast path's LP, when the model is well scaled).

    Returns
    -------
    LocalRepair
    """
    t0 = time.monotonic()
    lb, ub = lp.col_lb.copy(), lp.col_ub.copy()
    cols, new_lb, new_ub = bounds
    lb[cols], ub[cols] = new_lb, new_ub
    free = vehicles_to_repair(lp, mm, x, conflict, lb, ub)
    keep = ~free[mm.pair_v]
    hd = mm.col_d >= 0
    for src, dst, has in ((mm.col_c, lp.col_c, keep), (mm.col_d, lp.col_d, keep & hd)):
        s, d = src[has], dst[has]
        v = np.clip(x[s], lb[d], ub[d])
        lb[d] = ub[d] = v
    from .fast import highs_lp  # fast imports this module

    m = highs_lp(lp, lp.n_rows - lp.n_hull_rows, lb, ub)
    h = new_highs()
    if unscaled:
        h.setOptionValue("simplex_scale_strategy", 0)
    h.passModel(m)
    run_until(h, seconds)
    st = h.getModelStatus()
    n_free = int(free.sum())
    out = LocalRepair(None, None, n_free, len(free) - n_free, 0.0, h.modelStatusToString(st))
    if st == highspy.HighsModelStatus.kOptimal:
        out.objective = float(h.getInfo().objective_function_value)
        out.values = np.array(h.getSolution().col_value)
    out.seconds = time.monotonic() - t0
    return out


def repair_conflicts(
    lp: MatrixModel, mm: MatrixModel, x: np.ndarray, seconds: float, unscaled: bool = True
) -> tuple[np.ndarray | None, float, dict]:
    """The fast path's first repair attempt on a large model: modes rounded up, only conflict vehicles re-solved.

    Parameters
    ----------
    lp, mm : MatrixModel
        The binary-free LP and the MILP.
    x : numpy.ndarray
        The LP's plan in ``mm``'s layout, shape ``(mm.n_cols,)``.
    seconds : float
        Time limit [s].
    unscaled : bool
        Solve without HiGHS's scaling.

    Returns
    -------
    plan : numpy.ndarray or None
        A plan of the MILP in ``mm``'s layout (binaries set from the modes), checked against
        every row of the MILP; None if the restricted LP found none.
    cost : float
        Its cost (``inf`` without a plan) [currency].
    stages : dict
        ``local_repair_seconds``, ``local_repair_vehicles`` (vehicles re-solved), ``local_repair_status``.
    """
    # imported here: fast imports this module
    from .fast import conflict_vehicles, fixed_mode_bounds, repair, transfer
    from .greedy import FEAS_TOL, max_violation

    modes = repair(mm, x, round_up=True)
    got = local_repair(lp, mm, x, conflict_vehicles(mm, x), fixed_mode_bounds(lp, mm, modes), seconds, unscaled)
    stages = {
        "local_repair_seconds": got.seconds,
        "local_repair_vehicles": got.repaired_vehicles,
        "local_repair_status": got.status,
    }
    if got.values is None:
        return None, float("inf"), stages
    plan = transfer(lp, mm, got.values)
    plan[mm.binary] = modes.binaries(mm)
    if max_violation(mm, plan) > FEAS_TOL:  # never expected: the restricted LP is the MILP with its binaries fixed
        stages["local_repair_status"] = "violates a row of the MILP"
        return None, float("inf"), stages
    return plan, float(mm.cost @ plan), stages
