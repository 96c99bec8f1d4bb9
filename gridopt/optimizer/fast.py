"""The fast path: LP relaxation, repair, proven gap; branch and bound only when needed.

0. **Greedy**: a feasible plan without a solver (:mod:`gridopt.optimizer.greedy`),
   checked against every row of the MILP. It is what comes back when the steps
   below do not finish before the deadline.
1. Solve the LP without the mode binaries and the rows that use them
   (:func:`~gridopt.optimizer.matrix.build_matrix` with ``modes=False``), but
   with the convex hull of each step's modes (``hull=True``:
   ``c/P_c + d/P_d <= 1`` per V2G vehicle and step, ``imp/M + exp/X <= 1`` per
   one-meter step; :func:`~gridopt.optimizer.matrix.add_mode_hull_rows`). It
   relaxes the MILP, so its optimum is a valid **lower bound**; and it solves in
   a fraction of the time of the big-M rows' LP relaxation. Without the hull
   rows the LP charged and discharged V2G vehicles at full power in one step to
   burn energy at negative prices (0.2-0.4% below the optimum on the hard
   family, ``benchmarks/hard.py``); with them the bound is within 0.1%. When export
   pays more than import costs (by price or an export request's payment) and
   the LP imports and exports at once at such a one-meter step (a loose bound:
   no LP can price a one-way meter there), :func:`branch_on_meters` branches on
   those steps' direction by warm re-solves of the same LP, within a share of
   the time; its lowest open node is the bound, its best node's plan goes to
   the repair.
2. **Repair**: fix every binary of the MILP from that LP's plan: the net
   direction per vehicle and step (charge where it charges more than it
   discharges), the minimum power rounded up (a step that charges anything
   charges at least ``min_charge_kw``), the meter's direction; then solve the
   MILP with the binaries fixed, an LP. Its optimum is a feasible plan, an
   **upper bound**. If rounding up makes it infeasible, round down instead. With charger
   assignment (:mod:`gridopt.optimizer.circuit`) the LP's relaxed assignment is rounded first
   (:func:`~gridopt.optimizer.circuit.round_assignment`), fixed and re-solved, and the repaired
   plan is checked against every row of the MILP.
3. If ``(upper - lower) / max(|lower|, 1)`` meets the gap target, stop: the gap
   is proven.
3b. Otherwise, a **Lagrangian bound** (:mod:`gridopt.optimizer.lagrange`): the site rows
   priced by the LP's duals, the vehicles whose LP plan broke a binary rule solved exactly
   (largest conflict first) until the gap is proven or half the time left is spent.
4. Otherwise, **neighbourhood**: branch and bound over the binaries of the
   vehicles whose LP plan broke a binary rule, all others fixed as repaired,
   started from the repaired plan.
5. Otherwise branch and bound on the whole MILP, started from the best plan,
   within the time left; its bound is kept if better than the LP's.

Every step runs until a deadline (:func:`solve_fast`'s ``deadline``), enforced
by HiGHS and, from outside, by a watchdog that interrupts the solve shortly
after it (HiGHS can overshoot in presolve or the root). At the deadline the
best plan so far comes back with status ``time_limit`` and the gap against the
best proven bound: the LP's, or none (``nan``, gap ``inf``) if the LP did not
finish. ``method`` lists the steps that ran, ending in ``greedy`` when the
plan is the greedy one.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import highspy
import numpy as np

from ..fleet import FleetPlan
from ..scenario import Scenario, SolverOptions, step_inputs
from .circuit import round_assignment
from .greedy import FEAS_TOL, greedy_plan, max_violation
from .highs import highs_inf, highs_version, new_highs, run_until
from .lagrange import LAGRANGE_SHARE, lagrange_stage
from .local_repair import LOCAL_REPAIR_MIN_COLUMNS, repair_conflicts
from .matrix import MatrixModel, build_matrix, one_meter_steps, soc_after
from .solve import SolveReport, Status, relative_gap
from .split import split_first

#: A power below this is zero when reading the LP's plan [kW].
POWER_TOL = 1e-6
#: Largest model (columns) whose branch and bound gets our plan as a start (with presolve off).
START_MAX_COLUMNS = 50_000
#: The whole-model branch and bound (stage 5) on a large model is skipped when the time left is
#: below this many seconds per binary: HiGHS checks no interrupt while it separates cuts at the
#: root node, so a root that cannot finish overruns the time limit (measured: the hard family's
#: tight-export day at 1,000 vehicles, 43,631 binaries, was still at its root after 19 s; with
#: 12.6 s left the stage overran by 6.6 s on an idle machine, benchmarks/hard.py) and it cannot
#: improve the plan before its root is done.
MIP_ROOT_S_PER_BINARY = 1e-3
#: Models with fewer binaries always get stage 5 (their root is quick).
MIP_ROOT_MIN_BINARIES = 10_000


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
    h = new_highs()
    if threads:
        h.setOptionValue("threads", int(threads))
    return h


def highs_lp(mm: MatrixModel, n_rows: int, col_lb: np.ndarray, col_ub: np.ndarray) -> highspy.HighsLp:
    """``mm``'s first ``n_rows`` rows as a continuous HiGHS LP with column bounds ``col_lb``, ``col_ub``.

    Parameters
    ----------
    mm : MatrixModel
    n_rows : int
        Rows to pass (the first ones).
    col_lb, col_ub : numpy.ndarray, shape (mm.n_cols,)
        Column bounds [kW, kWh, ...]; infinities become HiGHS's.
    """
    nz = int(mm.a_start[n_rows])
    lp = highspy.HighsLp()
    lp.num_col_ = mm.n_cols
    lp.num_row_ = n_rows
    inf = highspy.kHighsInf
    lp.col_cost_ = mm.cost
    lp.col_lower_ = np.where(np.isinf(col_lb), -inf, col_lb)
    lp.col_upper_ = np.where(np.isinf(col_ub), inf, col_ub)
    lp.row_lower_ = np.where(np.isinf(mm.row_lb[:n_rows]), -inf, mm.row_lb[:n_rows])
    lp.row_upper_ = np.where(np.isinf(mm.row_ub[:n_rows]), inf, mm.row_ub[:n_rows])
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.start_ = mm.a_start[: n_rows + 1].astype(np.int32)
    lp.a_matrix_.index_ = mm.a_index[:nz]
    lp.a_matrix_.value_ = mm.a_value[:nz]
    return lp


def _pass(h: highspy.Highs, mm: MatrixModel, integral: bool, n_rows: int | None = None) -> None:
    """Pass ``mm`` to ``h``: its first ``n_rows`` rows (all by default)."""
    n_rows = mm.n_rows if n_rows is None else n_rows
    lp = highs_lp(mm, n_rows, mm.col_lb, mm.col_ub)
    if integral and len(mm.binary):
        integ = np.full(mm.n_cols, highspy.HighsVarType.kContinuous)
        integ[mm.binary] = highspy.HighsVarType.kInteger
        lp.integrality_ = list(integ)
    h.passModel(lp)


#: Largest ratio of the matrix's largest to smallest coefficient that HiGHS solves without scaling.
UNSCALED_MAX_RATIO = 1e6


def well_scaled(mm: MatrixModel) -> bool:
    """Whether ``mm``'s coefficients span at most :data:`UNSCALED_MAX_RATIO` (then the LP goes unscaled).

    Realistic models span about 1e3 (efficiencies times ``dt_h``, 1, ``1/P``), and HiGHS's scaling only
    slowed them down; but a ``discharge_efficiency`` of 1e-9 puts ``dt_h/eta_d = 2.5e8`` in a SoC row,
    and unscaled HiGHS then called a plan optimal whose SoC was 15 kWh off (and its bound invalid).
    """
    a = np.abs(mm.a_value[mm.a_value != 0])
    return not len(a) or float(a.max()) <= UNSCALED_MAX_RATIO * float(a.min())


def _run(h: highspy.Highs, seconds: float) -> None:
    """Run with HiGHS's own time limit and a watchdog that cancels a little after it."""
    run_until(h, seconds)


