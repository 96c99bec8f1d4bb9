"""A feasible plan without a solver: the fast path's fallback at the time limit.

:func:`greedy_plan` walks the horizon step by step and decides, for every
plugged-in vehicle, what to do in that step:

* **Charge by earliest deadline**: vehicles are served in the order of the end
  of their plug-in segment, each with the power that its next requirement still
  needs (``(required_kwh - soc_kwh) / (charge_efficiency * dt_h)``, at most
  ``max_charge_kw``, never above ``max_soc``), within the site's import
  headroom ``import_limit_kw - base_load_kw + pv_kw``. A charge below
  ``min_charge_kw`` is raised to it when the battery has room, else dropped.
* **Discharge only when the site needs it**: in a step whose base load minus PV
  exceeds the import limit, V2G vehicles discharge (those with the most energy
  above ``min_soc`` first) until the import fits; such a vehicle does not charge
  in that step.
* **Absorb PV that cannot be curtailed**: where PV minus base load exceeds the
  export limit, vehicles with room charge the rest.
* The site imports or exports the net, never both (the one-meter rule); PV is
  curtailed only where nothing pays for it. What a requirement still lacks at
  its deadline is its shortfall (priced at ``unmet_energy_penalty_per_kwh``).

The plan is written into the columns of the MILP (:class:`~gridopt.optimizer.matrix.MatrixModel`,
binaries included) and checked row by row against that model
(:func:`max_violation`): it is returned only if it satisfies every constraint,
else :func:`greedy_plan` returns None. It makes no use of prices beyond the PV
rule, so its cost is an upper bound, usually far from the optimum: it is what
comes back when the LP and its repair do not finish within the time limit.
"""

from __future__ import annotations

import math

import numpy as np

from ..fleet import FleetPlan
from ..scenario import Scenario
from .matrix import MatrixModel

#: Largest violation of a row or bound accepted in the greedy plan (absolute, plus relative to the bound).
FEAS_TOL = 1e-6


def _excl_cumsum(a: np.ndarray) -> np.ndarray:
    out = np.zeros(len(a), dtype=np.int64)
    if len(a) > 1:
        np.cumsum(a[:-1], out=out[1:])
    return out


def max_violation(mm: MatrixModel, x: np.ndarray) -> float:
    """Largest violation of ``mm``'s rows, bounds and integrality by ``x``, relative to ``max(1, |bound|)``."""
    if len(x) != mm.n_cols or not np.all(np.isfinite(x)):
        return math.inf
    rows = np.repeat(np.arange(mm.n_rows), np.diff(mm.a_start))
    act = np.bincount(rows, weights=mm.a_value * x[mm.a_index], minlength=mm.n_rows)

    def over(value, lo, hi):
        with np.errstate(invalid="ignore"):
            below = np.where(np.isfinite(lo), (lo - value) / np.maximum(1.0, np.abs(lo)), 0.0)
            above = np.where(np.isfinite(hi), (value - hi) / np.maximum(1.0, np.abs(hi)), 0.0)
        return max(float(np.max(below, initial=0.0)), float(np.max(above, initial=0.0)))

    worst = max(over(act, mm.row_lb, mm.row_ub), over(x, mm.col_lb, mm.col_ub))
    b = x[mm.binary]
    return max(worst, float(np.max(np.abs(b - np.round(b)), initial=0.0)))


