"""The greedy plan on sites with chargers (``site.chargers``) and a circuit tree (``site.circuit``).

:func:`charger_greedy_plan` is what :func:`gridopt.optimizer.greedy.greedy_plan` returns on such
sites: a plan without a solver that satisfies every row of the MILP, the fast path's fallback
when the LP does not finish within the time limit.

1. **Assignment, first come first served** (:func:`first_come_assignment`): occupancies
   (plug-in segments cut at ``site.reassign_at``, :func:`gridopt.optimizer.circuit.occupancies`)
   by start; at equal starts the continuation of a car already plugged in first (it keeps its
   group, hence its charger). An occupancy whose session names a charger (``station_id``) holds
   it. Any other takes a group of pooled chargers with a charger free during the whole
   occupancy, preferring the group it held before the cut, then a group whose ``v2g`` matches
   the car's (V2G cars on V2G chargers, the others off them), then the highest charging power;
   a car none of the free chargers can charge (its minimum above their power) holds none. A car
   without a charger charges nothing.
2. **Powers**: the rules of :mod:`gridopt.optimizer.greedy` (cheapest steps, else step by step),
   with each vehicle's limits in each step those of the charger it holds
   (:func:`gridopt.optimizer.circuit.charger_limits`: ``min(P_v, max_kw)``,
   ``max(min_v, min_kw)``, discharge only on a ``v2g`` charger), and every power granted only up
   to what keeps every circuit row of the step within its bound. The rows are the MILP's own
   (:class:`gridopt.optimizer.circuit.CircuitRows`: a node's ``|sum P| <= limit_kw``, and per line
   the exact projection or the inscribed 12-gon's facets, which lie inside the exact phasor
   magnitude's disk, so the independent check's exact currents hold too). The plan of a step is
   built by adding powers one vehicle at a time to a feasible state (all zero at first, and zero
   is always feasible since every bound is ``>= 0``): the largest addition that keeps each row
   ``|v_r + k_r p| <= b_r`` is ``min_r (b_r - sign(k_r) v_r) / |k_r|``. A vehicle offered less than
   its minimum power in a step where it does not charge yet does not charge there.

The column values (assignment binaries, the per-group split of the power) are filled in from
the assignment; the plan is then checked row by row like any greedy plan
(:func:`gridopt.optimizer.greedy.max_violation`), else None.
"""

from __future__ import annotations

import math

import numpy as np

from ..fleet import FleetPlan
from ..scenario import Scenario
from .circuit import ChargerBlock, charger_limits
from .matrix import MatrixModel

#: Margin kept below each circuit bound [relative to max(1, bound)].
_MARGIN = 1e-9


