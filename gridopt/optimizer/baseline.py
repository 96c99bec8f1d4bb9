"""Uncontrolled charging: the plan a site gets without gridopt.

Each vehicle charges at ``max_charge_kw`` from the moment it is plugged in until
it reaches ``max_soc`` or leaves; the last step charges only what is left (and
nothing if that is below ``min_charge_kw``). No V2G. PV serves the site's load
first; surplus PV is exported up to ``export_limit_kw`` and curtailed beyond it
(all of it exported if PV cannot be curtailed). Site limits are ignored (the
KPIs count the steps that break them).
Shortfalls follow the same rules as the optimizer: ``unmet = max(0, required -
SoC)``, and the SoC after a trip is ``SoC + unmet - energy_kwh``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..fleet import FleetPlan, build_fleet_plan
from ..scenario import Scenario
from .extract import schedule_frame


def uncontrolled(sc: Scenario, plan: FleetPlan | None = None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Schedule, site table and shortfalls of uncontrolled charging (see module docstring)."""
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
    cols = (segs[c].to_numpy() for c in ("vehicle", "start", "end", "link_req", "s0_kwh"))
    for j, (v, start, end, link, s0) in enumerate(zip(*cols, strict=True)):
        eta, U, pmax, pmin = eta_v[v], U_v[v], pmax_v[v], pmin_v[v]
        soc = soc_at_req[link] + unmet[link] - r_E[link] if link >= 0 else s0
        n = end - start
        if n > 0:
            # full power until max_soc: the step that reaches it charges only what is left
            room = max(0.0, U - soc)
            full_steps = int(np.floor(room / (eta * pmax * dt) + 1e-12)) if pmax > 0 else n
            p = np.zeros(n)
            k = min(full_steps, n)
            p[:k] = pmax
            if k < n and pmax > 0:
                rest = (room - k * eta * pmax * dt) / (eta * dt)
                p[k] = rest if rest >= max(pmin, 1e-9) else 0.0
            charge[v, start:end] = p
            traj = soc + np.cumsum(eta * p * dt)
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
    exp = surplus if not sc.pv_curtailable else np.minimum(surplus, sc.export_limit_kw)
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
