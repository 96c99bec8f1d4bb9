"""The fast path: LP relaxation, repair, proven gap; branch and bound only when needed.

1. Solve the LP relaxation of the MILP (mode binaries in ``[0, 1]``). Its optimum
   is a valid **lower bound** on the MILP's optimum.
2. **Repair**: fix every binary from the LP's plan: the net direction per vehicle
   and step (charge if it charges more than it discharges), the minimum power
   rounded to the nearer of 0 and ``min_charge_kw``, the meter's direction; then
   re-solve the LP with the binaries fixed (warm-started). Its optimum is a
   feasible plan of the MILP, an **upper bound**.
3. If ``(upper - lower) / max(|lower|, 1)`` meets the gap target, stop: the gap
   is proven. Otherwise run HiGHS branch and bound on the full MILP with the
   repaired plan as its start, within the time left, and keep its bound if
   better.

The time limit is enforced by HiGHS and, from outside, by a watchdog that
cancels the solve shortly after it (HiGHS can overshoot during the root).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

import highspy
import numpy as np

from ..fleet import FleetPlan
from ..scenario import Scenario, SolverOptions
from .matrix import MatrixModel, build_matrix
from .solve import SolveReport, Status, relative_gap

#: A power below this is zero when reading the LP's plan [kW].
POWER_TOL = 1e-6
#: Extra seconds granted to HiGHS beyond its own limit before the watchdog cancels.
WATCHDOG_GRACE_S = 0.5


@dataclass
class FastSolution:
    """Column values of the best plan and how it was found."""

    values: np.ndarray | None
    model: MatrixModel
    report: SolveReport
    build_seconds: float
    n_binaries: int
    n_columns: int
    n_rows: int
    stages: dict


def _highs(threads: int | None = None) -> highspy.Highs:
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    if threads:
        h.setOptionValue("threads", int(threads))
    return h


def _pass(h: highspy.Highs, mm: MatrixModel, integral: bool) -> None:
    lp = highspy.HighsLp()
    lp.num_col_ = mm.n_cols
    lp.num_row_ = mm.n_rows
    inf = highspy.kHighsInf
    lp.col_cost_ = mm.cost
    lp.col_lower_ = np.where(np.isinf(mm.col_lb), -inf, mm.col_lb)
    lp.col_upper_ = np.where(np.isinf(mm.col_ub), inf, mm.col_ub)
    lp.row_lower_ = np.where(np.isinf(mm.row_lb), -inf, mm.row_lb)
    lp.row_upper_ = np.where(np.isinf(mm.row_ub), inf, mm.row_ub)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.start_ = mm.a_start.astype(np.int32)
    lp.a_matrix_.index_ = mm.a_index
    lp.a_matrix_.value_ = mm.a_value
    if integral and len(mm.binary):
        integ = np.full(mm.n_cols, highspy.HighsVarType.kContinuous)
        integ[mm.binary] = highspy.HighsVarType.kInteger
        lp.integrality_ = list(integ)
    h.passModel(lp)


def _run(h: highspy.Highs, seconds: float) -> None:
    """Run with HiGHS's own time limit and a watchdog that cancels a little after it."""
    h.setOptionValue("time_limit", max(0.01, float(seconds)))
    timer = threading.Timer(max(0.01, seconds) + WATCHDOG_GRACE_S, h.cancelSolve)
    timer.daemon = True
    timer.start()
    try:
        h.run()
    finally:
        timer.cancel()


def repair(mm: MatrixModel, x: np.ndarray) -> np.ndarray:
    """0/1 values for every binary column from an LP plan ``x`` (see module docstring)."""
    fixed = np.full(mm.n_cols, np.nan)
    c = x[mm.col_c]
    d = np.where(mm.col_d >= 0, x[np.maximum(mm.col_d, 0)], 0.0)
    pmin = mm.pmin_pair
    charging = (c > POWER_TOL) & (c >= d) & ((pmin <= 0) | (c >= 0.5 * pmin))
    discharging = (d > POWER_TOL) & ~charging
    hx = mm.col_x >= 0
    x_lp = np.where(hx, x[np.maximum(mm.col_x, 0)], 0.0)
    # idle steps keep the LP's leaning, but never force a minimum charge
    x_val = np.where(charging, 1.0, np.where(discharging, 0.0, np.where(pmin > 0, 0.0, (x_lp >= 0.5) * 1.0)))
    fixed[mm.col_x[hx]] = x_val[hx]
    hy = mm.col_y >= 0
    fixed[mm.col_y[hy]] = np.where(discharging[hy], 1.0, 0.0)
    if len(mm.col_z):
        imp = x[mm.col_imp[mm.meter_steps]]
        exp = x[mm.col_exp[mm.meter_steps]]
        fixed[mm.col_z] = (exp > imp) * 1.0
    return fixed[mm.binary]