def first_come_assignment(sc: Scenario, plan: FleetPlan, blk: ChargerBlock) -> dict:
    """The unit each occupancy holds, first come first served (see the module docstring).

    Returns
    -------
    dict
        occupancy -> ``("k", charger row)`` for a named charger, ``("g", group)`` for a pooled
        group, or None (no charger).
    """
    occ = blk.occupancies
    chg = sc.chargers.reset_index(drop=True)
    by_id = {cid: i for i, cid in enumerate(chg["charger_id"])}
    veh = sc.vehicles.loc[plan.vehicle_ids]
    pc_v = veh["max_charge_kw"].to_numpy(float)
    pd_v = veh["max_discharge_kw"].to_numpy(float)
    pmin_v = veh["min_charge_kw"].to_numpy(float)
    T = sc.grid.n_steps
    n_g = len(blk.groups)
    load = np.zeros((n_g, T), np.int64)
    start = occ["start"].to_numpy(np.int64)
    end = occ["end"].to_numpy(np.int64)
    seg = occ["segment"].to_numpy(np.int64)
    ends_at = {(int(s), int(e)): o for o, (s, e) in enumerate(zip(seg, end, strict=True))}
    prev = {o: ends_at.get((int(seg[o]), int(start[o]))) for o in range(len(occ))}
    order = sorted(range(len(occ)), key=lambda o: (start[o], prev[o] is None, o))
    held: dict = {}
    for o in order:
        st = occ.at[o, "station"]
        if isinstance(st, str):
            held[o] = ("k", by_id[st])
            continue
        if not n_g:
            held[o] = None
            continue
        a, e, v = int(start[o]), int(end[o]), int(occ.at[o, "vehicle"])
        if o in blk.fixed_group:
            g = blk.fixed_group[o]
            held[o] = ("g", g)
            load[g, a:e] += 1
            continue
        before = held.get(prev[o]) if prev[o] is not None else None
        best, best_key = None, None
        for g in range(n_g):
            if not (load[g, a:e] < blk.sizes[g]).all():
                continue
            c_hi, d_hi, _ = charger_limits(chg, blk.group_row[g], pc_v[v], pd_v[v], pmin_v[v])
            if c_hi <= 0 and d_hi <= 0:
                continue
            v2g_match = bool(chg.at[blk.group_row[g], "v2g"]) == (pd_v[v] > 0)
            key = (before != ("g", g), not v2g_match, -c_hi, g)
            if best_key is None or key < best_key:
                best, best_key = g, key
        held[o] = ("g", best) if best is not None else None
        if best is not None:
            load[best, a:e] += 1
    return held


class _CircuitState:
    """The circuit rows' values in each step, and the largest power a unit may still add."""

    def __init__(self, blk: ChargerBlock, T: int):
        rows = blk.circuit
        self.rows = rows
        self.index = {u: i for i, u in enumerate(rows.units)} if rows is not None else {}
        self.val = np.zeros((T, len(rows.bound))) if rows is not None else None
        if rows is not None:
            self.bound = rows.bound - _MARGIN * np.maximum(1.0, rows.bound)

    def room(self, t: int, unit, sign: float) -> float:
        """Largest ``p >= 0`` [kW] such that unit ``unit`` may add ``sign * p`` to its net power in step ``t``."""
        if self.rows is None or unit not in self.index:
            return math.inf
        r = self.rows.rows_of[unit]
        if not len(r):
            return math.inf
        k = sign * self.rows.coef_of[unit]
        v = self.val[t, r]
        b = self.bound[r]
        with np.errstate(divide="ignore", invalid="ignore"):
            lim = np.where(k > 1e-12, (b - v) / k, np.where(k < -1e-12, (b + v) / -k, math.inf))
        return max(0.0, float(np.min(lim, initial=math.inf)))

    def add(self, t: int, unit, sign: float, p: float) -> None:
        if self.rows is None or unit not in self.index or p == 0.0:
            return
        self.val[t, self.rows.rows_of[unit]] += sign * p * self.rows.coef_of[unit]


class _Limits:
    """Per vehicle and step: the charger's limits and the unit it is on (None: no charger)."""

    def __init__(self, sc: Scenario, plan: FleetPlan, blk: ChargerBlock, held: dict):
        V, T = len(plan.vehicle_ids), sc.grid.n_steps
        chg = sc.chargers.reset_index(drop=True)
        veh = sc.vehicles.loc[plan.vehicle_ids]
        pc_v = veh["max_charge_kw"].to_numpy(float)
        pd_v = veh["max_discharge_kw"].to_numpy(float)
        pmin_v = veh["min_charge_kw"].to_numpy(float)
        self.pc = np.zeros((V, T))
        self.pd = np.zeros((V, T))
        self.pmin = np.zeros((V, T))
        self.unit = np.full((V, T), None, dtype=object)
        occ = blk.occupancies
        for o, unit in held.items():
            if unit is None:
                continue
            v, a, e = int(occ.at[o, "vehicle"]), int(occ.at[o, "start"]), int(occ.at[o, "end"])
            row = unit[1] if unit[0] == "k" else blk.group_row[unit[1]]
            c_hi, d_hi, lo = charger_limits(chg, row, pc_v[v], pd_v[v], pmin_v[v])
            self.pc[v, a:e], self.pd[v, a:e], self.pmin[v, a:e] = c_hi, d_hi, lo
            for t in range(a, e):
                self.unit[v, t] = unit


