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
``L[t]``               grid load with the site, ``net_load_kw[t] + imp[t] - exp[t]`` [kW]
``gpk``                grid peak, ``max_t L[t]`` [kW]; ``mean, dev``: mean of ``L`` and its largest deviation [kW]
``trk[t]``             deviation of ``imp[t] - exp[t]`` from ``target_kw[t]`` [kW]
``ren[t]``             EV charging within ``renewable_surplus_kw[t]`` [kW]
``paid[t], short[t]``  export paid for by / short of an ``export_request`` [kW]
``c(t)``               ``carbon_kg_per_kwh[t]`` [kg/kWh]; ``cred`` 1 if export is credited, else 0
``eta_c, eta_d``       charge / discharge efficiency [-]
``L, U``               ``min_soc * battery_kwh``, ``max_soc * battery_kwh`` [kWh]
=====================  ===========================================================

Each ``add_*`` function adds one component and states its equations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pyomo.environ as pyo

from ..fleet import FleetPlan, build_fleet_plan
from ..scenario import Scenario, StepInputs, step_inputs
from .checkpoints import add_checkpoints, checkpoint_expression
from .circuit import add_charger_block, charger_block
from .matrix import slim_segments
from .switching import add_switching, switching_expression


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
    steps: StepInputs | None = None  # effective per-step grid inputs
    slim_segments: frozenset = frozenset()  # segments j with one energy sum (see add_vehicle_soc_constraints)
    pair_limits: dict = field(default_factory=dict)  # (v, t) -> (max charge, max discharge, min charge) [kW]
    charger_block: object = None  # gridopt.optimizer.circuit.ChargerBlock, None without site.chargers

    @property
    def n_binaries(self) -> int:
        extra = self.charger_block.n_binaries if self.charger_block is not None else 0
        return len(self.charge_mode_pairs) + len(self.discharge_mode_pairs) + len(self.meter_steps) + extra


def model_data(sc: Scenario, plan: FleetPlan | None = None, slim: bool = False) -> ModelData:
    """Index sets of the model for ``sc``: which variables and binaries exist.

    With ``slim=True`` the segments of :func:`gridopt.optimizer.matrix.slim_segments`
    have SoC variables at their start and end boundaries only.
    """
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
    block = charger_block(sc, plan)  # chargers, assignment, circuit: gridopt.optimizer.circuit
    limits = {p: (pmax_c[p[0]], pmax_d[p[0]], pmin_c[p[0]], False) for p in pairs}
    if block is not None:  # per-pair limits of the charger each pair is on
        limits = dict(zip(pairs, zip(block.pc, block.pd, block.pmin, block.need_x, strict=True), strict=True))
    dpairs = [p for p in pairs if limits[p][1] > 0]
    xpairs = [
        p for p in pairs if limits[p][0] > 0 and (limits[p][2] > 0 or limits[p][1] > 0 or high_guard[p] or limits[p][3])
    ]
    ypairs = [p for p in dpairs if limits[p][2] > 0 and limits[p][0] > 0]
    slim_j = frozenset(int(j) for j in np.flatnonzero(slim_segments(sc, plan))) if slim else frozenset()
    bounds = [
        (j, k)
        for j, s in enumerate(plan.segments.itertuples())
        for k in ((s.start, s.end) if j in slim_j else range(s.start, s.end + 1))
    ]
    steps = step_inputs(sc)
    meter = [int(t) for t in one_meter_steps(sc, steps)]
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
        steps=steps,
        slim_segments=slim_j,
        pair_limits={p: lim[:3] for p, lim in limits.items()},
        charger_block=block,
    )


def one_meter_steps(sc: Scenario, steps: StepInputs) -> np.ndarray:
    """Steps that need the one-meter binary: where importing and exporting at once would pay.

    That is where a kW exported earns more than a kW imported costs:
    ``export_price + [cred] carbon_price c(t) + export request payment and
    penalty`` (soft requests) above ``import_price + carbon_price c(t)``, and
    the site may export. Steps of a hard export request need none: their import
    is 0 (a bound).
    """
    ip = sc.series["import_price"].to_numpy(float)
    ep = sc.series["export_price"].to_numpy(float)
    g = sc.grid_terms
    carbon = steps.carbon_kg_per_kwh if steps.carbon_kg_per_kwh is not None and g.carbon_price_per_kg > 0 else None
    value = ep.copy()
    cost = ip.copy()
    if carbon is not None:
        cost = cost + g.carbon_price_per_kg * carbon
        if g.carbon_credit_export:
            value = value + g.carbon_price_per_kg * carbon
    req = steps.export_request_kw > 0
    hard = req & steps.export_request_hard
    value = value + np.where(req, steps.export_payment_per_kwh + np.where(hard, 0.0, steps.export_penalty_per_kwh), 0.0)
    return np.flatnonzero((value > cost) & (steps.export_limit_kw > 0) & ~hard)


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


