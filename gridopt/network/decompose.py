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
feasible). Its duals price each site's net load: site ``s`` at bus ``b`` solves
its own MILP with ``y[b, t]`` added to the import price and taken off the export
price of step ``t`` [currency per kW and step] (gridopt's fast path,
:func:`gridopt.optimizer.fast.solve_fast`, one **Dask task** per site). A plan
with negative reduced cost ``c + y p - w[s]`` becomes a new column. Each round
gives a proven lower bound (the Lagrangian bound)::

    LB(y) = sum_s lb_s(y) + min_{P, sig} (-y P + M sig  s.t. the kept rows)     lb_s: the priced site's proven bound

and stops when ``(z_master - LB) / max(|LB|, 1) <= tol``. The prices are smoothed
(Wentges, off by default: ``SMOOTHING``): sites are priced at
``a * y_centre + (1 - a) * y_master`` with ``y_centre`` the prices of the best
bound so far; prices are clipped to :func:`price_cap`; a column enters when it prices out against the
master's own duals, and after a round without one, or without a better bound, the
next round prices at the master's duals.

**Repair** (resource-directive): the master's plan is a convex combination of
plans, not one plan per site. A site whose weight sits on one column keeps that
column's net load (re-solved with it as its range: one Dask task each). The
*fractional* sites (a basic master solution has at most as many as it has
binding network rows) share what the fixed sites leave of each row: as one small
MILP when they are few, else one after another, each within the headroom the
others leave (:func:`own_range`). Either way every kept row holds by
construction (checked: ``primal_residual``); the repaired plan's cost is
compared with ``LB``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from ..scenario import SolverOptions
from .plan import FeederPlan, KeptRows, NetworkRows, Site, ranges, screen_rows, site_coef, site_net_kw