def charger_greedy_plan(sc: Scenario, plan: FleetPlan, mm: MatrixModel) -> np.ndarray | None:
    """A feasible plan of ``mm`` on a site with chargers (column values, binaries included), or None.

    See the module docstring. None means the greedy got stuck (e.g. V2G cars that the
    circuit does not let discharge enough to keep the import within its limit).
    """
    from .greedy import _columns, _fleet

    blk = mm.charger_block
    held = first_come_assignment(sc, plan, blk)
    lim = _Limits(sc, plan, blk, held)
    f = _fleet(sc, plan)
    for rule in (_cheapest_steps, _step_by_step):
        decisions = rule(f, lim, _CircuitState(blk, f.T))
        if decisions is None:
            continue
        x = _columns(sc, plan, mm, decisions, fill=lambda x: _fill_block(mm, blk, held, x))
        if x is not None:
            return x
    return None


def _fill_block(mm: MatrixModel, blk: ChargerBlock, held: dict, x: np.ndarray) -> None:
    """The block's columns from the assignment and the plan's powers (in place)."""
    vals = np.zeros(blk.n_cols)
    group = {o: u[1] for o, u in held.items() if u is not None and u[0] == "g"}
    for (o, g), col in blk.a_col.items():
        vals[col] = 1.0 if group.get(o) == g else 0.0
    pair_occ = np.full(len(mm.col_c), -1, np.int64)
    for o, pairs in enumerate(blk.occ_pairs):
        pair_occ[pairs] = o
    c = x[mm.col_c]
    d = np.where(mm.col_d >= 0, x[np.maximum(mm.col_d, 0)], 0.0)
    for (p, g), col in blk.split_c.items():
        vals[col] = c[p] if group.get(int(pair_occ[p])) == g else 0.0
    for (p, g), col in blk.split_d.items():
        vals[col] = d[p] if group.get(int(pair_occ[p])) == g else 0.0
    if len(mm.col_chg):
        x[mm.col_chg] = vals
    # the minimum of the held group may be above the pair's: charging mode only where it charges
    nx = blk.need_x & (mm.col_x >= 0)
    x[mm.col_x[nx]] = (c[nx] > 0).astype(float)


def _cheapest_steps(f, lim: _Limits, circ: _CircuitState):
    """:func:`gridopt.optimizer.greedy._cheapest_steps` with each step's power within the charger and the circuit."""
    from .greedy import _earliest_end_first, _tiers

    dt = f.dt
    tiers = _tiers(f)
    if tiers is None:
        return None
    cap, price = tiers

    def take(t: int, tier: int, amount: float) -> None:
        first = min(amount, cap[tier, t])
        cap[tier, t] -= first
        cap[1 - tier, t] = max(0.0, cap[1 - tier, t] - (amount - first))

    def segment(j: int, v: int, a: int, b: int, e0: float) -> np.ndarray:
        gain = f.eta_c[v] * dt
        need = max(0.0, min(f.target[j], f.U[v]) - e0) / gain  # kW over one step
        room = max(0.0, f.U[v] - e0) / gain
        p = np.zeros(b - a)
        if need > 1e-9:
            n = b - a
            order = np.lexsort((np.tile(np.arange(n), 2), price[:, a:b].ravel()))  # cheapest first, then earliest
            for tier, s in zip(*np.divmod(order, n), strict=True):
                if need <= 1e-9:
                    break
                t = a + int(s)
                pc = lim.pc[v, t]
                if pc <= 0 or cap[tier, t] <= 1e-12:
                    continue
                unit = lim.unit[v, t]
                c_room = circ.room(t, unit, 1.0)
                add = min(pc - p[s], need, cap[tier, t], c_room, room)
                if p[s] <= 0 and add < lim.pmin[v, t]:
                    lo = lim.pmin[v, t]  # below the minimum: raise to it where everything has room, else not here
                    if lo <= min(pc, room, cap[0, t] + cap[1, t], c_room):
                        add = lo
                    else:
                        continue
                if add <= 1e-12:
                    continue
                p[s] += add
                need -= add
                room -= add
                take(t, int(tier), add)
                circ.add(t, unit, 1.0, add)
        return p

    return _earliest_end_first(f, segment)


