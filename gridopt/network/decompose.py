"""The coupled plan by Dantzig-Wolfe column generation: sites priced on Dask, a small master LP.

Sites are independent except for the network rows (:mod:`gridopt.network.plan`).
The coordinator keeps, for each site ``s``, the plans it has proposed (columns
``j``: cost ``c[s, j]`` [currency], net load ``p[s, j, t]`` [kW]) and solves the
**master LP** over their convex combinations::

    min  sum_{s,j} c[s,j] lam[s,j] + M sum_r (sig_up[r] + sig_dn[r])
    s.t. sum_j lam[s,j] = 1                                  (conv_s,  dual w[s])
         P[b,t] - sum_{s at b} sum_j p[s,j,t] lam[s,j] = 0   (bus_bt,  dual y[b,t])
         lo[r] <= sum_b coef[k_r,b] P[b,t_r] + sig_up[r] - sig_dn[r] <= hi[r]    (kept rows r)
         lam >= 0, sig >= 0

(``sig`` are artificial slacks with a big penalty ``M`` so the first masters are
feasible). Its duals price each site's net load: site ``s`` at bus ``b`` gets
``y[b, t]`` added to the import price and taken off the export price of step
``t`` [currency per kW and step].

**Pricing by the relaxation.** During column generation each site is priced by
its binary-free LP (:func:`gridopt.optimizer.matrix.build_matrix` with
``modes=False, hull=True``: the fast path's relaxation, every mode-hull row in).
That LP relaxes the site's MILP, so the Lagrangian bound below is a valid lower
bound of the coupled MILP. Each site's LP lives on its worker between rounds
(:class:`SiteLP`, a worker-side cache keyed by the run and the site): a round
changes only the import and export columns' costs and re-solves warm from the
last basis. Sites go to the workers in batches (:data:`BATCH_SITES` at most per
task), each batch always to the same worker. Each round gives a proven lower
bound (the Lagrangian bound)::

    LB(y) = sum_s LP_s(y) + min_{P, sig} (-y P + M sig  s.t. the kept rows)

and stops when ``(z_master - LB) / max(|LB|, 1) <= tol``.

**Stabilisation** (Wentges smoothing with the mispricing schedule of Pessoa et
al., 2018): sites are priced at ``y_sep = a * y_centre + (1 - a) * y_master``,
``y_centre`` the prices of the best Lagrangian bound so far, ``a`` =
:data:`SMOOTHING`. Every column found enters the master. If none prices out
against the master's own duals (a *mispricing*), the sites are priced again at
``a_k = 1 - k (1 - a)`` (``k``-th mispricing in a row) without re-solving the
master; at ``a_k = 0`` that is plain pricing, and no column there proves the
master optimal. Prices are clipped to :func:`price_cap`.

**Repair** (integrality comes in only here, resource-directive): the master's
plan ``pbar[s]`` (a convex combination of each site's LP plans) keeps every kept
row. Each row's slack at ``pbar`` is shared out over the sites in proportion to
``|coef|`` (:func:`share_slack`), which gives every site a box of net load
around ``pbar[s]`` inside which every row holds whatever the others do within
theirs. Each site then solves its MILP (the fast path: LP, binaries fixed from
its plan, re-solve, branch and bound only when needed) at its own cost within
its box, one Dask task per site, in parallel. A site without a plan in its box
is planned afterwards within what all the others leave (:func:`own_range`). Then
the sites that lost most against their master share (repaired cost minus
``sum_j lam[s, j] c[s, j]``), at most ``repair_central_max_vehicles`` vehicles
together, are re-planned as one MILP within what the others leave
(:func:`gridopt.network.plan.solve_central` on the shifted limits; kept only if
cheaper). Every kept row holds by construction (checked: ``primal_residual``),
and the repaired plan's cost is compared with ``LB``: the proven gap includes
the sites' integrality gap.
"""

from __future__ import annotations

import itertools
import math
import os
import time
from dataclasses import dataclass, field, replace

import numpy as np

from ..scenario import SolverOptions
from .plan import FeederPlan, KeptRows, NetworkRows, Site, ranges, screen_rows, site_coef, site_net_kw

#: Penalty on the master's artificial slacks [currency per row unit].
ARTIFICIAL_PENALTY = 1e5
#: Wentges smoothing: sites are priced at ``a * centre + (1 - a) * master duals`` [-] (0: none).
SMOOTHING = 0.5
#: A reduced cost below this adds a column [currency].
REDUCED_COST_TOL = 1e-6
#: Sites per Dask task at most when pricing (each batch stays on one worker).
BATCH_SITES = 50
#: A site's net-load box in the repair is shrunk by this on each side it binds [kW] (HiGHS's tolerances).
BOX_MARGIN_KW = 1e-6


@dataclass(frozen=True)
class Priced:
    """A site's plan under network prices (what a Dask task returns; small)."""

    net_kw: np.ndarray  # (T,)
    cost: float  # the site's own objective, prices not included [currency]
    priced_objective: float
    priced_bound: float
    status: str
    seconds: float
    values: np.ndarray | None = None  # column values, only when asked for (the repair)


