"""A Lagrangian bound: the site rows priced by the LP's duals, each vehicle's own problem solved exactly.

The vehicles of a site share only the site's rows (the power balance of each
step, the meter, the import and export limits, peaks); every other row of the
MILP belongs to one vehicle (its SoC, its mode binaries and minimum power) or
to the site alone. Split the rows that way (:func:`owners`): *coupling* rows
(columns of more than one owner) and *block* rows (one owner). Price the
coupling rows by multipliers ``y``; the Lagrangian

    L(y) = sum_r y_r b_r(y) + sum_k min_{x_k in X_k} (c_k - A_k^T y)^T x_k

(``b_r(y)`` the side of coupling row ``r`` its multiplier's sign makes
active; ``X_k`` block ``k``'s feasible set: for a vehicle, its MILP rows with
their binaries; for the site, its rows, kept relaxed) is a lower bound of the
MILP for every sign-feasible ``y``: each feasible plan of the MILP lies in the
product of the ``X_k`` and meets the coupling rows.

With ``y`` = the binary-free LP's duals of the coupling rows, LP duality
splits the LP's optimum the same way, with the LP's own relaxed sets ``P_k``
(which contain the ``X_k``: the mode-hull rows are valid for the MILP):

    LB_LP = sum_r y_r b_r + sum_k (c_k - A_k^T y)^T x*_k

and the LP's plan ``x*_k`` is optimal in each ``P_k``. So

    L(y) = LB_LP + sum_k [ min_{X_k} (c_k - A_k^T y)^T x_k - (c_k - A_k^T y)^T x*_k ]  >=  LB_LP

where each bracket is >= 0, and 0 for every vehicle whose LP plan already keeps
every binary rule (its LP plan is then in ``X_k``: it is optimal there too).
The bound solves only the other vehicles' subproblems (:func:`lagrangian_bound`):
96 steps, the vehicle's own rows of the MILP, its mode binaries; a tiny MILP
each, whose proven dual bound (not its incumbent) enters the sum, so an
unfinished subproblem still gives a valid bound (a bracket it puts below 0
counts as 0: the exact bracket never is). The site block stays relaxed
(as in the LP: its bracket is 0), which keeps ``L(y)`` a valid bound (a
relaxed block only lowers it). Rows of the MILP that tie a vehicle to the site
(the one-meter rule on discharge) are neither dualised nor in a block: they
are dropped, another relaxation. Validity is up to the LP's optimality
tolerances, like the LP bound's; ``tests/test_lagrange.py`` holds it below
the plain MILP's optimum on hand-checked and hard-family days.

Measured (``benchmarks/hard_results.md``): where the LP's gap comes from
vehicles that charge and discharge at once (the hull row ``c/P_c + d/P_d <= 1``
lets them burn energy fractionally), the exact subproblems remove it.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import highspy
import numpy as np

from .highs import highs_inf, new_highs, run_until
from .matrix import MatrixModel

#: Site-wide column blocks of :class:`MatrixModel` (owner -1).
SITE_BLOCKS = (
    "col_imp",
    "col_exp",
    "col_pv",
    "col_peak",
    "col_z",
    "col_gpk",
    "col_mean",
    "col_dev",
    "col_trk",
    "col_ren",
    "col_paid",
    "col_short",
    "col_chg",
)
#: Row owner of a coupling row (columns of more than one owner).
COUPLING = -2
#: Owner of the site's columns and rows.
SITE = -1
#: HiGHS options of each vehicle's subproblem: its proven dual bound is what counts, so no
#: primal heuristics (HiGHS's sub-MIPs took most of the time of a 96-step vehicle: 0.1-0.9 s).
SUB_OPTIONS = {
    "mip_rel_gap": 1e-6,
    "mip_abs_gap": 1e-7,
    "mip_heuristic_effort": 0.0,
    "mip_heuristic_run_feasibility_jump": False,
    "mip_heuristic_run_rins": False,
    "mip_heuristic_run_rens": False,
    "mip_heuristic_run_root_reduced_cost": False,
    "mip_heuristic_run_zi_round": False,
    "mip_heuristic_run_shifting": False,
}
#: Longest run of one vehicle's subproblem [s] (then its dual bound so far counts).
SUB_MAX_S = 0.5


def conflict_amount(mm: MatrixModel, x: np.ndarray, n_vehicles: int) -> np.ndarray:
    """How far each vehicle's plan ``x`` (``mm``'s layout) is from its binary rules [kW, summed over steps].

    Per step: ``min(c, d)`` (charging and discharging at once) plus ``min_charge_kw - c``
    where ``0 < c < min_charge_kw``. Shape (n_vehicles,).
    """
    c = x[mm.col_c]
    d = np.where(mm.col_d >= 0, x[np.maximum(mm.col_d, 0)], 0.0)
    amount = np.minimum(c, d) + np.where((c > 1e-6) & (c < mm.pmin_pair), mm.pmin_pair - c, 0.0)
    out = np.zeros(n_vehicles)
    np.add.at(out, mm.pair_v, amount)
    return out


def _row_of_nz(m: MatrixModel) -> np.ndarray:
    return np.repeat(np.arange(m.n_rows), np.diff(m.a_start[: m.n_rows + 1]))


def _row_span(o: np.ndarray, rnz: np.ndarray, n_rows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lowest and highest vehicle owner in each row, and whether the row holds a site column.

    Parameters
    ----------
    o : ndarray of int, shape (nnz,)
        Owner of each nonzero's column.
    rnz : ndarray of int, shape (nnz,)
        Row of each nonzero.
    n_rows : int
        Rows of the model.

    Returns
    -------
    lo, hi : ndarray of int, shape (n_rows,)
        Lowest and highest vehicle owner (int64 max and -1 in a row without vehicle columns).
    site_row : ndarray of bool, shape (n_rows,)
    """
    veh = o >= 0
    lo = np.full(n_rows, np.iinfo(np.int64).max)
    hi = np.full(n_rows, -1)
    np.minimum.at(lo, rnz[veh], o[veh])
    np.maximum.at(hi, rnz[veh], o[veh])
    site_row = np.zeros(n_rows, bool)
    site_row[rnz[o == SITE]] = True
    return lo, hi, site_row