def _lim(data: ModelData, v: int, t: int, i: int) -> float:
    """Largest charge (``i=0``), largest discharge (1) or minimum charge (2) of pair (v, t) [kW]:
    the vehicle's, within the limits of the charger it is on (:mod:`gridopt.optimizer.circuit`)."""
    return float(data.pair_limits[(v, t)][i])


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
    m.charge_kw = pyo.Var(m.P, bounds=lambda m, v, t: (0.0, _lim(data, v, t, 0)))
    m.discharge_kw = pyo.Var(m.PD, bounds=lambda m, v, t: (0.0, _lim(data, v, t, 1)))
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
    A slim segment (``data.slim_segments``: charge-only, its SoC never falls, so
    bounds at its two ends bound every boundary) has one sum instead:
    ``e[j,end_j] = e[j,start_j] + sum_t eta_c * c[v,t] * dt``.
    """
    dt = data.dt_h
    segs = data.plan.segments
    reqs = data.plan.requirements
    eta_c = {v: _veh(data, v, "charge_efficiency") for v in range(len(data.plan.vehicle_ids))}
    eta_d = {v: _veh(data, v, "discharge_efficiency") for v in range(len(data.plan.vehicle_ids))}

    def dyn(m, v, t):
        j = data.seg_of[(v, t)]
        if j in data.slim_segments:
            return pyo.Constraint.Skip
        expr = m.soc_kwh[j, t] + eta_c[v] * dt * m.charge_kw[v, t]
        if (v, t) in m.PD:
            expr = expr - dt / eta_d[v] * m.discharge_kw[v, t]
        return m.soc_kwh[j, t + 1] == expr

    m.soc_dynamics = pyo.Constraint(m.P, rule=dyn)
    slim = sorted(data.slim_segments)

    def energy_sum(m, j):
        s = segs.iloc[j]
        v, start, end = int(s["vehicle"]), int(s["start"]), int(s["end"])
        gained = sum(eta_c[v] * dt * m.charge_kw[v, t] for t in range(start, end))
        return m.soc_kwh[j, end] == m.soc_kwh[j, start] + gained

    m.soc_energy_sum = pyo.Constraint(slim, rule=energy_sum)

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
        return m.charge_kw[v, t] <= _lim(data, v, t, 0) * m.charging[v, t]

    def cmin(m, v, t):
        pmin = _lim(data, v, t, 2)
        if pmin <= 0:
            return pyo.Constraint.Skip
        return m.charge_kw[v, t] >= pmin * m.charging[v, t]

    m.charge_mode_max = pyo.Constraint(m.PX, rule=cmax)
    m.charge_mode_min = pyo.Constraint(m.PX, rule=cmin)

    def dmax(m, v, t):
        return m.discharge_kw[v, t] <= _lim(data, v, t, 1) * _discharge_mode(m, data, v, t)

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
    ``imp[t] <= import_limit_kw[t]``,
    ``exp[t] <= export_limit_kw[t]`` (time-varying: timeseries columns and
    ``import_cap`` events). A hard export request makes ``exp[t] >=
    export_request_kw[t]`` and ``imp[t] = 0`` (one meter). Where exporting pays
    more than importing costs (:func:`one_meter_steps`) a binary ``z[t]`` keeps
    the meter one-way:
    ``imp[t] <= M[t] (1 - z[t])``, ``exp[t] <= export_limit_kw[t] z[t]``
    (``M[t]`` the import limit, or base load plus every charger without one).
    With ``elastic=True`` the grid limits get non-negative slacks
    (``imp[t] <= import_limit_kw[t] + s[t]``, likewise for export, and
    ``exp[t] - imp[t] + s[t] >= export_request_kw[t]`` for hard requests), used
    to explain infeasible sites.
    """
    sc = data.sc
    T = sc.grid.n_steps
    series = sc.series
    st = data.steps
    imp_lim, exp_lim = st.import_limit_kw, st.export_limit_kw
    hard = set(int(t) for t in st.hard_request_steps)
    req = st.export_request_kw
    m.T = pyo.RangeSet(0, T - 1)

    def imp_bounds(m, t):
        if t in hard and not elastic:
            return (0.0, 0.0)  # one meter: a step that must export imports nothing
        return (0.0, None if (elastic or math.isinf(imp_lim[t])) else float(imp_lim[t]))

    def exp_bounds(m, t):
        if elastic:
            return (0.0, None)
        return (float(req[t]) if t in hard else 0.0, float(exp_lim[t]))

    m.grid_import_kw = pyo.Var(m.T, bounds=imp_bounds)
    m.grid_export_kw = pyo.Var(m.T, bounds=exp_bounds)
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
        finite = [t for t in range(T) if not math.isinf(imp_lim[t])]
        m.import_limit = pyo.Constraint(
            finite, rule=lambda m, t: m.grid_import_kw[t] <= float(imp_lim[t]) + m.import_slack_kw[t]
        )
        m.export_limit = pyo.Constraint(
            m.T, rule=lambda m, t: m.grid_export_kw[t] <= float(exp_lim[t]) + m.export_slack_kw[t]
        )
        # a hard export request: net export of at least the request, short by the slack
        m.request_slack_kw = pyo.Var(sorted(hard), bounds=(0.0, None))
        m.hard_request = pyo.Constraint(
            sorted(hard),
            rule=lambda m, t: m.grid_export_kw[t] - m.grid_import_kw[t] + m.request_slack_kw[t] >= float(req[t]),
        )
    m.M = pyo.Set(initialize=data.meter_steps, ordered=True)
    m.exporting = pyo.Var(m.M, domain=pyo.Binary)
    if data.meter_steps:
        pmax_c = sc.vehicles["max_charge_kw"].sum()
        fallback = float(base.max() + pmax_c)

        def big_import(t):
            return float(imp_lim[t]) if not math.isinf(imp_lim[t]) else fallback

        m.meter_import = pyo.Constraint(
            m.M, rule=lambda m, t: m.grid_import_kw[t] <= big_import(t) * (1 - m.exporting[t])
        )
        m.meter_export = pyo.Constraint(
            m.M, rule=lambda m, t: m.grid_export_kw[t] <= float(exp_lim[t]) * m.exporting[t]
        )