def price_site(
    site: Site,
    price: np.ndarray | None,
    options: SolverOptions,
    net_lo: np.ndarray | None = None,
    net_hi: np.ndarray | None = None,
    keep_values: bool = False,
) -> Priced:
    """Site ``site``'s best plan (its MILP, by the fast path) with ``price[t]`` on its net load, within ``[net_lo, net_hi]``.

    Parameters
    ----------
    price : ndarray, shape (T,), or None
        [currency per kW of net load and step], added to each import column's cost and
        taken off each export column's.
    net_lo, net_hi : ndarray, shape (T,), optional
        Range of the net load ``imp - exp`` [kW], set as column bounds: ``p <= hi`` as ``imp <= hi``
        (and ``exp >= -hi`` where ``hi < 0``), ``p >= lo`` as ``exp <= -lo`` (and ``imp >= lo`` where
        ``lo > 0``); a plan that imports and exports in one step is the only one this excludes
        beyond the range, and it never pays.
    """
    from ..optimizer.fast import solve_fast

    t0 = time.monotonic()
    sc, plan = site.scenario, site.fleet_plan()
    base_cost = {}  # id(model) -> its own cost (the MILP's is not kept on the Site: worker memory)

    def hook(m):
        base_cost[id(m)] = m.cost.copy()
        if price is not None:
            m.cost[m.col_imp] += price
            m.cost[m.col_exp] -= price
        if net_hi is not None:
            hi = np.asarray(net_hi, float)
            m.col_ub[m.col_imp] = np.minimum(m.col_ub[m.col_imp], np.maximum(hi, 0.0))
            neg = hi < 0
            m.col_lb[m.col_exp[neg]] = np.maximum(m.col_lb[m.col_exp[neg]], -hi[neg])
        if net_lo is not None:
            lo = np.asarray(net_lo, float)
            m.col_ub[m.col_exp] = np.minimum(m.col_ub[m.col_exp], np.maximum(-lo, 0.0))
            pos = lo > 0
            m.col_lb[m.col_imp[pos]] = np.maximum(m.col_lb[m.col_imp[pos]], lo[pos])
        # an emptied range (lb > ub by rounding) is closed to the bound
        bad = m.col_lb > m.col_ub
        m.col_lb[bad] = m.col_ub[bad]

    fs = solve_fast(sc, plan, options, objective=hook)
    x = fs.values
    if x is None:
        return Priced(np.full(sc.grid.n_steps, np.nan), math.nan, math.nan, math.nan, fs.report.status.value, 0.0)
    return Priced(
        net_kw=site_net_kw(fs.model, x),
        cost=float(base_cost[id(fs.model)] @ x),
        priced_objective=float(fs.model.cost @ x),
        priced_bound=float(fs.report.lower_bound),
        status=fs.report.status.value,
        seconds=time.monotonic() - t0,
        values=x if keep_values else None,
    )


class SiteLP:
    """A site's binary-free LP held in HiGHS between rounds: only the net load's price changes.

    Built once (:func:`~gridopt.optimizer.matrix.build_matrix` with ``modes=False, hull=True``); each
    :meth:`price` changes the import and export columns' costs and re-solves from the last basis.
    Holds the HiGHS object, the own cost vector and the import/export column indices (the matrix
    itself is dropped after it is passed to HiGHS).
    """

    def __init__(self, site: Site, time_limit_s: float = 600.0):
        from ..optimizer.fast import _highs, _pass, well_scaled
        from ..optimizer.matrix import build_matrix

        lp = build_matrix(site.scenario, site.fleet_plan(), modes=False, hull=True)
        self.h = _highs()
        if well_scaled(lp):
            self.h.setOptionValue("simplex_scale_strategy", 0)
        _pass(self.h, lp, integral=False)
        self.cost = lp.cost.copy()
        self.col_imp, self.col_exp = lp.col_imp.copy(), lp.col_exp.copy()
        self.idx = np.concatenate([self.col_imp, self.col_exp]).astype(np.int32)
        self.time_limit_s = float(time_limit_s)
        self.solves = 0

    def price(self, price: np.ndarray | None) -> Priced:
        """The LP's optimum with ``price[t]`` [currency per kW and step] on the net load (None: 0)."""
        import highspy

        from ..optimizer.fast import _run

        t0 = time.monotonic()
        y = np.zeros(len(self.col_imp)) if price is None else np.asarray(price, float)
        self.h.changeColsCost(
            len(self.idx), self.idx, np.concatenate([self.cost[self.col_imp] + y, self.cost[self.col_exp] - y])
        )
        _run(self.h, self.time_limit_s)
        st = self.h.getModelStatus()
        if st == highspy.HighsModelStatus.kInfeasible:  # HiGHS's presolve has called feasible LPs infeasible
            self.h.setOptionValue("presolve", "off")
            self.h.clearSolver()
            _run(self.h, self.time_limit_s)
            st = self.h.getModelStatus()
            self.h.setOptionValue("presolve", "choose")
        self.solves += 1
        T = len(self.col_imp)
        if st != highspy.HighsModelStatus.kOptimal:
            self.h.clearSolver()  # no basis carried into the next round from a failed solve
            return Priced(np.full(T, np.nan), math.nan, math.nan, math.nan, self.h.modelStatusToString(st), 0.0)
        x = np.array(self.h.getSolution().col_value)
        obj = float(self.h.getInfo().objective_function_value)
        return Priced(
            net_kw=x[self.col_imp] - x[self.col_exp],
            cost=float(self.cost @ x),
            priced_objective=obj,
            priced_bound=obj,  # an LP's optimum is its own bound
            status="optimal",
            seconds=time.monotonic() - t0,
        )


#: The worker-side cache: (run token, site name) -> :class:`SiteLP`. One per process (a Dask worker or this one).
_LP_CACHE: dict = {}
_TOKENS = itertools.count()


def price_lp(site: Site, token: str | None, price: np.ndarray | None, time_limit_s: float = 600.0) -> Priced:
    """Site ``site`` priced by its LP relaxation, its :class:`SiteLP` kept in this process under ``token``.

    ``token=None`` builds a fresh LP and keeps nothing (the reference the cached one is tested against).
    """
    if token is None:
        return SiteLP(site, time_limit_s).price(price)
    key = (token, site.name)
    lp = _LP_CACHE.get(key)
    if lp is None:
        lp = _LP_CACHE[key] = SiteLP(site, time_limit_s)
    return lp.price(price)


