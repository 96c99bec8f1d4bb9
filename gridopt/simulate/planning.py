"""One re-plan: the operator's picture as a gridopt scenario, solved by :func:`gridopt.optimize`.

The planning scenario covers ``[now, now + lookahead)`` (cut at the end of
the simulated period) on the site's own grid, prices, base load and PV, with

* each plugged-in session car as a session from ``now`` to its estimated
  departure, starting at its current SoC and due its (reported or forecast)
  target;
* each fleet vehicle with its pending trips: at the site from ``now`` with its
  current SoC, or away until its expected return with its expected SoC;
* each forecast car as a visiting vehicle of the site's typical kind
  (median battery, charger and efficiency of the scenario's vehicles), arriving
  empty-handed with ``arrival_soc = 0`` and a target of its forecast energy;
* ``final_soc`` only when the plan reaches the end of the simulated period;
* a session that leaves after the plan's end owes by then only its need pro
  rata of its stay inside the plan (gridopt would ask for the whole target at
  the end of the horizon: cars forecast to arrive in its last hours would have
  to be charged at once, and the plan would expect a peak that never comes),
  unless the plan reaches the end of the simulated period: the period is scored
  with the whole target due there (as gridopt scores perfect foresight), so
  that is what the plan is asked for.

**Demand charge.** The peak import already reached is paid anyway: the plan
prepends one *phantom* step just before ``now`` whose base load equals that
peak, with no vehicle plugged in and zero prices, so that the demand charge of
the plan is ``demand_charge_per_kw * max(realised peak, planned peak)`` and a
new peak costs only what it adds.

**Weighted vehicles.** A vehicle of weight ``w`` has its battery, charger and
discharge power scaled by ``w`` (SoC fractions unchanged): the scenario-based
plan (:mod:`gridopt.simulate.policies`) splits each plugged-in car into ``K``
copies of weight ``1 / K``, one per sampled departure and energy, and
enters each sampled future's arrivals with weight ``1 / K``; the car then gets
the sum of its copies' powers.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .. import optimize
from ..errors import InfeasibleError
from ..scenario import Scenario, SolverOptions, validate_sessions, validate_trips, validate_vehicles
from ..timeindex import make_grid
from .picture import Context, FleetVehicle

VEHICLE_COLUMNS = [
    "vehicle_id",
    "battery_kwh",
    "max_charge_kw",
    "max_discharge_kw",
    "min_soc",
    "max_soc",
    "initial_soc",
    "final_soc",
    "charge_efficiency",
    "discharge_efficiency",
    "min_charge_kw",
]
#: Suffix of plan-only vehicle ids (forecast cars, copies); never in a real id.
MARK = "~"


@dataclass(frozen=True)
class PlanOutcome:
    """The first steps of a plan for the real vehicles, and what the solve took.

    Attributes
    ----------
    charge_kw, discharge_kw : ndarray, shape (n_vehicles, n_steps)
        Powers of the world's vehicles over the steps until the next re-plan [kW].
    stats : dict
        ``solve_seconds`` (HiGHS), ``wall_seconds`` (building the scenario
        included), ``status``, ``vehicles`` (real), ``forecast_vehicles``,
        ``steps``.
    """

    charge_kw: np.ndarray
    discharge_kw: np.ndarray
    stats: dict


def _vehicle_row(vid: str, spec: pd.Series | dict, w: float, initial_soc=math.nan, final_soc=math.nan) -> dict:
    return {
        "vehicle_id": vid,
        "battery_kwh": spec["battery_kwh"] * w,
        "max_charge_kw": spec["max_charge_kw"] * w,
        "max_discharge_kw": spec.get("max_discharge_kw", 0.0) * w,
        "min_soc": spec.get("min_soc", 0.0),
        "max_soc": spec.get("max_soc", 1.0),
        "initial_soc": initial_soc,
        "final_soc": final_soc,
        "charge_efficiency": spec["charge_efficiency"],
        "discharge_efficiency": spec.get("discharge_efficiency", 0.95),
        "min_charge_kw": spec["min_charge_kw"] * w,
    }


def _frac(kwh: float, battery: float) -> float:
    return float(min(max(kwh / battery, 0.0), 1.0))


def _due_by(
    start: pd.Timestamp,
    departure: pd.Timestamp,
    plan_end: pd.Timestamp,
    soc_kwh: float,
    target_kwh: float,
    whole: bool = False,
) -> float:
    """The SoC a session must have at the plan's end when it leaves after it: its need pro rata of its stay.

    gridopt asks a session that ends after the horizon for its whole target at
    the horizon's end; for a rolling plan that would be an artefact of where the
    horizon happens to end (cars arriving in its last hours would have to be
    charged at once), so only the share of the stay inside the plan is due.
    With ``whole`` (the plan ends where the simulated period ends) the whole
    target is due: that is how the period is scored, for every policy and for
    perfect foresight alike.
    """
    if whole or departure <= plan_end or target_kwh <= soc_kwh:
        return target_kwh
    share = (plan_end - start) / (departure - start)
    return soc_kwh + (target_kwh - soc_kwh) * min(max(share, 0.0), 1.0)


def build_plan_scenario(
    ctx: Context,
    k: int,
    horizon_steps: int,
    peak_floor_kw: float,
    sessions: list[tuple[pd.DataFrame, float]],
    fleet: list[FleetVehicle],
    futures: list[tuple[pd.DataFrame, float]],
    early_bias_per_kwh_h: float = 0.0,
    checkpoints: pd.DataFrame | None = None,
    future_points=None,
) -> tuple[Scenario, dict, int]:
    """The planning scenario (see the module doc).

    Parameters
    ----------
    ctx : Context
    k : int
        Boundary now.
    horizon_steps : int
        Steps planned from ``now``.
    peak_floor_kw : float
        Realised peak import so far [kW] (0: no phantom step).
    sessions : list of (DataFrame, weight)
        Plugged-in session cars (:func:`~gridopt.simulate.picture.present_sessions`) and their weight.
    fleet : list of FleetVehicle
    futures : list of (DataFrame, weight)
        Forecast arrivals (``arrival, departure, energy_kwh``) and their weight.
    checkpoints : DataFrame, optional
        Soft checkpoints of the (single-copy) session cars
        (:data:`gridopt.simulate.shortfall.CHECKPOINT_COLUMNS`); one past the
        plan's end moves to it with its SoC pro rata of the stay inside the plan.
    future_points : callable, optional
        ``future_points(row) -> (departures, energies, penalty_per_kwh)`` for a
        forecast arrival (:meth:`gridopt.simulate.shortfall.ExpectedShortfall.future_points`):
        the car is then planned with no hard target and one soft checkpoint per
        (departure, energy) point, like the plugged-in cars.

    Returns
    -------
    (Scenario, dict, int)
        The scenario, a map plan vehicle id -> world vehicle index, and the
        number of phantom steps (0 or 1) before ``now``.
    """
    site = ctx.site
    grid = site.grid
    dt = pd.Timedelta(minutes=grid.step_minutes)
    now = grid.boundary_time(k)
    phantom = 1 if (peak_floor_kw > 0 and site.demand_charge_per_kw > 0) else 0
    start = now - phantom * dt
    plan_grid = make_grid(start, (horizon_steps + phantom) * grid.dt_h, grid.step_minutes, site.timezone)
    reaches_end = k + horizon_steps >= grid.n_steps
    series = site.series.iloc[k : k + horizon_steps].copy()
    if early_bias_per_kwh_h:
        series["import_price"] += early_bias_per_kwh_h * grid.dt_h * np.arange(horizon_steps)
    if phantom:
        floor = min(peak_floor_kw, site.import_limit_kw)
        head = pd.DataFrame(
            {"import_price": 0.0, "export_price": 0.0, "base_load_kw": floor, "pv_kw": 0.0}, index=[start]
        )
        series = pd.concat([head, series])
    series.index = plan_grid.index
    specs = site.vehicles
    vrows, srows, trows, owner = [], [], [], {}
    plan_end = plan_grid.end
    for df, w in sessions:
        copy = len(sessions) > 1
        for r in df.itertuples():
            spec = specs.loc[r.vehicle_id]
            pid = f"{r.vehicle_id}{MARK}{len(srows)}" if copy else str(r.vehicle_id)
            B = spec["battery_kwh"]
            target = min(_due_by(now, r.departure, plan_end, r.soc_kwh, r.target_kwh, reaches_end), spec["max_soc"] * B)
            vrows.append(_vehicle_row(pid, spec, w))
            srows.append(
                {
                    "vehicle_id": pid,
                    "arrival": now,
                    "departure": r.departure,
                    "arrival_soc": _frac(r.soc_kwh, B),
                    "target_soc": _frac(target, B) if target < spec["max_soc"] * B else spec["max_soc"],
                    "session_id": f"s{len(srows)}",
                }
            )
            owner[pid] = int(r.v)
    for fv in fleet:
        spec = specs.loc[fv.vehicle_id]
        B = spec["battery_kwh"]
        final = spec["final_soc"] if reaches_end else math.nan
        vrows.append(_vehicle_row(str(fv.vehicle_id), spec, 1.0, initial_soc=_frac(fv.soc_kwh, B), final_soc=final))
        owner[str(fv.vehicle_id)] = int(fv.v)
        ready = now
        if fv.back is not None or phantom:
            # away (or, with a phantom step, off the site during it) until `ready`
            ready = fv.back if fv.back is not None else now
            trows.append(
                {
                    "vehicle_id": str(fv.vehicle_id),
                    "departure": start - pd.Timedelta(minutes=1),
                    "arrival": ready,
                    "energy_kwh": 0.0,
                    "departure_soc": math.nan,
                    "trip_id": f"{MARK}away",
                }
            )
        for t in fv.trips.itertuples():
            if t.departure >= plan_end:
                break
            trows.append(
                {
                    "vehicle_id": str(fv.vehicle_id),
                    "departure": t.departure,
                    "arrival": t.arrival,
                    "energy_kwh": float(t.energy_kwh),
                    "departure_soc": t.departure_soc,
                    "trip_id": str(t.trip_id),
                }
            )
    n_forecast = 0
    typ = ctx.typical
    future_cps = []
    for df, w in futures:
        for r in df.itertuples():
            if r.arrival >= plan_end:
                continue
            if future_points is not None:
                pid = f"{MARK}f{n_forecast}"
                row = _future_with_points(r, future_points, typ, now, dt, plan_end, pid, w, future_cps, reaches_end)
                if row is not None:
                    vrows.append(row[0])
                    srows.append(row[1])
                    n_forecast += 1
                continue
            dwell_h = (r.departure - r.arrival).total_seconds() / 3600.0
            stored = min(
                typ["charge_efficiency"] * float(r.energy_kwh),
                typ["charge_efficiency"] * typ["max_charge_kw"] * dwell_h,
            )
            battery = max(typ["battery_kwh"], stored / 0.9)
            stored = _due_by(r.arrival, r.departure, plan_end, 0.0, stored, reaches_end)
            pid = f"{MARK}f{n_forecast}"
            vrows.append(_vehicle_row(pid, {**typ, "battery_kwh": battery, "min_soc": 0.0}, w))
            srows.append(
                {
                    "vehicle_id": pid,
                    "arrival": r.arrival,
                    "departure": r.departure,
                    "arrival_soc": 0.0,
                    "target_soc": _frac(stored, battery),
                    "session_id": pid,
                }
            )
            n_forecast += 1
    soft = _plan_checkpoints(checkpoints, sessions, specs, now, plan_end, reaches_end)
    if future_cps:
        more = pd.DataFrame(future_cps, columns=["vehicle_id", "time", "soc_kwh", "penalty_per_kwh"])
        soft = more if soft is None else pd.concat([soft, more], ignore_index=True)
    vehicles_raw = pd.DataFrame(vrows, columns=VEHICLE_COLUMNS)
    vehicles_raw.index = np.arange(len(vehicles_raw)) + 2
    if len(vehicles_raw):
        vehicles = validate_vehicles(vehicles_raw, "plan vehicles")
    else:
        vehicles = site.vehicles.iloc[:0]
    tz = site.timezone
    sessions_df = pd.DataFrame(
        srows, columns=["vehicle_id", "arrival", "departure", "arrival_soc", "target_soc", "session_id"]
    )
    trips_df = pd.DataFrame(
        trows, columns=["vehicle_id", "departure", "arrival", "energy_kwh", "departure_soc", "trip_id"]
    )
    for df, cols in ((sessions_df, ("arrival", "departure")), (trips_df, ("departure", "arrival"))):
        df.index = np.arange(len(df)) + 2
        for c in cols:
            df[c] = (
                pd.to_datetime(df[c], utc=True).dt.tz_convert(tz)
                if len(df)
                else pd.Series(dtype=f"datetime64[ns, {tz}]")
            )
    sessions_df["arrival_soc"] = sessions_df["arrival_soc"].astype(float)
    sessions_df["target_soc"] = sessions_df["target_soc"].astype(float)
    trips_df["energy_kwh"] = trips_df["energy_kwh"].astype(float)
    trips_df["departure_soc"] = trips_df["departure_soc"].astype(float)
    if len(sessions_df):
        sessions_df = validate_sessions(sessions_df, vehicles, "plan sessions", "plan vehicles")
    if len(trips_df):
        trips_df = validate_trips(trips_df, vehicles, "plan trips", "plan vehicles")
    sc = site.with_built(
        name=f"{site.name} @ {now.isoformat()}",
        grid=plan_grid,
        series=series,
        vehicles=vehicles,
        sessions=sessions_df,
        trips=trips_df,
        warnings=(),
        soft_checkpoints=soft,
    )
    return sc, owner, phantom


def _future_with_points(r, future_points, typ, now, dt, plan_end, pid, w, out: list, whole: bool = False):
    """Vehicle and session rows of a forecast arrival planned over its points; its checkpoints go to ``out``.

    None when it has no whole step inside the plan. Checkpoint times are step
    boundaries from the end of its first plugged-in step to the plan's end.
    """
    first = now + dt * math.ceil((r.arrival - now) / dt)  # arrivals snap up to a boundary
    if first + dt > plan_end:
        return None
    departures, energies, penalty = future_points(r)
    merged: dict = {}
    for d, p in departures:
        d = max(first + dt * math.floor((d - first) / dt), first + dt)
        merged[d] = merged.get(d, 0.0) + p
    eta = typ["charge_efficiency"]
    battery = max(typ["battery_kwh"], eta * max(e for e, _ in energies) / 0.9)
    for d, p in sorted(merged.items()):
        for e, u in energies:
            soc = min(_due_by(r.arrival, d, plan_end, 0.0, eta * e, whole), battery)
            if soc > 1e-9 and penalty * p * u > 0:
                out.append((pid, min(d, plan_end), soc, penalty * p * u))
    vrow = _vehicle_row(pid, {**typ, "battery_kwh": battery, "min_soc": 0.0}, w)
    srow = {
        "vehicle_id": pid,
        "arrival": r.arrival,
        "departure": max(merged),
        "arrival_soc": 0.0,
        "target_soc": 0.0,
        "session_id": pid,
    }
    return vrow, srow


def _plan_checkpoints(checkpoints, sessions, specs, now, plan_end, whole: bool = False) -> pd.DataFrame | None:
    """The soft checkpoints in the plan's terms: times within the plan, SoC at most ``max_soc``."""
    if checkpoints is None or not len(checkpoints):
        return None
    if len(sessions) != 1:
        raise ValueError("soft checkpoints need the single-copy picture of the session cars")
    soc_now = dict(zip(sessions[0][0]["v"], sessions[0][0]["soc_kwh"], strict=True))
    rows = []
    for c in checkpoints.itertuples():
        spec = specs.loc[c.vehicle_id]
        soc = min(_due_by(now, c.time, plan_end, soc_now[c.v], c.soc_kwh, whole), spec["max_soc"] * spec["battery_kwh"])
        rows.append((str(c.vehicle_id), min(c.time, plan_end), soc, c.penalty_per_kwh))
    return pd.DataFrame(rows, columns=["vehicle_id", "time", "soc_kwh", "penalty_per_kwh"])


