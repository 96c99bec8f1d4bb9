"""KPIs of a plan, computed from its schedule and site table alone.

Costs here are recomputed from the plan's power flows, not read from the
solver's objective, so they double as a check of it.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .scenario import Scenario, step_inputs


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
        :func:`energy_to_batteries_kwh` and :func:`cost_per_kwh`); the grid KPIs
        and terms of :func:`grid_kpis`, and ``objective`` = ``total_cost`` plus
        :func:`grid_weighted_cost` (what the optimizer minimises). ``total_cost``
        is the money the site pays: ``energy_cost`` (without the ``shift_away``
        extra) ``+ demand_charge_cost + degradation_cost + unmet_energy_cost +
        demand_response_cost - export_request_payment + export_request_penalty``.
        Limit violations count against the per-step limits (timeseries columns,
        ``import_cap`` events).
    """
    dt = sc.grid.dt_h
    imp = site["grid_import_kw"].to_numpy(dtype=float)
    exp = site["grid_export_kw"].to_numpy(dtype=float)
    ip = site["import_price"].to_numpy(dtype=float)
    ep = site["export_price"].to_numpy(dtype=float)
    grid = grid_kpis(sc, site)
    # the import price includes any shift_away extra: that part is the demand response cost
    energy_cost = float(np.sum(ip * imp - ep * exp) * dt) - grid["demand_response_cost"]
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
    st = step_inputs(sc)
    violations = int((imp > st.import_limit_kw + 1e-6).sum())
    export_violations = int((exp > st.export_limit_kw + 1e-6).sum())
    total_cost = energy_cost + demand_cost + degradation + unmet_cost
    total_cost += grid["demand_response_cost"] - grid["export_request_payment"] + grid["export_request_penalty"]
    stored_kwh = energy_to_batteries_kwh(sc, schedule)
    from .optimizer.checkpoints import checkpoint_cost  # recomputed from the schedule, not the model
    from .optimizer.switching import switching_cost  # recomputed from the schedule, not the model

    checkpoints = checkpoint_cost(sc, schedule)  # Scenario.soft_checkpoints' shortfalls: not money paid
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
        "objective": total_cost + grid_weighted_cost(grid) + switching_cost(sc, schedule) + checkpoints,
        "switching_cost": switching_cost(sc, schedule),  # site.switching_penalty_per_kw: not money paid
        **grid,
    }


def grid_kpis(sc: Scenario, site: pd.DataFrame) -> dict:
    """Grid KPIs and the grid terms' costs of one plan, from its site table and the scenario's inputs.

    ``L(t) = net_load_kw(t) + grid_import_kw(t) - grid_export_kw(t)`` is the
    grid's load with the site (``net_load_kw`` 0 without the signal: the site
    alone).

    Returns
    -------
    dict
        ``emissions_kg`` (``sum c(t) (import - [credit] export) dt``; None
        without ``carbon_kg_per_kwh``), ``renewable_surplus_absorbed_kwh``
        (``sum min(ev_charge_kw, renewable_surplus_kw) dt``) and
        ``renewable_surplus_share`` (of the EV charging energy; both None without
        the signal), ``grid_peak_kw`` (``max L``), ``net_load_std_kw`` (standard
        deviation of ``L``, population), ``grid_valley_deviation_kw`` (``max |L -
        mean L|``), ``tracking_error_kwh`` (``sum |import - export - target_kw|
        dt`` over the steps with a target; None without), and the terms
        [currency]: ``carbon_cost``, ``grid_peak_cost``, ``valley_fill_cost``,
        ``tracking_cost``, ``renewable_bonus``, ``export_request_payment``,
        ``export_request_penalty``, ``demand_response_cost`` (import times the
        ``shift_away`` extra), and ``export_request_shortfall_kwh``.
    """
    dt = sc.grid.dt_h
    g = sc.grid_terms
    st = step_inputs(sc)
    imp = site["grid_import_kw"].to_numpy(dtype=float)
    exp = site["grid_export_kw"].to_numpy(dtype=float)
    ev = site["ev_charge_kw"].to_numpy(dtype=float)
    net = imp - exp
    load = st.net_load_kw + net
    emissions = None
    if st.carbon_kg_per_kwh is not None:
        credit = 1.0 if g.carbon_credit_export else 0.0
        emissions = float(np.sum(st.carbon_kg_per_kwh * (imp - credit * exp)) * dt)
    absorbed = share = None
    if st.renewable_surplus_kw is not None:
        absorbed = float(np.minimum(ev, st.renewable_surplus_kw).sum() * dt)
        ev_kwh = float(ev.sum() * dt)
        share = absorbed / ev_kwh if ev_kwh > 1e-9 else None
    tracking = None
    if st.target_kw is not None:
        k = st.target_steps
        tracking = float(np.abs(net[k] - st.target_kw[k]).sum() * dt)
    req = st.export_request_kw
    soft = ~st.export_request_hard
    short_kw = np.maximum(0.0, req - exp)
    peak = float(load.max(initial=-math.inf)) if len(load) else 0.0
    deviation = float(np.abs(load - load.mean()).max(initial=0.0)) if len(load) else 0.0
    return {
        "emissions_kg": emissions,
        "renewable_surplus_absorbed_kwh": absorbed,
        "renewable_surplus_share": share,
        "grid_peak_kw": peak,
        "net_load_std_kw": float(load.std()) if len(load) else 0.0,
        "grid_valley_deviation_kw": deviation,
        "tracking_error_kwh": tracking,
        "export_request_shortfall_kwh": float(short_kw.sum() * dt),
        "carbon_cost": g.carbon_price_per_kg * emissions if emissions is not None else 0.0,
        "grid_peak_cost": g.peak_weight_per_kw * peak,
        "valley_fill_cost": g.valley_fill_weight_per_kw * deviation,
        "tracking_cost": g.tracking_penalty_per_kwh * tracking
        if tracking is not None and not g.exact_tracking
        else 0.0,
        "renewable_bonus": g.renewable_use_bonus_per_kwh * absorbed if absorbed is not None else 0.0,
        "export_request_payment": float(np.sum(st.export_payment_per_kwh * np.minimum(exp, req)) * dt),
        "export_request_penalty": float(np.sum(np.where(soft, st.export_penalty_per_kwh * short_kw, 0.0)) * dt),
        "demand_response_cost": float(np.sum(st.shift_away_price_per_kwh * imp) * dt),
    }


