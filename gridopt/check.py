"""Independent physics check of a schedule.

This module re-derives everything it checks from the scenario's own tables
(vehicles, trips, sessions, time series) and the schedule's numbers. It shares no
code with the optimizer (no Pyomo, no :mod:`gridopt.fleet`): plug-in windows are
worked out here by interval arithmetic and SoC is replayed event by event, so a
modelling bug in the optimizer shows up as a violation instead of being checked
against itself.

Checked: charge and discharge within ``[0, max]`` and ``min_charge_kw``; no power
while not plugged in; never charge and discharge in one step; the SoC replay
matches the reported ``soc_kwh``; a step that charges ends at or below
``max_soc``, one that discharges at or above ``min_soc``, SoC never below 0;
reported shortfalls cover every requirement; the site balance; PV used within PV
available; grid import and export within the limits and never both in one step.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .errors import PhysicsViolation
from .scenario import Scenario

#: Absolute tolerance on powers [kW] and energies [kWh].
ABS_TOL = 1e-4
#: Relative tolerance (of the quantity's scale).
REL_TOL = 1e-6


def plugged_steps(sc: Scenario, vehicle_id: str) -> np.ndarray:
    """Steps during which a vehicle is fully at the site (bool, shape (n_steps,)).

    A step ``[ts, te)`` is plugged in if a session covers it whole
    (``arrival <= ts`` and ``departure >= te``), or, for a vehicle without
    sessions, if no trip overlaps it (``departure < te`` and ``arrival > ts``).
    """
    idx = sc.grid.index
    ts = idx
    te = idx + pd.Timedelta(minutes=sc.grid.step_minutes)
    sess = sc.sessions[sc.sessions["vehicle_id"] == vehicle_id]
    if len(sess):
        out = np.zeros(len(idx), dtype=bool)
        for _, s in sess.iterrows():
            out |= np.asarray((s["arrival"] <= ts) & (s["departure"] >= te))
        return out
    out = np.ones(len(idx), dtype=bool)
    for _, tr in sc.trips[sc.trips["vehicle_id"] == vehicle_id].iterrows():
        out &= ~np.asarray((tr["departure"] < te) & (tr["arrival"] > ts))
    return out


def _close(a, b, scale=1.0) -> bool:
    return abs(a - b) <= ABS_TOL + REL_TOL * max(abs(scale), abs(a), abs(b))


def check_schedule(
    sc: Scenario,
    schedule: pd.DataFrame,
    site: pd.DataFrame,
    unmet: pd.DataFrame,
    *,
    site_limits: bool = True,
    raise_on_violation: bool = True,
) -> list[str]:
    """Check a plan against the physics; return (or raise) the violations found.

    Parameters
    ----------
    sc : Scenario
    schedule, site, unmet : DataFrame
        As returned by :func:`gridopt.optimize` (``unmet`` needs ``vehicle_id``,
        ``kind``, ``event_id`` and ``unmet_kwh``).
    site_limits : bool
        Check the grid import/export limits (off for the uncontrolled baseline,
        which ignores them by definition).
    raise_on_violation : bool
        Raise :class:`PhysicsViolation` if anything is wrong.
    """
    v_out: list[str] = []
    dt = sc.grid.dt_h
    T = sc.grid.n_steps
    idx = sc.grid.index
    start, end = sc.grid.start, sc.grid.end
    short = {(r.vehicle_id, r.kind, str(r.event_id)): float(r.unmet_kwh) for r in unmet.itertuples()}
    by_vehicle = {vid: g for vid, g in schedule.groupby("vehicle_id", sort=False)}
    if set(by_vehicle) != set(sc.vehicles.index):
        v_out.append("schedule's vehicles differ from the scenario's")
    for vid, veh in sc.vehicles.iterrows():
        g = by_vehicle.get(vid)
        if g is None:
            continue
        if len(g) != T or not (pd.DatetimeIndex(g["time"]) == idx).all():
            v_out.append(f"{vid}: schedule does not have one row per step")
            continue
        c = g["charge_kw"].to_numpy(dtype=float)
        d = g["discharge_kw"].to_numpy(dtype=float)
        soc_rep = g["soc_kwh"].to_numpy(dtype=float)
        plug = plugged_steps(sc, vid)
        B = veh["battery_kwh"]
        L, U = veh["min_soc"] * B, veh["max_soc"] * B
        pc, pd_, pmin = veh["max_charge_kw"], veh["max_discharge_kw"], veh["min_charge_kw"]
        eta_c, eta_d = veh["charge_efficiency"], veh["discharge_efficiency"]

        def bad(t, what):
            v_out.append(f"{vid} {idx[t].isoformat()}: {what}")

        if (g["plugged_in"].to_numpy(dtype=bool) != plug).any():
            t = int(np.argmax(g["plugged_in"].to_numpy(dtype=bool) != plug))
            bad(t, f"plugged_in={bool(g['plugged_in'].iloc[t])} but the trips/sessions say {bool(plug[t])}")
        for t in range(T):
            if c[t] < -ABS_TOL or c[t] > pc + ABS_TOL:
                bad(t, f"charge {c[t]:.4f} kW outside [0, {pc}]")
            if d[t] < -ABS_TOL or d[t] > pd_ + ABS_TOL:
                bad(t, f"discharge {d[t]:.4f} kW outside [0, {pd_}]")
            if c[t] > ABS_TOL and c[t] < pmin - ABS_TOL:
                bad(t, f"charge {c[t]:.4f} kW below min_charge_kw {pmin}")
            if c[t] > ABS_TOL and d[t] > ABS_TOL:
                bad(t, f"charges ({c[t]:.3f} kW) and discharges ({d[t]:.3f} kW) in one step")
            if not plug[t] and (abs(c[t]) > ABS_TOL or abs(d[t]) > ABS_TOL):
                bad(t, "power while not plugged in")
            if not plug[t] and not math.isnan(soc_rep[t]):
                bad(t, "soc_kwh reported while the vehicle is away")

        # --- SoC replay, event by event, in time order ------------------
        # (time, order, kind, payload); at one instant a departure's requirement comes
        # first, then an arrival, then the step that starts there; final_soc last.
        events = []
        sess = sc.sessions[sc.sessions["vehicle_id"] == vid]
        trips = sc.trips[sc.trips["vehicle_id"] == vid]
        for t in range(T):
            if plug[t]:
                events.append((idx[t], 2, "step", t))
        if len(sess):
            soc = math.nan
            for _, s in sess.iterrows():
                if s["departure"] <= start or s["arrival"] >= end:
                    continue
                events.append((max(s["arrival"], start), 1, "arrive", s["arrival_soc"] * B))
                if s["departure"] <= end:
                    events.append(
                        (s["departure"], 0, "require", ("session", str(s["session_id"]), s["target_soc"] * B, 0.0))
                    )
                else:
                    events.append((end, 0, "require", ("session_end", str(s["session_id"]), s["target_soc"] * B, 0.0)))
        else:
            soc = veh["initial_soc"] * B
            for _, tr in trips.iterrows():
                if tr["departure"] < start or tr["departure"] >= end:
                    continue
                req = tr["departure_soc"] * B if not pd.isna(tr["departure_soc"]) else L + tr["energy_kwh"]
                events.append((tr["departure"], 0, "require", ("trip", str(tr["trip_id"]), req, tr["energy_kwh"])))
        if not math.isnan(veh["final_soc"]) and plug[T - 1]:
            events.append((end, 3, "require", ("final", "final_soc", veh["final_soc"] * B, 0.0)))
        events.sort(key=lambda e: (e[0], e[1]))
        seen_req = set()
        for when, _, kind, payload in events:
            if kind == "arrive":
                soc = payload
            elif kind == "step":
                t = payload
                before = soc
                soc = soc + eta_c * c[t] * dt - d[t] * dt / eta_d
                if not _close(soc, soc_rep[t], B):
                    bad(t, f"reported soc_kwh {soc_rep[t]:.4f} but the replay gives {soc:.4f}")
                if c[t] > ABS_TOL and soc > max(U, before) + ABS_TOL + REL_TOL * B:
                    bad(t, f"charging ends at {soc:.3f} kWh, above max_soc ({U:.3f} kWh)")
                if c[t] > ABS_TOL and before > U + ABS_TOL:
                    bad(t, f"charges while above max_soc ({before:.3f} > {U:.3f} kWh)")
                if d[t] > ABS_TOL and soc < L - ABS_TOL - REL_TOL * B:
                    bad(t, f"discharging ends at {soc:.3f} kWh, below min_soc ({L:.3f} kWh)")
                if soc < -ABS_TOL:
                    bad(t, f"SoC {soc:.3f} kWh below 0")
            else:
                rkind, event_id, required, energy = payload
                key = (vid, rkind, event_id)
                seen_req.add(key)
                s_kwh = short.get(key)
                if s_kwh is None:
                    v_out.append(f"{vid}: requirement {rkind} {event_id} at {when.isoformat()} is not reported")
                    s_kwh = 0.0
                if s_kwh < -ABS_TOL:
                    v_out.append(f"{vid}: negative shortfall for {rkind} {event_id}")
                if soc + s_kwh < required - ABS_TOL - REL_TOL * B:
                    v_out.append(
                        f"{vid}: {rkind} {event_id} at {when.isoformat()} needs {required:.3f} kWh, "
                        f"has {soc:.3f} kWh and reports only {s_kwh:.3f} kWh unmet"
                    )
                if rkind == "trip":
                    soc = soc + s_kwh - energy
                    if soc < -ABS_TOL:
                        v_out.append(f"{vid}: SoC after trip {event_id} is {soc:.3f} kWh, below 0")
        extra = {k for k in short if k[0] == vid} - seen_req
        for k in sorted(extra):
            v_out.append(f"{vid}: reports a requirement {k[1]} {k[2]} that the scenario does not have")

    # --- site ------------------------------------------------------------
    ev_c = schedule.groupby("time", sort=True)["charge_kw"].sum().reindex(idx).to_numpy()
    ev_d = schedule.groupby("time", sort=True)["discharge_kw"].sum().reindex(idx).to_numpy()
    s = site
    base = sc.series["base_load_kw"].to_numpy()
    pv = sc.series["pv_kw"].to_numpy()
    imp, exp, used = (s[c].to_numpy(dtype=float) for c in ("grid_import_kw", "grid_export_kw", "pv_used_kw"))
    scale = max(1.0, float(np.abs(base).max(initial=0) + np.abs(ev_c).max(initial=0) + pv.max(initial=0)))
    for t in range(T):

        def sbad(what):
            v_out.append(f"site {idx[t].isoformat()}: {what}")

        if not _close(s["ev_charge_kw"].iat[t], ev_c[t], scale) or not _close(
            s["ev_discharge_kw"].iat[t], ev_d[t], scale
        ):
            sbad("ev_charge_kw/ev_discharge_kw differ from the schedule's sums")
        lhs = imp[t] - exp[t]
        rhs = base[t] + ev_c[t] - ev_d[t] - used[t]
        if not _close(lhs, rhs, scale):
            sbad(f"balance broken: import - export = {lhs:.4f} kW, load - supply = {rhs:.4f} kW")
        if used[t] < -ABS_TOL or used[t] > pv[t] + ABS_TOL + REL_TOL * scale:
            sbad(f"PV used {used[t]:.4f} kW outside [0, {pv[t]:.4f}]")
        if not sc.pv_curtailable and not _close(used[t], pv[t], scale):
            sbad(f"PV curtailed to {used[t]:.4f} kW of {pv[t]:.4f} kW, but it cannot be curtailed")
        if imp[t] < -ABS_TOL or exp[t] < -ABS_TOL:
            sbad("negative grid import or export")
        if imp[t] > ABS_TOL and exp[t] > ABS_TOL:
            sbad(f"imports ({imp[t]:.3f} kW) and exports ({exp[t]:.3f} kW) in one step")
        if site_limits:
            if imp[t] > sc.import_limit_kw + ABS_TOL + REL_TOL * scale:
                sbad(f"import {imp[t]:.3f} kW above import_limit_kw {sc.import_limit_kw}")
            if exp[t] > sc.export_limit_kw + ABS_TOL + REL_TOL * scale:
                sbad(f"export {exp[t]:.3f} kW above export_limit_kw {sc.export_limit_kw}")
    if v_out and raise_on_violation:
        head = "; ".join(v_out[:5]) + (f"; and {len(v_out) - 5} more" if len(v_out) > 5 else "")
        raise PhysicsViolation(
            f"the plan breaks physical limits (this is a bug in gridopt, please report it): {head}", v_out
        )
    return v_out
