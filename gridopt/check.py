"""Independent physics check of a schedule.

This module re-derives everything it checks from the scenario's own tables
(vehicles, trips, sessions, time series) and the schedule's numbers. It shares no
code with the optimizer (no Pyomo, no :mod:`gridopt.fleet`): plug-in windows are
worked out here by comparing each step's interval with each trip's or session's
interval, and SoC is replayed event by event, so a modelling bug in the
optimizer shows up as a violation instead of being checked against itself.

Checked: charge and discharge within ``[0, max]`` and ``min_charge_kw``; no power
while not plugged in; never charge and discharge in one step; the SoC replay
matches the reported ``soc_kwh``; a step that charges ends at or below
``max_soc`` (and does not start above it), one that discharges ends at or above
``min_soc``, SoC never below 0; reported shortfalls cover every requirement; the
site balance; PV used within PV available (all of it if PV cannot be
curtailed); grid import and export within the limits (per step: timeseries
columns and ``import_cap`` events) and never both in one step; hard export
requests met, exact tracking of ``target_kw``, ``emissions_cap_kg`` and
``grid_peak_cap_kw`` kept (the grid rules read the scenario's per-step inputs,
:func:`gridopt.scenario.step_inputs`, not the optimizer's).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .errors import PhysicsViolation
from .scenario import Scenario, step_inputs

#: Absolute tolerance on powers [kW] and energies [kWh].
ABS_TOL = 1e-4
#: Relative tolerance (of the quantity's scale).
REL_TOL = 1e-6
#: At most this many messages per kind of violation.
MAX_MESSAGES = 20


def _ns(times) -> np.ndarray:
    return pd.DatetimeIndex(times).as_unit("ns").asi8


def plugged_matrix(sc: Scenario, vehicle_ids: list) -> np.ndarray:
    """Steps during which each vehicle is fully at the site, shape (n_vehicles, n_steps).

    A step ``[ts, te)`` is plugged in if a session covers it whole
    (``arrival <= ts`` and ``departure >= te``), or, for a vehicle without
    sessions, if no trip overlaps it (``departure < te`` and ``arrival > ts``).
    """
    ts = _ns(sc.grid.index)
    te = ts + int(sc.grid.step_minutes * 60e9)
    pos = {v: i for i, v in enumerate(vehicle_ids)}
    out = np.ones((len(vehicle_ids), len(ts)), dtype=bool)
    sess = sc.sessions[sc.sessions["vehicle_id"].isin(pos)]
    if len(sess):
        sv = np.array([pos[v] for v in sess["vehicle_id"]])
        out[np.unique(sv)] = False
        cover = (_ns(sess["arrival"])[:, None] <= ts[None, :]) & (_ns(sess["departure"])[:, None] >= te[None, :])
        np.logical_or.at(out, sv, cover)
    trips = sc.trips[sc.trips["vehicle_id"].isin(pos)]
    if len(trips):
        tv = np.array([pos[v] for v in trips["vehicle_id"]])
        overlap = (_ns(trips["departure"])[:, None] < te[None, :]) & (_ns(trips["arrival"])[:, None] > ts[None, :])
        away = np.zeros_like(out)
        np.logical_or.at(away, tv, overlap)
        out &= ~away
    return out


def plugged_steps(sc: Scenario, vehicle_id: str) -> np.ndarray:
    """Plug-in steps of one vehicle (bool, shape (n_steps,)); see :func:`plugged_matrix`."""
    return plugged_matrix(sc, [vehicle_id])[0] if vehicle_id in set(sc.vehicles.index) else np.zeros(0, bool)


class _Collector:
    def __init__(self):
        self.messages: list[str] = []
        self.counts: dict[str, int] = {}

    def add(self, kind: str, message: str) -> None:
        n = self.counts.get(kind, 0)
        self.counts[kind] = n + 1
        if n < MAX_MESSAGES:
            self.messages.append(message)

    def mask(self, kind: str, mask: np.ndarray, describe) -> None:
        """Report every True of ``mask`` (2-D: vehicle, step or 1-D: step) with ``describe(*index)``."""
        for ix in zip(*np.nonzero(mask), strict=False):
            self.add(kind, describe(*ix))
            if self.counts[kind] >= MAX_MESSAGES:
                self.counts[kind] += int(mask.sum()) - MAX_MESSAGES
                break


def _check_grid_rules(sc: Scenario, imp: np.ndarray, exp: np.ndarray, out: _Collector, tol: float) -> None:
    """The site's grid limits per step, hard export requests, exact tracking and the caps.

    ``imp(t) <= import_limit_kw(t)``, ``exp(t) <= export_limit_kw(t)`` (the
    constants, timeseries columns and ``import_cap`` events);
    ``exp(t) >= export_request_kw(t)`` where the request is hard;
    ``|imp(t) - exp(t) - target_kw(t)| <= tol`` where tracking is exact;
    ``sum_t c(t) (imp - [credit] exp) dt <= emissions_cap_kg``;
    ``net_load_kw(t) + imp(t) - exp(t) <= grid_peak_cap_kw``.
    """
    idx = sc.grid.index
    st = lambda t: f"site {idx[t].isoformat()}"  # noqa: E731
    inp = step_inputs(sc)
    g = sc.grid_terms
    lim_i, lim_e = inp.import_limit_kw, inp.export_limit_kw
    out.mask(
        "imp",
        imp > lim_i + tol,
        lambda t: f"{st(t)}: import {imp[t]:.3f} kW above import_limit_kw {lim_i[t]:g}",
    )
    out.mask(
        "exp",
        exp > lim_e + tol,
        lambda t: f"{st(t)}: export {exp[t]:.3f} kW above export_limit_kw {lim_e[t]:g}",
    )
    req = inp.export_request_kw
    out.mask(
        "request",
        inp.export_request_hard & (req > 0) & (exp < req - tol),
        lambda t: f"{st(t)}: export {exp[t]:.3f} kW below the hard export_request of {req[t]:g} kW",
    )
    net = imp - exp
    if g.exact_tracking and inp.target_kw is not None:
        target = inp.target_kw
        off = np.zeros(len(net), bool)
        k = inp.target_steps
        off[k] = np.abs(net[k] - target[k]) > tol
        out.mask(
            "tracking",
            off,
            lambda t: f"{st(t)}: net import {net[t]:.4f} kW differs from the exact target_kw {target[t]:g}",
        )
    if g.emissions_cap_kg is not None and inp.carbon_kg_per_kwh is not None:
        credit = 1.0 if g.carbon_credit_export else 0.0
        c_dt = inp.carbon_kg_per_kwh * sc.grid.dt_h
        kg = float(np.sum(c_dt * (imp - credit * exp)))
        if kg > g.emissions_cap_kg + tol * float(c_dt.sum()) + REL_TOL * max(1.0, abs(g.emissions_cap_kg)):
            out.add("emissions", f"emissions {kg:.4f} kg above emissions_cap_kg {g.emissions_cap_kg:g}")
    if g.grid_peak_cap_kw is not None:
        load = inp.net_load_kw + net
        cap = g.grid_peak_cap_kw
        out.mask(
            "grid_peak",
            load > cap + tol + REL_TOL * np.abs(inp.net_load_kw),
            lambda t: f"{st(t)}: grid load {load[t]:.3f} kW above grid_peak_cap_kw {cap:g}",
        )


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
        Check the grid import/export limits and the grid rules (hard export
        requests, exact tracking, caps); off for the uncontrolled baseline,
        which ignores them by definition.
    raise_on_violation : bool
        Raise :class:`PhysicsViolation` if anything is wrong.
    """
    out = _Collector()
    dt = sc.grid.dt_h
    T = sc.grid.n_steps
    idx = sc.grid.index
    vids = list(sc.vehicles.index)
    V = len(vids)
    start, end = sc.grid.start, sc.grid.end

    # --- the schedule as (vehicle, step) arrays ------------------------------
    expected_ids = np.repeat(np.array(vids, dtype=object), T)
    if len(schedule) != V * T or not (schedule["vehicle_id"].to_numpy(dtype=object) == expected_ids).all():
        raise PhysicsViolation("schedule does not have one row per vehicle and step, grouped by vehicle")
    if not (_ns(schedule["time"]).reshape(V, T) == _ns(idx)[None, :]).all():
        raise PhysicsViolation("schedule times are not the scenario's steps")
    c = schedule["charge_kw"].to_numpy(float).reshape(V, T)
    d = schedule["discharge_kw"].to_numpy(float).reshape(V, T)
    soc_rep = schedule["soc_kwh"].to_numpy(float).reshape(V, T)
    reported_plug = schedule["plugged_in"].to_numpy(bool).reshape(V, T)
    veh = sc.vehicles
    col = lambda name: veh[name].to_numpy(float)[:, None]  # noqa: E731
    B, pc, pdis, pmin = col("battery_kwh"), col("max_charge_kw"), col("max_discharge_kw"), col("min_charge_kw")
    eta_c, eta_d = col("charge_efficiency"), col("discharge_efficiency")
    L, U = col("min_soc") * B, col("max_soc") * B
    plug = plugged_matrix(sc, vids)
    at = lambda v, t: f"{vids[v]} {idx[t].isoformat()}"  # noqa: E731

    out.mask(
        "plug",
        reported_plug != plug,
        lambda v, t: (
            f"{at(v, t)}: plugged_in={bool(reported_plug[v, t])} but the trips/sessions say {bool(plug[v, t])}"
        ),
    )
    out.mask(
        "pc",
        (c < -ABS_TOL) | (c > pc + ABS_TOL),
        lambda v, t: f"{at(v, t)}: charge {c[v, t]:.4f} kW outside [0, {pc[v, 0]:g}]",
    )
    out.mask(
        "pd",
        (d < -ABS_TOL) | (d > pdis + ABS_TOL),
        lambda v, t: f"{at(v, t)}: discharge {d[v, t]:.4f} kW outside [0, {pdis[v, 0]:g}]",
    )
    out.mask(
        "pmin",
        (c > ABS_TOL) & (c < pmin - ABS_TOL),
        lambda v, t: f"{at(v, t)}: charge {c[v, t]:.4f} kW below min_charge_kw {pmin[v, 0]:g}",
    )
    out.mask(
        "both",
        (c > ABS_TOL) & (d > ABS_TOL),
        lambda v, t: f"{at(v, t)}: charges ({c[v, t]:.3f} kW) and discharges ({d[v, t]:.3f} kW) in one step",
    )
    out.mask(
        "away",
        ~plug & ((np.abs(c) > ABS_TOL) | (np.abs(d) > ABS_TOL)),
        lambda v, t: f"{at(v, t)}: power while not plugged in",
    )
    out.mask(
        "soc_away", ~plug & ~np.isnan(soc_rep), lambda v, t: f"{at(v, t)}: soc_kwh reported while the vehicle is away"
    )

    # --- SoC replay, event by event, in time order ---------------------------
    delta = np.where(plug, eta_c * c * dt - d * dt / eta_d, 0.0)
    short = {(r.vehicle_id, r.kind, str(r.event_id)): float(r.unmet_kwh) for r in unmet.itertuples()}
    seen = set()
    ts_ns = _ns(idx)
    ses, trp = sc.sessions, sc.trips
    s_arr, s_dep = _ns(ses["arrival"]), _ns(ses["departure"])
    s_asoc, s_tsoc, s_id = (
        ses["arrival_soc"].to_numpy(float),
        ses["target_soc"].to_numpy(float),
        ses["session_id"].astype(str).to_numpy(),
    )
    t_dep, t_E, t_dsoc, t_id = (
        _ns(trp["departure"]),
        trp["energy_kwh"].to_numpy(float),
        trp["departure_soc"].to_numpy(float),
        trp["trip_id"].astype(str).to_numpy(),
    )
    sess_rows = (
        pd.Series(np.arange(len(ses))).groupby(ses["vehicle_id"].to_numpy()).apply(list).to_dict() if len(ses) else {}
    )
    trip_rows = (
        pd.Series(np.arange(len(trp))).groupby(trp["vehicle_id"].to_numpy()).apply(list).to_dict() if len(trp) else {}
    )
    start_ns, end_ns = start.value, end.value
    init = veh["initial_soc"].to_numpy(float)
    final = veh["final_soc"].to_numpy(float)
    for v, vid in enumerate(vids):
        Bv, Lv, Uv = B[v, 0], L[v, 0], U[v, 0]
        # (time ns, order, kind, payload); at one instant a departure's requirement comes
        # first, then an arrival, then the steps that start there; final_soc last.
        events = []
        if vid in sess_rows:
            soc = math.nan
            for i in sess_rows[vid]:
                if s_dep[i] <= start_ns or s_arr[i] >= end_ns:
                    continue
                events.append((max(s_arr[i], start_ns), 1, "arrive", s_asoc[i] * Bv))
                kind = "session" if s_dep[i] <= end_ns else "session_end"
                events.append((min(s_dep[i], end_ns), 0, "require", (kind, s_id[i], s_tsoc[i] * Bv, 0.0)))
        else:
            soc = init[v] * Bv
            for i in trip_rows.get(vid, ()):
                if t_dep[i] < start_ns or t_dep[i] >= end_ns:
                    continue
                req = t_dsoc[i] * Bv if not math.isnan(t_dsoc[i]) else Lv + t_E[i]
                events.append((t_dep[i], 0, "require", ("trip", t_id[i], req, t_E[i])))
        if not math.isnan(final[v]) and plug[v, T - 1]:
            events.append((end_ns, 3, "require", ("final", "final_soc", final[v] * Bv, 0.0)))
        events.sort(key=lambda e: (e[0], e[1]))
        steps = np.flatnonzero(plug[v])
        k = 0  # next plugged step to replay

        def replay_until(limit_ns, soc):
            nonlocal k
            j = k
            while j < len(steps) and ts_ns[steps[j]] < limit_ns:
                j += 1
            run = steps[k:j]
            k = j
            if not len(run):
                return soc
            traj = soc + np.cumsum(delta[v, run])
            before = np.concatenate([[soc], traj[:-1]])
            tol = ABS_TOL + REL_TOL * Bv
            bad = np.abs(traj - soc_rep[v, run]) > tol
            bad |= np.isnan(soc_rep[v, run])
            for t, s_rep, s_re in zip(run[bad], soc_rep[v, run][bad], traj[bad], strict=True):
                out.add("replay", f"{at(v, t)}: reported soc_kwh {s_rep:.4f} but the replay gives {s_re:.4f}")
            ch, dis = c[v, run] > ABS_TOL, d[v, run] > ABS_TOL
            for t in run[ch & (traj > np.maximum(Uv, before) + tol)]:
                out.add("max_soc", f"{at(v, t)}: charging ends above max_soc ({Uv:.3f} kWh)")
            for t in run[ch & (before > Uv + tol)]:
                out.add("max_soc", f"{at(v, t)}: charges while above max_soc ({Uv:.3f} kWh)")
            for t in run[dis & (traj < Lv - tol)]:
                out.add("min_soc", f"{at(v, t)}: discharging ends below min_soc ({Lv:.3f} kWh)")
            for t in run[traj < -ABS_TOL]:
                out.add("negative", f"{at(v, t)}: SoC below 0")
            return traj[-1]

        for when_ns, _, kind, payload in events:
            when = pd.Timestamp(when_ns, tz="UTC").tz_convert(idx.tz)
            soc = replay_until(when_ns, soc)
            if kind == "arrive":
                soc = payload
                continue
            rkind, event_id, required, energy = payload
            key = (vid, rkind, event_id)
            seen.add(key)
            s_kwh = short.get(key)
            if s_kwh is None:
                out.add("req", f"{vid}: requirement {rkind} {event_id} at {when.isoformat()} is not reported")
                s_kwh = 0.0
            if s_kwh < -ABS_TOL:
                out.add("req", f"{vid}: negative shortfall for {rkind} {event_id}")
            if soc + s_kwh < required - ABS_TOL - REL_TOL * Bv:
                out.add(
                    "req",
                    f"{vid}: {rkind} {event_id} at {when.isoformat()} needs {required:.3f} kWh, "
                    f"has {soc:.3f} kWh and reports only {s_kwh:.3f} kWh unmet",
                )
            if rkind == "trip":
                soc = soc + s_kwh - energy
                if soc < -ABS_TOL:
                    out.add("negative", f"{vid}: SoC after trip {event_id} is {soc:.3f} kWh, below 0")
        replay_until(np.iinfo(np.int64).max, soc)
    for key in sorted(set(short) - seen):
        out.add("req", f"{key[0]}: reports a requirement {key[1]} {key[2]} that the scenario does not have")

    # --- site ------------------------------------------------------------
    ev_c, ev_d = c.sum(axis=0), d.sum(axis=0)
    base = sc.series["base_load_kw"].to_numpy(float)
    pv = sc.series["pv_kw"].to_numpy(float)
    imp, exp, used = (site[k].to_numpy(float) for k in ("grid_import_kw", "grid_export_kw", "pv_used_kw"))
    scale = max(1.0, float(np.abs(base).max(initial=0) + np.abs(ev_c).max(initial=0) + pv.max(initial=0)))
    tol = ABS_TOL + REL_TOL * scale
    st = lambda t: f"site {idx[t].isoformat()}"  # noqa: E731
    out.mask(
        "sums",
        (np.abs(site["ev_charge_kw"].to_numpy(float) - ev_c) > tol)
        | (np.abs(site["ev_discharge_kw"].to_numpy(float) - ev_d) > tol),
        lambda t: f"{st(t)}: ev_charge_kw/ev_discharge_kw differ from the schedule's sums",
    )
    lhs, rhs = imp - exp, base + ev_c - ev_d - used
    out.mask(
        "balance",
        np.abs(lhs - rhs) > tol,
        lambda t: f"{st(t)}: balance broken: import - export = {lhs[t]:.4f} kW, load - supply = {rhs[t]:.4f} kW",
    )
    out.mask(
        "pv",
        (used < -ABS_TOL) | (used > pv + tol),
        lambda t: f"{st(t)}: PV used {used[t]:.4f} kW outside [0, {pv[t]:.4f}]",
    )
    if not sc.pv_curtailable:
        out.mask(
            "pv",
            np.abs(used - pv) > tol,
            lambda t: f"{st(t)}: PV curtailed to {used[t]:.4f} kW of {pv[t]:.4f} kW, but it cannot be curtailed",
        )
    out.mask("neg", (imp < -ABS_TOL) | (exp < -ABS_TOL), lambda t: f"{st(t)}: negative grid import or export")
    out.mask(
        "meter",
        (imp > ABS_TOL) & (exp > ABS_TOL),
        lambda t: f"{st(t)}: imports ({imp[t]:.3f} kW) and exports ({exp[t]:.3f} kW) in one step",
    )
    if site_limits:
        _check_grid_rules(sc, imp, exp, out, tol)
        if sc.chargers is not None:  # chargers and the circuit tree (site.chargers, site.circuit)
            check_chargers(sc, schedule, c, d, reported_plug, out)
    msgs = out.messages
    total = sum(out.counts.values())
    if msgs and raise_on_violation:
        head = "; ".join(msgs[:5]) + (f"; and {total - 5} more" if total > 5 else "")
        raise PhysicsViolation(
            f"the plan breaks physical limits (this is a bug in gridopt, please report it): {head}", msgs
        )
    return msgs