#: Column blocks of :class:`MatrixModel` without binaries, laid out alike with and without modes.
CONTINUOUS_BLOCKS = (
    "col_c",
    "col_e",
    "col_u",
    "col_imp",
    "col_exp",
    "col_pv",
    "col_peak",
    "col_gpk",
    "col_mean",
    "col_dev",
    "col_trk",
    "col_ren",
    "col_paid",
    "col_short",
    "col_sw",
    "col_cp",  # soft checkpoints' shortfalls (gridopt.optimizer.checkpoints)
    "col_chg",  # the charger block's (its binaries relaxed in the LP: gridopt.optimizer.circuit)
)


def transfer(src: MatrixModel, dst: MatrixModel, x: np.ndarray) -> np.ndarray:
    """Values of the continuous columns of ``src`` placed at ``dst``'s columns (binaries 0)."""
    out = np.zeros(dst.n_cols)
    for name in CONTINUOUS_BLOCKS:
        out[getattr(dst, name)] = x[getattr(src, name)]
    hd = dst.col_d >= 0
    out[dst.col_d[hd]] = x[src.col_d[hd]]
    return out


@dataclass
class Modes:
    """A fixed mode per vehicle and step (and per meter step) from a repair."""

    charge: np.ndarray  # bool per pair: charging mode (x = 1)
    discharge: np.ndarray  # bool per pair: discharging allowed (y = 1, or x = 0)
    export: np.ndarray  # bool per meter step: exporting (z = 1)

    def binaries(self, mm: MatrixModel) -> np.ndarray:
        """The 0/1 value of each of ``mm.binary``'s columns."""
        fixed = np.full(mm.n_cols, np.nan)
        hx, hy = mm.col_x >= 0, mm.col_y >= 0
        fixed[mm.col_x[hx]] = self.charge[hx]
        fixed[mm.col_y[hy]] = self.discharge[hy]
        fixed[mm.col_z] = self.export
        return fixed[mm.binary]