def owners(m: MatrixModel) -> tuple[np.ndarray, np.ndarray]:
    """Owner of each column and of each row of ``m``.

    Returns
    -------
    col_owner : ndarray of int, shape (n_cols,)
        The vehicle index (``pair_v``) of a vehicle's column, :data:`SITE` otherwise.
        The per-pair columns (charge, discharge, modes, SoC after the step) are the
        vehicle's; a column reached only through rows of one vehicle (its start SoC,
        shortfall, switching rises) too.
    row_owner : ndarray of int, shape (n_rows,)
        The vehicle whose columns alone the row holds, :data:`SITE` for a row of
        site columns only, :data:`COUPLING` otherwise.
    """
    n = m.n_cols
    unknown = -3
    own = np.full(n, unknown, np.int64)
    for name in SITE_BLOCKS:
        own[np.asarray(getattr(m, name), np.int64)] = SITE
    for cols in (m.col_c, m.col_d, m.col_x, m.col_y, m.col_e_after):
        has = cols >= 0
        own[cols[has]] = m.pair_v[has]
    rnz = _row_of_nz(m)
    idx = m.a_index[: len(rnz)].astype(np.int64)
    for _ in range(20):  # a column of one vehicle is at most a few rows from its pairs' columns
        o = own[idx]
        lo, hi, site_row = _row_span(o, rnz, m.n_rows)
        one = (lo == hi) & ~site_row
        fill = (o == unknown) & one[rnz]
        if not fill.any():
            break
        own[idx[fill]] = lo[rnz[fill]]
    own[own == unknown] = SITE
    lo, hi, site_row = _row_span(own[idx], rnz, m.n_rows)
    row = np.full(m.n_rows, COUPLING, np.int64)
    row[(lo == hi) & ~site_row] = lo[(lo == hi) & ~site_row]
    row[hi < 0] = SITE  # rows without vehicle columns (or empty)
    return own, row