def _step_by_step(f, lim: _Limits, circ: _CircuitState):
    """:func:`gridopt.optimizer.greedy._step_by_step` with each power within the charger and the circuit."""
    from .greedy import _Decisions, _events, _plug_events, _step_state

    T, dt = f.T, f.dt
    events = _events(f)
    e_start, e_req, u, charge, discharge, soc_after, active, soc = _step_state(f)
    for k in range(T + 1):
        _plug_events(f, events.get(k, ()), k, active, soc, e_start, e_req, u)
        if k == T:
            break
        vs = np.flatnonzero(active >= 0)
        headroom = f.imp_lim[k] - f.base[k] + f.pv[k]  # may be inf
        if not len(vs):
            if headroom < -1e-9:
                return None
            continue
        e, js = soc[vs], active[vs]
        c, d = np.zeros(len(vs)), np.zeros(len(vs))
        units = lim.unit[vs, k]
        if headroom < 0:  # the site needs V2G: most energy above min_soc first, within the circuit
            pd = lim.pd[vs, k]
            avail = np.where(pd > 0, np.minimum(pd, np.maximum(0.0, e - f.L[vs]) * f.eta_d[vs] / dt), 0.0)
            short = -headroom
            for i in np.argsort(-avail, kind="stable"):
                if short <= 1e-12:
                    break
                q = min(avail[i], short, circ.room(k, units[i], -1.0))
                if q > 0:
                    d[i] = q
                    short -= q
                    circ.add(k, units[i], -1.0, q)
            if short > 1e-9:
                return None
            headroom = 0.0
        pmin = lim.pmin[vs, k]
        cap = np.minimum(lim.pc[vs, k], np.maximum(0.0, f.U[vs] - e) / (f.eta_c[vs] * dt))
        want = np.minimum(cap, np.maximum(0.0, f.target[js] - e) / (f.eta_c[vs] * dt))
        low = (want > 1e-9) & (want < pmin)
        want[low] = np.where(pmin[low] <= cap[low] + 1e-12, pmin[low], 0.0)
        want[(want <= 1e-9) | (d > 0)] = 0.0
        for i in np.argsort(f.s_end[js], kind="stable"):  # earliest deadline first
            if want[i] <= 0:
                continue
            g = min(want[i], headroom, circ.room(k, units[i], 1.0))
            if g < max(pmin[i], 1e-9):
                continue
            c[i] = g
            headroom -= g
            circ.add(k, units[i], 1.0, g)
        if not f.curtailable:
            must = f.pv[k] - f.base[k] - f.exp_lim[k] - c.sum() + d.sum()
            for i in range(len(vs)):  # PV that must go somewhere: charge whoever has room
                if must <= 1e-9:
                    break
                if d[i] > 0:
                    continue
                extra = min(cap[i] - c[i], circ.room(k, units[i], 1.0))
                add = min(extra, must)
                if c[i] <= 0 and add < pmin[i]:
                    if pmin[i] > extra:
                        continue
                    add = pmin[i]
                if add > 0:
                    c[i] += add
                    must -= add
                    circ.add(k, units[i], 1.0, add)
            if must > 1e-9:
                return None
        e_new = e + f.eta_c[vs] * c * dt - d * dt / f.eta_d[vs]
        soc[vs] = e_new
        charge[vs, k], discharge[vs, k], soc_after[vs, k] = c, d, e_new
    return _Decisions(charge, discharge, soc_after, e_start, u)