def drop_cache(token: str) -> int:
    """Forget the cached LPs of run ``token`` in this process; how many there were."""
    keys = [k for k in _LP_CACHE if k[0] == token]
    for k in keys:
        del _LP_CACHE[k]
    return len(keys)


def _apply_batch(fn, batch: list, positions: list, args: list) -> list:
    """``fn(batch[i], *a)`` for each position ``i`` and argument tuple ``a`` (one Dask task)."""
    return [fn(batch[i], *a) for i, a in zip(positions, args, strict=True)]


@dataclass
class Master:
    """The columns so far and the master LP over them."""

    sites_bus: np.ndarray  # (S,)
    coef: np.ndarray  # (K, S)
    kept: KeptRows
    T: int
    cost: list = field(default_factory=list)  # per site: list of float
    net: list = field(default_factory=list)  # per site: list of (T,) arrays

    def add(self, s: int, cost: float, net_kw: np.ndarray) -> None:
        self.cost[s].append(float(cost))
        self.net[s].append(np.asarray(net_kw, float))

    def _coef_bus(self):
        buses = np.unique(self.sites_bus)
        bidx = {int(b): i for i, b in enumerate(buses)}
        coef_bus = np.zeros((self.coef.shape[0], len(buses)))
        for s in range(len(self.sites_bus)):
            coef_bus[:, bidx[int(self.sites_bus[s])]] = self.coef[:, s]
        return buses, bidx, coef_bus

    def network_value(self, y_site: np.ndarray) -> float:
        """The network part of the Lagrangian at prices ``y_site`` (S, T): ``min -y P + M sig`` over the kept rows.

        ``P[b, t]`` is free where a kept row holds bus ``b`` at step ``t`` (elsewhere its price must be 0, and is
        taken as 0). ``-inf`` if unbounded (prices outside the master's dual cone).
        """
        import scipy.sparse as sp

        from .plan import solve_highs

        T, R = self.T, len(self.kept)
        buses, bidx, coef_bus = self._coef_bus()
        nB = len(buses)
        y_bus = np.zeros((nB, T))
        for s in range(len(self.sites_bus)):
            y_bus[bidx[int(self.sites_bus[s])]] = y_site[s]
        cb = coef_bus[self.kept.k]  # (R, nB)
        rr, bb = np.nonzero(cb)
        held = np.zeros((nB, T), bool)
        held[bb, self.kept.t[rr]] = True
        y_bus = np.where(held, y_bus, 0.0)
        cols = np.flatnonzero(held.ravel())  # P columns that exist
        pos = np.full(nB * T, -1)
        pos[cols] = np.arange(len(cols))
        nP = len(cols)
        cost = np.concatenate([-y_bus.ravel()[cols], np.full(2 * R, ARTIFICIAL_PENALTY)])
        lb = np.concatenate([np.full(nP, -np.inf), np.zeros(2 * R)])
        ub = np.full(nP + 2 * R, np.inf)
        ri = np.concatenate([rr, np.arange(R), np.arange(R)])
        ci = np.concatenate([pos[bb * T + self.kept.t[rr]], nP + np.arange(R), nP + R + np.arange(R)])
        vi = np.concatenate([cb[rr, bb], np.ones(R), -np.ones(R)])
        A = sp.csr_matrix((vi, (ri, ci)), shape=(R, nP + 2 * R))
        out = solve_highs(cost, lb, ub, A, self.kept.lo, self.kept.hi, time_limit_s=600.0)
        return out.objective if out.status == "optimal" else -math.inf

    def solve(self):
        """Solve the master LP: (objective, lam per site, Pbar (S, T), y (S, T) prices per site, w (S,), artificial sum)."""
        import scipy.sparse as sp

        from .plan import solve_highs

        S, T = len(self.cost), self.T
        buses = np.unique(self.sites_bus)
        bidx = {int(b): i for i, b in enumerate(buses)}
        nB = len(buses)
        ncols_l = [len(c) for c in self.cost]
        off = np.concatenate([[0], np.cumsum(ncols_l)]).astype(np.int64)
        nL = int(off[-1])
        R = len(self.kept)
        # columns: lam (nL), P (nB*T), sig_up (R), sig_dn (R)
        colP = nL + np.arange(nB * T).reshape(nB, T)
        c_up = nL + nB * T + np.arange(R)
        c_dn = c_up + R
        n = nL + nB * T + 2 * R
        cost = np.zeros(n)
        cost[:nL] = np.concatenate([np.asarray(c) for c in self.cost])
        cost[c_up] = ARTIFICIAL_PENALTY
        cost[c_dn] = ARTIFICIAL_PENALTY
        lb = np.zeros(n)
        ub = np.full(n, np.inf)
        lb[colP.ravel()] = -np.inf
        ri, ci, vi = [], [], []
        # conv rows 0..S-1
        for s in range(S):
            ri.append(np.full(ncols_l[s], s))
            ci.append(off[s] + np.arange(ncols_l[s]))
            vi.append(np.ones(ncols_l[s]))
        # bus rows S + i*T + t
        for s in range(S):
            i = bidx[int(self.sites_bus[s])]
            p = np.array(self.net[s])  # (J, T)
            J = p.shape[0]
            ri.append(np.tile(S + i * T + np.arange(T), J))
            ci.append(np.repeat(off[s] + np.arange(J), T))
            vi.append(-p.ravel())
        ri.append(S + np.arange(nB * T))
        ci.append(colP.ravel())
        vi.append(np.ones(nB * T))
        # network rows S + nB*T + r
        first = S + nB * T
        if R:
            # coefficient per bus: all sites at a bus share coef (coef is per site, constant within a bus)
            coef_bus = np.zeros((self.coef.shape[0], nB))
            for s in range(S):
                coef_bus[:, bidx[int(self.sites_bus[s])]] = self.coef[:, s]
            cb = coef_bus[self.kept.k]  # (R, nB)
            rr, bb = np.nonzero(cb)
            ri.append(first + rr)
            ci.append(colP[bb, self.kept.t[rr]])
            vi.append(cb[rr, bb])
            ri += [first + np.arange(R), first + np.arange(R)]
            ci += [c_up, c_dn]
            vi += [np.ones(R), -np.ones(R)]
        m = first + R
        A = sp.csr_matrix((np.concatenate(vi), (np.concatenate(ri), np.concatenate(ci))), shape=(m, n))
        rlb = np.concatenate([np.ones(S), np.zeros(nB * T), self.kept.lo])
        rub = np.concatenate([np.ones(S), np.zeros(nB * T), self.kept.hi])
        out = solve_highs(cost, lb, ub, A, rlb, rub, time_limit_s=600.0)
        if out.x is None or out.row_dual is None:
            raise RuntimeError(f"master LP: {out.status}")
        x, yd = out.x, out.row_dual
        lam = [x[off[s] : off[s + 1]] for s in range(S)]
        w = yd[:S]
        ybus = yd[S : S + nB * T].reshape(nB, T)
        y_site = np.array([ybus[bidx[int(b)]] for b in self.sites_bus])
        pbar = np.array([lam[s] @ np.array(self.net[s]) for s in range(S)])
        art = float(x[c_up].sum() + x[c_dn].sum()) if R else 0.0
        return out.objective, lam, pbar, y_site, w, art