def add_demand_charge(m: pyo.ConcreteModel, data: ModelData) -> None:
    """Peak import: ``peak >= imp[t]`` for all ``t`` (only with a demand charge)."""
    if data.sc.demand_charge_per_kw > 0:
        m.peak_import_kw = pyo.Var(bounds=(0.0, None))
        m.peak_def = pyo.Constraint(m.T, rule=lambda m, t: m.peak_import_kw >= m.grid_import_kw[t])


def _net_import(m, t):
    return m.grid_import_kw[t] - m.grid_export_kw[t]


def _carbon(data: ModelData) -> np.ndarray | None:
    c = data.steps.carbon_kg_per_kwh
    return None if c is None else c


def add_grid_peak(m: pyo.ConcreteModel, data: ModelData, elastic: bool = False) -> None:
    """Grid peak (only with ``peak_weight_per_kw`` or ``grid_peak_cap_kw``).

    ``gpk >= net_load_kw[t] + imp[t] - exp[t]`` for all ``t``; with a cap,
    ``gpk <= grid_peak_cap_kw`` (elastic: ``<= cap + s``).
    """
    g = data.sc.grid_terms
    if not (g.peak_weight_per_kw > 0 or g.grid_peak_cap_kw is not None):
        return
    nl = data.steps.net_load_kw
    cap = g.grid_peak_cap_kw
    m.grid_peak_kw = pyo.Var(bounds=(None, None if (cap is None or elastic) else float(cap)))
    m.grid_peak_def = pyo.Constraint(m.T, rule=lambda m, t: m.grid_peak_kw >= float(nl[t]) + _net_import(m, t))
    if elastic and cap is not None:
        m.grid_peak_slack_kw = pyo.Var(bounds=(0.0, None))
        m.grid_peak_cap = pyo.Constraint(expr=m.grid_peak_kw <= float(cap) + m.grid_peak_slack_kw)