def conflict_vehicles(mm: MatrixModel, x: np.ndarray) -> np.ndarray:
    """Vehicles (bool per vehicle) whose LP plan breaks a binary rule somewhere.

    Conflicts: charging and discharging in one step, charging below
    ``min_charge_kw``.
    """
    c = x[mm.col_c]
    d = np.where(mm.col_d >= 0, x[np.maximum(mm.col_d, 0)], 0.0)
    bad = ((c > POWER_TOL) & (d > POWER_TOL)) | ((c > POWER_TOL) & (c < mm.pmin_pair - POWER_TOL))
    n_veh = int(mm.pair_v.max()) + 1 if len(mm.pair_v) else 0
    out = np.zeros(n_veh, dtype=bool)
    out[mm.pair_v[bad]] = True
    return out


def _binaries_of(mm: MatrixModel, vehicles: np.ndarray) -> np.ndarray:
    """Mode-binary columns of the given vehicles (bool per vehicle)."""
    sel = vehicles[mm.pair_v] if len(vehicles) else np.zeros(len(mm.pair_v), bool)
    cols = np.concatenate([mm.col_x[sel & (mm.col_x >= 0)], mm.col_y[sel & (mm.col_y >= 0)]])
    return cols.astype(np.int64)


def _mip(mm: MatrixModel, gap: float, start: np.ndarray | None) -> highspy.Highs:
    """A HiGHS instance holding the full MILP, our gap target, and a start if given."""
    h = _highs()
    _pass(h, mm, integral=True)
    h.setOptionValue("mip_rel_gap", gap / (1.0 + gap))
    h.setOptionValue("mip_abs_gap", gap)
    if start is not None:
        sol = highspy.HighsSolution()
        sol.col_value = list(start)
        sol.value_valid = True
        h.setSolution(sol)
    return h


