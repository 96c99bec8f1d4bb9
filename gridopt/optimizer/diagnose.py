"""Explain why a site has no feasible plan.

Only the site's grid limits can make the model infeasible: every vehicle can
idle, and unmet energy is soft. So a site is infeasible exactly when, in some
step, the base load minus PV minus what plugged-in V2G vehicles can discharge
exceeds the import limit, or, with PV that cannot be curtailed, PV minus base
load minus what plugged-in vehicles can charge exceeds the export limit. This module finds those steps, first by a direct
check of power, then, when energy is the binding issue (V2G vehicles could
cover the peak power but not for long enough), by an elastic model that
minimises how far the import limit would have to move.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import InfeasibleError
from ..fleet import FleetPlan
from ..scenario import Scenario, SolverOptions, step_inputs
from .grid_conflicts import grid_conflicts, grid_slack_error


def _ranges(steps: np.ndarray, idx: pd.DatetimeIndex, step_minutes: int) -> str:
    """'07:00-08:15, 18:00-18:15' for sorted step numbers."""
    out, run = [], []
    for t in steps:
        if run and t != run[-1] + 1:
            out.append(run)
            run = []
        run.append(int(t))
    if run:
        out.append(run)
    end = pd.Timedelta(minutes=step_minutes)
    parts = [f"{idx[r[0]].isoformat()} to {(idx[r[-1]] + end).isoformat()}" for r in out[:4]]
    more = f" and {len(out) - 4} more periods" if len(out) > 4 else ""
    return ", ".join(parts) + more


def power_conflicts(sc: Scenario, plan: FleetPlan) -> pd.DataFrame:
    """Steps where even full V2G discharge cannot keep import within the limit.

    Returns a DataFrame indexed by time with ``base_load_kw``, ``pv_kw``,
    ``v2g_available_kw``, ``import_needed_kw`` and ``import_limit_kw`` for the
    conflicting steps only.
    """
    pmax_d = sc.vehicles.loc[plan.vehicle_ids, "max_discharge_kw"].to_numpy()
    v2g = (plan.plugged * pmax_d[:, None]).sum(axis=0)
    base = sc.series["base_load_kw"].to_numpy()
    pv = sc.series["pv_kw"].to_numpy()
    need = base - pv - v2g
    limit = step_inputs(sc).import_limit_kw  # per step: timeseries column, import_cap events
    bad = need > limit + 1e-9
    return pd.DataFrame(
        {
            "base_load_kw": base[bad],
            "pv_kw": pv[bad],
            "v2g_available_kw": v2g[bad],
            "import_needed_kw": need[bad],
            "import_limit_kw": limit[bad],
        },
        index=sc.grid.index[bad],
    )


def export_conflicts(sc: Scenario, plan: FleetPlan) -> pd.DataFrame:
    """Steps where PV that cannot be curtailed exceeds load, charging and the export limit."""
    if sc.pv_curtailable:
        return pd.DataFrame()
    pmax_c = sc.vehicles.loc[plan.vehicle_ids, "max_charge_kw"].to_numpy()
    sink = (plan.plugged * pmax_c[:, None]).sum(axis=0)
    base = sc.series["base_load_kw"].to_numpy()
    pv = sc.series["pv_kw"].to_numpy()
    surplus = pv - base - sink
    limit = step_inputs(sc).export_limit_kw
    bad = surplus > limit + 1e-9
    return pd.DataFrame(
        {
            "pv_kw": pv[bad],
            "base_load_kw": base[bad],
            "ev_charge_available_kw": sink[bad],
            "export_needed_kw": surplus[bad],
            "export_limit_kw": limit[bad],
        },
        index=sc.grid.index[bad],
    )


def site_conflicts(sc: Scenario, plan: FleetPlan) -> InfeasibleError | None:
    """The power conflicts of :func:`power_conflicts` and :func:`export_conflicts` as an error, without solving.

    Returns None when every step's power fits; the site may still be infeasible
    for lack of stored V2G energy, which only :func:`explain_infeasible_site`
    (an elastic model) finds.
    """
    grid = grid_conflicts(sc, plan)  # hard export requests and exact targets out of power's reach
    if grid is not None:
        return grid
    exp = export_conflicts(sc, plan)
    if len(exp):
        worst = exp["export_needed_kw"].idxmax()
        w = exp.loc[worst]
        steps = np.flatnonzero(sc.grid.index.isin(exp.index))
        return InfeasibleError(
            f"{sc.name}: infeasible site: PV cannot be curtailed (site.pv_curtailable: false) and exceeds base load, "
            f"all plugged-in charging and the export limit of {w['export_limit_kw']:g} kW in {len(exp)} step(s): "
            f"{_ranges(steps, sc.grid.index, sc.grid.step_minutes)}; worst at {worst.isoformat()}: PV "
            f"{w['pv_kw']:.1f} kW, base load {w['base_load_kw']:.1f} kW, charging {w['ev_charge_available_kw']:.1f} kW, "
            f"so export must be at least {w['export_needed_kw']:.1f} kW",
            [
                {"time": t.isoformat(), "limit": "export_limit_kw", **{k: float(v) for k, v in r.items()}}
                for t, r in exp.iterrows()
            ],
        )
    conf = power_conflicts(sc, plan)
    if len(conf):
        worst = conf["import_needed_kw"].idxmax()
        w = conf.loc[worst]
        steps = np.flatnonzero(sc.grid.index.isin(conf.index))
        msg = (
            f"{sc.name}: infeasible site: the import limit of {w['import_limit_kw']:g} kW is below the base load minus "
            f"PV{' minus all plugged-in V2G discharge' if w['v2g_available_kw'] > 0 else ''} in {len(conf)} "
            f"step(s): {_ranges(steps, sc.grid.index, sc.grid.step_minutes)}; worst at {worst.isoformat()}: "
            f"base load {w['base_load_kw']:.1f} kW, PV {w['pv_kw']:.1f} kW"
            + (f", V2G {w['v2g_available_kw']:.1f} kW" if w["v2g_available_kw"] > 0 else "")
            + f", so import must be at least {w['import_needed_kw']:.1f} kW"
        )
        conflicts = [
            {"time": t.isoformat(), "limit": "import_limit_kw", **{k: float(v) for k, v in r.items()}}
            for t, r in conf.iterrows()
        ]
        return InfeasibleError(msg, conflicts)
    return None


def explain_infeasible_site(sc: Scenario, plan: FleetPlan, options: SolverOptions | None = None) -> InfeasibleError:
    """An :class:`InfeasibleError` naming the steps and the limit that conflict."""
    direct = site_conflicts(sc, plan)
    if direct is not None:
        return direct
    # Power would suffice at every step: the V2G energy stored does not.
    from .model import build_model
    from .solve import solve

    m, data = build_model(sc, plan, elastic=True)
    opts = options or SolverOptions()
    rep = solve(m, SolverOptions(time_limit_s=min(opts.time_limit_s, 60.0), mip_rel_gap=1e-6))
    if not rep.has_plan:
        return InfeasibleError(f"{sc.name}: infeasible site (no further explanation could be found)")
    grid = grid_slack_error(sc, m)
    if grid is not None:
        return grid
    slack = np.array([m.import_slack_kw[t].value or 0.0 for t in range(sc.grid.n_steps)])
    export_slack = np.array([m.export_slack_kw[t].value or 0.0 for t in range(sc.grid.n_steps)])
    if export_slack.max(initial=0) > 1e-6 and slack.max(initial=0) <= 1e-6:
        steps = np.flatnonzero(export_slack > 1e-6)
        return InfeasibleError(
            f"{sc.name}: infeasible site: PV that cannot be curtailed exceeds what the site can use and export "
            f"(limit {step_inputs(sc).export_limit_kw[steps[0]]:g} kW) once the vehicles are full, in {len(steps)} "
            f"step(s): "
            f"{_ranges(steps, sc.grid.index, sc.grid.step_minutes)}",
            [
                {
                    "time": sc.grid.index[t].isoformat(),
                    "limit": "export_limit_kw",
                    "export_excess_kw": float(export_slack[t]),
                }
                for t in steps
            ],
        )
    steps = np.flatnonzero(slack > 1e-6)
    if not len(steps):
        return InfeasibleError(
            f"{sc.name}: the solver reported the site infeasible, but an elastic check finds no conflict"
        )
    worst = int(steps[np.argmax(slack[steps])])
    msg = (
        f"{sc.name}: infeasible site: the base load minus PV exceeds the import limit of "
        f"{step_inputs(sc).import_limit_kw[worst]:g} kW "
        f"for longer than the plugged-in V2G vehicles' stored energy can cover, in {len(steps)} step(s): "
        f"{_ranges(steps, sc.grid.index, sc.grid.step_minutes)}; worst at {sc.grid.index[worst].isoformat()}, "
        f"{slack[worst]:.1f} kW short (about {slack.sum() * sc.grid.dt_h:.1f} kWh in all)"
    )
    conflicts = [
        {"time": sc.grid.index[t].isoformat(), "limit": "import_limit_kw", "import_short_kw": float(slack[t])}
        for t in steps
    ]
    return InfeasibleError(msg, conflicts)