def own_range(rows: NetworkRows, bus: int, others: np.ndarray, p_lo: np.ndarray, p_hi: np.ndarray):
    """The net loads (T,) one site at ``bus`` may draw with every row holding, the others' row values fixed.

    ``others`` (T, K) is ``coef @ P`` of everything else. Row ``k``: ``lo <= others + a p <= hi`` with
    ``a = coef[k, bus]`` bounds ``p`` on one side per limit; the site's own range ``[p_lo, p_hi]`` closes it.
    """
    a = rows.coef[:, bus]  # (K,)
    lo, hi = p_lo.astype(float).copy(), p_hi.astype(float).copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        up = (rows.hi - others) / a  # (T, K): bound from the upper limit (upper where a > 0)
        dn = (rows.lo - others) / a
    pos, neg = a > ROW_EPS, a < -ROW_EPS
    if pos.any():
        hi = np.minimum(hi, np.min(np.where(np.isfinite(up[:, pos]), up[:, pos], np.inf), axis=1))
        lo = np.maximum(lo, np.max(np.where(np.isfinite(dn[:, pos]), dn[:, pos], -np.inf), axis=1))
    if neg.any():
        lo = np.maximum(lo, np.max(np.where(np.isfinite(up[:, neg]), up[:, neg], -np.inf), axis=1))
        hi = np.minimum(hi, np.min(np.where(np.isfinite(dn[:, neg]), dn[:, neg], np.inf), axis=1))
    return lo, np.maximum(lo, hi)


