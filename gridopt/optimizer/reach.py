"""The most state of charge each requirement could physically reach, from the inputs alone.

Used to tell an unmet need the plan *could not* serve from one it *chose* not to
serve. For requirement ``r`` at the end of plug-in segment ``j``:

``reachable_kwh[r] = min(max(U, s_j), s_j + n_j * max_charge_kw * charge_efficiency * dt_h)``

with ``U = max_soc * battery_kwh``, ``n_j`` the segment's plugged-in steps and
``s_j`` its SoC at the start: the known ``initial_soc`` / ``arrival_soc``, or,
after a trip, the most the vehicle can return with,
``max(reachable_kwh[r'], required_kwh[r']) - energy_kwh[r']`` for the trip's
requirement ``r'`` (a shortfall counts as supplied elsewhere, as in the model).
A vehicle that starts above ``max_soc`` cannot charge, so it keeps ``s_j``.
The site's limits and prices are ignored: this is the vehicle's own bound,
independent of any solver's plan.
"""

from __future__ import annotations

import numpy as np

from ..fleet import FleetPlan
from ..scenario import Scenario


def reachable_kwh(sc: Scenario, plan: FleetPlan) -> np.ndarray:
    """Highest SoC each requirement of ``plan`` could reach [kWh], one value per requirement row."""
    dt = sc.grid.dt_h
    veh = sc.vehicles.loc[plan.vehicle_ids]
    B = veh["battery_kwh"].to_numpy(float)
    U = veh["max_soc"].to_numpy(float) * B
    gain_per_step = veh["max_charge_kw"].to_numpy(float) * veh["charge_efficiency"].to_numpy(float) * dt
    segs, reqs = plan.segments, plan.requirements
    r_seg = reqs["segment"].to_numpy(np.int64)
    r_req = reqs["required_kwh"].to_numpy(float)
    r_E = reqs["energy_kwh"].to_numpy(float)
    reach_seg = np.full(len(segs), np.nan)
    out = np.full(len(reqs), np.nan)
    reqs_of: dict[int, list[int]] = {}
    for r, j in enumerate(r_seg):
        reqs_of.setdefault(int(j), []).append(r)
    cols = (segs[c].to_numpy() for c in ("vehicle", "start", "end", "s0_kwh", "link_req"))
    # segments are in chronological order within a vehicle, so a trip's requirement comes before its return
    for j, (v, start, end, s0, link) in enumerate(zip(*cols, strict=True)):
        s = s0 if link < 0 else max(out[link], r_req[link]) - r_E[link]
        s = max(0.0, float(s))
        reach_seg[j] = s if s >= U[v] else min(U[v], s + (end - start) * gain_per_step[v])
        for r in reqs_of.get(j, ()):
            out[r] = reach_seg[j]
    return out
