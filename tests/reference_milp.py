"""An independent reference for gridopt's optimal cost.

Written from the model's specification only (not from gridopt's optimizer): it
builds its own dense constraint matrices with numpy and solves them with
:func:`scipy.optimize.milp` (HiGHS through SciPy, a different formulation path
than gridopt's Pyomo model).

The model
---------
Steps ``t = 0 .. T-1`` of ``dt`` hours. A vehicle is plugged in during step
``[ts, te)`` only if it is at the site for the whole step: a session vehicle if
some session has ``arrival <= ts`` and ``departure >= te``; a trip vehicle if no
trip ``[departure, arrival)`` overlaps the step.

Per plugged step: charge ``c`` in ``[0, max_charge_kw]`` and discharge ``d`` in
``[0, max_discharge_kw]``, with mode binaries ``bc``, ``bd`` (``bc + bd <= 1``;
``min_charge_kw * bc <= c <= max_charge_kw * bc``; ``d <= max_discharge_kw * bd``).
``soc_end = soc_start + eta_c c dt - d dt / eta_d``; charging ends at
``soc <= U``, discharging at ``soc >= L`` (big-M on the mode binaries), SoC >= 0.

Requirements (each with its own shortfall >= 0 priced at the unmet-energy
penalty): a trip's departure (``departure_soc * B`` or ``L + energy``; the SoC on
return is ``soc_dep + shortfall - energy``), a session's departure (or the
horizon end), and ``final_soc`` at the horizon end for vehicles plugged in
during the last step.

Site: ``import - export = base + sum c - sum d - pv_used``, with a binary that
forbids importing and exporting at once in steps where export pays more than
import. Cost: energy, demand charge on the peak import, degradation on the
discharged energy, and the shortfall penalty.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.optimize import Bounds, LinearConstraint, milp

__all__ = ["reference_cost", "ReferenceModel"]


class _LP:
    """A tiny accumulator of variables and linear rows, turned into dense arrays."""

    def __init__(self):
        self.lb: list[float] = []
        self.ub: list[float] = []
        self.cost: list[float] = []
        self.integer: list[int] = []
        self.names: list[str] = []
        self.rows: list[tuple[dict[int, float], float, float]] = []

    def var(self, name, lb=0.0, ub=math.inf, cost=0.0, binary=False) -> int:
        self.names.append(name)
        self.lb.append(0.0 if binary else float(lb))
        self.ub.append(1.0 if binary else float(ub))
        self.cost.append(float(cost))
        self.integer.append(1 if binary else 0)
        return len(self.names) - 1

    def add_cost(self, i: int, c: float) -> None:
        self.cost[i] += float(c)

    def row(self, coefs: dict[int, float], lo: float = -math.inf, hi: float = math.inf) -> None:
        self.rows.append((dict(coefs), float(lo), float(hi)))

    def solve(self, time_limit: float = 60.0, gap: float = 1e-9):
        n = len(self.names)
        A = np.zeros((max(len(self.rows), 1), n))
        lo = np.full(A.shape[0], -np.inf)
        hi = np.full(A.shape[0], np.inf)
        for r, (coefs, row_lo, row_hi) in enumerate(self.rows):
            for j, a in coefs.items():
                A[r, j] += a
            lo[r], hi[r] = row_lo, row_hi
        res = milp(
            c=np.array(self.cost),
            integrality=np.array(self.integer),
            bounds=Bounds(np.array(self.lb), np.array(self.ub)),
            constraints=LinearConstraint(A, lo, hi),
            options={"time_limit": time_limit, "mip_rel_gap": gap, "disp": False},
        )
        return res


class _Expr:
    """A linear expression ``const + sum coef * x`` with numeric bounds [lo, hi]."""

    def __init__(self, const=0.0, coefs=None, lo=None, hi=None):
        self.const = float(const)
        self.coefs = dict(coefs or {})
        self.lo = self.const if lo is None else float(lo)
        self.hi = self.const if hi is None else float(hi)


def _plus(expr: _Expr, coefs: dict[int, float]) -> dict[int, float]:
    out = dict(expr.coefs)
    for j, a in coefs.items():
        out[j] = out.get(j, 0.0) + a
    return out


class ReferenceModel:
    """Build the reference MILP of a scenario; :meth:`solve` returns the optimal cost."""

    def __init__(self, sc):
        self.sc = sc
        self.lp = _LP()
        grid = sc.grid
        self.T = int(grid.n_steps)
        self.dt = float(grid.dt_h)
        step = pd.Timedelta(minutes=int(grid.step_minutes))
        self.ts = [pd.Timestamp(t) for t in grid.index]
        self.te = [t + step for t in self.ts]
        self.start = self.ts[0]
        self.end = self.te[-1]
        self.pen = float(sc.unmet_energy_penalty_per_kwh)
        # per step: lists of charge / discharge variable indices
        self.charge_vars = [[] for _ in range(self.T)]
        self.discharge_vars = [[] for _ in range(self.T)]
        self.max_charge_sum = np.zeros(self.T)
        self.max_discharge_sum = np.zeros(self.T)
        session_ids = set(sc.sessions["vehicle_id"])
        for vid, v in sc.vehicles.iterrows():
            if vid in session_ids:
                self._session_vehicle(vid, v)
            else:
                self._trip_vehicle(vid, v)
        self._site()

    # -- vehicles ----------------------------------------------------------

    def _shortfall(self, name: str, soc: _Expr, required: float) -> int:
        """Requirement ``soc + s >= required`` with ``0 <= s <= required``; returns s."""
        s = self.lp.var(name, 0.0, max(required, 0.0), cost=self.pen)
        coefs = _plus(soc, {s: 1.0})
        self.lp.row(coefs, lo=required - soc.const)
        return s

    def _plugged_step(self, vid, v, t: int, soc: _Expr, stretch: _Expr) -> _Expr:
        """Add the variables of one plugged step starting at ``soc``; return the end SoC.

        ``stretch`` is the start value of the plugged stretch, whose numeric
        bounds bound the SoC: ``min(L, lo) <= soc_end <= max(U, hi)``.
        """
        lp, dt = self.lp, self.dt
        B = float(v["battery_kwh"])
        L, U = float(v["min_soc"]) * B, float(v["max_soc"]) * B
        pmax, dmax, pmin = float(v["max_charge_kw"]), float(v["max_discharge_kw"]), float(v["min_charge_kw"])
        eta_c, eta_d = float(v["charge_efficiency"]), float(v["discharge_efficiency"])
        lo = max(0.0, min(L, stretch.lo))
        hi = max(U, stretch.hi)
        c = lp.var(f"c[{vid},{t}]", 0.0, pmax)
        d = lp.var(f"d[{vid},{t}]", 0.0, dmax, cost=self.sc.battery_degradation_cost_per_kwh * dt)
        bc = lp.var(f"bc[{vid},{t}]", binary=True)
        bd = lp.var(f"bd[{vid},{t}]", binary=True)
        e = lp.var(f"soc[{vid},{t}]", lo, hi)
        lp.row({c: 1.0, bc: -pmax}, hi=0.0)  # c <= pmax * bc
        if pmin > 0:
            lp.row({c: 1.0, bc: -pmin}, lo=0.0)  # c >= pmin * bc
        lp.row({d: 1.0, bd: -dmax}, hi=0.0)  # d <= dmax * bd
        lp.row({bc: 1.0, bd: 1.0}, hi=1.0)  # never both
        # soc_end = soc_start + eta_c c dt - d dt / eta_d
        coefs = {k: -a for k, a in soc.coefs.items()}
        coefs[e] = coefs.get(e, 0.0) + 1.0
        coefs[c] = coefs.get(c, 0.0) - eta_c * dt
        coefs[d] = coefs.get(d, 0.0) + dt / eta_d
        lp.row(coefs, lo=soc.const, hi=soc.const)
        # charging => soc_end <= U :  e <= U + (hi - U)(1 - bc)  <=>  e + (hi - U) bc <= hi
        if hi > U:
            lp.row({e: 1.0, bc: hi - U}, hi=hi)
        # discharging => soc_end >= L :  e >= L - (L - lo)(1 - bd)  <=>  e - (L - lo) bd >= lo
        if L > lo:
            lp.row({e: 1.0, bd: -(L - lo)}, lo=lo)
        self.charge_vars[t].append(c)
        self.discharge_vars[t].append(d)
        self.max_charge_sum[t] += pmax
        self.max_discharge_sum[t] += dmax
        return _Expr(0.0, {e: 1.0}, lo, hi)

    def _final(self, vid, v, plugged_last: bool, soc: _Expr) -> None:
        fs = v["final_soc"]
        if plugged_last and not (fs is None or (isinstance(fs, float) and math.isnan(fs))):
            self._shortfall(f"final[{vid}]", soc, float(fs) * float(v["battery_kwh"]))

    def _trip_vehicle(self, vid, v) -> None:
        B = float(v["battery_kwh"])
        L, U = float(v["min_soc"]) * B, float(v["max_soc"]) * B
        trips = self.sc.trips[self.sc.trips["vehicle_id"] == vid].sort_values("departure")
        trips = [(pd.Timestamp(r.departure), pd.Timestamp(r.arrival), r) for r in trips.itertuples()]

        def plugged(t):
            return not any(dep < self.te[t] and arr > self.ts[t] for dep, arr, _ in trips)

        inside = [(dep, arr, r) for dep, arr, r in trips if self.start <= dep < self.end]
        s0 = float(v["initial_soc"]) * B
        soc = _Expr(s0)
        stretch = soc
        k = 0  # next inside trip
        plugged_last = False
        for t in range(self.T):
            # trips departing before this step's end and not yet handled depart at or before ts
            # (a trip departing inside step t overlaps it: the step is not plugged)
            while k < len(inside) and inside[k][0] < self.te[t]:
                soc = self._trip(vid, v, inside[k], soc, L, U)
                stretch = soc
                k += 1
            if plugged(t):
                soc = self._plugged_step(vid, v, t, soc, stretch)
                plugged_last = t == self.T - 1
        # trips departing inside the last step are handled above; none remain inside the horizon
        assert k == len(inside)
        self._final(vid, v, plugged_last, soc)

    def _trip(self, vid, v, trip, soc: _Expr, L: float, U: float) -> _Expr:
        dep, arr, r = trip
        B = float(v["battery_kwh"])
        energy = float(r.energy_kwh)
        dsoc = r.departure_soc
        required = float(dsoc) * B if not (dsoc is None or math.isnan(dsoc)) else L + energy
        s = self._shortfall(f"trip[{vid},{r.trip_id}]", soc, required)
        back = _Expr(soc.const - energy, _plus(soc, {s: 1.0}), 0.0, max(U, soc.hi))
        # 0 <= soc + s - energy <= max(U, hi of soc at departure)
        self.lp.row(back.coefs, lo=0.0 - back.const, hi=back.hi - back.const)
        return back

    def _session_vehicle(self, vid, v) -> None:
        B = float(v["battery_kwh"])
        sessions = self.sc.sessions[self.sc.sessions["vehicle_id"] == vid].sort_values("arrival")
        plugged_last = False
        last_soc = None
        for r in sessions.itertuples():
            arr, dep = pd.Timestamp(r.arrival), pd.Timestamp(r.departure)
            if dep <= self.start or arr >= self.end:
                continue  # wholly outside the horizon
            soc = _Expr(float(r.arrival_soc) * B)
            stretch = soc
            for t in range(self.T):
                if arr <= self.ts[t] and dep >= self.te[t]:
                    soc = self._plugged_step(vid, v, t, soc, stretch)
                    if t == self.T - 1:
                        plugged_last = True
                        last_soc = soc
            self._shortfall(f"session[{vid},{r.session_id}]", soc, float(r.target_soc) * B)
        if plugged_last:
            self._final(vid, v, True, last_soc)

    # -- site --------------------------------------------------------------

    def _site(self) -> None:
        sc, lp, dt = self.sc, self.lp, self.dt
        s = sc.series
        imp_lim = float(sc.import_limit_kw)
        exp_lim = float(sc.export_limit_kw)
        peak = lp.var("peak", 0.0, math.inf, cost=sc.demand_charge_per_kw)
        for t in range(self.T):
            ip, ep = float(s["import_price"].iloc[t]), float(s["export_price"].iloc[t])
            base, pv = float(s["base_load_kw"].iloc[t]), float(s["pv_kw"].iloc[t])
            imp_ub = imp_lim if math.isfinite(imp_lim) else base + self.max_charge_sum[t] + 1.0
            imp = lp.var(f"import[{t}]", 0.0, imp_ub, cost=ip * dt)
            exp = lp.var(f"export[{t}]", 0.0, exp_lim, cost=-ep * dt)
            pvu = lp.var(f"pv_used[{t}]", 0.0, pv)
            # import - export - sum c + sum d + pv_used = base
            coefs = {imp: 1.0, exp: -1.0, pvu: 1.0}
            for c in self.charge_vars[t]:
                coefs[c] = -1.0
            for d in self.discharge_vars[t]:
                coefs[d] = 1.0
            lp.row(coefs, lo=base, hi=base)
            lp.row({peak: 1.0, imp: -1.0}, lo=0.0)
            if ep > ip and exp_lim > 0:
                y = lp.var(f"y[{t}]", binary=True)
                lp.row({imp: 1.0, y: -imp_ub}, hi=0.0)  # import only if y
                lp.row({exp: 1.0, y: exp_lim}, hi=exp_lim)  # export only if not y

    def solve(self, time_limit: float = 60.0, gap: float = 1e-9) -> float:
        res = self.lp.solve(time_limit, gap)
        if res.status != 0 or res.x is None:
            raise RuntimeError(f"reference MILP not solved to optimality: status {res.status} ({res.message})")
        self.x = res.x
        return float(res.fun)

    def value(self, name: str) -> float:
        return float(self.x[self.lp.names.index(name)])


def reference_cost(sc, time_limit: float = 60.0, gap: float = 1e-9) -> float:
    """Optimal total cost of ``sc`` by the reference MILP (raises if not solved to optimality)."""
    return ReferenceModel(sc).solve(time_limit, gap)
