"""Sites on one network: their plans coupled by linear network rows, solved centrally.

Each site is a gridopt scenario attached to a bus. Its **net load** at the bus
per step is what its meter draws::

    p[s, t] = imp[s, t] - exp[s, t]          [kW]   (= base - pv_used + sum c - sum d)

The network enters as linear rows on the net load per bus (a linearised power
flow at an operating point, :class:`NetworkRows`)::

    lo[t, k] <= sum_b coef[k, b] * P[b, t] <= hi[t, k]        P[b, t] = sum of p[s, t] over the sites at b

with ``k`` a transformer or line loading [%] or a bus voltage [pu], the
operating point's value already taken off both limits. Rows that no plan can
reach are screened out exactly (:func:`screen_rows`, from each site's range of
net load per step), so the coupled program is the sites' programs plus only the
rows that can bind.

One model, two forms: the stacked matrices (each site's
:func:`gridopt.optimizer.matrix.build_matrix`, block-diagonal, plus the network
rows; :func:`solve_central`) and the Pyomo model (one block per site from
:func:`gridopt.optimizer.model.build_model`, plus the network constraints;
:func:`build_feeder_model`). Their optima are equal (``tests/network/test_feeder_plan.py``).

Symbols: ``s`` site, ``b`` bus, ``t`` step, ``k`` network row (element or bus
limit); ``coef`` [% per kW or pu per kW].
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from ..check import check_schedule
from ..fleet import FleetPlan, build_fleet_plan
from ..optimizer.matrix import MatrixModel, build_matrix
from ..scenario import Scenario, SolverOptions, step_inputs

#: Rows whose reachable range stays this far inside a limit are left out [row unit].
SCREEN_TOL = 1e-9
#: A linear row counts as broken beyond this [row unit: % or pu].
ROW_TOL = 1e-6


@dataclass(frozen=True)
class NetworkRows:
    """Linear network limits on the net load per bus.

    Attributes
    ----------
    coef : ndarray, shape (K, B)
        Change of row ``k``'s quantity per kW of net load at bus ``b`` [% / kW or pu / kW].
    lo, hi : ndarray, shape (T, K)
        Limits on ``coef[k] @ P[:, t]`` (the operating point's value taken off; ``-inf``/``inf`` none).
    names : tuple of str, shape (K,)
        Element or bus name of each row.
    kinds : tuple of str, shape (K,)
        ``trafo``, ``line`` (quantity ``loading_percent``) or ``bus`` (``vm_pu``).
    bus_names : tuple of str, shape (B,)
        The buses of ``coef``'s columns.
    elements : tuple of str, shape (K,), optional
        The element (or bus) of each row.
    """

    coef: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    names: tuple
    kinds: tuple
    bus_names: tuple
    elements: tuple = ()  # (K,): the element or bus each row belongs to (for per-element margins)

    @property
    def n_rows(self) -> int:
        return self.coef.shape[0]

    def values(self, p_bus_kw: np.ndarray) -> np.ndarray:
        """``coef @ P`` per step, shape (T, K), for net loads ``p_bus_kw`` of shape (T, B) [kW]."""
        return p_bus_kw @ self.coef.T

    def excess(self, p_bus_kw: np.ndarray) -> np.ndarray:
        """How far each row is beyond its limits, shape (T, K) (0 where it holds)."""
        v = self.values(p_bus_kw)
        return np.maximum(0.0, np.maximum(v - self.hi, self.lo - v))


@dataclass
class Site:
    """A gridopt scenario at a bus.

    Attributes
    ----------
    name : str
    bus : int
        Column of :attr:`NetworkRows.coef`.
    scenario : Scenario
    plan : FleetPlan
        Built on first use.
    """

    name: str
    bus: int
    scenario: Scenario
    plan: FleetPlan | None = None
    _mm: MatrixModel | None = field(default=None, repr=False)

    def fleet_plan(self) -> FleetPlan:
        if self.plan is None:
            self.plan = build_fleet_plan(self.scenario)
        return self.plan

    def matrix(self) -> MatrixModel:
        """The site's MILP (:func:`build_matrix` with the mode binaries)."""
        if self._mm is None:
            self._mm = build_matrix(self.scenario, self.fleet_plan(), modes=True)
        return self._mm


def net_load_range(sc: Scenario, plan: FleetPlan) -> tuple[np.ndarray, np.ndarray]:
    """Least and most net load the site can draw per step [kW], shape (T,) each.

    ``base - pv - sum P_d`` (every plugged-in V2G vehicle discharging at full
    power, PV at full output) floored by the export limit, and ``base - pv_min +
    sum P_c`` capped by the import limit (``pv_min`` is 0 when PV is curtailable).
    Every plan lies inside; wider than the truth is safe (it only keeps rows).
    """
    T = sc.grid.n_steps
    veh = sc.vehicles.loc[plan.vehicle_ids]
    plugged = plan.plugged.astype(float)  # (V, T)
    pc = veh["max_charge_kw"].to_numpy(float) @ plugged
    pdis = veh["max_discharge_kw"].to_numpy(float) @ plugged
    base = sc.series["base_load_kw"].to_numpy(float)
    pv = sc.series["pv_kw"].to_numpy(float)
    pv_min = np.zeros(T) if sc.pv_curtailable else pv
    st = step_inputs(sc)
    hi = np.minimum(st.import_limit_kw, base - pv_min + pc)
    lo = np.maximum(-st.export_limit_kw, base - pv - pdis)
    return lo, np.maximum(lo, hi)


@dataclass(frozen=True)
class KeptRows:
    """The network rows (step, row) that some plan can break, with their limits.

    Arrays of shape (R,): ``t``, ``k``, ``lo``, ``hi`` (``-inf``/``inf`` where that side cannot bind).
    """

    t: np.ndarray
    k: np.ndarray
    lo: np.ndarray
    hi: np.ndarray

    def __len__(self) -> int:
        return len(self.t)


def site_coef(rows: NetworkRows, buses: np.ndarray) -> np.ndarray:
    """Row coefficients per site, shape (K, S)."""
    return rows.coef[:, np.asarray(buses, np.int64)]


def screen_rows(rows: NetworkRows, buses: np.ndarray, p_lo: np.ndarray, p_hi: np.ndarray) -> KeptRows:
    """The rows some plan can break: exact screening by each site's net-load range.

    Parameters
    ----------
    buses : ndarray of int, shape (S,)
    p_lo, p_hi : ndarray, shape (S, T)
        Range of each site's net load [kW] (:func:`net_load_range`).
    """
    a = site_coef(rows, buses)  # (K, S)
    ap, an = np.clip(a, 0, None), np.clip(a, None, 0)
    top = (p_hi.T @ ap.T) + (p_lo.T @ an.T)  # (T, K): most each row can reach
    bottom = (p_lo.T @ ap.T) + (p_hi.T @ an.T)
    up = top > rows.hi + SCREEN_TOL
    down = bottom < rows.lo - SCREEN_TOL
    t, k = np.nonzero(up | down)
    return KeptRows(
        t=t.astype(np.int64),
        k=k.astype(np.int64),
        lo=np.where(down[t, k], rows.lo[t, k], -np.inf),
        hi=np.where(up[t, k], rows.hi[t, k], np.inf),
    )


@dataclass
class Stacked:
    """The sites' MILPs side by side plus the kept network rows (``A`` in scipy CSR)."""

    cost: np.ndarray
    col_lb: np.ndarray
    col_ub: np.ndarray
    A: object
    row_lb: np.ndarray
    row_ub: np.ndarray
    binary: np.ndarray
    col_off: np.ndarray  # first column of each site, shape (S + 1,)
    n_site_rows: int
    kept: KeptRows


def stack(sites: list[Site], rows: NetworkRows, kept: KeptRows) -> Stacked:
    """Block-diagonal sites' matrices plus the network rows ``lo <= sum_s a[k, s] (imp - exp)[s, t] <= hi``."""
    import scipy.sparse as sp

    mms = [s.matrix() for s in sites]
    blocks = [sp.csr_matrix((m.a_value, m.a_index, m.a_start), shape=(m.n_rows, m.n_cols)) for m in mms]
    col_off = np.concatenate([[0], np.cumsum([m.n_cols for m in mms])]).astype(np.int64)
    a = site_coef(rows, np.array([s.bus for s in sites]))  # (K, S)
    r_i, c_i, v_i = [], [], []
    R = len(kept)
    for j, m in enumerate(mms):
        coef = a[kept.k, j]
        on = np.flatnonzero(coef != 0)
        r_i += [on, on]
        c_i += [col_off[j] + m.col_imp[kept.t[on]], col_off[j] + m.col_exp[kept.t[on]]]
        v_i += [coef[on], -coef[on]]
    net = sp.csr_matrix(
        (np.concatenate(v_i) if v_i else [], (np.concatenate(r_i) if r_i else [], np.concatenate(c_i) if c_i else [])),
        shape=(R, int(col_off[-1])),
    )
    A = sp.vstack([sp.block_diag(blocks, format="csr"), net], format="csr")
    return Stacked(
        cost=np.concatenate([m.cost for m in mms]),
        col_lb=np.concatenate([m.col_lb for m in mms]),
        col_ub=np.concatenate([m.col_ub for m in mms]),
        A=A,
        row_lb=np.concatenate([m.row_lb for m in mms] + [kept.lo]),
        row_ub=np.concatenate([m.row_ub for m in mms] + [kept.hi]),
        binary=np.concatenate([col_off[j] + m.binary for j, m in enumerate(mms)]).astype(np.int64),
        col_off=col_off,
        n_site_rows=sum(m.n_rows for m in mms),
        kept=kept,
    )


@dataclass(frozen=True)
class HighsOutcome:
    """One HiGHS solve: plan ``x`` (None without one), cost, proven bound, status and row duals."""

    x: np.ndarray | None
    objective: float
    bound: float
    status: str
    seconds: float
    row_dual: np.ndarray | None = None


def solve_highs(
    cost, col_lb, col_ub, A, row_lb, row_ub, binary=(), *, time_limit_s: float = 60.0, mip_rel_gap: float = 1e-4
) -> HighsOutcome:
    """Solve ``min cost @ x`` s.t. ``row_lb <= A x <= row_ub``, bounds, ``x[binary]`` in {0, 1}, with HiGHS.

    ``A`` is a scipy sparse matrix. The gap is gridopt's (``(cost - bound) / max(|bound|, 1)``,
    see :func:`gridopt.optimizer.solve.solve`).
    """
    import highspy
    import scipy.sparse as sp

    from ..optimizer.highs import new_highs, run_until

    t0 = time.monotonic()
    A = sp.csr_matrix(A)
    inf = highspy.kHighsInf

    def f(v):
        v = np.asarray(v, float)
        return np.where(v == np.inf, inf, np.where(v == -np.inf, -inf, v))

    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = A.shape[1], A.shape[0]
    lp.col_cost_ = np.asarray(cost, float)
    lp.col_lower_, lp.col_upper_ = f(col_lb), f(col_ub)
    lp.row_lower_, lp.row_upper_ = f(row_lb), f(row_ub)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.start_ = A.indptr.astype(np.int32)
    lp.a_matrix_.index_ = A.indices.astype(np.int32)
    lp.a_matrix_.value_ = A.data.astype(float)
    binary = np.asarray(binary, np.int64)
    if len(binary):
        integ = np.full(A.shape[1], highspy.HighsVarType.kContinuous)
        integ[binary] = highspy.HighsVarType.kInteger
        lp.integrality_ = list(integ)
    h = new_highs()
    h.passModel(lp)
    g = float(mip_rel_gap)
    h.setOptionValue("mip_rel_gap", g / (1.0 + g))
    h.setOptionValue("mip_abs_gap", g)
    run_until(h, time_limit_s)
    st = h.getModelStatus()
    info = h.getInfo()
    has = info.primal_solution_status == 2  # kSolutionStatusFeasible
    x = np.array(h.getSolution().col_value) if has else None
    obj = float(info.objective_function_value) if has else math.nan
    if len(binary):
        bound = float(info.mip_dual_bound) if has or st == highspy.HighsModelStatus.kOptimal else math.nan
        duals = None
    else:
        bound = obj if st == highspy.HighsModelStatus.kOptimal else math.nan
        duals = np.array(h.getSolution().row_dual) if st == highspy.HighsModelStatus.kOptimal else None
    status = {
        highspy.HighsModelStatus.kOptimal: "optimal",
        highspy.HighsModelStatus.kInfeasible: "infeasible",
        highspy.HighsModelStatus.kTimeLimit: "time_limit",
    }.get(st, h.modelStatusToString(st))
    if status == "time_limit" and x is None:
        status = "no_solution"
    return HighsOutcome(x, obj, bound, status, time.monotonic() - t0, duals)


@dataclass
class FeederPlan:
    """The sites' plans on the network.

    Attributes
    ----------
    values : list of ndarray
        Each site's column values in its :meth:`Site.matrix` layout.
    net_kw : ndarray, shape (S, T)
        Each site's net load [kW].
    site_cost : ndarray, shape (S,)
        Each site's objective (:func:`build_matrix`'s cost) [currency].
    objective, bound : float
        Total cost and a proven lower bound on the coupled optimum [currency].
    status : str
    seconds : float
    info : dict
        Method details (rows kept, iterations, residuals).
    """

    values: list
    net_kw: np.ndarray
    site_cost: np.ndarray
    objective: float
    bound: float
    status: str
    seconds: float
    info: dict = field(default_factory=dict)

    @property
    def gap(self) -> float:
        from ..optimizer.solve import relative_gap

        return relative_gap(self.objective, self.bound)


def site_net_kw(mm: MatrixModel, x: np.ndarray) -> np.ndarray:
    """Net load ``imp - exp`` of a site's plan [kW], shape (T,)."""
    return x[mm.col_imp] - x[mm.col_exp]


def bus_load_kw(sites: list[Site], net_kw: np.ndarray, n_buses: int) -> np.ndarray:
    """Net load per bus, shape (T, B) [kW], from each site's ``net_kw`` (S, T)."""
    T = net_kw.shape[1] if net_kw.ndim == 2 else 0
    out = np.zeros((T, n_buses))
    for s, p in zip(sites, net_kw, strict=True):
        out[:, s.bus] += p
    return out


def ranges(sites: list[Site]) -> tuple[np.ndarray, np.ndarray]:
    """Each site's least and most net load per step, shape (S, T) each [kW]."""
    lo, hi = zip(*(net_load_range(s.scenario, s.fleet_plan()) for s in sites), strict=True)
    return np.array(lo), np.array(hi)


def solve_central(sites: list[Site], rows: NetworkRows, options: SolverOptions | None = None) -> FeederPlan:
    """The coupled MILP solved as one program (HiGHS branch and bound on the stacked matrices).

    Raises
    ------
    InfeasibleError
        No plan of the sites keeps the network rows.
    SolverError
        HiGHS stopped without a plan.
    """
    from ..errors import InfeasibleError, SolverError

    options = options or SolverOptions()
    t0 = time.monotonic()
    p_lo, p_hi = ranges(sites)
    kept = screen_rows(rows, np.array([s.bus for s in sites]), p_lo, p_hi)
    stk = stack(sites, rows, kept)
    out = solve_highs(
        stk.cost,
        stk.col_lb,
        stk.col_ub,
        stk.A,
        stk.row_lb,
        stk.row_ub,
        stk.binary,
        time_limit_s=float(options.time_limit_s),
        mip_rel_gap=float(options.mip_rel_gap),
    )
    if out.status == "infeasible":
        raise InfeasibleError(
            f"no plan of the {len(sites)} sites keeps the network's limits ({len(kept)} rows can bind); "
            "the sites' fixed loads alone may break them"
        )
    if out.x is None:
        raise SolverError(f"the feeder's solve stopped ({out.status}) after {out.seconds:.1f} s without a plan")
    values = [out.x[stk.col_off[j] : stk.col_off[j + 1]] for j in range(len(sites))]
    mms = [s.matrix() for s in sites]
    return FeederPlan(
        values=values,
        net_kw=np.array([site_net_kw(m, v) for m, v in zip(mms, values, strict=True)]),
        site_cost=np.array([float(m.cost @ v) for m, v in zip(mms, values, strict=True)]),
        objective=out.objective,
        bound=out.bound,
        status="optimal" if out.status == "optimal" else out.status,
        seconds=time.monotonic() - t0,
        info={"method": "central", "rows_kept": len(kept), "columns": int(stk.A.shape[1]), "binaries": len(stk.binary)},
    )


def solve_alone(site: Site, options: SolverOptions | None = None) -> tuple[np.ndarray, float, float]:
    """One site on its own (no network rows): values, cost and proven bound (HiGHS on its MILP)."""
    import scipy.sparse as sp

    options = options or SolverOptions()
    m = site.matrix()
    A = sp.csr_matrix((m.a_value, m.a_index, m.a_start), shape=(m.n_rows, m.n_cols))
    out = solve_highs(
        m.cost,
        m.col_lb,
        m.col_ub,
        A,
        m.row_lb,
        m.row_ub,
        m.binary,
        time_limit_s=float(options.time_limit_s),
        mip_rel_gap=float(options.mip_rel_gap),
    )
    if out.x is None:
        from ..errors import SolverError

        raise SolverError(f"site {site.name}: the solve stopped ({out.status}) without a plan")
    return out.x, out.objective, out.bound


def site_frames(site: Site, values: np.ndarray, check: bool = True):
    """Schedule, site and unmet tables of a site's plan, re-checked by :func:`gridopt.check.check_schedule`."""
    from ..optimizer.extract import frames
    from ..optimizer.fast import plan_arrays

    sc, plan = site.scenario, site.fleet_plan()
    schedule, table, unmet = frames(sc, plan, *plan_arrays(sc, plan, site.matrix(), values))
    if check:
        check_schedule(sc, schedule, table, unmet)
    return schedule, table, unmet


def build_feeder_model(sites: list[Site], rows: NetworkRows):
    """The Pyomo form: one block per site (:func:`gridopt.optimizer.model.build_model`) plus the network rows.

    ``net[r]``: ``lo[r] <= sum_s a[k_r, s] (grid_import_kw[s, t_r] - grid_export_kw[s, t_r]) <= hi[r]``
    over the rows :func:`screen_rows` keeps; objective: the sum of the sites' objectives.

    Returns
    -------
    pyomo ConcreteModel
    """
    import pyomo.environ as pyo

    from ..optimizer.model import build_model

    top = pyo.ConcreteModel(name="feeder")
    blocks = []
    for j, s in enumerate(sites):
        m, _ = build_model(s.scenario, s.fleet_plan())
        m.objective.deactivate()
        top.add_component(f"site{j}", m)
        blocks.append(m)
    p_lo, p_hi = ranges(sites)
    kept = screen_rows(rows, np.array([s.bus for s in sites]), p_lo, p_hi)
    a = site_coef(rows, np.array([s.bus for s in sites]))
    top.R = pyo.RangeSet(0, len(kept) - 1) if len(kept) else pyo.Set(initialize=[])

    def net(top, r):
        t, k = int(kept.t[r]), int(kept.k[r])
        expr = sum(
            float(a[k, j]) * (b.grid_import_kw[t] - b.grid_export_kw[t]) for j, b in enumerate(blocks) if a[k, j] != 0
        )
        lo = None if math.isinf(kept.lo[r]) else float(kept.lo[r])
        hi = None if math.isinf(kept.hi[r]) else float(kept.hi[r])
        return (
            pyo.inequality(lo, expr, hi)
            if lo is not None and hi is not None
            else (expr >= lo if hi is None else expr <= hi)
        )

    top.net = pyo.Constraint(top.R, rule=net)
    top.objective = pyo.Objective(expr=sum(b.objective.expr for b in blocks), sense=pyo.minimize)
    return top, blocks


def rows_from_linear(lin) -> NetworkRows:
    """:class:`NetworkRows` of a :class:`gridopt.network.linear.LinearNetwork` (``G @ p[t] <= h[t]``).

    Columns are ``lin.ev_buses``; rows its voltage upper and lower limits and branch-end flows (kinds
    ``bus`` and the element's ``trafo``/``line``), all as upper limits (``lo = -inf``).
    """
    G, h, meta = lin.inequalities()
    kind_of = dict(zip(lin.flows.element, lin.flows.kind, strict=True))
    kinds = tuple("bus" if k != "flow" else kind_of[n] for k, n in zip(meta.kind, meta.name, strict=True))
    names = tuple(
        f"{n} ({k})" if k != "flow" else f"{n} ({e})" for k, n, e in zip(meta.kind, meta.name, meta.end, strict=True)
    )
    return NetworkRows(
        coef=np.asarray(G, float),
        lo=np.full(h.shape, -np.inf),
        hi=np.asarray(h, float),
        names=names,
        kinds=kinds,
        bus_names=tuple(lin.ev_buses),
        elements=tuple(meta.name),
    )


def relax_unreachable(rows: NetworkRows, buses: np.ndarray, p_lo: np.ndarray, p_hi: np.ndarray):
    """Rows no plan can keep (broken at the sites' least-violating net load) relaxed to that least value.

    Returns the relaxed rows and a list of ``(row name, steps, worst excess)`` for the warnings: the
    network (its own loads and generators) breaks these limits whatever the sites do.
    """
    a = site_coef(rows, buses)
    ap, an = np.clip(a, 0, None), np.clip(a, None, 0)
    bottom = (p_lo.T @ ap.T) + (p_hi.T @ an.T)  # (T, K) least each row can be
    top = (p_hi.T @ ap.T) + (p_lo.T @ an.T)
    over = bottom > rows.hi + ROW_TOL
    under = top < rows.lo - ROW_TOL
    if not (over.any() or under.any()):
        return rows, []
    hi = np.where(over, bottom, rows.hi)
    lo = np.where(under, top, rows.lo)
    report = []
    for k in np.flatnonzero(over.any(axis=0) | under.any(axis=0)):
        ex = np.maximum(
            np.where(over[:, k], bottom[:, k] - rows.hi[:, k], 0), np.where(under[:, k], rows.lo[:, k] - top[:, k], 0)
        )
        report.append((rows.names[k], int((over[:, k] | under[:, k]).sum()), float(ex.max())))
    return NetworkRows(rows.coef, lo, hi, rows.names, rows.kinds, rows.bus_names, rows.elements), report
