"""Why the grid rules make a plan impossible: hard export requests, exact targets, caps.

Two stages, as in :mod:`gridopt.optimizer.diagnose`:

* :func:`grid_conflicts`, without solving: a step whose hard export request or
  exact target lies outside the net import the site can reach at all with its
  power (base load, PV, every plugged-in charger at full power or every V2G
  vehicle discharging at full power, the grid limits). Used by
  ``gridopt validate`` and before every other diagnosis.
* :func:`grid_slack_error`, from the elastic model
  (:func:`gridopt.optimizer.model.build_model` with ``elastic=True``): the
  steps where the target or the request had to move, or the cap that had to
  rise, when power suffices step by step but the vehicles' energy does not
  (e.g. a target that discharges longer than the batteries hold).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import InfeasibleError
from ..fleet import FleetPlan
from ..scenario import Scenario, step_inputs

#: A slack of the elastic model above this is a conflict [kW or kg].
SLACK_TOL = 1e-6
#: A target or request beyond the reachable range by more than this is a conflict [kW].
POWER_TOL = 1e-6


def _when(sc: Scenario, t: int) -> str:
    return sc.grid.index[int(t)].isoformat()


def _more(n: int) -> str:
    return f" (and {n - 1} more step(s))" if n > 1 else ""


def reachable_net_import(sc: Scenario, plan: FleetPlan) -> tuple[np.ndarray, np.ndarray]:
    """Least and most net import (import - export) the site can reach in each step [kW], shape (n_steps,) each.

    Power only: every plugged-in charger at full power, or every plugged-in V2G
    vehicle discharging at full power, PV used in full (or none, if it can be
    curtailed), within the grid limits; energy (SoC) is not considered.
    """
    st = step_inputs(sc)
    veh = sc.vehicles.loc[plan.vehicle_ids]
    sink = (plan.plugged * veh["max_charge_kw"].to_numpy(float)[:, None]).sum(axis=0)
    v2g = (plan.plugged * veh["max_discharge_kw"].to_numpy(float)[:, None]).sum(axis=0)
    base = sc.series["base_load_kw"].to_numpy(float)
    pv = sc.series["pv_kw"].to_numpy(float)
    most = np.minimum(st.import_limit_kw, base + sink - (0.0 if sc.pv_curtailable else pv))
    least = np.maximum(-st.export_limit_kw, base - pv - v2g)
    return least, most


def grid_conflicts(sc: Scenario, plan: FleetPlan) -> InfeasibleError | None:
    """A hard export request or an exact target that the site's power cannot reach, as an error; else None.

    A hard request needs ``export_limit_kw(t) >= export_request_kw(t)`` and a
    least net import of at most ``-export_request_kw(t)``; an exact target needs
    ``least(t) <= target_kw(t) <= most(t)`` (:func:`reachable_net_import`).
    The message names the first step, the figures, and how many steps conflict.
    """
    st = step_inputs(sc)
    least, most = reachable_net_import(sc, plan)
    base = sc.series["base_load_kw"].to_numpy(float)
    pv = sc.series["pv_kw"].to_numpy(float)
    req = st.export_request_kw
    hard = st.hard_request_steps
    over_limit = hard[st.export_limit_kw[hard] < req[hard] - POWER_TOL]
    if len(over_limit):
        t = int(over_limit[0])
        return InfeasibleError(
            f"{sc.name}: infeasible: the hard export_request of {req[t]:g} kW at {_when(sc, t)} is above the export "
            f"limit of {st.export_limit_kw[t]:g} kW then{_more(len(over_limit))}",
            [
                {"time": _when(sc, k), "limit": "export_limit_kw", "export_request_kw": float(req[k])}
                for k in over_limit
            ],
        )
    short = hard[least[hard] > -req[hard] + POWER_TOL]
    if len(short):
        t = int(short[0])
        return InfeasibleError(
            f"{sc.name}: infeasible: the hard export_request of {req[t]:g} kW at {_when(sc, t)} is more than the site "
            f"can export then: at most {max(0.0, -least[t]):.1f} kW (PV {pv[t]:.1f} kW, base load {base[t]:.1f} kW, "
            f"all plugged-in V2G at full power){_more(len(short))}",
            [{"time": _when(sc, k), "limit": "export_request_kw", "export_request_kw": float(req[k])} for k in short],
        )
    if sc.grid_terms.exact_tracking and st.target_kw is not None:
        k = st.target_steps
        tgt = st.target_kw
        bad = k[(tgt[k] > most[k] + POWER_TOL) | (tgt[k] < least[k] - POWER_TOL)]
        if len(bad):
            t = int(bad[0])
            return InfeasibleError(
                f"{sc.name}: infeasible: the exact target_kw of {tgt[t]:g} kW (net import) at {_when(sc, t)} is "
                f"outside what the site can do then, {least[t]:.1f} to {most[t]:.1f} kW (base load {base[t]:.1f} kW, "
                f"PV {pv[t]:.1f} kW, the plugged-in vehicles at full power, import limit "
                f"{st.import_limit_kw[t]:g} kW, export limit {st.export_limit_kw[t]:g} kW){_more(len(bad))}",
                [
                    {
                        "time": _when(sc, j),
                        "limit": "target_kw",
                        "target_kw": float(tgt[j]),
                        "least_kw": float(least[j]),
                        "most_kw": float(most[j]),
                    }
                    for j in bad
                ],
            )
    return None


def _values(var) -> pd.Series:
    return pd.Series({k: (var[k].value or 0.0) for k in var}, dtype=float)


def grid_slack_error(sc: Scenario, m) -> InfeasibleError | None:
    """The grid rule the solved elastic model ``m`` had to relax, as an error; None if none was.

    Exact tracking (``track_up_kw``/``track_down_kw``), hard export requests
    (``request_slack_kw``), the emissions cap and the grid peak cap.
    """
    st = step_inputs(sc)
    g = sc.grid_terms
    if hasattr(m, "track_up_kw"):
        off = _values(m.track_up_kw) - _values(m.track_down_kw)
        steps = off.index[off.abs() > SLACK_TOL]
        if len(steps):
            t = int(steps[0])
            return InfeasibleError(
                f"{sc.name}: infeasible: the exact target_kw cannot be followed from {_when(sc, t)} on: the vehicles' "
                f"stored energy or room runs out (at {_when(sc, t)} the net import would have to be "
                f"{off[t]:+.1f} kW off the target of {st.target_kw[t]:g} kW){_more(len(steps))}",
                [{"time": _when(sc, int(k)), "limit": "target_kw", "off_kw": float(off[k])} for k in steps],
            )
    if hasattr(m, "request_slack_kw") and len(m.request_slack_kw):
        short = _values(m.request_slack_kw)
        steps = short.index[short > SLACK_TOL]
        if len(steps):
            t = int(steps[0])
            return InfeasibleError(
                f"{sc.name}: infeasible: the hard export_request of {st.export_request_kw[t]:g} kW cannot be met at "
                f"{_when(sc, t)}: the V2G vehicles' stored energy runs out ({short[t]:.1f} kW short)"
                f"{_more(len(steps))}",
                [{"time": _when(sc, int(k)), "limit": "export_request_kw", "short_kw": float(short[k])} for k in steps],
            )
    if hasattr(m, "emissions_slack_kg") and (m.emissions_slack_kg.value or 0.0) > SLACK_TOL:
        least = g.emissions_cap_kg + m.emissions_slack_kg.value
        return InfeasibleError(
            f"{sc.name}: infeasible: grid.emissions_cap_kg {g.emissions_cap_kg:g} kg is below the least emissions the "
            f"site can reach with every need covered or priced (about {least:.1f} kg)",
            [{"limit": "emissions_cap_kg", "least_kg": float(least)}],
        )
    if hasattr(m, "grid_peak_slack_kw") and (m.grid_peak_slack_kw.value or 0.0) > SLACK_TOL:
        least = g.grid_peak_cap_kw + m.grid_peak_slack_kw.value
        return InfeasibleError(
            f"{sc.name}: infeasible: grid.grid_peak_cap_kw {g.grid_peak_cap_kw:g} kW is below the lowest grid peak the "
            f"site can reach (about {least:.1f} kW)",
            [{"limit": "grid_peak_cap_kw", "least_kw": float(least)}],
        )
    return None