def repair(mm: MatrixModel, x: np.ndarray, round_up: bool = True) -> Modes:
    """Modes from a plan ``x`` in ``mm``'s layout.

    A step charges if it charges more than it discharges; with ``round_up`` any
    charge counts (the fixed LP then lifts it to ``min_charge_kw``), else only a
    charge of at least ``min_charge_kw``. Idle steps may charge where no minimum
    power would force it, and may discharge where the vehicle has no charging
    mode binary. The meter exports where the plan exports more than it imports.
    """
    c = x[mm.col_c]
    d = np.where(mm.col_d >= 0, x[np.maximum(mm.col_d, 0)], 0.0)
    pmin = mm.pmin_pair
    enough = (c >= pmin - POWER_TOL) if not round_up else np.ones(len(c), bool)
    charging = (c > POWER_TOL) & (c >= d) & enough
    discharging = (d > POWER_TOL) & (d > c)
    hx, hy = mm.col_x >= 0, mm.col_y >= 0
    idle = ~charging & ~discharging
    charge = charging | (idle & (pmin <= 0) & hx)
    # discharge allowed: y where it exists, else 1 - x where x exists, else always
    discharge = np.where(hy, discharging, np.where(hx, ~charge, True))
    export = x[mm.col_exp[mm.meter_steps]] > x[mm.col_imp[mm.meter_steps]]
    return Modes(charge=charge | ~hx, discharge=discharge, export=export)  # no x: charging always allowed