#: Penalty on the master's artificial slacks [currency per row unit].
ARTIFICIAL_PENALTY = 1e5
#: Wentges smoothing: sites are priced at ``a * centre + (1 - a) * master duals`` [-]. Off: measured, it took
#: more rounds (the LV homes feeder 21 instead of 10, the tiny test 15 instead of 11) and did not help a
#: synthetic feeder's bound.
SMOOTHING = 0.0
#: A reduced cost below this adds a column [currency].
REDUCED_COST_TOL = 1e-6


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
    """Site ``site``'s best plan with ``price[t]`` on its net load and its net load within ``[net_lo, net_hi]``.

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
    base_cost = site.matrix().cost

    def hook(m):
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
        cost=float(base_cost @ x),
        priced_objective=float(fs.model.cost @ x),
        priced_bound=float(fs.report.lower_bound),
        status=fs.report.status.value,
        seconds=time.monotonic() - t0,
        values=x if keep_values else None,
    )


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


#: Gauss-Seidel sweeps over the fractional sites after the sequential repair, at most.
REPAIR_SWEEPS = 5
#: Coefficients smaller than this are zero in :func:`own_range` [row unit per kW].
ROW_EPS = 1e-12

#: Fractional sites repaired together as one MILP up to this many vehicles; beyond, one after another.
REPAIR_CENTRAL_MAX_VEHICLES = 500


def _repair(sites, rows, master, lam, pbar, y, options, runner, p_lo, p_hi, central_max_vehicles):
    """One plan per site from the master's convex combination, keeping every kept row.

    Sites whose master weight sits on one column (``lam = 1``) keep that column's net load (re-solved
    with it as a range, one Dask task each: its own plan is feasible there). The few *fractional* sites
    (at most as many as the master's binding network rows) share what the fixed sites leave of each
    row: together as one MILP (:func:`gridopt.network.plan.solve_central` on the shifted limits) when
    they hold at most :data:`REPAIR_CENTRAL_MAX_VEHICLES` vehicles, else one after another (in this
    process): each gets every row's headroom left by the sites already repaired and the ones still to
    come at their master values (:func:`own_range`, exact for one site), so the master's value stays
    feasible for every site still to come.
    """
    from .plan import bus_load_kw, solve_central

    S = len(sites)
    frac = [s for s in range(S) if lam[s].max() < 1.0 - 1e-6]
    fixed = [s for s in range(S) if s not in set(frac)]
    col = {s: master.net[s][int(np.argmax(lam[s]))] for s in fixed}
    eps = 1e-7
    out = [None] * S
    if fixed:
        res = runner.map_sites(
            price_site,
            [sites[s] for s in fixed],
            [(None, options, col[s] - eps, col[s] + eps, True) for s in fixed],
        )
        for s, pr in zip(fixed, res, strict=True):
            out[s] = pr
        # a column's own net load is feasible for its site; should the re-solve still fail (tolerances), the
        # site is repaired with the fractional ones
        lost = [s for s in fixed if out[s].values is None]
        if lost:
            fixed = [s for s in fixed if s not in set(lost)]
            frac = sorted(frac + lost)
    info = {"fractional_sites": len(frac), "fixed_sites": len(fixed)}
    if frac:
        fixed_net = np.array([out[s].net_kw for s in fixed]) if fixed else np.zeros((0, master.T))
        pb = bus_load_kw([sites[s] for s in fixed], fixed_net, rows.coef.shape[1])
        used = rows.values(pb)
        sub = NetworkRows(rows.coef, rows.lo - used, rows.hi - used, rows.names, rows.kinds, rows.bus_names)
        n_veh = sum(len(sites[s].fleet_plan().vehicle_ids) for s in frac)
        fp = None
        if n_veh <= central_max_vehicles:
            from ..errors import InfeasibleError, SolverError

            try:
                fp = solve_central([sites[s] for s in frac], sub, options)
            except (InfeasibleError, SolverError) as exc:  # e.g. its time limit: one after another instead
                info["central_failed"] = str(exc)
        if fp is not None:
            info["fractional_method"] = "central"
            for i, s in enumerate(frac):
                out[s] = Priced(fp.net_kw[i], float(fp.site_cost[i]), math.nan, math.nan, fp.status, 0.0, fp.values[i])
        else:
            info["fractional_method"] = "sequential"
            for i, s in enumerate(frac):
                rest = [j for j in frac[i + 1 :]]
                # the others: fixed and repaired sites as planned, the rest reserved at the master's values
                p_other = pb + bus_load_kw([sites[j] for j in rest], pbar[rest], rows.coef.shape[1]) if rest else pb
                lo, hi = own_range(rows, sites[s].bus, rows.values(p_other), p_lo[s], p_hi[s])
                pr = price_site(sites[s], y[s], options, lo, hi, True)
                out[s] = pr
                if pr.values is not None:
                    pb = pb + bus_load_kw([sites[s]], pr.net_kw[None, :], rows.coef.shape[1])
            # Gauss-Seidel sweeps: each site again, at its own cost, in the headroom all the others leave now;
            # its current plan is feasible there, so the total cost never rises
            for sweep in range(REPAIR_SWEEPS):
                before = sum(out[s].cost for s in frac)
                for s in frac:
                    if out[s].values is None:
                        continue
                    p_other = pb - bus_load_kw([sites[s]], out[s].net_kw[None, :], rows.coef.shape[1])
                    lo, hi = own_range(rows, sites[s].bus, rows.values(p_other), p_lo[s], p_hi[s])
                    pr = price_site(sites[s], None, options, lo, hi, True)
                    if pr.values is not None and pr.cost < out[s].cost - 1e-9:
                        out[s] = pr
                        pb = p_other + bus_load_kw([sites[s]], pr.net_kw[None, :], rows.coef.shape[1])
                info["sweeps"] = sweep + 1
                if before - sum(out[s].cost for s in frac) <= 1e-6 * max(1.0, abs(before)):
                    break
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


class _Dask:
    """Runs one task per site on a Dask client; the sites are sent to the workers once."""

    def __init__(self, client, sites):
        self.client = client
        # own keys (hash=False): no clash with an earlier scatter of the same sites being released
        self.futures = client.scatter(list(sites), broadcast=False, hash=False)
        self.pos = {id(s): i for i, s in enumerate(sites)}

    def map_sites(self, fn, sites, args_per_site):
        """``fn(site, *args)`` for each of ``sites`` (any of the scattered ones, in any order)."""
        futs = [
            self.client.submit(fn, self.futures[self.pos[id(s)]], *a, pure=False)
            for s, a in zip(sites, args_per_site, strict=True)
        ]
        return self.client.gather(futs)


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
    log=None,
) -> FeederPlan:
    """The coupled plan by column generation (see the module's notes), subproblems on ``client`` (Dask) or here.

    Parameters
    ----------
    options : SolverOptions
        Each subproblem's time limit and gap (its proven bound enters the Lagrangian bound).
    client : distributed.Client, optional
        Without one the subproblems run in this process, one after another.
    tol : float
        Stop when the master's cost is within ``tol`` of the Lagrangian bound (relative) [-].
    repair_central_max_vehicles : int, optional
        Fractional sites with at most this many vehicles in all are repaired as one MILP
        (default :data:`REPAIR_CENTRAL_MAX_VEHICLES`), else each within its share of the rows' slack.
    initial : list of Priced, optional
        Each site's plan without prices (the sites alone), if already solved: the first round.
    log : callable, optional
        ``log(dict)`` after each round (iteration, master cost, bound, gap, artificial, columns added).

    Returns
    -------
    FeederPlan
        ``info`` holds ``iterations``, ``history`` (per round: ``master``, ``bound``, ``gap``,
        ``artificial``, ``added``, ``seconds``, ``task_seconds``), ``primal_residual`` (largest row
        excess of the repaired plan), ``master_cost``, ``lagrangian_bound`` and the repair's ranges.
    """
    from ..errors import InfeasibleError

    options = options or SolverOptions()
    t0 = time.monotonic()
    S = len(sites)
    T = sites[0].scenario.grid.n_steps
    buses = np.array([s.bus for s in sites])
    p_lo, p_hi = ranges(sites)
    kept = screen_rows(rows, buses, p_lo, p_hi)
    coef = site_coef(rows, buses)
    runner = _Dask(client, sites) if client is not None else _Local()
    master = Master(buses, coef, kept, T, [[] for _ in range(S)], [[] for _ in range(S)])
    task_s: list[float] = []
    first = initial if initial is not None else runner.map_sites(price_site, sites, [(None, options)] * S)
    for s, pr in enumerate(first):
        if not math.isfinite(pr.cost):
            raise InfeasibleError(f"site {sites[s].name}: no plan ({pr.status})")
        master.add(s, pr.cost, pr.net_kw)
        task_s.append(pr.seconds)
    alone_cost = float(sum(pr.cost for pr in first))
    alone_bound = float(sum(pr.priced_bound for pr in first))
    history = []
    best_lb = -math.inf
    it = 0
    z = math.nan
    y = np.zeros((S, T))
    if len(kept) == 0:  # nothing can bind: the sites alone are the plan
        best_lb = alone_bound
    cap = price_cap(sites)
    center = None  # the prices with the best Lagrangian bound so far (Wentges smoothing's stability centre)
    alpha = SMOOTHING
    while len(kept) and it < max_iter:
        it += 1
        ti = time.monotonic()
        z, lam, pbar, y, w, art = master.solve()
        a = alpha if (center is not None and art <= 1e-9) else 0.0
        y_sep = y if a == 0.0 else a * center + (1.0 - a) * y
        y_sep = np.clip(y_sep, -cap, cap)
        priced = runner.map_sites(price_site, sites, [(y_sep[s], options) for s in range(S)])
        lb = master.network_value(y_sep)
        added = 0
        for s, pr in enumerate(priced):
            task_s.append(pr.seconds)
            lb += pr.priced_bound
            # a column enters if it prices out against the master's own duals
            if math.isfinite(pr.cost) and pr.cost + float(y[s] @ pr.net_kw) - w[s] < -REDUCED_COST_TOL * max(
                1.0, abs(w[s])
            ):
                master.add(s, pr.cost, pr.net_kw)
                added += 1
        improved = math.isfinite(lb) and lb > best_lb
        if improved:
            best_lb, center = lb, y_sep
        gap = max(0.0, z - best_lb) / max(abs(best_lb), 1.0)
        rec = {
            "iteration": it,
            "master": z,
            "bound": best_lb,
            "gap": gap,
            "artificial": art,
            "added": added,
            "smoothing": a,
            "seconds": time.monotonic() - ti,
        }
        history.append(rec)
        if log is not None:
            log(rec)
        if gap <= tol and art <= 1e-9:
            break
        if added == 0 and a == 0.0:
            break  # no column prices out at the master's duals: the master is optimal
        # a mispricing (no column) or a smoothed round that did not raise the bound: price at the master's duals
        alpha = SMOOTHING if (added and improved) else 0.0
    if len(kept):
        z, lam, pbar, y, w, art = master.solve()
        if art > 1e-6:
            raise InfeasibleError(
                f"no plan of the {S} sites keeps the network's limits (the master needs {art:.3g} of artificial slack)"
            )
        cap = REPAIR_CENTRAL_MAX_VEHICLES if repair_central_max_vehicles is None else repair_central_max_vehicles
        final, repair = _repair(sites, rows, master, lam, pbar, y, options, runner, p_lo, p_hi, cap)
    else:
        repair = {"fractional_sites": 0}
        final = runner.map_sites(price_site, sites, [(None, options, None, None, True) for s in range(S)])
    bad = [sites[s].name for s, pr in enumerate(final) if pr.values is None]
    if bad:
        raise InfeasibleError(f"repair: sites {', '.join(bad[:5])} have no plan within their network ranges")
    task_s += [pr.seconds for pr in final]
    net = np.array([pr.net_kw for pr in final])
    from .plan import bus_load_kw

    resid = float(rows.excess(bus_load_kw(sites, net, rows.coef.shape[1])).max()) if rows.n_rows else 0.0
    cost = np.array([pr.cost for pr in final])
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
            "rows_kept": len(kept),
            "iterations": it,
            "history": history,
            "master_cost": z,
            "lagrangian_bound": best_lb,
            "primal_residual": resid,
            "alone_cost": alone_cost,
            "task_seconds": {
                "count": len(task_s),
                "median": float(np.median(task_s)) if task_s else 0.0,
                "total": float(np.sum(task_s)),
            },
            "columns": int(sum(len(c) for c in master.cost)),
            "repair": repair,
        },
    )
