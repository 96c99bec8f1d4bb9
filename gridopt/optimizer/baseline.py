"""Uncontrolled charging: the plan a site gets without gridopt.

Two references, both without V2G and without any look at prices:

``until="requirement"`` (reported as ``baseline``, ``name: "uncontrolled_until_met"``)
    Like for like with the plan: each plug-in segment charges at
    ``max_charge_kw`` from plug-in until its requirement is met, then stops.
    The requirement of a segment is the largest SoC required at its end (trip
    departure, session target, ``final_soc``; see
    :class:`gridopt.fleet.FleetPlan`), raised, for a vehicle on trips, to what
    its later trips need that its later stops cannot give at full power (see
    :func:`segment_targets_kwh`), and capped at ``max_soc``. **A segment
    without a requirement charges nothing** (e.g. a depot vehicle's last stay
    when the scenario gives no ``final_soc``), since nothing asks for that
    energy.
``until="max_soc"`` (reported as ``reference_full``, ``name: "uncontrolled_to_full"``)
    Each segment charges at ``max_charge_kw`` from plug-in until ``max_soc``
    or until it leaves, whatever it needs.

The step that reaches the target charges only what is left. Minimum power
(``min_charge_kw``) as before: when what is left is below it, charging to
``max_soc`` charges nothing in that step (it may not pass ``max_soc``); charging
to a requirement instead delivers the requirement exactly by taking
``min_charge_kw - rest`` off the full-power step before it and charging
``min_charge_kw`` in the last one (when the step before stays at or above
``min_charge_kw``), else charges ``min_charge_kw`` in the last step if that
stays within ``max_soc`` (up to ``min_charge_kw * charge_efficiency * dt_h``
above the requirement), else nothing (a shortfall).

PV serves the site's load first; surplus PV is exported up to
``export_limit_kw`` and curtailed beyond it (all of it exported if PV cannot
be curtailed). Site limits are ignored (the KPIs count the steps that break
them). Shortfalls follow the same rules as the optimizer: ``unmet = max(0,
required - SoC)``, and the SoC after a trip is ``SoC + unmet - energy_kwh``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..fleet import FleetPlan, build_fleet_plan
from ..scenario import Scenario
from .extract import schedule_frame

#: ``summary.json`` name of each reference, by ``until``.
BASELINE_NAMES = {"requirement": "uncontrolled_until_met", "max_soc": "uncontrolled_to_full"}
#: Power below which a remainder counts as nothing [kW].
_TINY_KW = 1e-9


def segment_targets_kwh(sc: Scenario, plan: FleetPlan) -> np.ndarray:
    """The SoC each plug-in segment of the like-for-like baseline charges to [kWh], shape (n_segments,).

    ``need[j] = min(max_soc_kwh, max(required_kwh of j's requirements,
    need[j'] - gain[j'] + energy_kwh[r]))``, where ``j'`` is the segment after
    the trip ``r`` that ends ``j`` (the vehicle comes back from ``r`` into
    ``j'``) and ``gain[j'] = steps(j') * max_charge_kw * charge_efficiency *
    dt_h`` the most ``j'`` can add. Computed backwards in time, so a short stop
    between two shifts is not left to find energy it cannot get: the stop
    before charges it instead (as the optimizer would). NaN for a segment
    without a requirement, before and after.
    """
    dt = sc.grid.dt_h
    veh = sc.vehicles.loc[plan.vehicle_ids]
    U_v = veh["max_soc"].to_numpy(float) * veh["battery_kwh"].to_numpy(float)
    gain_v = veh["max_charge_kw"].to_numpy(float) * veh["charge_efficiency"].to_numpy(float) * dt
    segs, reqs = plan.segments, plan.requirements
    need = np.full(len(segs), -np.inf)
    np.maximum.at(need, reqs["segment"].to_numpy(np.int64), reqs["required_kwh"].to_numpy(float))
    r_seg, r_E = reqs["segment"].to_numpy(np.int64), reqs["energy_kwh"].to_numpy(float)
    v_j = segs["vehicle"].to_numpy(np.int64)
    n_j = (segs["end"] - segs["start"]).to_numpy(np.int64)
    link_j = segs["link_req"].to_numpy(np.int64)
    # a vehicle's segments are in time order, so every later segment is done before the one it links to
    for j in range(len(segs) - 1, -1, -1):
        need[j] = min(U_v[v_j[j]], need[j])
        r = link_j[j]
        if r >= 0 and np.isfinite(need[j]):
            carry = need[j] - n_j[j] * gain_v[v_j[j]] + r_E[r]
            need[r_seg[r]] = max(need[r_seg[r]], carry)
    return np.where(np.isfinite(need), need, np.nan)


def _profile(
    n: int, room_kwh: float, eta: float, pmax_kw: float, pmin_kw: float, dt_h: float, exact: bool, headroom_kwh: float
) -> np.ndarray:
    """Charging powers [kW], shape (n,), that put ``room_kwh`` into a battery at full power from the first step.

    ``exact``: meet ``room_kwh`` exactly despite ``pmin_kw`` where possible (see
    the module docstring); ``headroom_kwh`` is the room up to ``max_soc``.
    """
    p = np.zeros(n)
    if n <= 0 or pmax_kw <= 0 or room_kwh <= 0:
        return p
    step_kwh = eta * pmax_kw * dt_h
    k = min(int(np.floor(room_kwh / step_kwh + 1e-12)), n)
    p[:k] = pmax_kw
    if k == n:
        return p
    rest = (room_kwh - k * step_kwh) / (eta * dt_h)
    if rest <= _TINY_KW:
        return p
    if rest >= pmin_kw:
        p[k] = rest
    elif exact and k >= 1 and pmax_kw - (pmin_kw - rest) >= pmin_kw:
        p[k - 1] = pmax_kw - (pmin_kw - rest)
        p[k] = pmin_kw
    elif exact and (k * pmax_kw + pmin_kw) * eta * dt_h <= headroom_kwh + 1e-9:
        p[k] = pmin_kw
    return p


def uncontrolled(
    sc: Scenario, plan: FleetPlan | None = None, *, until: str = "max_soc"
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Schedule, site table and shortfalls of uncontrolled charging (see module docstring).

    Parameters
    ----------
    sc : Scenario
    plan : FleetPlan, optional
        Built from ``sc`` when not given.
    until : {"max_soc", "requirement"}
        Charge each plug-in segment to ``max_soc`` (the default, the
        ``uncontrolled_to_full`` reference) or until its requirement is met
        (``uncontrolled_until_met``, the like-for-like baseline).

    Returns
    -------
    schedule, site, unmet : DataFrame
        As :func:`gridopt.optimize` returns them: vehicle x step schedule
        (``charge_kw`` [kW], ``soc_kwh`` [kWh] at step end), site power flows
        per step [kW], and one row per requirement with ``unmet_kwh`` [kWh].
    """
    if until not in BASELINE_NAMES:
        raise ValueError(f"until must be one of {sorted(BASELINE_NAMES)}, not {until!r}")
    exact = until == "requirement"
    plan = plan or build_fleet_plan(sc)
    V, T = len(plan.vehicle_ids), sc.grid.n_steps
    dt = sc.grid.dt_h
    veh = sc.vehicles.loc[plan.vehicle_ids]
    charge = np.zeros((V, T))
    soc_out = np.full((V, T), np.nan)
    segs = plan.segments
    reqs = plan.requirements
    unmet = np.zeros(len(reqs))
    req_by_seg: dict[int, list[int]] = {}
    for r, j in enumerate(reqs["segment"]):
        req_by_seg.setdefault(int(j), []).append(r)
    soc_at_req = np.zeros(len(reqs))
    B_v = veh["battery_kwh"].to_numpy(float)
    eta_v = veh["charge_efficiency"].to_numpy(float)
    U_v = veh["max_soc"].to_numpy(float) * B_v
    pmax_v, pmin_v = veh["max_charge_kw"].to_numpy(float), veh["min_charge_kw"].to_numpy(float)
    r_E, r_req = reqs["energy_kwh"].to_numpy(float), reqs["required_kwh"].to_numpy(float)
    targets = segment_targets_kwh(sc, plan) if exact else None
    cols = (segs[c].to_numpy() for c in ("vehicle", "start", "end", "link_req", "s0_kwh"))
    for j, (v, start, end, link, s0) in enumerate(zip(*cols, strict=True)):
        U = U_v[v]
        soc = soc_at_req[link] + unmet[link] - r_E[link] if link >= 0 else s0
        n = end - start
        if n > 0:
            if exact:
                target = soc if np.isnan(targets[j]) else targets[j]  # no requirement: nothing to charge
            else:
                target = U
            p = _profile(n, max(0.0, target - soc), eta_v[v], pmax_v[v], pmin_v[v], dt, exact, max(0.0, U - soc))
            charge[v, start:end] = p
            traj = soc + np.cumsum(eta_v[v] * p * dt)
            soc_out[v, start:end] = traj
            soc = traj[-1]
        for r in req_by_seg.get(j, []):
            soc_at_req[r] = soc
            unmet[r] = max(0.0, r_req[r] - soc)
    idx = sc.grid.index
    schedule = schedule_frame(sc, plan, charge, np.zeros((V, T)), soc_out)
    base = sc.series["base_load_kw"].to_numpy()
    pv = sc.series["pv_kw"].to_numpy()
    ev = charge.sum(axis=0)
    load = base + ev
    local = np.minimum(pv, load)
    surplus = pv - local
    # a time-varying export limit (a series column, issue 9; an empty cell: the constant) wins over the constant
    exp_limit = sc.export_limit_kw
    if "export_limit_kw" in sc.series:
        col = sc.series["export_limit_kw"].to_numpy(dtype=float, na_value=np.nan)
        exp_limit = np.where(np.isnan(col), sc.export_limit_kw, col)
    exp = surplus if not sc.pv_curtailable else np.minimum(surplus, exp_limit)
    site = pd.DataFrame(
        {
            "grid_import_kw": load - local,
            "grid_export_kw": exp,
            "base_load_kw": base,
            "pv_kw": pv,
            "pv_used_kw": local + exp,
            "ev_charge_kw": ev,
            "ev_discharge_kw": np.zeros(T),
            "import_price": sc.series["import_price"].to_numpy(),
            "export_price": sc.series["export_price"].to_numpy(),
        },
        index=idx,
    )
    site.index.name = "time"
    unmet_df = pd.DataFrame(
        {
            "vehicle_id": reqs["vehicle_id"].to_numpy(dtype=object),
            "kind": reqs["kind"].to_numpy(dtype=object),
            "event_id": reqs["event_id"].to_numpy(dtype=object),
            "time": reqs["time"].to_numpy(),
            "required_kwh": reqs["required_kwh"].to_numpy(dtype=float),
            "soc_kwh": soc_at_req,
            "unmet_kwh": unmet,
        }
    )
    return schedule, site, unmet_df