def grid_weighted_cost(grid: dict) -> float:
    """The weighted non-money terms of the objective [currency]:
    ``carbon_cost + grid_peak_cost + valley_fill_cost + tracking_cost - renewable_bonus``."""
    return (
        grid["carbon_cost"]
        + grid["grid_peak_cost"]
        + grid["valley_fill_cost"]
        + grid["tracking_cost"]
        - grid["renewable_bonus"]
    )


def grid_savings(optimized: dict, baseline: dict) -> dict:
    """Baseline minus optimized for the grid KPIs (positive = better for the grid).

    ``grid_peak_reduction_kw``, ``emissions_kg`` (None without the carbon
    signal), ``net_load_std_kw``, ``tracking_error_kwh`` (None without a target),
    ``objective``.
    """

    def minus(key):
        a, b = optimized.get(key), baseline.get(key)
        return b - a if a is not None and b is not None else None

    return {
        "grid_peak_reduction_kw": minus("grid_peak_kw"),
        "emissions_kg": minus("emissions_kg"),
        "net_load_std_kw": minus("net_load_std_kw"),
        "tracking_error_kwh": minus("tracking_error_kwh"),
        "objective": minus("objective"),
    }


def flexibility_kpis(band: pd.DataFrame | None, site: pd.DataFrame, dt_h: float) -> dict:
    """How much more and less energy the fleet could have drawn than a plan did, within its guaranteed band.

    With ``P(t) = ev_charge_kw(t) - ev_discharge_kw(t)`` the plan's fleet net
    power at the site connection and ``[p_min_kw(t), p_max_kw(t)]`` the inner
    (guaranteed) power band of the fleet's flexibility envelope
    (:func:`gridopt.grid.flexibility`):

    * ``flexibility_up_kwh = sum_t max(0, p_max_kw(t) - P(t)) * dt_h``: energy the
      fleet could have drawn on top of the plan, step by step;
    * ``flexibility_down_kwh = sum_t max(0, P(t) - p_min_kw(t)) * dt_h``: energy it
      could have drawn less (or fed back), step by step.

    Both are per-step headroom summed over the horizon, not one block that can
    be called at once (the envelope's energy band limits what a sustained call
    can take), and the fleet's alone: the site's limits and base load are not in
    the band. A step where the plan lies outside the band counts 0.

    Parameters
    ----------
    band : DataFrame or None
        ``p_min_kw``, ``p_max_kw`` [kW] per step (``Envelope.inner``); None gives None for both.
    site : DataFrame
        ``ev_charge_kw``, ``ev_discharge_kw`` [kW] per step, same length.
    dt_h : float
        Step length [h].

    Returns
    -------
    dict
        ``flexibility_up_kwh``, ``flexibility_down_kwh`` [kWh] (None without a band).
    """
    if band is None:
        return {"flexibility_up_kwh": None, "flexibility_down_kwh": None}
    p = site["ev_charge_kw"].to_numpy(float) - site["ev_discharge_kw"].to_numpy(float)
    up = np.maximum(0.0, band["p_max_kw"].to_numpy(float) - p)
    down = np.maximum(0.0, p - band["p_min_kw"].to_numpy(float))
    return {"flexibility_up_kwh": float(up.sum() * dt_h), "flexibility_down_kwh": float(down.sum() * dt_h)}


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
