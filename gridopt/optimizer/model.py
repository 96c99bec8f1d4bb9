"""Build the charging/V2G mixed-integer program in Pyomo (no solver is called here).

Symbols (units in brackets)
---------------------------
=====================  ===========================================================
``t``                  step, ``0 .. n_steps - 1``; ``dt`` step length [h]
``v``                  vehicle; ``(v, t) in P`` when ``v`` is plugged in during ``t``
``j, k``               segment ``j`` of plugged-in steps and its SoC boundary ``k``
``r``                  requirement (trip departure, session end, final SoC)
``c[v,t], d[v,t]``     charge drawn from / discharge delivered to the site [kW]
``e[j,k]``             state of charge at boundary ``k`` of segment ``j`` [kWh]
``u[r]``               shortfall of requirement ``r`` [kWh]
``x[v,t], y[v,t]``     charging / discharging mode (binary, only where needed)
``imp[t], exp[t]``     grid import / export [kW]; ``pv[t]`` PV used [kW]
``peak``               largest import over the horizon [kW]
``eta_c, eta_d``       charge / discharge efficiency [-]
``L, U``               ``min_soc * battery_kwh``, ``max_soc * battery_kwh`` [kWh]
=====================  ===========================================================

Each ``add_*`` function adds one component and states its equations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pyomo.environ as pyo

from ..fleet import FleetPlan, build_fleet_plan
from ..scenario import Scenario


@dataclass
class ModelData:
    """Plain arrays the model is built from (and results are read back with)."""

    sc: Scenario
    plan: FleetPlan
    dt_h: float
    plugged_pairs: list  # [(v, t)]
    discharge_pairs: list  # subset of plugged_pairs for V2G vehicles
    charge_mode_pairs: list  # pairs with a charging-mode binary x
    discharge_mode_pairs: list  # pairs with a separate discharging-mode binary y
    boundaries: list  # [(j, k)]
    meter_steps: list  # steps with a one-meter binary
    seg_of: dict = field(default_factory=dict)  # (v, t) -> segment j
    vehicle_arrays: dict = field(default_factory=dict)  # column -> ndarray over v

    @property
    def n_binaries(self) -> int:
        return len(self.charge_mode_pairs) + len(self.discharge_mode_pairs) + len(self.meter_steps)


def model_data(sc: Scenario, plan: FleetPlan | None = None) -> ModelData:
    """Index sets of the model for ``sc``: which variables and binaries exist."""
    plan = plan or build_fleet_plan(sc)
    veh = sc.vehicles.loc[plan.vehicle_ids]
    pmax_d = veh["max_discharge_kw"].to_numpy()
    pmin_c = veh["min_charge_kw"].to_numpy()
    pmax_c = veh["max_charge_kw"].to_numpy()
    seg_of = {}
    high_guard = {}
    for j, s in enumerate(plan.segments.itertuples()):
        for t in range(s.start, s.end):
            seg_of[(s.vehicle, t)] = j
            high_guard[(s.vehicle, t)] = s.high_guard
    pairs = sorted(seg_of)
    dpairs = [p for p in pairs if pmax_d[p[0]] > 0]
    xpairs = [p for p in pairs if pmax_c[p[0]] > 0 and (pmin_c[p[0]] > 0 or pmax_d[p[0]] > 0 or high_guard[p])]
    ypairs = [p for p in dpairs if pmin_c[p[0]] > 0 and pmax_c[p[0]] > 0]
    bounds = [(j, k) for j, s in enumerate(plan.segments.itertuples()) for k in range(s.start, s.end + 1)]
    series = sc.series
    meter = [
        t
        for t in range(sc.grid.n_steps)
        if series["export_price"].iat[t] > series["import_price"].iat[t] and sc.export_limit_kw > 0
    ]
    return ModelData(
        sc=sc,
        plan=plan,
        dt_h=sc.grid.dt_h,
        plugged_pairs=pairs,
        discharge_pairs=dpairs,
        charge_mode_pairs=xpairs,
        discharge_mode_pairs=ypairs,
        boundaries=bounds,
        meter_steps=meter,
        seg_of=seg_of,
        vehicle_arrays={c: veh[c].to_numpy(dtype=float) for c in _VEHICLE_NUMERIC},
    )


_VEHICLE_NUMERIC = (
    "battery_kwh",
    "max_charge_kw",
    "max_discharge_kw",
    "min_charge_kw",
    "min_soc",
    "max_soc",
    "charge_efficiency",
    "discharge_efficiency",
)


def _veh(data: ModelData, v: int, col: str) -> float:
    return float(data.vehicle_arrays[col][v])


def add_vehicle_variables(m: pyo.ConcreteModel, data: ModelData) -> None:
    """Powers, SoC, shortfall and mode binaries.

    ``0 <= c[v,t] <= max_charge_kw``, ``0 <= d[v,t] <= max_discharge_kw`` (only
    V2G vehicles have ``d``), ``lo_j <= e[j,k] <= hi_j`` and
    ``0 <= u[r] <= required_kwh[r]``.
    """
    segs = data.plan.segments
    reqs = data.plan.requirements
    m.P = pyo.Set(initialize=data.plugged_pairs, dimen=2, ordered=True)
    m.PD = pyo.Set(initialize=data.discharge_pairs, dimen=2, ordered=True)
    m.PX = pyo.Set(initialize=data.charge_mode_pairs, dimen=2, ordered=True)
    m.PY = pyo.Set(initialize=data.discharge_mode_pairs, dimen=2, ordered=True)
    m.K = pyo.Set(initialize=data.boundaries, dimen=2, ordered=True)
    m.R = pyo.Set(initialize=range(len(reqs)), ordered=True)
    m.charge_kw = pyo.Var(m.P, bounds=lambda m, v, t: (0.0, _veh(data, v, "max_charge_kw")))
    m.discharge_kw = pyo.Var(m.PD, bounds=lambda m, v, t: (0.0, _veh(data, v, "max_discharge_kw")))
    lo = segs["lo_kwh"].to_numpy()
    hi = segs["hi_kwh"].to_numpy()
    m.soc_kwh = pyo.Var(m.K, bounds=lambda m, j, k: (float(lo[j]), float(hi[j])))
    req = reqs["required_kwh"].to_numpy()
    m.shortfall_kwh = pyo.Var(m.R, bounds=lambda m, r: (0.0, float(req[r])))
    m.charging = pyo.Var(m.PX, domain=pyo.Binary)
    m.discharging = pyo.Var(m.PY, domain=pyo.Binary)


def _discharge_mode(m, data: ModelData, v: int, t: int):
    """Expression that is 1 when (v, t) may discharge: ``y[v,t]``, or ``1 - x[v,t]``."""
    if (v, t) in m.PY:
        return m.discharging[v, t]
    if (v, t) in m.PX:
        return 1 - m.charging[v, t]
    return 1


def add_vehicle_soc_constraints(m: pyo.ConcreteModel, data: ModelData) -> None:
    """SoC dynamics, segment starts and trip links.

    ``e[j,t+1] = e[j,t] + eta_c * c[v,t] * dt - d[v,t] * dt / eta_d`` for every
    plugged-in step ``t`` of segment ``j``;
    ``e[j,start_j] = s0_j`` for a known start (first segment, session arrival);
    ``e[j,start_j] = e[j_r,k_r] + u[r] - energy_kwh[r]`` for a segment that
    starts when the trip of requirement ``r`` returns.
    """
    dt = data.dt_h
    segs = data.plan.segments
    reqs = data.plan.requirements
    eta_c = {v: _veh(data, v, "charge_efficiency") for v in range(len(data.plan.vehicle_ids))}
    eta_d = {v: _veh(data, v, "discharge_efficiency") for v in range(len(data.plan.vehicle_ids))}

    def dyn(m, v, t):
        j = data.seg_of[(v, t)]
        expr = m.soc_kwh[j, t] + eta_c[v] * dt * m.charge_kw[v, t]
        if (v, t) in m.PD:
            expr = expr - dt / eta_d[v] * m.discharge_kw[v, t]
        return m.soc_kwh[j, t + 1] == expr

    m.soc_dynamics = pyo.Constraint(m.P, rule=dyn)

    for j, s in enumerate(segs.itertuples()):
        if s.link_req < 0:
            m.soc_kwh[j, s.start].fix(float(s.s0_kwh))
    linked = [j for j, s in enumerate(segs.itertuples()) if s.link_req >= 0]

    def link(m, j):
        s = segs.iloc[j]
        r = int(s["link_req"])
        q = reqs.iloc[r]
        return m.soc_kwh[j, int(s["start"])] == (
            m.soc_kwh[int(q["segment"]), int(q["boundary"])] + m.shortfall_kwh[r] - float(q["energy_kwh"])
        )

    m.trip_link = pyo.Constraint(linked, rule=link)


def add_requirement_constraints(m: pyo.ConcreteModel, data: ModelData) -> None:
    """Soft energy requirements: ``e[j_r,k_r] + u[r] >= required_kwh[r]``."""
    reqs = data.plan.requirements

    def rule(m, r):
        q = reqs.iloc[r]
        return m.soc_kwh[int(q["segment"]), int(q["boundary"])] + m.shortfall_kwh[r] >= float(q["required_kwh"])

    m.requirement = pyo.Constraint(m.R, rule=rule)


def add_charger_constraints(m: pyo.ConcreteModel, data: ModelData) -> None:
    """Charger modes, minimum power and the out-of-range SoC rules.

    Where ``x`` exists: ``min_charge_kw * x <= c <= max_charge_kw * x``.
    V2G: ``d <= max_discharge_kw * y`` with ``y = 1 - x`` (one binary) or a
    separate ``y`` and ``x + y <= 1`` when the charger also has a minimum power:
    never charge and discharge in the same step.
    Segments starting below ``min_soc`` (V2G): ``e[j,t+1] >= L - (L - lo_j)(1 - y)``,
    i.e. a step that discharges ends at or above ``L``.
    Segments starting above ``max_soc``: ``e[j,t+1] <= U + (hi_j - U)(1 - x)``,
    i.e. a step that charges ends at or below ``U``.
    """
    segs = data.plan.segments

    def cmax(m, v, t):
        return m.charge_kw[v, t] <= _veh(data, v, "max_charge_kw") * m.charging[v, t]

    def cmin(m, v, t):
        pmin = _veh(data, v, "min_charge_kw")
        if pmin <= 0:
            return pyo.Constraint.Skip
        return m.charge_kw[v, t] >= pmin * m.charging[v, t]

    m.charge_mode_max = pyo.Constraint(m.PX, rule=cmax)
    m.charge_mode_min = pyo.Constraint(m.PX, rule=cmin)

    def dmax(m, v, t):
        return m.discharge_kw[v, t] <= _veh(data, v, "max_discharge_kw") * _discharge_mode(m, data, v, t)

    m.discharge_mode = pyo.Constraint(m.PD, rule=dmax)
    m.one_mode = pyo.Constraint(m.PY, rule=lambda m, v, t: m.charging[v, t] + m.discharging[v, t] <= 1)

    low, high = [], []
    for (v, t), j in data.seg_of.items():
        s = segs.iloc[j]
        if s["low_guard"] and (v, t) in m.PD:
            low.append((v, t))
        if s["high_guard"] and (v, t) in m.PX:
            high.append((v, t))

    def low_rule(m, v, t):
        j = data.seg_of[(v, t)]
        L = _veh(data, v, "min_soc") * _veh(data, v, "battery_kwh")
        lo = float(segs.at[j, "lo_kwh"])
        return m.soc_kwh[j, t + 1] >= L - (L - lo) * (1 - _discharge_mode(m, data, v, t))

    def high_rule(m, v, t):
        j = data.seg_of[(v, t)]
        U = _veh(data, v, "max_soc") * _veh(data, v, "battery_kwh")
        hi = float(segs.at[j, "hi_kwh"])
        return m.soc_kwh[j, t + 1] <= U + (hi - U) * (1 - m.charging[v, t])

    m.LOW = pyo.Set(initialize=low, dimen=2, ordered=True)
    m.HIGH = pyo.Set(initialize=high, dimen=2, ordered=True)
    m.low_soc_guard = pyo.Constraint(m.LOW, rule=low_rule)
    m.high_soc_guard = pyo.Constraint(m.HIGH, rule=high_rule)


def add_site_balance(m: pyo.ConcreteModel, data: ModelData, elastic: bool = False) -> None:
    """Site power balance, PV curtailment, grid limits and the one-meter rule.

    ``imp[t] - exp[t] = base_load_kw[t] + sum_v c[v,t] - sum_v d[v,t] - pv[t]``,
    ``0 <= pv[t] <= pv_kw[t]`` (``pv[t] = pv_kw[t]`` if PV cannot be curtailed),
    ``imp[t] <= import_limit_kw``,
    ``exp[t] <= export_limit_kw``. Where the export price exceeds the import
    price a binary ``z[t]`` keeps the meter one-way:
    ``imp[t] <= M z[t]``, ``exp[t] <= export_limit_kw (1 - z[t])``.
    With ``elastic=True`` the grid limits get non-negative slacks
    (``imp[t] <= import_limit_kw + s[t]``, likewise for export), used to explain
    infeasible sites.
    """
    sc = data.sc
    T = sc.grid.n_steps
    series = sc.series
    m.T = pyo.RangeSet(0, T - 1)
    imp_ub = None if (elastic or math.isinf(sc.import_limit_kw)) else sc.import_limit_kw
    exp_ub = None if elastic else sc.export_limit_kw
    m.grid_import_kw = pyo.Var(m.T, bounds=(0.0, imp_ub))
    m.grid_export_kw = pyo.Var(m.T, bounds=(0.0, exp_ub))
    pv = series["pv_kw"].to_numpy()
    base = series["base_load_kw"].to_numpy()
    if sc.pv_curtailable:
        m.pv_used_kw = pyo.Var(m.T, bounds=lambda m, t: (0.0, float(pv[t])))
    else:
        m.pv_used_kw = pyo.Var(m.T, bounds=lambda m, t: (float(pv[t]), float(pv[t])))
    by_step_c: dict[int, list] = {t: [] for t in range(T)}
    by_step_d: dict[int, list] = {t: [] for t in range(T)}
    for v, t in data.plugged_pairs:
        by_step_c[t].append(v)
    for v, t in data.discharge_pairs:
        by_step_d[t].append(v)

    def balance(m, t):
        return m.grid_import_kw[t] - m.grid_export_kw[t] == (
            float(base[t])
            + sum(m.charge_kw[v, t] for v in by_step_c[t])
            - sum(m.discharge_kw[v, t] for v in by_step_d[t])
            - m.pv_used_kw[t]
        )

    m.site_balance = pyo.Constraint(m.T, rule=balance)
    if elastic:
        m.import_slack_kw = pyo.Var(m.T, bounds=(0.0, None))
        m.export_slack_kw = pyo.Var(m.T, bounds=(0.0, None))
        if not math.isinf(sc.import_limit_kw):
            m.import_limit = pyo.Constraint(
                m.T, rule=lambda m, t: m.grid_import_kw[t] <= sc.import_limit_kw + m.import_slack_kw[t]
            )
        m.export_limit = pyo.Constraint(
            m.T, rule=lambda m, t: m.grid_export_kw[t] <= sc.export_limit_kw + m.export_slack_kw[t]
        )
    m.M = pyo.Set(initialize=data.meter_steps, ordered=True)
    m.exporting = pyo.Var(m.M, domain=pyo.Binary)
    if data.meter_steps:
        pmax_c = sc.vehicles["max_charge_kw"].sum()
        big_import = sc.import_limit_kw if not math.isinf(sc.import_limit_kw) else float(base.max() + pmax_c)
        m.meter_import = pyo.Constraint(m.M, rule=lambda m, t: m.grid_import_kw[t] <= big_import * (1 - m.exporting[t]))
        m.meter_export = pyo.Constraint(
            m.M, rule=lambda m, t: m.grid_export_kw[t] <= sc.export_limit_kw * m.exporting[t]
        )


def add_demand_charge(m: pyo.ConcreteModel, data: ModelData) -> None:
    """Peak import: ``peak >= imp[t]`` for all ``t`` (only with a demand charge)."""
    if data.sc.demand_charge_per_kw > 0:
        m.peak_import_kw = pyo.Var(bounds=(0.0, None))
        m.peak_def = pyo.Constraint(m.T, rule=lambda m, t: m.peak_import_kw >= m.grid_import_kw[t])


def cost_expression(m: pyo.ConcreteModel, data: ModelData):
    """Total cost [currency].

    ``sum_t (import_price[t] imp[t] - export_price[t] exp[t]) dt
    + demand_charge_per_kw * peak
    + battery_degradation_cost_per_kwh * sum d[v,t] dt
    + unmet_energy_penalty_per_kwh * sum_r u[r]``
    """
    sc = data.sc
    dt = data.dt_h
    ip = sc.series["import_price"].to_numpy()
    ep = sc.series["export_price"].to_numpy()
    energy = sum(float(ip[t]) * dt * m.grid_import_kw[t] - float(ep[t]) * dt * m.grid_export_kw[t] for t in m.T)
    expr = energy
    if hasattr(m, "peak_import_kw"):
        expr = expr + sc.demand_charge_per_kw * m.peak_import_kw
    if sc.battery_degradation_cost_per_kwh > 0 and len(data.discharge_pairs):
        expr = expr + sc.battery_degradation_cost_per_kwh * dt * sum(m.discharge_kw[p] for p in m.PD)
    if len(data.plan.requirements):
        expr = expr + sc.unmet_energy_penalty_per_kwh * sum(m.shortfall_kwh[r] for r in m.R)
    return expr


def build_model(
    sc: Scenario, plan: FleetPlan | None = None, *, elastic: bool = False
) -> tuple[pyo.ConcreteModel, ModelData]:
    """The Pyomo model of ``sc`` and the index data to read it back.

    With ``elastic=True`` the objective is the total grid-limit slack
    (used by :func:`gridopt.optimizer.diagnose.explain_infeasible_site`).
    """
    data = model_data(sc, plan)
    m = pyo.ConcreteModel(name=sc.name)
    add_vehicle_variables(m, data)
    add_vehicle_soc_constraints(m, data)
    add_requirement_constraints(m, data)
    add_charger_constraints(m, data)
    add_site_balance(m, data, elastic=elastic)
    add_demand_charge(m, data)
    if elastic:
        m.objective = pyo.Objective(
            expr=sum(m.import_slack_kw[t] + m.export_slack_kw[t] for t in m.T), sense=pyo.minimize
        )
    else:
        m.objective = pyo.Objective(expr=cost_expression(m, data), sense=pyo.minimize)
    return m, data
