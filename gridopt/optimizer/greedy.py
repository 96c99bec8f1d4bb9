"""A feasible plan without a solver: the fast path's fallback at the time limit.

:func:`greedy_plan` tries two rules, the first that applies and gives a plan:

1. **Cheapest steps** (:func:`_cheapest_steps`), for sites that never need V2G
   to stay within the import limit and have no PV that must go into vehicles:
   plug-in segments, earliest end first, each charge what their requirement
   still needs (``(required_kwh - soc_kwh) / charge_efficiency``, never above
   ``max_soc``) in their cheapest steps that still have room. A step offers PV
   above the base load (priced at the export price it would earn, 0 where it
   would be curtailed) and then import headroom ``import_limit_kw - base_load_kw
   + pv_kw`` (at the import price), at most ``max_charge_kw``. A step charging
   below ``min_charge_kw`` is raised to it where the battery and the site have
   room, else dropped.
2. **Step by step** (:func:`_step_by_step`): in each step, V2G vehicles
   discharge only where the base load minus PV exceeds the import limit (those
   with the most energy above ``min_soc`` first, and they do not charge then);
   the others charge by earliest deadline what their next requirement needs,
   within the import headroom, with the same minimum-power rule; where PV that
   cannot be curtailed exceeds the export limit, vehicles with room absorb it.

Either way the site imports or exports the net, never both (the one-meter
rule); PV is curtailed only where nothing pays for it (an export price, an
export request's payment or penalty) and no hard export request asks for it.

Grid rules (issue 9): the import limit is the per-step one (timeseries column,
``import_cap`` events), and a hard export request is an upper bound of minus
the request on the step's net import, so the step-by-step rule discharges V2G
vehicles to meet it as it does for an import limit below the base load. The
soft grid terms are ignored (their columns are set from the plan). No rule here
can guarantee an exact tracking profile (that is a disaggregation problem the
LP solves), so with ``tracking: exact`` the greedy returns None: the fast path
then has no fallback plan before its LP finishes, and a time limit reached
before that ends in :class:`~gridopt.errors.SolverError` (exit 4). The caps
(``emissions_cap_kg``, ``grid_peak_cap_kw``) are rows of the MILP like any
other: a greedy plan that breaks them is not returned. What a requirement still
lacks at its deadline is its shortfall (priced at ``unmet_energy_penalty_per_kwh``).

The plan is written into the columns of the MILP (:class:`~gridopt.optimizer.matrix.MatrixModel`,
binaries included) and checked row by row against that model
(:func:`max_violation`): only a plan that satisfies every constraint is
returned, else None. It never discharges for profit, so its cost is an upper
bound, often well above the optimum (a third to two thirds above it on the
synthetic fleets, where V2G arbitrage pays): it is what comes back when the LP
and its repair do not finish within the time limit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..fleet import FleetPlan
from ..scenario import Scenario, step_inputs
from .checkpoints import slack_values as checkpoint_slacks
from .greedy_chargers import charger_greedy_plan
from .matrix import MatrixModel
from .switching import slack_values

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


@dataclass
class _Fleet:
    """The inputs both greedy rules read, as arrays (vehicles in the plan's order)."""

    T: int
    dt: float
    V: int
    Pc: np.ndarray
    Pd: np.ndarray
    pmin: np.ndarray
    eta_c: np.ndarray
    eta_d: np.ndarray
    L: np.ndarray
    U: np.ndarray
    base: np.ndarray
    pv: np.ndarray
    ip: np.ndarray
    ep: np.ndarray
    imp_lim: np.ndarray  # (T,) highest net import: the import limit, or minus a hard export request [kW]
    exp_lim: np.ndarray  # (T,) export limit [kW]
    curtailable: bool
    s_v: np.ndarray
    s_start: np.ndarray
    s_end: np.ndarray
    s0: np.ndarray
    link: np.ndarray
    r_seg: np.ndarray
    r_req: np.ndarray
    r_E: np.ndarray
    target: np.ndarray  # highest requirement at each segment's end [kWh], 0 if none
    reqs_of: dict


@dataclass
class _Decisions:
    charge: np.ndarray  # (V, T) [kW]
    discharge: np.ndarray  # (V, T) [kW]
    soc_after: np.ndarray  # (V, T) SoC at step end [kWh]
    e_start: np.ndarray  # per segment: SoC at its start [kWh]
    u: np.ndarray  # per requirement: shortfall [kWh]


def _fleet(sc: Scenario, plan: FleetPlan) -> _Fleet:
    veh = sc.vehicles.loc[plan.vehicle_ids]
    B = veh["battery_kwh"].to_numpy(float)
    series = sc.series
    st = step_inputs(sc)
    net_cap = st.import_limit_kw.copy()
    hard = st.hard_request_steps
    net_cap[hard] = np.minimum(net_cap[hard], -st.export_request_kw[hard])
    segs, reqs = plan.segments, plan.requirements
    r_seg = reqs["segment"].to_numpy(np.int64)
    r_req = reqs["required_kwh"].to_numpy(float)
    target = np.zeros(len(segs))
    np.maximum.at(target, r_seg, r_req)
    reqs_of: dict[int, list[int]] = {}
    for r, j in enumerate(r_seg):
        reqs_of.setdefault(int(j), []).append(r)
    return _Fleet(
        T=sc.grid.n_steps,
        dt=sc.grid.dt_h,
        V=len(plan.vehicle_ids),
        Pc=veh["max_charge_kw"].to_numpy(float),
        Pd=veh["max_discharge_kw"].to_numpy(float),
        pmin=veh["min_charge_kw"].to_numpy(float),
        eta_c=veh["charge_efficiency"].to_numpy(float),
        eta_d=veh["discharge_efficiency"].to_numpy(float),
        L=veh["min_soc"].to_numpy(float) * B,
        U=veh["max_soc"].to_numpy(float) * B,
        base=series["base_load_kw"].to_numpy(float),
        pv=series["pv_kw"].to_numpy(float),
        ip=series["import_price"].to_numpy(float),
        ep=series["export_price"].to_numpy(float),
        imp_lim=net_cap,
        exp_lim=st.export_limit_kw,
        curtailable=bool(sc.pv_curtailable),
        s_v=segs["vehicle"].to_numpy(np.int64),
        s_start=segs["start"].to_numpy(np.int64),
        s_end=segs["end"].to_numpy(np.int64),
        s0=segs["s0_kwh"].to_numpy(float),
        link=segs["link_req"].to_numpy(np.int64),
        r_seg=r_seg,
        r_req=r_req,
        r_E=reqs["energy_kwh"].to_numpy(float),
        target=target,
        reqs_of=reqs_of,
    )


def _segment_start(f: _Fleet, j: int, e_req: np.ndarray, u: np.ndarray) -> float:
    """SoC at the start of segment ``j``: known, or what the vehicle comes back with from its trip."""
    lk = f.link[j]
    return float(f.s0[j]) if lk < 0 else float(e_req[lk] + u[lk] - f.r_E[lk])


def _close(f: _Fleet, j: int, e: float, e_req: np.ndarray, u: np.ndarray) -> None:
    """Record the SoC at segment ``j``'s requirements and their shortfalls."""
    for r in f.reqs_of.get(j, ()):
        e_req[r] = e
        u[r] = min(f.r_req[r], max(0.0, f.r_req[r] - e))


def greedy_plan(sc: Scenario, plan: FleetPlan, mm: MatrixModel) -> np.ndarray | None:
    """A feasible plan of ``mm`` (column values, binaries included), or None if the greedy cannot find one.

    See the module docstring for the rules. None means the greedy got stuck
    (e.g. V2G energy too short to keep the import within its limit), not that
    the site is infeasible.
    """
    if sc.grid_terms.exact_tracking and len(step_inputs(sc).target_steps):
        return None  # tracking a profile exactly needs the LP: no rule here guarantees it
    if mm.charger_block is not None:  # chargers and circuit: gridopt.optimizer.greedy_chargers
        return charger_greedy_plan(sc, plan, mm)
    f = _fleet(sc, plan)
    for rule in (_cheapest_steps, _step_by_step):
        decisions = rule(f)
        if decisions is not None:
            x = _columns(sc, plan, mm, decisions)
            if x is not None:
                return x
    return None


def _tiers(f: _Fleet) -> tuple[np.ndarray, np.ndarray] | None:
    """The two tiers of power a step offers vehicles, for :func:`_cheapest_steps`.

    Returns
    -------
    (cap, price) or None
        ``cap``, shape (2, T): power left for vehicles [kW] from PV above the base load
        (tier 0) and from import headroom (tier 1); ``price``, shape (2, T): what a kWh
        of each costs [currency/kWh]. None where the site needs V2G somewhere or has PV
        that must go into vehicles.
    """
    surplus = np.maximum(0.0, f.pv - f.base)
    headroom = f.imp_lim - np.maximum(0.0, f.base - f.pv)
    if np.any(headroom < -1e-9):
        return None  # the site needs V2G somewhere
    if not f.curtailable and np.any(f.pv - f.base > f.exp_lim + 1e-9):
        return None  # PV that must go into vehicles
    # tier A: PV above the base load; using it forgoes the export price where it could be exported
    # (all of it if it cannot be curtailed), nothing where it would be curtailed anyway
    if f.curtailable:
        price_a = np.where((f.ep > 0) & (surplus <= f.exp_lim), f.ep, 0.0)
    else:
        price_a = f.ep.copy()
    cap = np.stack([surplus, np.minimum(headroom, 1e12)])
    return cap, np.stack([price_a, f.ip])


def _events(f: _Fleet) -> dict[int, list[int]]:
    """Segments by the step at which they start or (if not empty) end: {step: [segment, ...]}."""
    events: dict[int, list[int]] = {}
    for j in range(len(f.s_v)):
        events.setdefault(int(f.s_start[j]), []).append(j)
        if f.s_end[j] != f.s_start[j]:
            events.setdefault(int(f.s_end[j]), []).append(j)
    return events


def _earliest_end_first(f: _Fleet, segment) -> _Decisions:
    """Charging only, segment by segment by earliest end (chronological within a vehicle).

    Parameters
    ----------
    f : _Fleet
    segment : callable
        ``segment(j, v, a, b, e0)``: the charging power [kW], shape ``(b - a,)``, of
        vehicle ``v`` in steps ``a`` to ``b - 1`` of its segment ``j``, which starts
        with ``e0`` [kWh] stored (called for non-empty segments only, in that order).
    """
    T, dt = f.T, f.dt
    S, R = len(f.s_v), len(f.r_req)
    e_start, e_req, u = np.full(S, np.nan), np.full(R, np.nan), np.zeros(R)
    charge = np.zeros((f.V, T))
    soc_after = np.full((f.V, T), np.nan)
    for j in np.lexsort((np.arange(S), f.s_end)):  # earliest end first (chronological within a vehicle)
        v, a, b = f.s_v[j], f.s_start[j], f.s_end[j]
        e0 = _segment_start(f, j, e_req, u)
        e_start[j] = e0
        if b == a:
            _close(f, j, e0, e_req, u)
            continue
        p = segment(j, v, a, b, e0)
        charge[v, a:b] = p
        soc_after[v, a:b] = e0 + np.cumsum(p) * f.eta_c[v] * dt
        _close(f, j, float(soc_after[v, b - 1]), e_req, u)
    return _Decisions(charge, np.zeros((f.V, T)), soc_after, e_start, u)


def _cheapest_steps(f: _Fleet) -> _Decisions | None:
    """Each segment, by earliest end, charges what it needs in its cheapest steps that have room.

    A step offers two tiers of power: PV above the base load (at the export
    price it would otherwise earn, 0 where it would be curtailed) and import
    headroom (at the import price). Only for sites that never need V2G nor must
    absorb PV (else None: :func:`_step_by_step` handles those).
    """
    dt = f.dt
    tiers = _tiers(f)
    if tiers is None:
        return None
    cap, price = tiers

    def segment(j: int, v: int, a: int, b: int, e0: float) -> np.ndarray:
        need_kw = max(0.0, min(f.target[j], f.U[v]) - e0) / (f.eta_c[v] * dt)  # kW over one step
        p = np.zeros(b - a)
        if need_kw > 1e-9 and f.Pc[v] > 0:
            c2, pr = cap[:, a:b], price[:, a:b]
            n = b - a
            order = np.lexsort((np.tile(np.arange(n), 2), pr.ravel()))  # cheapest first, then earliest
            tier, step = np.divmod(order, n)
            first = np.where(pr[0] <= pr[1], 0, 1)  # the tier a step's power comes from first
            own = np.minimum(c2[tier, step], f.Pc[v])
            second = tier != first[step]
            own[second] = np.minimum(
                own[second], np.maximum(0.0, f.Pc[v] - np.minimum(c2[first[step[second]], step[second]], f.Pc[v]))
            )
            cum = np.cumsum(own)
            k = int(np.searchsorted(cum, need_kw))
            take = own.copy()
            if k < len(take):
                take[k] = need_kw - (cum[k - 1] if k else 0.0)
                take[k + 1 :] = 0.0
            np.add.at(p, step, take)
            small = (p > 0) & (p < f.pmin[v])
            if small.any():  # below the charger's minimum: raise it where room and power allow, else drop
                room_kw = max(0.0, f.U[v] - e0) / (f.eta_c[v] * dt) - p.sum()
                avail = c2.sum(axis=0) - p
                for t in np.flatnonzero(small):
                    extra = f.pmin[v] - p[t]
                    if extra <= room_kw + 1e-12 and extra <= avail[t] + 1e-12 and f.pmin[v] <= f.Pc[v]:
                        p[t] = f.pmin[v]
                        room_kw -= extra
                    else:
                        room_kw += p[t]
                        p[t] = 0.0
            # take the power from the tiers, cheaper first
            from_first = np.minimum(p, c2[first, np.arange(n)])
            c2[first, np.arange(n)] -= from_first
            c2[1 - first, np.arange(n)] -= p - from_first
        return p

    return _earliest_end_first(f, segment)


def _plug_events(f: _Fleet, segs, k: int, active, soc, e_start, e_req, u) -> None:
    """Segments ``segs`` starting or ending at step ``k``, in place.

    A segment ending here is closed at its vehicle's ``soc`` [kWh] and the vehicle
    is no longer ``active`` (-1); one starting here gets its ``e_start`` [kWh] and,
    unless it is empty (then closed at once), becomes its vehicle's active segment.
    """
    for j in segs:  # segment order: chronological within a vehicle
        v = f.s_v[j]
        if f.s_start[j] < k:  # ends here
            _close(f, j, soc[v], e_req, u)
            active[v] = -1
            continue
        e0 = _segment_start(f, j, e_req, u)
        e_start[j] = e0
        if f.s_end[j] == k:
            _close(f, j, e0, e_req, u)
        else:
            active[v], soc[v] = j, e0


def _step_state(f: _Fleet) -> tuple[np.ndarray, ...]:
    """The empty state of a step-by-step rule: ``e_start`` (S,), ``e_req`` (R,) [kWh], ``u`` (R,)
    unmet [kWh], ``charge``, ``discharge`` (V, T) [kW], ``soc_after`` (V, T) [kWh], ``active`` (V,)
    segment plugged in (-1 none), ``soc`` (V,) [kWh]."""
    S, R, V, T = len(f.s_v), len(f.r_req), f.V, f.T
    return (
        np.full(S, np.nan),
        np.full(R, np.nan),
        np.zeros(R),
        np.zeros((V, T)),
        np.zeros((V, T)),
        np.full((V, T), np.nan),
        np.full(V, -1, np.int64),
        np.full(V, np.nan),
    )


def _step_by_step(f: _Fleet) -> _Decisions | None:
    """Step by step: V2G where the site needs it, charging by earliest deadline, absorbing PV that must go somewhere."""
    T, dt = f.T, f.dt
    Pc, Pd, pmin, eta_c, eta_d, L, U = f.Pc, f.Pd, f.pmin, f.eta_c, f.eta_d, f.L, f.U
    base, pv, imp_lim, exp_lim = f.base, f.pv, f.imp_lim, f.exp_lim
    s_end, target = f.s_end, f.target
    events = _events(f)

    e_start, e_req, u, charge, discharge, soc_after, active, soc = _step_state(f)

    for k in range(T + 1):
        _plug_events(f, events.get(k, ()), k, active, soc, e_start, e_req, u)
        if k == T:
            break
        vs = np.flatnonzero(active >= 0)
        if not len(vs):
            if base[k] - pv[k] > imp_lim[k] + 1e-9:
                return None
            continue
        e = soc[vs]
        js = active[vs]
        c = np.zeros(len(vs))
        d = np.zeros(len(vs))
        headroom = imp_lim[k] - base[k] + pv[k]  # may be inf
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
        if not f.curtailable:
            must = pv[k] - base[k] - exp_lim[k] - c.sum() + d.sum()
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

    return _Decisions(charge, discharge, soc_after, e_start, u)


def _grid_columns(mm: MatrixModel, x: np.ndarray, st, imp: np.ndarray, exp: np.ndarray, ev: np.ndarray) -> None:
    """The grid terms' columns that a plan's import, export and charging imply (their tightest values)."""
    load = st.net_load_kw + imp - exp
    x[mm.col_gpk] = load.max(initial=-np.inf) if len(mm.col_gpk) else 0.0
    if len(mm.col_mean):
        x[mm.col_mean] = load.mean()
        x[mm.col_dev] = np.abs(load - load.mean()).max(initial=0.0)
    k = mm.trk_steps
    x[mm.col_trk] = np.abs(imp[k] - exp[k] - st.target_kw[k]) if len(k) else 0.0
    k = mm.ren_steps
    x[mm.col_ren] = np.minimum(ev[k], st.renewable_surplus_kw[k]) if len(k) else 0.0
    x[mm.col_paid] = np.minimum(exp[mm.paid_steps], st.export_request_kw[mm.paid_steps])
    x[mm.col_short] = np.maximum(0.0, st.export_request_kw[mm.short_steps] - exp[mm.short_steps])


def _columns(sc: Scenario, plan: FleetPlan, mm: MatrixModel, dec: _Decisions, fill=None) -> np.ndarray | None:
    """The greedy's decisions as column values of ``mm``; None if they break a row of the MILP."""
    charge, discharge, soc_after, e_start, u = dec.charge, dec.discharge, dec.soc_after, dec.e_start, dec.u
    charge_sum, discharge_sum = charge.sum(axis=0), discharge.sum(axis=0)
    base = sc.series["base_load_kw"].to_numpy(float)
    pv = sc.series["pv_kw"].to_numpy(float)
    ep = sc.series["export_price"].to_numpy(float)
    st = step_inputs(sc)
    req = st.export_request_kw
    x = np.zeros(mm.n_cols)
    pv_, pt = mm.pair_v, mm.pair_t
    c = charge[pv_, pt]
    d = discharge[pv_, pt]
    e_after = soc_after[pv_, pt]
    x[mm.col_c] = c
    hd = mm.col_d >= 0
    x[mm.col_d[hd]] = d[hd]
    has_e = mm.col_e_after >= 0  # -1 inside a slim segment (no SoC column there)
    x[mm.col_e_after[has_e]] = e_after[has_e]
    x[mm.col_e_start] = e_start
    x[mm.col_u] = u
    # site: PV used unless nothing pays for it, the net imported or exported
    if sc.pv_curtailable:
        # export PV where it earns something or a hard export request asks for it
        pays = (ep + np.where(req > 0, st.export_payment_per_kwh + st.export_penalty_per_kwh, 0.0) > 0) | (
            (req > 0) & st.export_request_hard
        )
        room_kw = base + charge_sum - discharge_sum + np.where(pays, st.export_limit_kw, 0.0)
        pv_used = np.clip(room_kw, 0.0, pv)
    else:
        pv_used = pv.copy()
    net = base + charge_sum - discharge_sum - pv_used
    imp, exp = np.maximum(net, 0.0), np.maximum(-net, 0.0)
    x[mm.col_imp], x[mm.col_exp], x[mm.col_pv] = imp, exp, pv_used
    if len(mm.col_peak):
        x[mm.col_peak] = imp.max(initial=0.0)
    x[mm.col_z] = (exp[mm.meter_steps] > 0).astype(float)
    _grid_columns(mm, x, st, imp, exp, charge_sum)
    x[mm.col_sw] = slack_values(mm, x)  # switching penalty's rises (gridopt.optimizer.switching)
    x[mm.col_cp] = checkpoint_slacks(mm, x)  # soft checkpoints' shortfalls (gridopt.optimizer.checkpoints)
    # modes: charging mode where it charges, or where nothing forbids it (no minimum power,
    # not above max_soc); discharging mode only where it discharges
    hx, hy = mm.col_x >= 0, mm.col_y >= 0
    above = mm.high_pair & (e_after > mm.U_pair + 1e-9)
    xm = (c > 0) | ((mm.pmin_pair <= 0) & ~above & (d <= 0))
    x[mm.col_x[hx]] = xm[hx].astype(float)
    x[mm.col_y[hy]] = (d[hy] > 0).astype(float)
    if fill is not None:  # more columns from the rule (the charger block's: gridopt.optimizer.greedy_chargers)
        fill(x)
    if max_violation(mm, x) > FEAS_TOL:
        return None
    return x
