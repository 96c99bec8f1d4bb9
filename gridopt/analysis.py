"""KPIs of a plan, computed from its schedule and site table alone.

Costs here are recomputed from the plan's power flows, not read from the
solver's objective, so they double as a check of it.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .scenario import Scenario


def kpis(sc: Scenario, schedule: pd.DataFrame, site: pd.DataFrame, unmet: pd.DataFrame) -> dict:
    """Cost and grid KPIs of one plan.

    Returns
    -------
    dict
        ``total_cost`` = ``energy_cost + demand_charge_cost + degradation_cost +
        unmet_energy_cost`` [currency]; ``import_kwh``, ``export_kwh``,
        ``energy_delivered_kwh`` (AC energy drawn by vehicles), ``v2g_energy_kwh``
        (AC energy delivered by vehicles), ``unmet_energy_kwh``, ``pv_kwh``
        (available), ``pv_used_kwh``, ``pv_curtailed_kwh``,
        ``pv_self_consumption`` (share of available PV that served the site's own
        load, base load and charging; None without PV), ``peak_import_kw``,
        ``peak_export_kw``, ``import_limit_violation_steps``, ``export_limit_violation_steps``.
    """
    dt = sc.grid.dt_h
    imp = site["grid_import_kw"].to_numpy(dtype=float)
    exp = site["grid_export_kw"].to_numpy(dtype=float)
    ip = site["import_price"].to_numpy(dtype=float)
    ep = site["export_price"].to_numpy(dtype=float)
    energy_cost = float(np.sum(ip * imp - ep * exp) * dt)
    peak = float(imp.max(initial=0.0))
    demand_cost = sc.demand_charge_per_kw * peak
    v2g_kwh = float(site["ev_discharge_kw"].sum() * dt)
    degradation = sc.battery_degradation_cost_per_kwh * v2g_kwh
    unmet_kwh = float(unmet["unmet_kwh"].sum()) if len(unmet) else 0.0
    unmet_cost = sc.unmet_energy_penalty_per_kwh * unmet_kwh
    pv = site["pv_kw"].to_numpy(dtype=float)
    used = site["pv_used_kw"].to_numpy(dtype=float)
    local_load = site["base_load_kw"].to_numpy(dtype=float) + site["ev_charge_kw"].to_numpy(dtype=float)
    pv_kwh = float(pv.sum() * dt)
    self_kwh = float(np.minimum(used, local_load).sum() * dt)
    limit = sc.import_limit_kw
    violations = int((imp > limit + 1e-6).sum()) if not math.isinf(limit) else 0
    export_violations = int((exp > sc.export_limit_kw + 1e-6).sum())
    return {
        "total_cost": energy_cost + demand_cost + degradation + unmet_cost,
        "energy_cost": energy_cost,
        "demand_charge_cost": demand_cost,
        "degradation_cost": degradation,
        "unmet_energy_cost": unmet_cost,
        "unmet_energy_kwh": unmet_kwh,
        "import_kwh": float(imp.sum() * dt),
        "export_kwh": float(exp.sum() * dt),
        "energy_delivered_kwh": float(site["ev_charge_kw"].sum() * dt),
        "v2g_energy_kwh": v2g_kwh,
        "pv_kwh": pv_kwh,
        "pv_used_kwh": float(used.sum() * dt),
        "pv_curtailed_kwh": float((pv - used).sum() * dt),
        "pv_self_consumption": (self_kwh / pv_kwh) if pv_kwh > 1e-9 else None,
        "peak_import_kw": peak,
        "peak_export_kw": float(exp.max(initial=0.0)),
        "import_limit_violation_steps": violations,
        "export_limit_violation_steps": export_violations,
    }


def unmet_by_vehicle(unmet: pd.DataFrame) -> dict:
    """Total unmet energy per vehicle [kWh], only vehicles with some."""
    if not len(unmet):
        return {}
    s = unmet.groupby("vehicle_id")["unmet_kwh"].sum()
    return {str(k): float(v) for k, v in s.items() if v > 1e-6}


def savings(optimized: dict, baseline: dict) -> dict:
    """Baseline minus optimized for the cost parts and the peak (positive = better)."""
    keys = ("total_cost", "energy_cost", "demand_charge_cost", "unmet_energy_cost", "peak_import_kw")
    out = {k: baseline[k] - optimized[k] for k in keys}
    base_total = baseline["total_cost"]
    out["total_cost_percent"] = 100.0 * out["total_cost"] / abs(base_total) if abs(base_total) > 1e-9 else None
    return out