def fixed_mode_bounds(lp: MatrixModel, mm: MatrixModel, modes: Modes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Column bounds of the binary-free LP that make it the MILP with ``modes`` fixed.

    With the binaries fixed every mode row of the MILP becomes a bound: no charge
    outside charging mode, ``min_charge_kw`` in it; no discharge where it is not
    allowed; ``max_soc`` after a guarded charging step, ``min_soc`` after a
    guarded discharging step; no export (import) where the meter imports (exports).

    Returns (columns, lower, upper) for ``Highs.changeColsBounds``.
    """
    lb, ub = lp.col_lb.copy(), lp.col_ub.copy()
    hx = mm.col_x >= 0
    off = hx & ~modes.charge
    ub[lp.col_c[off]] = 0.0
    on_min = hx & modes.charge & (mm.pmin_pair > 0)
    lb[lp.col_c[on_min]] = mm.pmin_pair[on_min]
    hd = lp.col_d >= 0
    ub[lp.col_d[hd & ~modes.discharge]] = 0.0
    hi = mm.high_pair & modes.charge & hx
    ub[lp.col_e_after[hi]] = np.minimum(ub[lp.col_e_after[hi]], mm.U_pair[hi])
    lo = mm.low_pair & modes.discharge & hd
    lb[lp.col_e_after[lo]] = np.maximum(lb[lp.col_e_after[lo]], mm.L_pair[lo])
    ub[lp.col_imp[mm.meter_steps[modes.export]]] = 0.0
    ub[lp.col_exp[mm.meter_steps[~modes.export]]] = 0.0
    cols = np.flatnonzero((lb != lp.col_lb) | (ub != lp.col_ub))
    return cols, lb[cols], ub[cols]


def conflict_vehicles(mm: MatrixModel, x: np.ndarray, min_power: bool = True) -> np.ndarray:
    """Vehicles (bool per vehicle) whose LP plan breaks a binary rule somewhere.

    Conflicts: charging and discharging in one step, charging below
    ``min_charge_kw`` (unless ``min_power`` is False), discharging in a step
    where the site imports and exports at once (the one-meter rule).
    """
    c = x[mm.col_c]
    d = np.where(mm.col_d >= 0, x[np.maximum(mm.col_d, 0)], 0.0)
    bad = (c > POWER_TOL) & (d > POWER_TOL)
    if min_power:
        bad |= (c > POWER_TOL) & (c < mm.pmin_pair - POWER_TOL)
    both_ways = (x[mm.col_imp] > POWER_TOL) & (x[mm.col_exp] > POWER_TOL)
    bad |= both_ways[mm.pair_t] & (d > POWER_TOL)
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


@dataclass
class MeterBranching:
    """Outcome of :func:`branch_on_meters`."""

    bound: float  # proven lower bound of the MILP [currency]
    values: np.ndarray | None  # plan of the best node (lowest bound), in the LP's layout
    nodes: int  # LPs solved
    finished: bool  # True: ``bound`` is the optimum of the LP with one-way meters at ``steps``
    one_way: bool  # True: ``values`` uses no meter step both ways
    branched: int = 0  # meter steps branched on (the one-meter binaries the relaxation took in)


def _both_ways(lp: MatrixModel, x: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """How much plan ``x`` imports and exports at once at each of ``steps``: ``min(imp, exp)`` [kW]."""
    return np.minimum(x[lp.col_imp[steps]], x[lp.col_exp[steps]])


def branch_on_meters(h: highspy.Highs, lp: MatrixModel, steps: np.ndarray, left) -> MeterBranching:
    """Best-first branch and bound on the one-meter rule of ``steps`` only, by bounds on a solved LP.

    ``h`` holds the binary-free LP ``lp`` (a relaxation of the MILP), solved to
    optimality. Where its plan imports and exports at once at a one-meter step
    (the LP's cost there is the convex envelope of a concave one: the loose part
    of its bound on days when export pays more than import costs), branch: one
    child imports nothing there (``imp[t] <= 0``), the other exports nothing
    (``exp[t] <= 0``); both are relaxations of the MILP's plans in that mode, so
    the lowest open node is a proven bound at any time. Each node is a warm
    re-solve of ``h`` with changed column bounds (no new model: a MIP over the
    same few binaries spent its whole time share in HiGHS's root on the meter
    day, ``benchmarks/hard_results.md``). Stops when the lowest node meets the
    meter rule everywhere (its bound is then that of the LP with one-way meters:
    ``finished``) or when ``left()`` [s] runs out. ``h``'s bounds are restored.
    """
    import heapq

    cols = np.concatenate([lp.col_imp[steps], lp.col_exp[steps]]).astype(np.int32)
    lb0 = np.concatenate([lp.col_lb[lp.col_imp[steps]], lp.col_lb[lp.col_exp[steps]]])
    ub0 = highs_inf(np.concatenate([lp.col_ub[lp.col_imp[steps]], lp.col_ub[lp.col_exp[steps]]]))
    pos = {int(t): i for i, t in enumerate(steps)}
    n = len(steps)

    def solve(fix: dict) -> tuple[float, np.ndarray] | None:
        ub = ub0.copy()
        for t, export in fix.items():
            ub[pos[t] if export else n + pos[t]] = 0.0  # exporting: no import; importing: no export
        lb = np.minimum(lb0, ub)
        h.changeColsBounds(len(cols), cols, lb, ub)
        _run(h, left())
        st = h.getModelStatus()
        if st == highspy.HighsModelStatus.kInfeasible:
            return None
        if st != highspy.HighsModelStatus.kOptimal:
            raise TimeoutError
        return h.getInfo().objective_function_value, np.array(h.getSolution().col_value)

    x0 = np.array(h.getSolution().col_value)
    v0 = h.getInfo().objective_function_value
    heap = [(v0, 0, {}, x0)]
    count, nodes, branched = 1, 0, set()
    bound, values, finished, one_way = v0, x0, False, False
    try:
        while heap and left() > 0.05:
            val, _, fix, x = heap[0]
            bound, values = val, x
            amount = _both_ways(lp, x, steps)
            amount[[pos[t] for t in fix]] = 0.0
            if amount.max(initial=0.0) <= POWER_TOL:
                finished = one_way = True
                break
            heapq.heappop(heap)
            t = int(steps[int(np.argmax(amount))])
            branched.add(t)
            for export in (True, False):
                child = {**fix, t: export}
                out = solve(child)
                nodes += 1
                if out is not None:
                    heapq.heappush(heap, (out[0], count, child, out[1]))
                    count += 1
            if not heap:  # every mode infeasible: the MILP is infeasible
                bound, values, finished = math.inf, None, True
                break
    except TimeoutError:
        pass
    if heap and not finished:
        bound = min(bound, heap[0][0])
    h.changeColsBounds(len(cols), cols, lb0, ub0)
    return MeterBranching(bound, values, nodes, finished, one_way, len(branched))


def solve_fast(
    sc: Scenario, plan: FleetPlan, options: SolverOptions, deadline: float | None = None, objective=None
) -> FastSolution:
    """Best plan of ``sc`` by LP bound, repair and (if needed) branch and bound, with a proven gap.

    Parameters
    ----------
    deadline : float, optional
        ``time.monotonic()`` instant by which the solve must be over [s];
        ``options.time_limit_s`` from now when omitted. A greedy plan
        (:func:`~gridopt.optimizer.greedy.greedy_plan`) is made before the LP:
        when the LP or its repair does not finish in time, it is the plan that
        comes back (status ``time_limit``, with the LP's bound if the LP finished).
    objective : callable, optional
        ``objective(model)`` changes a :class:`MatrixModel` in place before it is
        solved, its ``cost`` and column bounds only (the same program with another
        linear objective, e.g. :func:`gridopt.grid.pareto.least_value`'s least
        emissions); applied to the LP and the MILP alike.
    """
    from .highs import note_stage

    t0 = time.monotonic()
    if deadline is None:
        deadline = t0 + float(options.time_limit_s)
    lp = build_matrix(sc, plan, modes=False, hull=True)
    mm = build_matrix(sc, plan, modes=True)
    for m in (lp, mm) if objective is not None else ():
        objective(m)
    build_s = time.monotonic() - t0
    target = options.mip_rel_gap
    stages: dict = {}
    t1 = time.monotonic()
    version = highs_version()

    def left() -> float:
        return deadline - time.monotonic()

    def report(status, obj, bound, method, term):
        return SolveReport(
            status=status,
            termination=term,
            objective=obj,
            lower_bound=bound,
            gap=relative_gap(obj, bound) if math.isfinite(obj) else math.inf,
            solve_seconds=time.monotonic() - t1,
            solver="highs",
            solver_version=version,
            method=method,
        )

    def done(values, rep):
        return FastSolution(values, mm, rep, build_s, len(mm.binary), mm.n_cols, mm.n_rows, stages)

    # 0. a feasible plan to fall back on, checked against every row of the MILP
    best = greedy_plan(sc, plan, mm)
    upper = float(mm.cost @ best) if best is not None else math.inf
    source = "greedy" if best is not None else None
    stages["greedy_seconds"] = time.monotonic() - t1
    stages["greedy_cost"] = upper if best is not None else None
    ran: list[str] = []

    def method() -> str:
        return "+".join(ran + (["greedy"] if source == "greedy" else [])) or "greedy"

    def out_of_time(bound: float, term: str) -> FastSolution:
        if best is None:
            return done(None, report(Status.NO_SOLUTION, math.nan, bound, method(), term))
        status = Status.OPTIMAL if relative_gap(upper, bound) <= target * (1 + 1e-9) else Status.TIME_LIMIT
        return done(best, report(status, upper, bound, method(), term))

    # 1a. a large site without site-level binaries, a gap target of 0.2% or more: K shares of it first
    #     (gridopt.optimizer.split), a plan and a bound without the whole LP; the whole LP if their gap misses
    split = split_first(lp, mm, left, well_scaled(lp), target)
    if split is not None:
        stages.update(split.stages)
        if split.plan is not None and split.upper < upper:
            best, upper, source = split.plan, split.upper, "split"
            ran.append("split")
        if best is not None and relative_gap(upper, split.lower) <= target:
            return done(best, report(Status.OPTIMAL, upper, split.lower, method(), "gap proven by the split's bound"))
    note_stage("lp", upper, -math.inf)  # the app's progress (gridopt.optimizer.highs.Watch)
    # 1. the LP bound (without scaling: the model is well scaled already, and HiGHS's
    #    scaling doubled the time of the same iterations on large fleets; benchmarks/)
    if best is not None and left() <= 0.01:
        return out_of_time(math.nan, "time limit before the LP")
    h = _highs()
    unscaled = well_scaled(lp)
    if unscaled:
        h.setOptionValue("simplex_scale_strategy", 0)
    _pass(h, lp, integral=False, n_rows=lp.n_rows - lp.n_hull_rows)
    _run(h, left())
    # the mode-hull rows only where they cut: if this LP charges and discharges a vehicle in one step
    # or imports and exports at a one-meter step, add them (warm re-solve); else they change nothing
    # and only slow the LP (10,000 vehicles on a normal day: a third more time)
    st_in = step_inputs(sc)
    meter_all = one_meter_steps(sc, st_in)
    if lp.n_hull_rows and h.getModelStatus() == highspy.HighsModelStatus.kOptimal and left() > 0.05:
        x0 = np.array(h.getSolution().col_value)
        both = (x0[lp.col_imp[meter_all]] > POWER_TOL) & (x0[lp.col_exp[meter_all]] > POWER_TOL)
        if np.any(conflict_vehicles(lp, x0, min_power=False)) or np.any(both):
            first = lp.n_rows - lp.n_hull_rows
            lo, nz = int(lp.a_start[first]), int(lp.a_start[-1])
            h.addRows(
                lp.n_hull_rows,
                highs_inf(lp.row_lb[first:]),
                highs_inf(lp.row_ub[first:]),
                nz - lo,
                (lp.a_start[first:-1] - lo).astype(np.int32),
                lp.a_index[lo:nz],
                lp.a_value[lo:nz],
            )
            stages["hull_rows"] = lp.n_hull_rows
            _run(h, left())
    integral, extra_bound = False, -math.inf
    st = h.getModelStatus()
    if st == highspy.HighsModelStatus.kInfeasible:
        # HiGHS's LP presolve has called feasible planning problems infeasible: confirm without it
        h.setOptionValue("presolve", "off")
        h.clearSolver()
        _run(h, left())
        st = h.getModelStatus()
        h.setOptionValue("presolve", "choose")
    stages["lp_seconds"] = time.monotonic() - t1 - stages["greedy_seconds"]
    if st == highspy.HighsModelStatus.kInfeasible:
        if best is not None:  # the greedy plan satisfies every row: HiGHS is wrong, keep the plan
            return out_of_time(math.nan, "LP reported infeasible, though the greedy plan is feasible")
        return done(None, report(Status.INFEASIBLE, math.nan, math.nan, "lp", "infeasible"))
    if st != highspy.HighsModelStatus.kOptimal:
        return out_of_time(math.nan, h.modelStatusToString(st))
    ran.append("lp")
    info = h.getInfo()
    lower = max(info.mip_dual_bound if integral else info.objective_function_value, extra_bound)
    x_lp = transfer(lp, mm, np.array(h.getSolution().col_value))
    root = (np.array(h.getSolution().col_value), np.array(h.getSolution().row_dual), lower)  # stage 3b's duals
    # one-meter steps (export pays more than import costs, by price or an export request's payment):
    # where the LP imports and exports at once its bound is loose (the hull row imp/M + exp/X <= 1 is
    # weak with a generous import limit); branch on those steps' direction, warm, within a share of the time
    x0 = np.array(h.getSolution().col_value)
    if len(meter_all) and np.any(_both_ways(lp, x0, meter_all) > POWER_TOL) and left() > 0.1:
        t_mb = time.monotonic()
        stop_at = t_mb + 0.6 * left()  # the rest for the repair (a warm re-solve) and what follows
        mb = branch_on_meters(h, lp, meter_all, lambda: min(left(), stop_at - time.monotonic()))
        stages.update(meter_nodes=mb.nodes, meter_finished=mb.finished, meter_seconds=time.monotonic() - t_mb)
        stages["lp_binaries"] = mb.branched
        if math.isfinite(mb.bound) and mb.bound > lower:
            lower = mb.bound
        if mb.values is not None:
            x_lp = transfer(lp, mm, mb.values)
    if not len(mm.binary):
        source = "lp"
        return done(x_lp, report(Status.OPTIMAL, lower, lower, "lp", "optimal"))
    # charger assignment (gridopt.optimizer.circuit): the LP relaxed its binaries (its bound stays
    # valid); round them to an assignment that fits the chargers, fix it and re-solve, so that the
    # repair below plans with it and with the minimum power of the chargers it assigned
    rmm, a_cols, a_fixed = mm, np.zeros(0, np.int64), None
    if mm.charger_block is not None and mm.charger_block.n_binaries and left() > 0.05:
        vals, pmin_a = round_assignment(mm.charger_block, x_lp[mm.col_chg], mm.pmin_pair, sc.grid.n_steps)
        bin_cols = np.flatnonzero(mm.charger_block.col_binary)
        a_cols, a_fixed = mm.col_chg[bin_cols], vals[bin_cols]
        h.changeColsBounds(len(bin_cols), lp.col_chg[bin_cols].astype(np.int32), a_fixed, a_fixed)
        _run(h, left())
        if h.getModelStatus() == highspy.HighsModelStatus.kOptimal:
            x_lp = transfer(lp, mm, np.array(h.getSolution().col_value))
        rmm = replace(mm, pmin_pair=pmin_a)
        stages["assignment_rounded"] = int(a_fixed.sum())

    note_stage("repair", upper, lower)
    # 2. repair: binaries fixed from the LP's plan; the fixed MILP is the LP with
    #    tighter bounds, re-solved warm from the LP's basis
    t2 = time.monotonic()
    changed = np.zeros(0, np.int64)
    term = "time limit"
    attempts = 0
    # a large model: first re-solve only the vehicles whose LP plan breaks a binary rule, the others
    # fixed at their LP plan (gridopt.optimizer.local_repair); the full repair below if not enough
    local_ok = False
    if mm.n_cols >= LOCAL_REPAIR_MIN_COLUMNS and a_fixed is None and left() > 0.05:
        attempts += 1
        plan_x, obj, local_stages = repair_conflicts(lp, mm, x_lp, left(), unscaled)
        stages.update(local_stages)
        if plan_x is not None and obj < upper:
            best, upper, source = plan_x, obj, "repair"
            local_ok = relative_gap(upper, lower) <= target
    for round_up in (True, False) if not local_ok else ():
        if left() <= 0.01:
            break
        attempts += 1
        modes = repair(rmm, x_lp, round_up=round_up)
        if len(changed):  # undo the previous attempt's bounds
            h.changeColsBounds(
                len(changed), changed.astype(np.int32), lp.col_lb[changed], highs_inf(lp.col_ub[changed])
            )
        changed, new_lb, new_ub = fixed_mode_bounds(lp, rmm, modes)
        h.changeColsBounds(len(changed), changed.astype(np.int32), new_lb, highs_inf(new_ub))
        _run(h, left())
        if h.getModelStatus() == highspy.HighsModelStatus.kOptimal:
            obj = h.getInfo().objective_function_value
            if obj < upper:
                plan_x = transfer(lp, mm, np.array(h.getSolution().col_value))
                plan_x[mm.binary] = modes.binaries(mm)
                plan_x[a_cols] = a_fixed if a_fixed is not None else plan_x[a_cols]
                # with an assignment, the MILP's rows are checked (its minimum-power rows are not the LP's)
                if a_fixed is None or max_violation(mm, plan_x) <= FEAS_TOL:
                    best, upper, source = plan_x, obj, "repair"
            if relative_gap(upper, lower) <= target:
                break
        else:
            term = h.modelStatusToString(h.getModelStatus())
    del h
    if attempts:
        ran.append("repair")
    stages["repair_seconds"] = time.monotonic() - t2
    stages["repair_gap"] = relative_gap(upper, lower)
    if best is not None and relative_gap(upper, lower) <= target:
        return done(best, report(Status.OPTIMAL, upper, lower, method(), "gap proven by the LP bound"))
    if left() <= 0.05:
        return out_of_time(lower, term)

    # 3b. a tighter bound: the site rows priced by the LP's duals, the vehicles the LP got wrong
    #     solved exactly (gridopt.optimizer.lagrange), until the gap is proven or its time share is spent
    if best is not None and left() > 0.2:
        lag_stop = time.monotonic() + LAGRANGE_SHARE * left()
        lag = lagrange_stage(lp, mm, root, conflict_vehicles(mm, x_lp), upper, target, left, lag_stop, transfer)
        if lag is not None:
            ran.append("lagrange")
            stages.update(lagrange_seconds=lag.seconds, lagrange_vehicles=lag.solved + lag.unfinished)
            stages["lagrange_raised"] = float(lag.raised)
            lower = max(lower, lag.bound)
            if relative_gap(upper, lower) <= target:
                return done(best, report(Status.OPTIMAL, upper, lower, method(), "gap proven by the Lagrangian bound"))
        if left() <= 0.05:
            return out_of_time(lower, term)

    # 4. neighbourhood: branch and bound over the vehicles the LP got wrong only
    free = conflict_vehicles(mm, x_lp)
    stages["conflict_vehicles"] = int(free.sum())
    if best is not None and 0 < free.sum() < len(free) and left() > 0.1:
        note_stage("neighbourhood", upper, lower)
        t3 = time.monotonic()
        hs = _mip(mm, target, best)
        fixed_cols = _binaries_of(mm, ~free)
        fixed_vals = best[fixed_cols]
        hs.changeColsBounds(len(fixed_cols), fixed_cols.astype(np.int32), fixed_vals, fixed_vals)
        # its own gap target: the LP bound is the one that counts
        hs.setOptionValue("mip_rel_gap", target / 4)
        stages["neighbourhood_budget_s"] = budget = min(left(), max(0.5 * left(), 1.0))
        _run(hs, budget)
        stages["neighbourhood_seconds"] = time.monotonic() - t3
        info = hs.getInfo()
        if info.primal_solution_status == 2 and info.objective_function_value < upper:
            best, upper, source = np.array(hs.getSolution().col_value), info.objective_function_value, "neighbourhood"
        del hs
        ran.append("neighbourhood")
        stages["neighbourhood_gap"] = relative_gap(upper, lower)
        if relative_gap(upper, lower) <= target:
            return done(best, report(Status.OPTIMAL, upper, lower, method(), "gap proven by the LP bound"))

    # 5. branch and bound on the whole model, started from the best plan
    if left() <= 0.05:
        return out_of_time(lower, "time limit")
    n_bin = len(mm.binary)
    if best is not None and n_bin >= MIP_ROOT_MIN_BINARIES and left() < MIP_ROOT_S_PER_BINARY * n_bin:
        stages["mip_skipped_s_left"] = left()  # its root node cannot finish (MIP_ROOT_S_PER_BINARY)
        return out_of_time(lower, "time limit (too little time left for branch and bound on the whole model)")
    t3 = time.monotonic()
    # HiGHS 1.15's MIP presolve can return a wrong optimum *and bound* when it is
    # given a start (tests/test_reference.py::test_negative_price_fills_the_import_limit_...):
    # a start goes with presolve off, which is cheap only for small models; large
    # ones get no start (our best plan is kept anyway if HiGHS finds nothing better).
    # with an assignment, presolve matters more than the start (no start then; the best plan is kept)
    small = mm.n_cols <= START_MAX_COLUMNS and a_fixed is None
    note_stage("mip", upper, lower)
    hm = _mip(mm, target, best if small else None)
    if small and best is not None:
        hm.setOptionValue("presolve", "off")
    _run(hm, left())
    ran.append("mip")
    stages["mip_seconds"] = time.monotonic() - t3
    info = hm.getInfo()
    st3 = hm.getModelStatus()
    if st3 == highspy.HighsModelStatus.kInfeasible and best is None:
        return done(None, report(Status.INFEASIBLE, math.nan, math.nan, method(), "infeasible"))
    believable = math.isfinite(info.mip_dual_bound) and st3 != highspy.HighsModelStatus.kInfeasible
    mip_bound = info.mip_dual_bound if believable else -math.inf
    bound = max(lower, mip_bound)
    if info.primal_solution_status == 2 and info.objective_function_value <= upper:
        best, upper, source = np.array(hm.getSolution().col_value), info.objective_function_value, "mip"
    return out_of_time(bound, hm.modelStatusToString(st3))


def plan_arrays(sc: Scenario, plan: FleetPlan, mm: MatrixModel, values: np.ndarray):
    """charge, discharge, soc_end (V, T), pv_used (T), shortfall and SoC at requirements (R)."""
    V, T = len(plan.vehicle_ids), sc.grid.n_steps
    charge = np.zeros((V, T))
    discharge = np.zeros((V, T))
    soc = np.full((V, T), np.nan)
    charge[mm.pair_v, mm.pair_t] = values[mm.col_c]
    hd = mm.col_d >= 0
    discharge[mm.pair_v[hd], mm.pair_t[hd]] = values[mm.col_d[hd]]
    soc[mm.pair_v, mm.pair_t] = soc_after(mm, values)
    return charge, discharge, soc, values[mm.col_pv], values[mm.col_u], values[mm.col_e_req]