# --- chargers and the circuit tree ------------------------------------------------------------

#: Tolerance on currents [A].
AMP_TOL = 1e-3
_LN_DEG = {"A": 0.0, "B": -120.0, "C": 120.0}


def _unit_currents(phase: str, volts: float) -> dict:
    """Line currents {line: phasor} of a charger per kW at unity power factor [A/kW].

    One line to neutral: ``1000/V`` in phase with that line's voltage. Line to line (``XY``):
    the current of ``V_X - V_Y`` leaves by line X and returns by line Y. Three-phase:
    ``1000 / (sqrt(3) V_LL)`` per line.
    """
    u = {ln: np.exp(1j * np.deg2rad(a)) for ln, a in _LN_DEG.items()}
    if phase == "ABC":
        return {ln: 1000.0 / (math.sqrt(3.0) * volts) * u[ln] for ln in u}
    if len(phase) == 1:
        return {phase: 1000.0 / volts * u[phase]}
    direction = (u[phase[0]] - u[phase[1]]) / abs(u[phase[0]] - u[phase[1]])
    return {phase[0]: 1000.0 / volts * direction, phase[1]: -1000.0 / volts * direction}


def check_chargers(sc: Scenario, schedule: pd.DataFrame, c: np.ndarray, d: np.ndarray, plug: np.ndarray, out) -> None:
    """Chargers: one vehicle per charger at a time, its power within the charger's, a vehicle
    changes chargers only when it plugs in or at a ``site.reassign_at`` time, named stations kept;
    circuit: every node's net power within ``limit_kw`` and every line current (the exact
    magnitude of the phasor sum, with delta-wye transformers) within ``limit_a``.
    """
    idx = sc.grid.index
    V, T = c.shape
    vids = list(sc.vehicles.index)
    st = lambda t: idx[t].isoformat()  # noqa: E731
    if "charger_id" not in schedule:
        out.add("charger", "the scenario has chargers, but the schedule has no charger_id column")
        return
    ch = sc.chargers.set_index("charger_id")
    held = schedule["charger_id"].to_numpy(dtype=object).reshape(V, T)
    has = np.array([[isinstance(k, str) for k in row] for row in held], dtype=bool).reshape(V, T)
    held = np.where(has, held, None)  # no charger: None (the column may hold NaN)
    unknown = has & ~np.isin(held.astype(str), ch.index.to_numpy(dtype=str))
    out.mask("charger", unknown, lambda v, t: f"{vids[v]} at {st(t)}: charger {held[v, t]!r} is not in chargers.csv")
    out.mask(
        "charger", has & ~plug, lambda v, t: f"{vids[v]} at {st(t)}: holds charger {held[v, t]!r} while not plugged in"
    )
    busy = (c > ABS_TOL) | (d > ABS_TOL)
    out.mask("charger", busy & ~has, lambda v, t: f"{vids[v]} at {st(t)}: charges or discharges without a charger")
    ok = has & ~unknown
    max_kw = np.full((V, T), np.inf)
    min_kw = np.zeros((V, T))
    v2g = np.ones((V, T), bool)
    for v in range(V):
        for t in np.flatnonzero(ok[v]):
            row = ch.loc[held[v, t]]
            max_kw[v, t], min_kw[v, t], v2g[v, t] = float(row["max_kw"]), float(row["min_kw"]), bool(row["v2g"])
    out.mask(
        "charger",
        c > max_kw + ABS_TOL,
        lambda v, t: f"{vids[v]} at {st(t)}: charges {c[v, t]:.4f} kW, above its charger's max_kw {max_kw[v, t]:g}",
    )
    out.mask(
        "charger",
        d > np.where(v2g, max_kw, 0.0) + ABS_TOL,
        lambda v, t: (
            f"{vids[v]} at {st(t)}: discharges {d[v, t]:.4f} kW on charger {held[v, t]!r} (v2g {v2g[v, t]}, max_kw {max_kw[v, t]:g})"
        ),
    )
    out.mask(
        "charger",
        (c > ABS_TOL) & (c < min_kw - ABS_TOL),
        lambda v, t: f"{vids[v]} at {st(t)}: charges {c[v, t]:.4f} kW, below its charger's min_kw {min_kw[v, t]:g}",
    )
    # one vehicle per charger and step
    for t in range(T):
        ks = [k for k in held[:, t] if isinstance(k, str)]
        if len(ks) != len(set(ks)):
            dup = sorted({k for k in ks if ks.count(k) > 1})
            out.add("charger", f"{st(t)}: charger {dup[0]!r} holds {ks.count(dup[0])} vehicles at once")
    # changes only at plug-in or at a reassign time
    clock = set(sc.reassign_at)
    may = np.array([(ts.hour, ts.minute) in clock for ts in idx], dtype=bool)
    for v in range(V):
        for t in range(1, T):
            if plug[v, t] and plug[v, t - 1] and held[v, t] != held[v, t - 1] and not may[t]:
                out.add(
                    "charger",
                    f"{vids[v]} at {st(t)}: moves from charger {held[v, t - 1]!r} to {held[v, t]!r} while plugged in",
                )
    # sessions that name their station keep it
    ses = sc.sessions
    if "station_id" in ses and len(ses):
        ts = _ns(idx)
        te = ts + int(sc.grid.step_minutes * 60e9)
        pos = {vid: i for i, vid in enumerate(vids)}
        for a, b, vid, sid in zip(
            _ns(ses["arrival"]), _ns(ses["departure"]), ses["vehicle_id"], ses["station_id"], strict=True
        ):
            if not isinstance(sid, str) or not sid or vid not in pos:
                continue
            v = pos[vid]
            for t in np.flatnonzero((a <= ts) & (b >= te)):
                if held[v, t] != sid:
                    out.add("charger", f"{vid} at {st(t)}: holds {held[v, t]!r}, but its session names station {sid!r}")
    _check_fleet_named(sc, held, plug, out)
    if sc.circuit is not None:
        _check_circuit(sc, held, c - d, out)