def add_valley_fill(m: pyo.ConcreteModel, data: ModelData) -> None:
    """Largest deviation of the grid load from its mean (only with ``valley_fill_weight_per_kw``).

    ``mean = mean_t net_load_kw[t] + (1/T) sum_t (imp[t] - exp[t])``;
    ``dev >= L[t] - mean``, ``dev >= mean - L[t]`` for all ``t``, ``dev >= 0``.
    """
    if not data.sc.grid_terms.valley_fill_weight_per_kw > 0:
        return
    nl = data.steps.net_load_kw
    T = len(nl)
    m.grid_mean_kw = pyo.Var(bounds=(None, None))
    m.grid_dev_kw = pyo.Var(bounds=(0.0, None))
    m.grid_mean_def = pyo.Constraint(expr=m.grid_mean_kw - sum(_net_import(m, t) for t in m.T) / T == float(nl.mean()))
    m.grid_dev_up = pyo.Constraint(
        m.T, rule=lambda m, t: m.grid_dev_kw >= float(nl[t]) + _net_import(m, t) - m.grid_mean_kw
    )
    m.grid_dev_down = pyo.Constraint(
        m.T, rule=lambda m, t: m.grid_dev_kw >= m.grid_mean_kw - float(nl[t]) - _net_import(m, t)
    )


def add_tracking(m: pyo.ConcreteModel, data: ModelData, elastic: bool = False) -> None:
    """Tracking of ``target_kw`` in the steps that have one.

    exact: ``imp[t] - exp[t] = target_kw[t]`` (elastic: ``= target + s_up - s_down``);
    soft (only with ``tracking_penalty_per_kwh``): ``trk[t] >= imp - exp - target``,
    ``trk[t] >= target - imp + exp``, ``trk[t] >= 0``.
    """
    g = data.sc.grid_terms
    steps = [int(t) for t in data.steps.target_steps]
    target = data.steps.target_kw
    if not steps:
        return
    if g.exact_tracking:
        if elastic:
            m.track_up_kw = pyo.Var(steps, bounds=(0.0, None))
            m.track_down_kw = pyo.Var(steps, bounds=(0.0, None))
            m.track_exact = pyo.Constraint(
                steps,
                rule=lambda m, t: _net_import(m, t) == float(target[t]) + m.track_up_kw[t] - m.track_down_kw[t],
            )
        else:
            m.track_exact = pyo.Constraint(steps, rule=lambda m, t: _net_import(m, t) == float(target[t]))
    elif g.tracking_penalty_per_kwh > 0:
        m.TRK = pyo.Set(initialize=steps, ordered=True)
        m.track_kw = pyo.Var(m.TRK, bounds=(0.0, None))
        m.track_above = pyo.Constraint(m.TRK, rule=lambda m, t: m.track_kw[t] >= _net_import(m, t) - float(target[t]))
        m.track_below = pyo.Constraint(m.TRK, rule=lambda m, t: m.track_kw[t] >= float(target[t]) - _net_import(m, t))


def renewable_steps(data: ModelData) -> list[int]:
    """Steps with a renewable surplus and a plugged-in vehicle (where ``ren[t]`` exists)."""
    sur = data.steps.renewable_surplus_kw
    if sur is None or not data.sc.grid_terms.renewable_use_bonus_per_kwh > 0:
        return []
    plugged = {t for _, t in data.plugged_pairs}
    return [t for t in range(len(sur)) if sur[t] > 0 and t in plugged]


def add_renewable_bonus(m: pyo.ConcreteModel, data: ModelData) -> None:
    """EV charging within the renewable surplus (only with ``renewable_use_bonus_per_kwh``).

    ``0 <= ren[t] <= renewable_surplus_kw[t]``, ``ren[t] <= sum_v c[v,t]``.
    """
    steps = renewable_steps(data)
    if not steps:
        return
    sur = data.steps.renewable_surplus_kw
    by_step: dict[int, list] = {}
    for v, t in data.plugged_pairs:
        by_step.setdefault(t, []).append(v)
    m.REN = pyo.Set(initialize=steps, ordered=True)
    m.renewable_kw = pyo.Var(m.REN, bounds=lambda m, t: (0.0, float(sur[t])))
    m.renewable_use = pyo.Constraint(
        m.REN, rule=lambda m, t: m.renewable_kw[t] <= sum(m.charge_kw[v, t] for v in by_step[t])
    )