def solve_plan(
    sc: Scenario, owner: dict, phantom: int, n_world: int, steps: int, options: SolverOptions
) -> PlanOutcome:
    """Solve a planning scenario; return the real vehicles' powers for its first ``steps`` steps.

    Raises :class:`~gridopt.errors.SolverError` when the solver finds no plan.
    """
    t0 = time.perf_counter()
    charge = np.zeros((n_world, steps))
    discharge = np.zeros((n_world, steps))
    stats = {
        "solve_seconds": 0.0,
        "wall_seconds": 0.0,
        "status": "no vehicle",
        "vehicles": len(set(owner.values())),
        "forecast_vehicles": sum(1 for v in sc.vehicles.index if str(v).startswith(MARK)),
        "steps": sc.grid.n_steps - phantom,
    }
    if len(sc.vehicles) == 0 or not owner:
        return PlanOutcome(charge, discharge, stats)
    try:
        res = optimize(sc, options, baseline=False)
    except InfeasibleError:
        # The fast path trusts HiGHS's LP presolve, which (HiGHS 1.15) can call a
        # feasible planning LP infeasible; the Pyomo model is the reference.
        res = optimize(sc, options, baseline=False, method="milp")
        stats["retried_milp"] = True
    n = sc.grid.n_steps
    ids = list(sc.vehicles.index)
    c = res.schedule["charge_kw"].to_numpy(float).reshape(len(ids), n)[:, phantom : phantom + steps]
    d = res.schedule["discharge_kw"].to_numpy(float).reshape(len(ids), n)[:, phantom : phantom + steps]
    for i, pid in enumerate(ids):
        v = owner.get(str(pid))
        if v is not None:
            charge[v] += c[i]
            discharge[v] += d[i]
    stats.update(
        solve_seconds=float(res.summary["solve_seconds"]),
        wall_seconds=time.perf_counter() - t0,
        status=res.summary["status"],
        objective=float(res.summary["total_cost"]),
    )
    return PlanOutcome(charge, discharge, stats)


__all__ = ["PlanOutcome", "build_plan_scenario", "solve_plan"]
