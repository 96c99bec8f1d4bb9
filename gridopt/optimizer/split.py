"""Split a large site into K equal shares: a plan and a proven bound without the whole fleet's LP.

The fast path's LP (:mod:`gridopt.optimizer.fast`, stage 1) on 10,000 vehicles
needs about 131,600 dual simplex iterations, 20 s of CPU, whatever HiGHS's
options (``benchmarks/lp_options.py``). The vehicles are coupled only by the
site's rows (balance, limits, peak: the **coupling rows**); each vehicle's
own rows and columns form a block. :func:`split_solve` uses that:

1. **Shares.** The vehicles go round-robin into ``K`` groups. Group ``k``'s LP
   holds its vehicles' blocks and a copy of every coupling row and site column
   with the site's right-hand sides and column bounds divided by ``K`` (base
   load, PV, import and export limits). Every row is linear, so the **sum** of
   the ``K`` groups' plans keeps every row of the whole LP: ``sum_k A x_k`` lies
   in ``[lb, ub]`` when each lies in ``[lb/K, ub/K]``. The same holds for the
   repair: each group's plan gets its modes fixed (:func:`~gridopt.optimizer.fast.repair`)
   and its fixed-mode LP re-solved warm; the sum is a plan of the whole MILP
   (the mode binaries are per vehicle, and the vehicles are disjoint), checked
   against every row of the MILP: an **upper bound**.
2. **Bound.** For any multipliers ``y`` of the coupling rows (sign-feasible: ``y_i > 0``
   only where row ``i`` has a finite lower bound, ``y_i < 0`` only with a finite
   upper bound), the Lagrangian

   ``L(y) = sum_i (y_i > 0 ? y_i lb_i : y_i ub_i) + min_{x in X} (c - C^T y) x``

   is a lower bound of the LP and so of the MILP (weak duality), where ``X`` is
   every vehicle's own rows and every column's bounds. The minimum separates:
   each group's vehicles (an LP without coupling rows, solved by HiGHS) and
   each site column alone (``rc_j * lb_j`` if its reduced cost ``rc_j > 0``,
   ``rc_j * ub_j`` if ``rc_j < 0``; an infinite bound there leaves no bound).
   ``y`` is the mean of the ``K`` groups' duals of their coupling rows (each
   group's site is the whole site scaled down, so its prices are near the whole
   LP's). Any ``y`` gives a valid bound; a good one a tight bound.

On run.py's 10,000-vehicle day, 4 groups of 2,500: the plans' sum 0.04% above
the LP optimum, ``L`` 0.13% below it, 7.7 s of CPU against 20 s for the LP.
When the proven gap misses the scenario's target, the caller goes on with the
whole LP as before (the time spent here is lost). Not used with site-level
binaries (one-meter steps, charger assignment), whose sum over groups is no
binary.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import highspy
import numpy as np

from .highs import highs_inf, new_highs, run_until
from .lagrange import SITE_BLOCKS  # the site's column blocks (no vehicle's own)
from .matrix import MatrixModel

#: Fewest vehicles for which the fast path tries the split first (below, the whole LP is quick).
SPLIT_MIN_VEHICLES = 5_000
#: Vehicles per group: 2,500 proved 0.17% on run.py's 10,000-vehicle day (1,000: 0.30%, 500: 1.05%).
SPLIT_VEHICLES_PER_GROUP = 2_500
#: Smallest gap target for which the split is tried: its proven gap was 0.17-0.18% on run.py's
#: 10,000-vehicle day, so a tighter target would only pay for it and then solve the whole LP anyway.
SPLIT_MIN_GAP = 2e-3


@dataclass
class Blocks:
    """Which vehicle each column and row of an LP belongs to (-1: the site's)."""

    col_vehicle: np.ndarray  # per column: vehicle, or -1 for a site column
    row_vehicle: np.ndarray  # per row: vehicle, or -1 for a coupling row
    n_vehicles: int


def find_blocks(lp: MatrixModel, n_rows: int) -> Blocks:
    """The vehicle of each column and row of ``lp``'s first ``n_rows`` rows.

    Charge and discharge columns belong to their pair's vehicle; a row with no
    site column whose labelled columns all belong to one vehicle belongs to it,
    and so do its unlabelled columns (SoC, shortfall: repeated until nothing
    changes). Every other row is a coupling row; a column left unlabelled is
    treated as a site column.
    """
    nz = int(lp.a_start[n_rows])
    idx = lp.a_index[:nz]
    row_of = np.repeat(np.arange(n_rows), np.diff(lp.a_start[: n_rows + 1]))
    site, unknown = -2, -1
    lab = np.full(lp.n_cols, unknown, np.int64)
    lab[lp.col_c] = lp.pair_v
    hd = lp.col_d >= 0
    lab[lp.col_d[hd]] = lp.pair_v[hd]
    for name in SITE_BLOCKS:
        lab[np.asarray(getattr(lp, name), np.int64)] = site
    big = np.iinfo(np.int64).max
    while True:
        lv = lab[idx]
        has_site = np.bincount(row_of, weights=(lv == site), minlength=n_rows) > 0
        own = lv >= 0
        lo = np.full(n_rows, big)
        np.minimum.at(lo, row_of[own], lv[own])
        hi = np.full(n_rows, -1)
        np.maximum.at(hi, row_of[own], lv[own])
        single = ~has_site & (hi >= 0) & (lo == hi)
        fill = (lv == unknown) & single[row_of]
        if not fill.any():
            break
        lab[idx[fill]] = lo[row_of[fill]]
    has_unknown = np.bincount(row_of, weights=(lv == unknown), minlength=n_rows) > 0
    row_vehicle = np.where(single & ~has_unknown, lo, -1)
    col_vehicle = np.where(lab >= 0, lab, -1)
    n_veh = int(lp.pair_v.max()) + 1 if len(lp.pair_v) else 0
    return Blocks(col_vehicle, row_vehicle, n_veh)


def _sub_lp(lp, rows, cols, cost, col_lb, col_ub, row_lb, row_ub) -> highspy.HighsLp:
    """``lp``'s rows ``rows`` restricted to columns ``cols`` (entries of other columns dropped)."""
    local = np.full(lp.n_cols, -1, np.int64)
    local[cols] = np.arange(len(cols))
    starts = lp.a_start[rows]
    lens = lp.a_start[rows + 1] - starts
    pos = np.repeat(starts - np.concatenate([[0], np.cumsum(lens)[:-1]]), lens) + np.arange(int(lens.sum()))
    row_of = np.repeat(np.arange(len(rows)), lens)
    keep = local[lp.a_index[pos]] >= 0
    pos, row_of = pos[keep], row_of[keep]
    start = np.zeros(len(rows) + 1, np.int64)
    np.cumsum(np.bincount(row_of, minlength=len(rows)), out=start[1:])
    m = highspy.HighsLp()
    m.num_col_, m.num_row_ = len(cols), len(rows)
    m.col_cost_ = cost
    m.col_lower_, m.col_upper_ = highs_inf(col_lb), highs_inf(col_ub)
    m.row_lower_, m.row_upper_ = highs_inf(row_lb), highs_inf(row_ub)
    m.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    m.a_matrix_.start_ = start.astype(np.int32)
    m.a_matrix_.index_ = local[lp.a_index[pos]].astype(np.int32)
    m.a_matrix_.value_ = lp.a_value[pos]
    return m


def _solver(m: highspy.HighsLp, unscaled: bool) -> highspy.Highs:
    h = new_highs()
    if unscaled:
        h.setOptionValue("simplex_scale_strategy", 0)
    h.passModel(m)
    return h


def lagrangian_bound(
    lp: MatrixModel, blocks: Blocks, n_rows: int, y: np.ndarray, groups: list[np.ndarray], left, unscaled: bool = True
) -> float:
    """``L(y)``, a lower bound of ``lp`` (its first ``n_rows`` rows) for multipliers ``y`` of its coupling rows.

    Parameters
    ----------
    lp : MatrixModel
        The binary-free LP.
    blocks : Blocks
        Its vehicles' columns and rows (:func:`find_blocks`).
    y : numpy.ndarray
        One multiplier per coupling row (``blocks.row_vehicle < 0``, in row order) [currency per kW].
        Entries of the wrong sign for their row's bounds are taken as 0 (still a valid bound).
    groups : list of numpy.ndarray
        Vehicles solved together (any partition of the vehicles).
    left : callable
        Seconds left; a group LP not solved to optimality in time leaves no bound.

    Returns
    -------
    float
        ``L(y)`` [currency]; ``-inf`` when no bound follows (a site column with a reduced cost
        pointing at an infinite bound, or a group LP not solved to optimality).
    """
    coup = np.flatnonzero(blocks.row_vehicle[:n_rows] < 0)
    rl, ru = lp.row_lb[coup], lp.row_ub[coup]
    y = np.where(((y > 0) & ~np.isfinite(rl)) | ((y < 0) & ~np.isfinite(ru)), 0.0, y)
    const = float(np.sum(np.where(y > 0, y * np.where(np.isfinite(rl), rl, 0.0), 0.0)))
    const += float(np.sum(np.where(y < 0, y * np.where(np.isfinite(ru), ru, 0.0), 0.0)))
    # reduced costs c - C^T y
    y_row = np.zeros(n_rows)
    y_row[coup] = y
    nz = int(lp.a_start[n_rows])
    row_of = np.repeat(np.arange(n_rows), np.diff(lp.a_start[: n_rows + 1]))
    rc = lp.cost - np.bincount(lp.a_index[:nz], weights=lp.a_value[:nz] * y_row[row_of], minlength=lp.n_cols)
    site = np.flatnonzero(blocks.col_vehicle < 0)
    r, lo, hi = rc[site], lp.col_lb[site], lp.col_ub[site]
    if np.any((r > 0) & ~np.isfinite(lo)) or np.any((r < 0) & ~np.isfinite(hi)):
        return -math.inf
    total = const + float(np.sum(np.where(r > 0, r * np.where(np.isfinite(lo), lo, 0.0), 0.0)))
    total += float(np.sum(np.where(r < 0, r * np.where(np.isfinite(hi), hi, 0.0), 0.0)))
    vehicle_rows = np.flatnonzero(blocks.row_vehicle[:n_rows] >= 0)
    in_group = np.zeros(blocks.n_vehicles, bool)
    for g in groups:
        in_group[:] = False
        in_group[g] = True
        cols = np.flatnonzero((blocks.col_vehicle >= 0) & in_group[np.maximum(blocks.col_vehicle, 0)])
        rows = vehicle_rows[in_group[blocks.row_vehicle[vehicle_rows]]]
        m = _sub_lp(lp, rows, cols, rc[cols], lp.col_lb[cols], lp.col_ub[cols], lp.row_lb[rows], lp.row_ub[rows])
        h = _solver(m, unscaled)
        if left() <= 0.01:
            return -math.inf
        run_until(h, left())
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return -math.inf
        total += h.getInfo().objective_function_value
    return total


def _best_site(lp: MatrixModel, blocks: Blocks, n_rows: int, x: np.ndarray, left, unscaled: bool) -> bool:
    """Set ``x``'s site columns to the cheapest ones for its vehicle columns (in place); False if none found.

    An LP over the site columns only: the coupling rows that hold a site column, their bounds
    shifted by the vehicles' part of the row. Its optimum is at most the cost of ``x``'s own site
    columns (they are feasible for it).
    """
    site = np.flatnonzero(blocks.col_vehicle < 0)
    coup = np.flatnonzero(blocks.row_vehicle[:n_rows] < 0)
    nz = int(lp.a_start[n_rows])
    row_of = np.repeat(np.arange(n_rows), np.diff(lp.a_start[: n_rows + 1]))
    is_site = blocks.col_vehicle[lp.a_index[:nz]] < 0
    vehicle_part = np.bincount(
        row_of[~is_site], weights=lp.a_value[:nz][~is_site] * x[lp.a_index[:nz][~is_site]], minlength=n_rows
    )
    with_site = np.zeros(n_rows, bool)
    with_site[row_of[is_site]] = True
    rows = coup[with_site[coup]]
    m = _sub_lp(
        lp, rows, site, lp.cost[site], lp.col_lb[site], lp.col_ub[site],
        lp.row_lb[rows] - vehicle_part[rows], lp.row_ub[rows] - vehicle_part[rows],
    )  # fmt: skip
    h = _solver(m, unscaled)
    if left() <= 0.01:
        return False
    run_until(h, left())
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return False
    x[site] = np.array(h.getSolution().col_value)
    return True


@dataclass
class SplitResult:
    """Outcome of :func:`split_solve`."""

    plan: np.ndarray | None  # a plan of the MILP in its layout (binaries set), checked; None if none
    upper: float  # its cost [currency] (inf without a plan)
    lower: float  # L(y), a proven lower bound [currency] (-inf without one)
    stages: dict = field(default_factory=dict)


def split_solve(lp: MatrixModel, mm: MatrixModel, n_groups: int, left, unscaled: bool = True) -> SplitResult:
    """A plan of the MILP ``mm`` from ``n_groups`` site shares, and ``L(y)`` at the shares' mean duals.

    Parameters
    ----------
    lp, mm : MatrixModel
        The binary-free LP (its hull rows left out) and the MILP of the same scenario.
    n_groups : int
        ``K``, the number of shares (vehicles round-robin in plan order).
    left : callable
        Seconds left until the caller's deadline.
    unscaled : bool
        Solve without HiGHS's scaling.

    Returns
    -------
    SplitResult
        ``stages`` holds ``split_groups``, ``split_lp_cost`` (the sum of the shares' LP optima),
        ``split_seconds`` and ``split_bound_seconds``.
    """
    from .fast import fixed_mode_bounds, repair, transfer  # fast imports this module
    from .greedy import FEAS_TOL, max_violation

    t0 = time.monotonic()
    n_rows = lp.n_rows - lp.n_hull_rows
    blocks = find_blocks(lp, n_rows)
    out = SplitResult(None, math.inf, -math.inf, {"split_groups": int(n_groups)})
    coup = np.flatnonzero(blocks.row_vehicle[:n_rows] < 0)
    site = np.flatnonzero(blocks.col_vehicle < 0)
    vehicle_rows = np.flatnonzero(blocks.row_vehicle[:n_rows] >= 0)
    groups = [np.arange(k, blocks.n_vehicles, n_groups) for k in range(n_groups)]
    share = 1.0 / n_groups
    solvers, group_cols, duals = [], [], []
    x_sum = np.zeros(lp.n_cols)
    lp_cost = 0.0
    in_group = np.zeros(blocks.n_vehicles, bool)
    for g in groups:
        in_group[:] = False
        in_group[g] = True
        own = np.flatnonzero((blocks.col_vehicle >= 0) & in_group[np.maximum(blocks.col_vehicle, 0)])
        cols = np.concatenate([own, site])
        rows = np.concatenate([vehicle_rows[in_group[blocks.row_vehicle[vehicle_rows]]], coup])
        lb, ub = lp.col_lb[cols].copy(), lp.col_ub[cols].copy()
        lb[len(own) :] *= share
        ub[len(own) :] *= share
        rlb, rub = lp.row_lb[rows].copy(), lp.row_ub[rows].copy()
        first = len(rows) - len(coup)  # the coupling rows come last
        rlb[first:] *= share
        rub[first:] *= share
        h = _solver(_sub_lp(lp, rows, cols, lp.cost[cols], lb, ub, rlb, rub), unscaled)
        if left() <= 0.01:
            return out
        run_until(h, left())
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            out.stages["split_status"] = h.modelStatusToString(h.getModelStatus())
            return out
        sol = h.getSolution()
        x_sum[cols] += np.array(sol.col_value)
        lp_cost += h.getInfo().objective_function_value
        duals.append(np.array(sol.row_dual)[first:])
        solvers.append(h)
        group_cols.append(cols)
    out.stages["split_lp_cost"] = lp_cost
    # repair each share: modes from its plan (the sum's vehicles are disjoint), fixed-mode bounds, warm re-solve
    x = transfer(lp, mm, x_sum)
    modes = repair(mm, x, round_up=True)
    changed, new_lb, new_ub = fixed_mode_bounds(lp, mm, modes)
    lb_all, ub_all = lp.col_lb.copy(), lp.col_ub.copy()
    lb_all[changed], ub_all[changed] = new_lb, new_ub
    repaired = np.zeros(lp.n_cols)
    for h, cols in zip(solvers, group_cols, strict=True):
        own = cols[: len(cols) - len(site)]
        diff = np.flatnonzero((lb_all[own] != lp.col_lb[own]) | (ub_all[own] != lp.col_ub[own]))
        h.changeColsBounds(len(diff), diff.astype(np.int32), highs_inf(lb_all[own[diff]]), highs_inf(ub_all[own[diff]]))
        if left() <= 0.01:
            return out
        run_until(h, left())
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            out.stages["split_status"] = "repair: " + h.modelStatusToString(h.getModelStatus())
            return out
        repaired[cols] += np.array(h.getSolution().col_value)
    del solvers
    # the site's columns re-optimised for the summed vehicle plans: one share may import while
    # another exports, and the shares' peaks add up; the whole site nets them
    if not _best_site(lp, blocks, n_rows, repaired, left, unscaled):
        out.stages["split_status"] = "no site plan for the summed vehicle plans"
        return out
    plan = transfer(lp, mm, repaired)
    plan[mm.binary] = modes.binaries(mm)
    violation = max_violation(mm, plan)
    out.stages["split_seconds"] = time.monotonic() - t0
    if violation <= FEAS_TOL:
        out.plan, out.upper = plan, float(mm.cost @ plan)
    else:  # not expected: the sum of the shares' plans keeps every row
        out.stages["split_status"] = f"plan violates a row of the MILP by {violation:.2e}"
    # the bound at the shares' mean duals
    t1 = time.monotonic()
    y = np.mean(duals, axis=0) if duals else np.zeros(0)
    out.lower = lagrangian_bound(lp, blocks, n_rows, y, groups, left, unscaled)
    out.stages["split_bound_seconds"] = time.monotonic() - t1
    return out


def split_first(
    lp: MatrixModel, mm: MatrixModel, left, unscaled: bool = True, gap: float = SPLIT_MIN_GAP
) -> SplitResult | None:
    """:func:`split_solve` with ``ceil(vehicles / SPLIT_VEHICLES_PER_GROUP)`` shares, where it applies.

    It applies to at least :data:`SPLIT_MIN_VEHICLES` vehicles, no site-level binaries
    (one-meter steps, charger assignment) and a gap target ``gap`` of at least
    :data:`SPLIT_MIN_GAP`; None elsewhere.
    """
    n_veh = int(mm.pair_v.max()) + 1 if len(mm.pair_v) else 0
    if n_veh < SPLIT_MIN_VEHICLES or gap < SPLIT_MIN_GAP or len(mm.col_z) or mm.charger_block is not None:
        return None
    n_groups = math.ceil(n_veh / SPLIT_VEHICLES_PER_GROUP)
    if n_groups < 2:
        return None
    return split_solve(lp, mm, n_groups, left, unscaled)