def greedy_plan(sc: Scenario, plan: FleetPlan, mm: MatrixModel) -> np.ndarray | None:
    """A feasible plan of ``mm`` (column values, binaries included), or None if the greedy cannot find one.

    See the module docstring for the rules. None means the greedy got stuck
    (e.g. V2G energy too short to keep the import within its limit), not that
    the site is infeasible.
    """
    T, dt = sc.grid.n_steps, sc.grid.dt_h
    veh = sc.vehicles.loc[plan.vehicle_ids]
    V = len(plan.vehicle_ids)
    B = veh["battery_kwh"].to_numpy(float)
    Pc = veh["max_charge_kw"].to_numpy(float)
    Pd = veh["max_discharge_kw"].to_numpy(float)
    pmin = veh["min_charge_kw"].to_numpy(float)
    eta_c = veh["charge_efficiency"].to_numpy(float)
    eta_d = veh["discharge_efficiency"].to_numpy(float)
    L = veh["min_soc"].to_numpy(float) * B
    U = veh["max_soc"].to_numpy(float) * B
    series = sc.series
    base = series["base_load_kw"].to_numpy(float)
    pv = series["pv_kw"].to_numpy(float)
    ep = series["export_price"].to_numpy(float)
    imp_lim, exp_lim = float(sc.import_limit_kw), float(sc.export_limit_kw)

    segs, reqs = plan.segments, plan.requirements
    S, R = len(segs), len(reqs)
    s_v = segs["vehicle"].to_numpy(np.int64)
    s_start = segs["start"].to_numpy(np.int64)
    s_end = segs["end"].to_numpy(np.int64)
    s0 = segs["s0_kwh"].to_numpy(float)
    link = segs["link_req"].to_numpy(np.int64)
    r_seg = reqs["segment"].to_numpy(np.int64)
    r_req = reqs["required_kwh"].to_numpy(float)
    r_E = reqs["energy_kwh"].to_numpy(float)
    target = np.zeros(S)
    np.maximum.at(target, r_seg, r_req)
    reqs_of: dict[int, list[int]] = {}
    for r, j in enumerate(r_seg):
        reqs_of.setdefault(int(j), []).append(r)
    events: dict[int, list[int]] = {}
    for j in range(S):
        events.setdefault(int(s_start[j]), []).append(j)
        if s_end[j] != s_start[j]:
            events.setdefault(int(s_end[j]), []).append(j)

    e_start = np.full(S, np.nan)
    e_req = np.full(R, np.nan)
    u = np.zeros(R)
    charge = np.zeros((V, T))
    discharge = np.zeros((V, T))
    soc_after = np.full((V, T), np.nan)
    active = np.full(V, -1, np.int64)
    soc = np.full(V, np.nan)
    charge_sum = np.zeros(T)
    discharge_sum = np.zeros(T)

    def end(j: int, e: float) -> None:
        for r in reqs_of.get(j, ()):
            e_req[r] = e
            u[r] = min(r_req[r], max(0.0, r_req[r] - e))

    for k in range(T + 1):
        for j in events.get(k, ()):  # segment order: chronological within a vehicle
            v = s_v[j]
            if s_start[j] < k:  # ends here
                end(j, soc[v])
                active[v] = -1
                continue
            e0 = s0[j] if link[j] < 0 else e_req[link[j]] + u[link[j]] - r_E[link[j]]
            e_start[j] = e0
            if s_end[j] == k:
                end(j, e0)
            else:
                active[v], soc[v] = j, e0
        if k == T:
            break
        vs = np.flatnonzero(active >= 0)
        if not len(vs):
            if base[k] - pv[k] > imp_lim + 1e-9:
                return None
            continue
        e = soc[vs]
        js = active[vs]
        c = np.zeros(len(vs))
        d = np.zeros(len(vs))
        headroom = imp_lim - base[k] + pv[k]  # may be inf
        if headroom < 0:  # the site needs V2G: most energy above min_soc first
            avail = np.where(Pd[vs] > 0, np.minimum(Pd[vs], np.maximum(0.0, e - L[vs]) * eta_d[vs] / dt), 0.0)
            order = np.argsort(-avail, kind="stable")
            cum = np.cumsum(avail[order])
            if not len(cum) or cum[-1] < -headroom - 1e-9:
                return None
            n_full = int(np.searchsorted(cum, -headroom))
            d[order[:n_full]] = avail[order[:n_full]]
            d[order[n_full]] = -headroom - (cum[n_full - 1] if n_full else 0.0)
            headroom = 0.0
        room = np.maximum(0.0, U[vs] - e)
        cap = np.minimum(Pc[vs], room / (eta_c[vs] * dt))
        need = np.maximum(0.0, target[js] - e)
        want = np.minimum(cap, need / (eta_c[vs] * dt))
        low = (want > 1e-9) & (want < pmin[vs])
        want[low] = np.where(pmin[vs][low] <= cap[low] + 1e-12, pmin[vs][low], 0.0)
        want[(want <= 1e-9) | (d > 0)] = 0.0
        order = np.argsort(s_end[js], kind="stable")
        w = want[order]
        cum = np.cumsum(w)
        fits = cum <= headroom + 1e-9
        if not fits.all():
            i0 = int(np.argmin(fits))
            left = headroom - (cum[i0 - 1] if i0 else 0.0)
            w[i0] = left if left >= max(pmin[vs][order[i0]], 1e-9) else 0.0
            w[i0 + 1 :] = 0.0
        c[order] = w
        if not sc.pv_curtailable:
            must = pv[k] - base[k] - exp_lim - c.sum() + d.sum()
            if must > 1e-9:  # PV that must go somewhere: charge whoever has room
                extra = np.where(d > 0, 0.0, cap - c)
                extra[(c <= 0) & (extra < pmin[vs])] = 0.0
                cum = np.cumsum(extra)
                if not len(cum) or cum[-1] < must - 1e-9:
                    return None
                n_full = int(np.searchsorted(cum, must))
                add = extra.copy()
                add[n_full + 1 :] = 0.0
                add[n_full] = must - (cum[n_full - 1] if n_full else 0.0)
                if 0 < add[n_full] < pmin[vs][n_full] and c[n_full] <= 0:
                    add[n_full] = min(extra[n_full], pmin[vs][n_full])
                c += add
        e_new = e + eta_c[vs] * c * dt - d * dt / eta_d[vs]
        soc[vs] = e_new
        charge[vs, k], discharge[vs, k], soc_after[vs, k] = c, d, e_new
        charge_sum[k], discharge_sum[k] = c.sum(), d.sum()

    return _columns(sc, plan, mm, charge, discharge, soc_after, e_start, u, charge_sum, discharge_sum, base, pv, ep)