def _check_fleet_named(sc: Scenario, held: np.ndarray, plug: np.ndarray, out) -> None:
    """Chargers named by vehicles.csv (``charger_id``: every plug-in, unless a session names a station)
    and trips.csv (``charger_id``: the plug-in after the trip) are the ones held."""
    veh, trips, ses = sc.vehicles, sc.trips, sc.sessions

    def text(v):
        return v if isinstance(v, str) and v else None

    bay = {vid: text(k) for vid, k in veh["charger_id"].items()} if "charger_id" in veh else {}
    t_named = "charger_id" in trips and trips["charger_id"].map(text).notna().any()
    if not any(bay.values()) and not t_named:
        return
    idx = sc.grid.index
    ts = _ns(idx)
    te = ts + int(sc.grid.step_minutes * 60e9)
    for v, vid in enumerate(veh.index):
        want = np.full(len(ts), bay.get(vid), dtype=object)
        mine = ses[ses["vehicle_id"] == vid]
        if len(mine):  # a session that names its station: checked above
            want[:] = None
            if bay.get(vid):
                for a, b, sid in zip(
                    _ns(mine["arrival"]),
                    _ns(mine["departure"]),
                    mine["station_id"] if "station_id" in mine else [None] * len(mine),
                    strict=True,
                ):
                    if text(sid) is None:
                        want[(a <= ts) & (b >= te)] = bay[vid]
        elif t_named:
            own = trips[trips["vehicle_id"] == vid]
            back = _ns(own["arrival"])
            for arr, k in zip(back, own["charger_id"], strict=True):
                if text(k):  # from this return on, until the next return
                    later = back[back > arr]
                    stop = later.min() if len(later) else np.iinfo(np.int64).max
                    want[(ts >= arr) & (ts < stop)] = k
        for t in np.flatnonzero(plug[v] & np.array([w is not None for w in want])):
            if held[v, t] != want[t]:
                out.add("charger", f"{vid} at {idx[t].isoformat()}: holds {held[v, t]!r}, but it is named {want[t]!r}")


