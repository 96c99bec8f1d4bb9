"""Read a solved model back into DataFrames on the scenario's time index."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # Pyomo is imported only where a Pyomo model is built
    import pyomo.environ as pyo

    from .model import ModelData

#: Solver values smaller than this are zero [kW or kWh].
ZERO_TOL = 1e-7


def _val(var) -> float:
    x = var.value
    return 0.0 if x is None else float(x)


def _clean(a: np.ndarray) -> np.ndarray:
    a = np.where(np.abs(a) < ZERO_TOL, 0.0, a)
    return a


def extract(m: pyo.ConcreteModel, data: ModelData) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Schedule, site table and per-requirement shortfall of a solved model.

    Returns
    -------
    schedule : DataFrame
        One row per vehicle and step: ``time`` (step start), ``vehicle_id``,
        ``plugged_in``, ``charge_kw``, ``discharge_kw`` [kW], ``soc_kwh`` (at step
        end, NaN while the vehicle is away or not yet arrived).
    site : DataFrame
        Index = step starts; ``grid_import_kw``, ``grid_export_kw``,
        ``base_load_kw``, ``pv_kw``, ``pv_used_kw``, ``ev_charge_kw``,
        ``ev_discharge_kw`` [kW], ``import_price``, ``export_price`` [currency/kWh].
    unmet : DataFrame
        One row per requirement: ``vehicle_id``, ``kind``, ``event_id``, ``time``,
        ``boundary_time``, ``required_kwh``, ``soc_kwh`` (at the requirement),
        ``unmet_kwh``.
    """
    sc = data.sc
    plan = data.plan
    V, T = len(plan.vehicle_ids), sc.grid.n_steps
    charge = np.zeros((V, T))
    discharge = np.zeros((V, T))
    soc = np.full((V, T), np.nan)
    dt = data.dt_h
    eta_c = data.vehicle_arrays["charge_efficiency"]
    running: dict[int, float] = {}  # slim segment -> SoC so far (pairs come in time order)
    for v, t in data.plugged_pairs:
        charge[v, t] = _val(m.charge_kw[v, t])
        j = data.seg_of[(v, t)]
        if j in data.slim_segments:  # SoC per step: the running sum the slim form summed
            start = int(plan.segments.at[j, "start"])
            before = running.get(j, _val(m.soc_kwh[j, start]))
            running[j] = before + float(eta_c[v]) * dt * charge[v, t]
            soc[v, t] = running[j]
        else:
            soc[v, t] = _val(m.soc_kwh[j, t + 1])
    for v, t in data.discharge_pairs:
        discharge[v, t] = _val(m.discharge_kw[v, t])
    reqs = plan.requirements
    pv_used = np.array([_val(m.pv_used_kw[t]) for t in range(T)])
    shortfall = np.array([_val(m.shortfall_kwh[r]) for r in range(len(reqs))], dtype=float)
    soc_req = np.array(
        [_val(m.soc_kwh[int(j), int(k)]) for j, k in zip(reqs["segment"], reqs["boundary"], strict=True)], dtype=float
    )
    return frames(sc, plan, charge, discharge, soc, pv_used, shortfall, soc_req)


def schedule_frame(sc, plan, charge: np.ndarray, discharge: np.ndarray, soc_end: np.ndarray) -> pd.DataFrame:
    """The vehicle x step schedule table from (n_vehicles, n_steps) arrays, vehicle by vehicle.

    With stations (``plan.stations``), a ``station_id`` column follows ``vehicle_id``:
    the station each vehicle is plugged into (None where it is not).
    """
    V, T = len(plan.vehicle_ids), sc.grid.n_steps
    idx = sc.grid.index
    cols = {
        "time": pd.DatetimeIndex(np.tile(idx.as_unit("ns").asi8, V)).tz_localize("UTC").tz_convert(idx.tz),
        "vehicle_id": np.repeat(np.array(plan.vehicle_ids, dtype=object), T),
    }
    if getattr(plan, "stations", None) is not None:  # sessions name their stations
        cols["station_id"] = plan.stations.ravel()
    cols.update(
        plugged_in=plan.plugged.ravel(),
        charge_kw=charge.ravel(),
        discharge_kw=discharge.ravel(),
        soc_kwh=soc_end.ravel(),
    )
    return pd.DataFrame(cols)


def frames(
    sc,
    plan,
    charge: np.ndarray,
    discharge: np.ndarray,
    soc_end: np.ndarray,
    pv_used: np.ndarray,
    shortfall: np.ndarray,
    soc_at_requirement: np.ndarray,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Schedule, site and unmet tables from plan arrays (see :func:`extract`).

    Parameters
    ----------
    charge, discharge, soc_end : ndarray, shape (n_vehicles, n_steps)
        Powers [kW] and SoC at step end [kWh] (NaN where not plugged in).
    pv_used : ndarray, shape (n_steps,)
        PV used [kW].
    shortfall, soc_at_requirement : ndarray, shape (n_requirements,)
        Unmet energy and SoC at each requirement [kWh].
    """
    soc = soc_end
    charge, discharge = _clean(charge), _clean(discharge)
    # A mode binary at 0 leaves the power at 0 up to the solver's tolerance: make it exact.
    pmin = sc.vehicles.loc[plan.vehicle_ids, "min_charge_kw"].to_numpy(dtype=float)[:, None]
    charge = np.where((charge < pmin * 0.5) & (pmin > 0), 0.0, charge)
    both = (charge > 0) & (discharge > 0)
    if both.any():  # cannot happen with the mode binaries; net it if the solver left dust
        net = charge - discharge
        charge = np.where(both, np.maximum(net, 0.0), charge)
        discharge = np.where(both, np.maximum(-net, 0.0), discharge)
    idx = sc.grid.index
    schedule = schedule_frame(sc, plan, charge, discharge, soc)

    series = sc.series
    pv_used = _clean(np.asarray(pv_used, dtype=float))
    ev_c = charge.sum(axis=0)
    ev_d = discharge.sum(axis=0)
    net = series["base_load_kw"].to_numpy() + ev_c - ev_d - pv_used
    site = pd.DataFrame(
        {
            "grid_import_kw": np.maximum(net, 0.0),
            "grid_export_kw": np.maximum(-net, 0.0),
            "base_load_kw": series["base_load_kw"].to_numpy(),
            "pv_kw": series["pv_kw"].to_numpy(),
            "pv_used_kw": pv_used,
            "ev_charge_kw": ev_c,
            "ev_discharge_kw": ev_d,
            "import_price": series["import_price"].to_numpy(),
            "export_price": series["export_price"].to_numpy(),
        },
        index=idx,
    )
    site.index.name = "time"
    site[["grid_import_kw", "grid_export_kw"]] = _clean(site[["grid_import_kw", "grid_export_kw"]].to_numpy())

    reqs = plan.requirements
    unmet = pd.DataFrame(
        {
            "vehicle_id": reqs["vehicle_id"].to_numpy(dtype=object),
            "kind": reqs["kind"].to_numpy(dtype=object),
            "event_id": reqs["event_id"].to_numpy(dtype=object),
            "time": reqs["time"].to_numpy(),
            "boundary_time": sc.grid.start
            + pd.to_timedelta(reqs["boundary"].to_numpy() * sc.grid.step_minutes, unit="min"),
            "required_kwh": reqs["required_kwh"].to_numpy(dtype=float),
            "soc_kwh": np.asarray(soc_at_requirement, dtype=float),
            "unmet_kwh": _clean(np.asarray(shortfall, dtype=float)),
        }
    )
    return schedule, site, unmet