def _columns(sc, plan, mm, charge, discharge, soc_after, e_start, u, charge_sum, discharge_sum, base, pv, ep):
    """The greedy's decisions as column values of ``mm``; None if they break a row of the MILP."""
    x = np.zeros(mm.n_cols)
    pv_, pt = mm.pair_v, mm.pair_t
    c = charge[pv_, pt]
    d = discharge[pv_, pt]
    e_after = soc_after[pv_, pt]
    x[mm.col_c] = c
    hd = mm.col_d >= 0
    x[mm.col_d[hd]] = d[hd]
    x[mm.col_e_after] = e_after
    lens = plan.segments["end"].to_numpy(np.int64) - plan.segments["start"].to_numpy(np.int64)
    x[mm.col_e[_excl_cumsum(lens + 1)]] = e_start
    x[mm.col_u] = u
    # site: PV used unless nothing pays for it, the net imported or exported
    if sc.pv_curtailable:
        room_kw = base + charge_sum - discharge_sum + np.where(ep > 0, sc.export_limit_kw, 0.0)
        pv_used = np.clip(room_kw, 0.0, pv)
    else:
        pv_used = pv.copy()
    net = base + charge_sum - discharge_sum - pv_used
    imp, exp = np.maximum(net, 0.0), np.maximum(-net, 0.0)
    x[mm.col_imp], x[mm.col_exp], x[mm.col_pv] = imp, exp, pv_used
    if len(mm.col_peak):
        x[mm.col_peak] = imp.max(initial=0.0)
    x[mm.col_z] = (exp[mm.meter_steps] > 0).astype(float)
    # modes: charging mode where it charges, or where nothing forbids it (no minimum power,
    # not above max_soc); discharging mode only where it discharges
    hx, hy = mm.col_x >= 0, mm.col_y >= 0
    above = mm.high_pair & (e_after > mm.U_pair + 1e-9)
    xm = (c > 0) | ((mm.pmin_pair <= 0) & ~above & (d <= 0))
    x[mm.col_x[hx]] = xm[hx].astype(float)
    x[mm.col_y[hy]] = (d[hy] > 0).astype(float)
    if max_violation(mm, x) > FEAS_TOL:
        return None
    return x