def request_steps(data: ModelData) -> tuple[list[int], list[int]]:
    """Steps with ``paid[t]`` (a payment) and with ``short[t]`` (a soft request's penalty)."""
    st = data.steps
    req = st.export_request_kw > 0
    paid = np.flatnonzero(req & (st.export_payment_per_kwh > 0))
    short = np.flatnonzero(req & (st.export_penalty_per_kwh > 0) & ~st.export_request_hard)
    return [int(t) for t in paid], [int(t) for t in short]


def add_export_requests(m: pyo.ConcreteModel, data: ModelData) -> None:
    """Export requests: what is paid and what falls short (hard requests are bounds, see :func:`add_site_balance`).

    ``0 <= paid[t] <= export_request_kw[t]``, ``paid[t] <= exp[t]``;
    ``short[t] >= export_request_kw[t] - exp[t]``, ``short[t] >= 0``.
    """
    paid, short = request_steps(data)
    req = data.steps.export_request_kw
    if paid:
        m.PAID = pyo.Set(initialize=paid, ordered=True)
        m.request_paid_kw = pyo.Var(m.PAID, bounds=lambda m, t: (0.0, float(req[t])))
        m.request_paid = pyo.Constraint(m.PAID, rule=lambda m, t: m.request_paid_kw[t] <= m.grid_export_kw[t])
    if short:
        m.SHORT = pyo.Set(initialize=short, ordered=True)
        m.request_short_kw = pyo.Var(m.SHORT, bounds=(0.0, None))
        m.request_short = pyo.Constraint(
            m.SHORT, rule=lambda m, t: m.request_short_kw[t] >= float(req[t]) - m.grid_export_kw[t]
        )


def add_emissions_cap(m: pyo.ConcreteModel, data: ModelData, elastic: bool = False) -> None:
    """``sum_t c(t) (imp[t] - cred exp[t]) dt <= emissions_cap_kg`` (elastic: ``<= cap + s``)."""
    cap = data.sc.grid_terms.emissions_cap_kg
    c = _carbon(data)
    if cap is None or c is None:
        return
    cred = 1.0 if data.sc.grid_terms.carbon_credit_export else 0.0
    dt = data.dt_h
    expr = sum(float(c[t]) * dt * (m.grid_import_kw[t] - cred * m.grid_export_kw[t]) for t in m.T)
    if elastic:
        m.emissions_slack_kg = pyo.Var(bounds=(0.0, None))
        m.emissions_cap = pyo.Constraint(expr=expr <= float(cap) + m.emissions_slack_kg)
    else:
        m.emissions_cap = pyo.Constraint(expr=expr <= float(cap))


def cost_expression(m: pyo.ConcreteModel, data: ModelData):
    """The objective: total cost [currency] plus the weighted grid terms.

    ``sum_t (import_price[t] imp[t] - export_price[t] exp[t]) dt
    + demand_charge_per_kw * peak
    + battery_degradation_cost_per_kwh * sum d[v,t] dt
    + unmet_energy_penalty_per_kwh * sum_r u[r]``
    ``+ carbon_price_per_kg * sum_t c(t) (imp[t] - cred exp[t]) dt
    + peak_weight_per_kw * gpk + valley_fill_weight_per_kw * dev
    + tracking_penalty_per_kwh * sum_t trk[t] dt
    - renewable_use_bonus_per_kwh * sum_t ren[t] dt
    - sum_t export_payment_per_kwh[t] paid[t] dt + sum_t export_penalty_per_kwh[t] short[t] dt``
    (``import_price`` includes the ``shift_away`` extra).
    """
    sc = data.sc
    dt = data.dt_h
    ip = sc.series["import_price"].to_numpy()
    ep = sc.series["export_price"].to_numpy()
    g = sc.grid_terms
    c = _carbon(data)
    if c is not None and g.carbon_price_per_kg > 0:
        cp = g.carbon_price_per_kg
        ip = ip + cp * c
        if g.carbon_credit_export:
            ep = ep + cp * c
    energy = sum(float(ip[t]) * dt * m.grid_import_kw[t] - float(ep[t]) * dt * m.grid_export_kw[t] for t in m.T)
    expr = energy
    if g.peak_weight_per_kw > 0:
        expr = expr + g.peak_weight_per_kw * m.grid_peak_kw
    if hasattr(m, "grid_dev_kw"):
        expr = expr + g.valley_fill_weight_per_kw * m.grid_dev_kw
    if hasattr(m, "track_kw"):
        expr = expr + g.tracking_penalty_per_kwh * dt * sum(m.track_kw[t] for t in m.TRK)
    if hasattr(m, "renewable_kw"):
        expr = expr - g.renewable_use_bonus_per_kwh * dt * sum(m.renewable_kw[t] for t in m.REN)
    st = data.steps
    if hasattr(m, "request_paid_kw"):
        expr = expr - dt * sum(float(st.export_payment_per_kwh[t]) * m.request_paid_kw[t] for t in m.PAID)
    if hasattr(m, "request_short_kw"):
        expr = expr + dt * sum(float(st.export_penalty_per_kwh[t]) * m.request_short_kw[t] for t in m.SHORT)
    if hasattr(m, "peak_import_kw"):
        expr = expr + sc.demand_charge_per_kw * m.peak_import_kw
    if sc.battery_degradation_cost_per_kwh > 0 and len(data.discharge_pairs):
        expr = expr + sc.battery_degradation_cost_per_kwh * dt * sum(m.discharge_kw[p] for p in m.PD)
    if len(data.plan.requirements):
        expr = expr + sc.unmet_energy_penalty_per_kwh * sum(m.shortfall_kwh[r] for r in m.R)
    expr = expr + switching_expression(m, data)  # 2 w sum r[v,t]: gridopt.optimizer.switching
    expr = expr + checkpoint_expression(m)  # soft SoC checkpoints: gridopt.optimizer.checkpoints
    return expr