def priced_cost(m: MatrixModel, row_owner: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``c - A_coupling^T y``: the cost of each column with the coupling rows priced by ``y`` [currency per unit]."""
    rnz = _row_of_nz(m)
    idx = m.a_index[: len(rnz)].astype(np.int64)
    y_c = np.where(row_owner == COUPLING, y[: m.n_rows], 0.0)
    out = m.cost.astype(float).copy()
    np.subtract.at(out, idx, m.a_value[: len(rnz)] * y_c[rnz])
    return out


@dataclass
class Subproblem:
    """One vehicle's own rows and columns of a :class:`MatrixModel`."""

    cols: np.ndarray  # the model's columns, in local order
    rows: np.ndarray  # the model's rows owned by the vehicle


def subproblem_lp(m: MatrixModel, sub: Subproblem, cost: np.ndarray, integral: bool) -> highspy.HighsLp:
    """The vehicle's block of ``m`` as a HiGHS model, with ``cost`` (``m``'s layout) as objective."""
    local = {int(c): i for i, c in enumerate(sub.cols)}
    starts, index, value = [0], [], []
    for r in sub.rows:
        a, b = int(m.a_start[r]), int(m.a_start[r + 1])
        index.extend(local[int(c)] for c in m.a_index[a:b])
        value.extend(m.a_value[a:b])
        starts.append(len(index))
    lp = highspy.HighsLp()
    lp.num_col_ = len(sub.cols)
    lp.num_row_ = len(sub.rows)
    lp.col_cost_ = cost[sub.cols]
    lp.col_lower_ = highs_inf(m.col_lb[sub.cols])
    lp.col_upper_ = highs_inf(m.col_ub[sub.cols])
    lp.row_lower_ = highs_inf(m.row_lb[sub.rows])
    lp.row_upper_ = highs_inf(m.row_ub[sub.rows])
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.start_ = np.asarray(starts, np.int32)
    lp.a_matrix_.index_ = np.asarray(index, np.int32)
    lp.a_matrix_.value_ = np.asarray(value, float)
    if integral:
        is_bin = np.isin(sub.cols, m.binary)
        if is_bin.any():
            integ = np.full(len(sub.cols), highspy.HighsVarType.kContinuous)
            integ[is_bin] = highspy.HighsVarType.kInteger
            lp.integrality_ = list(integ)
    return lp


def sub_has_binaries(m: MatrixModel, sub: Subproblem) -> bool:
    """Whether the vehicle's subproblem has a binary column of ``m``."""
    return bool(np.isin(sub.cols, m.binary).any())


def subproblems(m: MatrixModel, col_owner: np.ndarray, row_owner: np.ndarray, vehicles: np.ndarray) -> dict:
    """:class:`Subproblem` of each of ``vehicles`` (indices) in ``m``."""
    want = np.zeros(max(int(col_owner.max(initial=-1)), int(np.max(vehicles, initial=-1))) + 1, bool)
    want[vehicles] = True
    c_sel = np.flatnonzero((col_owner >= 0) & want[np.maximum(col_owner, 0)])
    r_sel = np.flatnonzero((row_owner >= 0) & want[np.maximum(row_owner, 0)])
    out = {}
    c_sorted = c_sel[np.argsort(col_owner[c_sel], kind="stable")]
    r_sorted = r_sel[np.argsort(row_owner[r_sel], kind="stable")]
    c_keys, c_first = np.unique(col_owner[c_sorted], return_index=True)
    r_keys, r_first = np.unique(row_owner[r_sorted], return_index=True)
    c_parts = dict(zip(c_keys.tolist(), np.split(c_sorted, c_first[1:]), strict=True))
    r_parts = dict(zip(r_keys.tolist(), np.split(r_sorted, r_first[1:]), strict=True))
    for v in np.asarray(vehicles).tolist():
        out[v] = Subproblem(cols=c_parts.get(v, np.zeros(0, np.int64)), rows=r_parts.get(v, np.zeros(0, np.int64)))
    return out


@dataclass
class LagrangeBound:
    """Outcome of :func:`lagrangian_bound`."""

    bound: float  # proven lower bound of the MILP [currency]
    raised: float  # bound - the LP bound [currency], >= 0
    solved: int  # vehicle subproblems solved to their gap
    unfinished: int  # subproblems stopped early (their dual bound used)
    vehicles: int  # vehicles whose LP plan broke a binary rule
    seconds: float
    plans: dict  # vehicle -> its subproblem's plan (``mm``'s columns ``Subproblem.cols``, values)


def lagrangian_bound(
    lp: MatrixModel,
    mm: MatrixModel,
    x_lp: np.ndarray,
    y_lp: np.ndarray,
    lower_lp: float,
    vehicles: np.ndarray,
    left,
    transfer,
    enough=None,
) -> LagrangeBound:
    """``L(y)`` at the LP's duals: the LP bound plus each listed vehicle's exact-minus-relaxed subproblem value.

    Parameters
    ----------
    lp, mm : MatrixModel
        The binary-free LP (hull rows included) and the MILP of the same scenario.
    x_lp : ndarray, shape (lp.n_cols,)
        The LP's optimal plan (``lp``'s layout).
    y_lp : ndarray, shape (<= lp.n_rows,)
        Its row duals (HiGHS's ``row_dual``: ``c - A^T y`` is the reduced cost); rows the
        LP did not hold (hull rows not added) get 0.
    lower_lp : float
        The LP's optimum [currency].
    vehicles : ndarray of bool, shape (n_vehicles,)
        Vehicles whose LP plan breaks a binary rule (only they can raise the bound).
    left : callable
        Seconds left; subproblems stop when it runs out (the bound stays valid).
    transfer : callable
        ``transfer(lp, mm, values)``: ``lp``-layout column values at ``mm``'s columns.
    enough : callable, optional
        ``enough(bound)``: True when ``bound`` already proves what is needed; the
        remaining subproblems are skipped (each would only raise it: skipping one
        adds 0 instead of its bracket >= 0, still a valid bound).

    Vehicles go in order of their LP plan's conflict (:func:`conflict_amount`, largest first);
    each subproblem runs at most :data:`SUB_MAX_S`, its dual bound counting if it does not finish.
    """
    t0 = time.monotonic()
    y = np.zeros(lp.n_rows)
    y[: len(y_lp)] = y_lp
    lp_col_own, lp_row_own = owners(lp)
    mm_col_own, mm_row_own = owners(mm)
    red_lp = priced_cost(lp, lp_row_own, y)
    # the LP block's value at its LP plan, per vehicle: (c - A^T y)^T x*_k
    veh = lp_col_own >= 0
    n_veh = len(vehicles)
    lp_value = np.zeros(n_veh)
    np.add.at(lp_value, lp_col_own[veh], red_lp[veh] * x_lp[veh])
    red_mm = transfer(lp, mm, red_lp)
    # columns of the MILP the LP lacks (its binaries) are not priced: their own cost
    unmapped = transfer(lp, mm, np.ones(lp.n_cols)) == 0
    red_mm[unmapped] = mm.cost[unmapped]
    todo = np.flatnonzero(vehicles)
    # largest conflict first: the vehicles that burn most energy in the LP raise the bound most
    todo = todo[np.argsort(-conflict_amount(mm, transfer(lp, mm, x_lp), n_veh)[todo], kind="stable")]
    subs = subproblems(mm, mm_col_own, mm_row_own, todo)
    raised, solved, unfinished, plans = 0.0, 0, 0, {}
    for v in todo.tolist():
        if left() <= 0.02 or (enough is not None and enough(lower_lp + raised)):
            break
        sub = subs[v]
        h = new_highs()
        for key, val in SUB_OPTIONS.items():
            h.setOptionValue(key, val)
        h.passModel(subproblem_lp(mm, sub, red_mm, integral=True))
        run_until(h, max(0.01, min(left(), SUB_MAX_S)))
        st = h.getModelStatus()
        info = h.getInfo()
        if st == highspy.HighsModelStatus.kInfeasible:
            # the vehicle cannot keep its own rows: the MILP is infeasible (its LP plan met the relaxed ones)
            return LagrangeBound(math.inf, math.inf, solved, unfinished, len(todo), time.monotonic() - t0, plans)
        solved += st == highspy.HighsModelStatus.kOptimal
        unfinished += st != highspy.HighsModelStatus.kOptimal
        if sub_has_binaries(mm, sub):
            dual = info.mip_dual_bound
        else:  # an LP (HiGHS keeps no MIP bound for it): its optimum
            dual = info.objective_function_value if st == highspy.HighsModelStatus.kOptimal else -math.inf
        if not math.isfinite(dual):
            continue
        # the exact bracket is >= 0 (X_k lies in P_k, where the LP plan is optimal); a subproblem cut
        # short may prove less than its LP value (its root relaxation is the big-M one): then 0
        raised += max(0.0, dual - lp_value[v])
        if info.primal_solution_status == 2:
            plans[v] = (sub.cols, np.array(h.getSolution().col_value))
    return LagrangeBound(lower_lp + raised, raised, solved, unfinished, len(todo), time.monotonic() - t0, plans)


#: Share of the time left that the Lagrangian stage of the fast path may take (the neighbourhood gets the rest).
LAGRANGE_SHARE = 0.5


def lagrange_stage(lp, mm, root, conflicts, upper, target, left, stop_at, transfer) -> LagrangeBound | None:
    """The fast path's stage 3b: :func:`lagrangian_bound` at the root LP's duals, until ``upper`` is proven.

    ``root`` is (LP plan, row duals, LP optimum) of the binary-free LP as first solved;
    ``conflicts`` the vehicles whose LP plan breaks a binary rule; ``stop_at`` the
    ``time.monotonic()`` instant the stage ends by. None when no vehicle conflicts.
    """
    from .solve import relative_gap

    if not conflicts.any():
        return None
    x0, y0, lower_lp = root
    return lagrangian_bound(
        lp,
        mm,
        x0,
        y0,
        lower_lp,
        conflicts,
        lambda: min(left(), stop_at - time.monotonic()),
        transfer,
        enough=lambda b: relative_gap(upper, b) <= target,
    )