def _check_circuit(sc: Scenario, held: np.ndarray, net: np.ndarray, out) -> None:
    idx = sc.grid.index
    V, T = net.shape
    ch = sc.chargers.set_index("charger_id")
    circ = sc.circuit.set_index("node_id")
    power = {k: np.zeros(T) for k in ch.index}
    for v in range(V):
        for t in range(T):
            if isinstance(held[v, t], str) and held[v, t] in power:
                power[held[v, t]][t] += net[v, t]
    lines = ("A", "B", "C")
    kw = {n: np.zeros(T) for n in circ.index}
    amps = {n: np.zeros((3, T), complex) for n in circ.index}
    for k, p in power.items():
        node = ch.at[k, "node"]
        phase, volts = ch.at[k, "phase"], float(ch.at[k, "voltage_v"])
        cur = None
        if phase and not math.isnan(volts):
            unit = _unit_currents(phase, volts)
            cur = np.array([unit.get(ln, 0.0) * p for ln in lines], dtype=complex)
        while node:
            ratio = float(circ.at[node, "delta_wye_ratio"])
            if cur is not None and not math.isnan(ratio):
                cur = np.array([cur[0] - cur[2], cur[1] - cur[0], cur[2] - cur[1]]) / ratio
            kw[node] += p
            if cur is not None:
                amps[node] += cur
            node = circ.at[node, "parent"]
    for node in circ.index:
        lim_kw, lim_a = float(circ.at[node, "limit_kw"]), float(circ.at[node, "limit_a"])
        if not math.isnan(lim_kw):
            bad = np.abs(kw[node]) > lim_kw + ABS_TOL + REL_TOL * lim_kw
            for t in np.flatnonzero(bad)[:MAX_MESSAGES]:
                out.add(
                    "circuit", f"node {node!r} at {idx[t].isoformat()}: {kw[node][t]:.4f} kW beyond limit_kw {lim_kw:g}"
                )
        if not math.isnan(lim_a):
            mag = np.abs(amps[node])
            bad = mag > lim_a + AMP_TOL + REL_TOL * lim_a
            for i, t in zip(*np.nonzero(bad), strict=True):
                out.add(
                    "circuit",
                    f"node {node!r} line {lines[i]} at {idx[t].isoformat()}: {mag[i, t]:.4f} A above limit_a {lim_a:g}",
                )