def solve_fast(sc: Scenario, plan: FleetPlan, options: SolverOptions) -> FastSolution:
    """Best plan of ``sc`` by LP, repair and (if needed) branch and bound, with a proven gap."""
    t0 = time.perf_counter()
    deadline = t0 + options.time_limit_s
    mm = build_matrix(sc, plan)
    build_s = time.perf_counter() - t0
    target = options.mip_rel_gap
    stages: dict = {}
    h = _highs()
    t1 = time.perf_counter()
    _pass(h, mm, integral=False)
    _run(h, deadline - time.perf_counter())
    st = h.getModelStatus()
    stages["lp_seconds"] = time.perf_counter() - t1
    version = f"{highspy.Highs().versionMajor()}.{highspy.Highs().versionMinor()}.{highspy.Highs().versionPatch()}"

    def report(status, obj, bound, method, term):
        return SolveReport(
            status=status,
            termination=term,
            objective=obj,
            lower_bound=bound,
            gap=relative_gap(obj, bound) if math.isfinite(obj) else math.inf,
            solve_seconds=time.perf_counter() - t1,
            solver="highs",
            solver_version=version,
            method=method,
        )

    def done(values, rep):
        return FastSolution(values, mm, rep, build_s, len(mm.binary), mm.n_cols, mm.n_rows, stages)

    if st == highspy.HighsModelStatus.kInfeasible:
        return done(None, report(Status.INFEASIBLE, math.nan, math.nan, "lp", "infeasible"))
    if st != highspy.HighsModelStatus.kOptimal:
        return done(None, report(Status.NO_SOLUTION, math.nan, math.nan, "lp", h.modelStatusToString(st)))
    lower = h.getInfo().objective_function_value
    x_lp = np.array(h.getSolution().col_value)
    if not len(mm.binary):
        return done(x_lp, report(Status.OPTIMAL, lower, lower, "lp", "optimal"))

    # --- repair: fix binaries, re-solve the LP -----------------------------
    t2 = time.perf_counter()
    fix = repair(mm, x_lp)
    h.changeColsBounds(len(mm.binary), mm.binary.astype(np.int32), fix, fix)
    _run(h, deadline - time.perf_counter())
    st2 = h.getModelStatus()
    stages["repair_seconds"] = time.perf_counter() - t2
    best = None
    upper = math.inf
    if st2 == highspy.HighsModelStatus.kOptimal:
        best = np.array(h.getSolution().col_value)
        best[mm.binary] = fix
        upper = h.getInfo().objective_function_value
    stages["repair_gap"] = relative_gap(upper, lower)
    if best is not None and relative_gap(upper, lower) <= target:
        return done(best, report(Status.OPTIMAL, upper, lower, "lp+repair", "gap proven by the LP bound"))

    # --- neighbourhood: branch and bound over the vehicles the LP got wrong only ---
    method = "lp+repair"
    free = conflict_vehicles(mm, x_lp)
    stages["conflict_vehicles"] = int(free.sum())
    left = deadline - time.perf_counter()
    if best is not None and 0 < free.sum() < len(free) and left > 0.1:
        t3 = time.perf_counter()
        hs = _mip(mm, target, best)
        fixed_cols = _binaries_of(mm, ~free)
        fixed_vals = best[fixed_cols]
        hs.changeColsBounds(len(fixed_cols), fixed_cols.astype(np.int32), fixed_vals, fixed_vals)
        _run(hs, min(left, max(0.5 * left, 1.0)))
        stages["neighbourhood_seconds"] = time.perf_counter() - t3
        info = hs.getInfo()
        if info.primal_solution_status == 2 and info.objective_function_value < upper:
            best, upper = np.array(hs.getSolution().col_value), info.objective_function_value
        method = "lp+repair+neighbourhood"
        stages["neighbourhood_gap"] = relative_gap(upper, lower)
        if relative_gap(upper, lower) <= target:
            return done(best, report(Status.OPTIMAL, upper, lower, method, "gap proven by the LP bound"))

    # --- branch and bound on the whole model, started from the best plan -------
    left = deadline - time.perf_counter()
    if left <= 0.05:
        if best is None:
            return done(None, report(Status.NO_SOLUTION, math.nan, lower, method, "time limit"))
        return done(best, report(Status.TIME_LIMIT, upper, lower, method, "time limit"))
    t3 = time.perf_counter()
    hm = _mip(mm, target, best)
    _run(hm, left)
    stages["mip_seconds"] = time.perf_counter() - t3
    info = hm.getInfo()
    st3 = hm.getModelStatus()
    if st3 == highspy.HighsModelStatus.kInfeasible:
        return done(None, report(Status.INFEASIBLE, math.nan, math.nan, method + "+mip", "infeasible"))
    mip_bound = info.mip_dual_bound if math.isfinite(info.mip_dual_bound) else -math.inf
    bound = max(lower, mip_bound)
    if info.primal_solution_status == 2:  # feasible
        obj = info.objective_function_value
        if obj <= upper:
            best, upper = np.array(hm.getSolution().col_value), obj
    if best is None:
        return done(None, report(Status.NO_SOLUTION, math.nan, bound, method + "+mip", hm.modelStatusToString(st3)))
    status = Status.OPTIMAL if relative_gap(upper, bound) <= target * (1 + 1e-9) else Status.TIME_LIMIT
    return done(best, report(status, upper, bound, method + "+mip", hm.modelStatusToString(st3)))


def plan_arrays(sc: Scenario, plan: FleetPlan, mm: MatrixModel, values: np.ndarray):
    """charge, discharge, soc_end (V, T), pv_used (T), shortfall and SoC at requirements (R)."""
    V, T = len(plan.vehicle_ids), sc.grid.n_steps
    charge = np.zeros((V, T))
    discharge = np.zeros((V, T))
    soc = np.full((V, T), np.nan)
    charge[mm.pair_v, mm.pair_t] = values[mm.col_c]
    hd = mm.col_d >= 0
    discharge[mm.pair_v[hd], mm.pair_t[hd]] = values[mm.col_d[hd]]
    soc[mm.pair_v, mm.pair_t] = values[mm.col_e_after]
    return charge, discharge, soc, values[mm.col_pv], values[mm.col_u], values[mm.col_e_req]
