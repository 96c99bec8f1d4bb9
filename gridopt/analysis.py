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
        ``peak_export_kw``, ``import_limit_violation_steps``, ``export_limit_violation_steps``;
        ``energy_to_batteries_kwh`` and ``cost_per_kwh_delivered`` (see
        :func:`energy_to_batteries_kwh` and :func:`cost_per_kwh`).
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
    total_cost = energy_cost + demand_cost + degradation + unmet_cost
    stored_kwh = energy_to_batteries_kwh(sc, schedule)
    return {
        "total_cost": total_cost,
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
        "energy_to_batteries_kwh": stored_kwh,
        "cost_per_kwh_delivered": cost_per_kwh(total_cost, stored_kwh),
    }


#: Below this net energy into the batteries a cost per kWh is not reported [kWh].
MIN_STORED_KWH = 1e-6


def energy_to_batteries_kwh(sc: Scenario, schedule: pd.DataFrame) -> float:
    """Net energy the plan put into the vehicles' batteries [kWh].

    ``sum over vehicles and steps of (charge_efficiency * charge_kw -
    discharge_kw / discharge_efficiency) * dt_h``: what the batteries gained
    from the site, after charging losses and net of what V2G took back out
    (trips are not counted: they spend the energy, they do not return it).

    Parameters
    ----------
    sc : Scenario
        For ``dt_h`` and each vehicle's efficiencies.
    schedule : DataFrame
        ``vehicle_id``, ``charge_kw``, ``discharge_kw`` [kW], one row per vehicle and step.
    """
    if not len(schedule):
        return 0.0
    pos = sc.vehicles.index.get_indexer(schedule["vehicle_id"])
    if (pos < 0).any():
        raise ValueError(f"schedule names vehicles not in the scenario: {sorted(set(schedule['vehicle_id'][pos < 0]))}")
    eta_c = sc.vehicles["charge_efficiency"].to_numpy(float)[pos]
    eta_d = sc.vehicles["discharge_efficiency"].to_numpy(float)[pos]
    c = schedule["charge_kw"].to_numpy(float)
    d = schedule["discharge_kw"].to_numpy(float)
    return float(np.sum(eta_c * c - d / eta_d) * sc.grid.dt_h)


def cost_per_kwh(total_cost: float, stored_kwh: float) -> float | None:
    """``cost_per_kwh_delivered``: total cost per kWh stored in the batteries [currency/kWh].

    ``total_cost / energy_to_batteries_kwh``, the whole bill of the site
    (energy including the site's own load and PV, demand charge, degradation,
    unmet-energy penalty) per kWh the vehicles got; None when they got
    (net) less than :data:`MIN_STORED_KWH`. Only plans of one scenario are
    comparable by it (they share the site's own load).
    """
    return total_cost / stored_kwh if stored_kwh > MIN_STORED_KWH else None


def unmet_by_vehicle(unmet: pd.DataFrame) -> dict:
    """Total unmet energy per vehicle [kWh], only vehicles with some."""
    if not len(unmet):
        return {}
    s = unmet.groupby("vehicle_id")["unmet_kwh"].sum()
    return {str(k): float(v) for k, v in s.items() if v > 1e-6}


def savings(optimized: dict, baseline: dict) -> dict:
    """Baseline minus optimized for the cost parts, the peak and the cost per kWh (positive = better).

    ``total_cost_percent`` is the saving in % of the baseline's total cost;
    ``cost_per_kwh_delivered`` is None when either side has none (see :func:`cost_per_kwh`).
    """
    keys = ("total_cost", "energy_cost", "demand_charge_cost", "unmet_energy_cost", "peak_import_kw")
    out = {k: baseline[k] - optimized[k] for k in keys}
    base_total = baseline["total_cost"]
    out["total_cost_percent"] = 100.0 * out["total_cost"] / abs(base_total) if abs(base_total) > 1e-9 else None
    a, b = optimized.get("cost_per_kwh_delivered"), baseline.get("cost_per_kwh_delivered")
    out["cost_per_kwh_delivered"] = b - a if a is not None and b is not None else None
    return out