def share_slack(
    kept: KeptRows,
    coef: np.ndarray,
    pbar: np.ndarray,
    w_up: np.ndarray | None = None,
    w_down: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """How far each site may move its net load from ``pbar`` with every kept row still holding.

    Each kept row's slack at ``pbar`` (``hi - value`` and ``value - lo``) is shared out over the sites
    in proportion to ``|coef| * weight``: a site with ``coef > 0`` may rise by ``slack_hi * w_up / D_hi``
    (``D_hi = sum`` of ``|coef| w_up`` over the sites with ``coef > 0`` and ``|coef| w_down`` over those
    with ``coef < 0``), and so on for each side; the least over the rows of each step. Then
    ``sum_s coef[k, s] (p[s] - pbar[s])`` stays within the slack for any ``p`` within the boxes.

    Parameters
    ----------
    coef : ndarray, shape (K, S)
        Row coefficients per site.
    pbar : ndarray, shape (S, T)
        Net loads that keep every kept row [kW].
    w_up, w_down : ndarray, shape (S, T), optional
        Each site's claim on the slack its rise (fall) uses, >= 0 (default 1: equal shares per ``|coef|``).

    Returns
    -------
    up, down : ndarray, shape (S, T)
        Allowed rise and fall of each site's net load per step [kW] (``inf`` where no row limits it).
    """
    S, T = pbar.shape
    up = np.full((S, T), np.inf)
    down = np.full((S, T), np.inf)
    if not len(kept):
        return up, down
    w_up = np.ones((S, T)) if w_up is None else np.asarray(w_up, float)
    w_down = np.ones((S, T)) if w_down is None else np.asarray(w_down, float)
    C = coef[kept.k]  # (R, S)
    value = np.einsum("rs,rs->r", C, pbar[:, kept.t].T)
    pos_c, neg_c = np.clip(C, 0, None), np.clip(-C, 0, None)
    wu, wd = w_up[:, kept.t].T, w_down[:, kept.t].T  # (R, S)
    d_hi = (pos_c * wu + neg_c * wd).sum(axis=1)  # claims on the upper side
    d_lo = (pos_c * wd + neg_c * wu).sum(axis=1)
    s_hi = np.where(np.isfinite(kept.hi), np.maximum(kept.hi - value, 0.0), np.inf)
    s_lo = np.where(np.isfinite(kept.lo), np.maximum(value - kept.lo, 0.0), np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        r_hi = np.where(d_hi > 0, s_hi / d_hi, np.inf)
        r_lo = np.where(d_lo > 0, s_lo / d_lo, np.inf)
    rr, ss = np.nonzero(C)
    pos = C[rr, ss] > 0
    tt = kept.t[rr]
    wu_e, wd_e = w_up[ss, tt], w_down[ss, tt]

    def allow(rate, wt, side_finite):
        # no claim: no move that uses the side (where the side limits at all)
        with np.errstate(invalid="ignore"):
            return np.where(wt > 0, rate * wt, np.where(side_finite, 0.0, np.inf))

    up_e = np.where(pos, allow(r_hi[rr], wu_e, np.isfinite(s_hi[rr])), allow(r_lo[rr], wu_e, np.isfinite(s_lo[rr])))
    dn_e = np.where(pos, allow(r_lo[rr], wd_e, np.isfinite(s_lo[rr])), allow(r_hi[rr], wd_e, np.isfinite(s_hi[rr])))
    np.minimum.at(up, (ss, tt), up_e)
    np.minimum.at(down, (ss, tt), dn_e)
    return up, down


#: A site's MILP in the repair's parallel phases gets this long at most [s].
REPAIR_SITE_S = 5.0
#: Parallel passes of the repair at most: each gives the slack left at the current plans to the sites
#: pressing against their boxes.
REPAIR_PASSES = 4
#: Sites re-planned one after another (in the coordinator) after the parallel passes, at most.
REPAIR_SEQUENTIAL_SITES = 50
#: ... and for this long at most [s].
REPAIR_SEQUENTIAL_S = 30.0
#: Sites re-planned together as one MILP in the repair: up to this many vehicles.
REPAIR_CENTRAL_MAX_VEHICLES = 500
#: That MILP's time limit at most [s] (it only replaces the plans it beats).
REPAIR_CENTRAL_S = 20.0
#: Coefficients smaller than this are zero in :func:`own_range` [row unit per kW].
ROW_EPS = 1e-12


def _repair(sites, rows, kept, coef, master, lam, pbar, options, runner, p_lo, p_hi, central_max_vehicles, bound, tol):
    """One MILP plan per site keeping every kept row, from the master's plan ``pbar`` (see the module's notes)."""
    from .plan import bus_load_kw, solve_central

    S, T = pbar.shape
    B = rows.coef.shape[1]
    t0 = time.monotonic()

    def boxes(centre, w_up=None, w_down=None):
        up, down = share_slack(kept, coef, centre, w_up, w_down)
        hi = np.where(np.isfinite(up), centre + up - BOX_MARGIN_KW, p_hi)
        lo = np.where(np.isfinite(down), centre - down + BOX_MARGIN_KW, p_lo)
        hi = np.clip(hi, p_lo, p_hi)
        return np.minimum(np.clip(lo, p_lo, p_hi), hi), hi, up, down

    lo, hi, _, _ = boxes(pbar)
    # each site's MILP in the parallel phases within REPAIR_SITE_S at most (the fast path's plan at its
    # deadline: a heavy tail of box MILPs went to branch and bound; the proven gap is the whole plan's)
    site_opts = replace(options, time_limit_s=float(min(options.time_limit_s, REPAIR_SITE_S)))
    out = runner.map_sites(price_site, sites, [(None, site_opts, lo[s], hi[s], True) for s in range(S)])
    info = {"box_seconds": time.monotonic() - t0}
    lost = [s for s in range(S) if out[s].values is None]
    info["box_lost"] = len(lost)
    # a site without a plan in its box: within what all the others leave (the lost ones at pbar until planned)
    net = np.array([pbar[s] if out[s].values is None else out[s].net_kw for s in range(S)])
    for s in lost:
        others = bus_load_kw(sites, net, B) - bus_load_kw([sites[s]], net[s][None, :], B)
        lo_s, hi_s = own_range(rows, sites[s].bus, rows.values(others), p_lo[s], p_hi[s])
        out[s] = price_site(sites[s], None, options, lo_s, hi_s, True)
        if out[s].values is not None:
            net[s] = out[s].net_kw
    if any(out[s].values is None for s in range(S)):
        return out, info
    info["box_cost_first"] = float(sum(pr.cost for pr in out))
    task_s = [pr.seconds for pr in out]

    def within_tol() -> bool:  # the plan is within tol of the Lagrangian bound: no improvement phase needed
        c = float(sum(pr.cost for pr in out))
        return math.isfinite(bound) and (c - bound) / max(abs(bound), 1.0) <= tol

    # further passes, in parallel: the slack left at the current plans goes to the sites whose plan presses
    # against its box (the others' plans stay optimal in their smaller boxes); each site's current plan is
    # inside its new box, so no cost rises
    passes = []
    for _ in range(REPAIR_PASSES - 1):
        if within_tol():
            break
        tol_kw = 1e-5
        w_up = (net >= hi - tol_kw).astype(float)
        w_down = (net <= lo + tol_kw).astype(float)
        lo2, hi2, up, down = boxes(net, w_up, w_down)
        grow = (np.isfinite(up) & (up > 1e-4) & (w_up > 0)) | (np.isfinite(down) & (down > 1e-4) & (w_down > 0))
        redo = [s for s in range(S) if grow[s].any()]
        if not redo:
            break
        lo, hi = np.minimum(lo2, net), np.maximum(hi2, net)
        tp = time.monotonic()
        res = runner.map_sites(
            price_site, [sites[s] for s in redo], [(None, site_opts, lo[s], hi[s], True) for s in redo]
        )
        gain = 0.0
        task_s += [pr.seconds for pr in res]
        for s, pr in zip(redo, res, strict=True):
            if pr.values is not None and pr.cost < out[s].cost - 1e-9:
                gain += out[s].cost - pr.cost
                out[s] = pr
                net[s] = pr.net_kw
        passes.append({"sites": len(redo), "gain": gain, "seconds": time.monotonic() - tp})
        if gain <= 0.1 * tol * max(1.0, abs(info["box_cost_first"])):
            break
    info["passes"] = passes
    # then one after another, the sites that lost most against their master share first: each within all the
    # slack the others leave (:func:`own_range`; its current plan is inside, so no cost rises)
    share = np.array([float(lam[s] @ np.asarray(master.cost[s])) for s in range(S)])
    loss = np.array([out[s].cost for s in range(S)]) - share
    order = [int(s) for s in np.argsort(-loss) if loss[s] > 1e-9 * max(1.0, abs(share[s]))][:REPAIR_SEQUENTIAL_SITES]
    if within_tol():
        order = []
    tq, gain, done = time.monotonic(), 0.0, 0
    pb = bus_load_kw(sites, net, B)
    for s in order:
        if time.monotonic() - tq > REPAIR_SEQUENTIAL_S:
            break
        others = pb - bus_load_kw([sites[s]], net[s][None, :], B)
        lo_s, hi_s = own_range(rows, sites[s].bus, rows.values(others), p_lo[s], p_hi[s])
        lo_s, hi_s = np.minimum(lo_s + BOX_MARGIN_KW, net[s]), np.maximum(hi_s - BOX_MARGIN_KW, net[s])
        pr = price_site(sites[s], None, options, lo_s, hi_s, True)
        task_s.append(pr.seconds)
        done += 1
        if pr.values is not None and pr.cost < out[s].cost - 1e-9:
            gain += out[s].cost - pr.cost
            out[s], net[s] = pr, pr.net_kw
            pb = others + bus_load_kw([sites[s]], net[s][None, :], B)
    info["sequential"] = {"sites": len(order), "done": done, "gain": gain, "seconds": time.monotonic() - tq}
    info["box_cost"] = float(sum(pr.cost for pr in out))
    # the sites that lost most against their master share, re-planned together within what the others leave
    share = np.array([float(lam[s] @ np.asarray(master.cost[s])) for s in range(S)])
    loss = np.array([out[s].cost for s in range(S)]) - share
    # the most loss first; sites that lost nothing may still have to give way
    order = [] if within_tol() else list(np.argsort(-loss))
    group, n_veh = [], 0
    for s in order:
        v = len(sites[s].fleet_plan().vehicle_ids)
        if n_veh + v > central_max_vehicles:
            break
        group.append(int(s))
        n_veh += v
    info["central_sites"] = len(group)
    group_s = float(min(options.time_limit_s, REPAIR_CENTRAL_S))
    if group:
        from ..errors import InfeasibleError, SolverError

        rest = np.ones(S, bool)
        rest[group] = False
        used = rows.values(bus_load_kw([sites[s] for s in np.flatnonzero(rest)], net[rest], B))
        sub = NetworkRows(rows.coef, rows.lo - used, rows.hi - used, rows.names, rows.kinds, rows.bus_names)
        t1 = time.monotonic()
        try:
            fp = solve_central([sites[s] for s in group], sub, replace(options, time_limit_s=group_s))
        except (InfeasibleError, SolverError) as exc:  # e.g. its time limit: the boxes' plans stay
            info["central_failed"] = str(exc)
            fp = None
        info["central_seconds"] = time.monotonic() - t1
        before = sum(out[s].cost for s in group)
        if fp is not None and fp.objective < before:
            for i, s in enumerate(group):
                out[s] = Priced(fp.net_kw[i], float(fp.site_cost[i]), math.nan, math.nan, fp.status, 0.0, fp.values[i])
            info["central_gain"] = before - fp.objective
    info["task_seconds_total"] = float(sum(task_s))
    return out, info


def price_cap(sites: list[Site]) -> float:
    """A price on net load [currency per kW and step] beyond which no site changes its plan much.

    Twice the most a kW in a step can be worth to any site: its unmet-energy penalty plus its highest
    import and export prices and its degradation cost, per kWh at the outlet (over the lowest charge
    efficiency), times the step. Early master duals carry the artificial slacks' penalty (1e5): priced
    at those, sites only swing to extremes and the Lagrangian bound is very loose. Clipping is sound:
    the bound is computed at the prices actually used.
    """
    out = 0.0
    for s in sites:
        sc = s.scenario
        per_kwh = (
            float(sc.unmet_energy_penalty_per_kwh)
            + float(sc.series["import_price"].abs().max())
            + float(sc.series["export_price"].abs().max())
            + float(sc.battery_degradation_cost_per_kwh)
        )
        eta = float(sc.vehicles["charge_efficiency"].min()) if len(sc.vehicles) else 1.0
        out = max(out, per_kwh / max(eta, 0.5) * sc.grid.dt_h)
    return 2.0 * out


class _Local:
    """Runs tasks in this process (no Dask): for tests and tiny feeders."""

    def map_sites(self, fn, sites, args_per_site):
        return [fn(s, *a) for s, a in zip(sites, args_per_site, strict=True)]

    def drop(self, token: str) -> None:
        drop_cache(token)


class _Dask:
    """Runs site tasks on a Dask client in batches, each batch of sites always on the same worker.

    The sites are sent to the workers once (a batch per worker, round-robin); a task applies a function
    to the sites of one batch, so a worker-side cache (:func:`price_lp`) finds its sites again.
    """

    def __init__(self, client, sites, batch_sites: int | None = None):
        self.client = client
        workers = sorted(client.scheduler_info()["workers"]) or [None]
        n = len(sites)
        size = batch_sites or max(1, min(BATCH_SITES, math.ceil(n / (4 * len(workers)))))
        self.batches = [list(range(i, min(i + size, n))) for i in range(0, n, size)]
        self.worker = [workers[i % len(workers)] for i in range(len(self.batches))]
        self.where = {}  # id(site) -> (batch, position)
        self.futures = []
        for b, idx in enumerate(self.batches):
            for p, i in enumerate(idx):
                self.where[id(sites[i])] = (b, p)
            # own keys (hash=False): no clash with an earlier scatter of the same sites being released
            w = [self.worker[b]] if self.worker[b] is not None else None
            self.futures.append(client.scatter([sites[i] for i in idx], workers=w, hash=False))

    def map_sites(self, fn, sites, args_per_site):
        """``fn(site, *args)`` for each of ``sites`` (any of the scattered ones, in any order)."""
        groups: dict = {}
        for j, (s, a) in enumerate(zip(sites, args_per_site, strict=True)):
            b, p = self.where[id(s)]
            groups.setdefault(b, []).append((j, p, a))
        futs = []
        for b, items in groups.items():
            w = [self.worker[b]] if self.worker[b] is not None else None
            futs.append(
                self.client.submit(
                    _apply_batch,
                    fn,
                    self.futures[b],
                    [p for _, p, _ in items],
                    [a for _, _, a in items],
                    workers=w,
                    allow_other_workers=w is None,
                    pure=False,
                )
            )
        out = [None] * len(sites)
        for items, res in zip(groups.values(), self.client.gather(futs), strict=True):
            for (j, _, _), r in zip(items, res, strict=True):
                out[j] = r
        return out

    def drop(self, token: str) -> None:
        self.client.run(drop_cache, token)


def decompose(
    sites: list[Site],
    rows: NetworkRows,
    options: SolverOptions | None = None,
    *,
    client=None,
    tol: float = 1e-4,
    max_iter: int = 60,
    repair_central_max_vehicles: int | None = None,
    initial: list | None = None,
    smoothing: float | None = None,
    log=None,
) -> FeederPlan:
    """The coupled plan by column generation (see the module's notes), subproblems on ``client`` (Dask) or here.

    Parameters
    ----------
    options : SolverOptions
        The repair's MILPs' time limit and gap (each site's, and the group's).
    client : distributed.Client, optional
        Without one the subproblems run in this process, one after another.
    tol : float
        Stop when the master's cost is within ``tol`` of the Lagrangian bound (relative) [-].
    max_iter : int
        Rounds of column generation at most (a round's mispricing re-pricings count as rounds).
    repair_central_max_vehicles : int, optional
        The repair re-plans the sites that lost most, up to this many vehicles in all, as one MILP
        (default :data:`REPAIR_CENTRAL_MAX_VEHICLES`; 0: never).
    initial : list of Priced, optional
        Each site's plan without prices (the sites alone, MILP), if already solved: the first columns.
    smoothing : float, optional
        Wentges smoothing factor in [0, 1) (default :data:`SMOOTHING`; 0: price at the master's duals).
    log : callable, optional
        ``log(dict)`` after each round (iteration, master cost, bound, gap, artificial, columns added).

    Returns
    -------
    FeederPlan
        ``bound`` is the best Lagrangian bound (of the sites' LP relaxations: valid for the MILP).
        ``info`` holds ``iterations``, ``history`` (per round: ``master``, ``bound``, ``gap``,
        ``artificial``, ``added``, ``smoothing``, ``seconds``, ``master_seconds``, ``pricing_seconds``),
        ``primal_residual`` (largest row excess of the repaired plan), ``master_cost``,
        ``lagrangian_bound``, ``task_seconds`` (the LP pricings' and the repair's MILPs' separately)
        and ``repair``.
    """
    options = options or SolverOptions()
    runner = _Dask(client, sites) if client is not None else _Local()
    token = f"{os.getpid()}-{next(_TOKENS)}-{time.time_ns()}"
    try:
        return _decompose(
            sites, rows, options, runner, token, tol, max_iter, repair_central_max_vehicles, initial, smoothing, log
        )
    finally:
        try:
            runner.drop(token)
        except Exception:  # noqa: BLE001 - a lost worker's cache goes with it
            pass


def _decompose(
    sites, rows, options, runner, token, tol, max_iter, repair_central_max_vehicles, initial, smoothing, log
):
    from ..errors import InfeasibleError
    from .plan import bus_load_kw

    alpha0 = SMOOTHING if smoothing is None else float(smoothing)
    if not 0.0 <= alpha0 < 1.0:
        raise ValueError(f"smoothing must be in [0, 1), not {alpha0}")
    t0 = time.monotonic()
    S = len(sites)
    T = sites[0].scenario.grid.n_steps
    buses = np.array([s.bus for s in sites])
    p_lo, p_hi = ranges(sites)
    kept = screen_rows(rows, buses, p_lo, p_hi)
    coef = site_coef(rows, buses)
    master = Master(buses, coef, kept, T, [[] for _ in range(S)], [[] for _ in range(S)])
    milp_s: list[float] = []
    lp_s: list[float] = []
    lp_limit = float(max(options.time_limit_s, 60.0))
    if initial is not None:
        first = initial
        milp_s += [pr.seconds for pr in first]
    else:  # each site's LP alone (its cached LP's first solve)
        first = runner.map_sites(price_lp, sites, [(token, None, lp_limit)] * S)
        lp_s += [pr.seconds for pr in first]
    for s, pr in enumerate(first):
        if not math.isfinite(pr.cost):
            raise InfeasibleError(f"site {sites[s].name}: no plan ({pr.status})")
        master.add(s, pr.cost, pr.net_kw)
    alone_cost = float(sum(pr.cost for pr in first))
    alone_bound = float(sum(pr.priced_bound for pr in first))
    cap = price_cap(sites)
    if len(kept):
        # a second column per site at the price cap on every step (its least net load): the first master
        # is then feasible wherever the rows only limit a rise, and column generation starts in phase 2
        low = runner.map_sites(price_lp, sites, [(token, np.full(T, cap), lp_limit)] * S)
        for s, pr in enumerate(low):
            lp_s.append(pr.seconds)
            if math.isfinite(pr.cost):
                master.add(s, pr.cost, pr.net_kw)
    history = []
    best_lb = -math.inf
    it = 0
    z = math.nan
    if len(kept) == 0:  # nothing can bind: the sites alone are the plan
        best_lb = alone_bound
    center = None  # the prices with the best Lagrangian bound so far (the stability centre)
    while len(kept) and it < max_iter:
        tm = time.monotonic()
        z, lam, pbar, y, w, art = master.solve()
        master_s = time.monotonic() - tm
        k = 0  # mispricings in a row at this master
        while it < max_iter:
            it += 1
            ti = time.monotonic()
            a = max(0.0, 1.0 - (k + 1) * (1.0 - alpha0)) if (center is not None and art <= 1e-9) else 0.0
            y_sep = np.clip(y if a == 0.0 else a * center + (1.0 - a) * y, -cap, cap)
            tp = time.monotonic()
            priced = runner.map_sites(price_lp, sites, [(token, y_sep[s], lp_limit) for s in range(S)])
            pricing_s = time.monotonic() - tp
            lb = master.network_value(y_sep)
            added = added_out = 0
            for s, pr in enumerate(priced):
                lp_s.append(pr.seconds)
                lb += pr.priced_bound  # nan (a failed LP) makes the round's bound unusable
                if not math.isfinite(pr.cost):
                    continue
                rc_out = pr.cost + float(y[s] @ pr.net_kw) - w[s]
                rc_sep = pr.cost + float(y_sep[s] @ pr.net_kw) - w[s]
                tol_s = REDUCED_COST_TOL * max(1.0, abs(w[s]))
                if rc_out < -tol_s:
                    added_out += 1
                if rc_out < -tol_s or rc_sep < -tol_s:
                    master.add(s, pr.cost, pr.net_kw)
                    added += 1
            if math.isfinite(lb) and lb > best_lb:
                best_lb, center = lb, y_sep
            gap = max(0.0, z - best_lb) / max(abs(best_lb), 1.0)
            rec = {
                "iteration": it,
                "master": z,
                "bound": best_lb,
                "round_bound": lb,
                "gap": gap,
                "artificial": art,
                "added": added,
                "priced_out": added_out,
                "smoothing": a,
                "seconds": time.monotonic() - ti + master_s,
                "master_seconds": master_s,
                "pricing_seconds": pricing_s,
            }
            master_s = 0.0
            history.append(rec)
            if log is not None:
                log(rec)
            if (gap <= tol and art <= 1e-9) or added_out or a == 0.0:
                break
            k += 1  # a mispricing: price again nearer the master's duals, same master
        if history[-1]["gap"] <= tol and art <= 1e-9:
            break
        if history[-1]["priced_out"] == 0 and history[-1]["smoothing"] == 0.0:
            break  # no column prices out at the master's duals: the master is optimal
    if len(kept):
        tm = time.monotonic()
        z, lam, pbar, y, w, art = master.solve()
        if art > 1e-6:
            capped = it >= max_iter and (not history or history[-1]["priced_out"] or history[-1]["smoothing"])
            raise InfeasibleError(
                f"after {it} rounds (the cap) the master still needs {art:.3g} of artificial slack: raise the cap"
                if capped
                else f"no plan of the {S} sites keeps the network's limits (the master needs {art:.3g} of artificial slack)"
            )
        cap_v = REPAIR_CENTRAL_MAX_VEHICLES if repair_central_max_vehicles is None else repair_central_max_vehicles
        final, repair = _repair(
            sites, rows, kept, coef, master, lam, pbar, options, runner, p_lo, p_hi, cap_v, best_lb, tol
        )
        repair["seconds"] = time.monotonic() - tm
    else:
        repair = {}
        final = runner.map_sites(price_site, sites, [(None, options, None, None, True) for s in range(S)])
    bad = [sites[s].name for s, pr in enumerate(final) if pr.values is None]
    if bad:
        raise InfeasibleError(f"repair: sites {', '.join(bad[:5])} have no plan within their network ranges")
    milp_s += [pr.seconds for pr in final]
    net = np.array([pr.net_kw for pr in final])
    resid = float(rows.excess(bus_load_kw(sites, net, rows.coef.shape[1])).max()) if rows.n_rows else 0.0
    cost = np.array([pr.cost for pr in final])

    def stats(v):
        return {
            "count": len(v),
            "median": float(np.median(v)) if v else 0.0,
            "mean": float(np.mean(v)) if v else 0.0,
            "total": float(np.sum(v)),
        }

    return FeederPlan(
        values=[pr.values for pr in final],
        net_kw=net,
        site_cost=cost,
        objective=float(cost.sum()),
        bound=best_lb,
        status="optimal" if resid <= 1e-6 else "network_residual",
        seconds=time.monotonic() - t0,
        info={
            "method": "dantzig-wolfe",
            "pricing": "lp relaxation (cached per worker, warm)",
            "smoothing": alpha0,
            "rows_kept": len(kept),
            "iterations": it,
            "history": history,
            "master_cost": z,
            "lagrangian_bound": best_lb,
            "primal_residual": resid,
            "alone_cost": alone_cost,
            "task_seconds": stats(milp_s + lp_s),
            "lp_task_seconds": stats(lp_s),
            "milp_task_seconds": stats(milp_s),
            "columns": int(sum(len(c) for c in master.cost)),
            "repair": repair,
        },
    )