#: Extra weight of an elastic slack in the horizon's first step over its last [-] (see :func:`build_model`).
ELASTIC_EARLY_WEIGHT = 1e-3


def build_model(
    sc: Scenario, plan: FleetPlan | None = None, *, elastic: bool = False, slim: bool = False
) -> tuple[pyo.ConcreteModel, ModelData]:
    """The Pyomo model of ``sc`` and the index data to read it back.

    With ``slim=True`` charge-only segments carry one energy sum instead of a
    SoC per step (:func:`add_vehicle_soc_constraints`; an equivalent program).

    With ``elastic=True`` the objective is the total slack of the grid limits,
    hard export requests, exact tracking and the caps (used by
    :func:`gridopt.optimizer.diagnose.explain_infeasible_site`).
    """
    data = model_data(sc, plan, slim=slim)
    m = pyo.ConcreteModel(name=sc.name)
    add_vehicle_variables(m, data)
    add_vehicle_soc_constraints(m, data)
    add_requirement_constraints(m, data)
    add_charger_constraints(m, data)
    add_site_balance(m, data, elastic=elastic)
    add_demand_charge(m, data)
    add_grid_peak(m, data, elastic=elastic)
    add_valley_fill(m, data)
    add_tracking(m, data, elastic=elastic)
    add_renewable_bonus(m, data)
    add_export_requests(m, data)
    add_emissions_cap(m, data, elastic=elastic)
    add_switching(m, data)  # site.switching_penalty_per_kw (gridopt.optimizer.switching)
    add_checkpoints(m, data)  # Scenario.soft_checkpoints (gridopt.optimizer.checkpoints)
    add_charger_block(m, data)  # chargers, assignment and circuit (gridopt.optimizer.circuit)
    if elastic:
        # slack of a request or a target weighs slightly more early: it lands where energy runs out
        T = sc.grid.n_steps
        late = {t: 1.0 + ELASTIC_EARLY_WEIGHT * (T - 1 - t) / T for t in range(T)}
        slack = sum(m.import_slack_kw[t] + m.export_slack_kw[t] for t in m.T)
        slack = slack + sum(late[t] * m.request_slack_kw[t] for t in m.request_slack_kw)
        if hasattr(m, "track_up_kw"):
            slack = slack + sum(late[t] * (m.track_up_kw[t] + m.track_down_kw[t]) for t in m.track_up_kw)
        for name in ("grid_peak_slack_kw", "emissions_slack_kg"):
            if hasattr(m, name):
                slack = slack + getattr(m, name)
        m.objective = pyo.Objective(expr=slack, sense=pyo.minimize)
    else:
        m.objective = pyo.Objective(expr=cost_expression(m, data), sense=pyo.minimize)
    return m, data
