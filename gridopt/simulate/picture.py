"""The operator's picture at one moment: what each vehicle needs and by when.

Built from an :class:`~gridopt.simulate.world.Observation` (what is known now),
the site's static description (:class:`Context`) and the forecasts, never from
the real future.

**A car plugged in for a session** must reach its target by its departure:

* target: the one it reported at plug-in; if none, its arrival SoC plus the
  forecast energy (``charge_efficiency * energy_kwh``, times ``1 +
  energy_margin``), at most ``max_soc``;
* departure: the driver's estimate; if none, the forecast (conditioned on the
  car still being here). A departure that has passed while the car is still
  here, or none at all (no history to forecast from), becomes the end of the
  current step: the car may leave at any moment. ``departure_margin`` moves
  every estimate earlier, never before the end of the current step.

Without a history and without a reported target, the target is ``max_soc``.

**A fleet vehicle** follows its timetable: its pending trips (those that have
not left) with planned departure, arrival and energy (times ``1 +
energy_margin``); a trip due to leave that is still here leaves at the end of
the current step, a vehicle late back returns at the end of it; the SoC it
will return with is ``max(SoC at departure, requirement) - planned energy``
(gridopt's rule for a shortfall).

**Cars not yet arrived** come from the session forecast (median, or sampled).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..scenario import Scenario
from .forecasting import FUTURE_COLUMNS, SessionForecaster
from .world import Observation


@dataclass(frozen=True)
class Margins:
    """Safety margins of a plan.

    Attributes
    ----------
    energy : float
        Forecast energies (unreported sessions, cars not yet arrived, planned
        trips) are raised by this fraction [-].
    departure_minutes : float
        Every estimated or planned departure is moved this much earlier [min].
    """

    energy: float = 0.0
    departure_minutes: float = 0.0

    @property
    def label(self) -> str:
        parts = []
        if self.energy:
            parts.append(f"energy +{100 * self.energy:g}%")
        if self.departure_minutes:
            parts.append(f"departure -{self.departure_minutes:g} min")
        return ", ".join(parts)


#: No margins.
NO_MARGINS = Margins()


@dataclass(frozen=True)
class Context:
    """What the operator knows in advance: everything but the vehicles' real movements.

    Attributes
    ----------
    site : Scenario
        The real scenario with its sessions and trips removed (site, tariff,
        time series, vehicles).
    vehicle_ids : list
        The world's vehicle order (index ``v``).
    timetable : DataFrame
        Planned trips: ``vehicle_id, trip_id, departure, arrival, energy_kwh, departure_soc``.
    forecaster : SessionForecaster or None
    typical : dict
        The visiting vehicle assumed for forecast arrivals: ``battery_kwh``,
        ``max_charge_kw``, ``min_charge_kw``, ``charge_efficiency``.
    """

    site: Scenario
    vehicle_ids: list
    timetable: pd.DataFrame
    forecaster: SessionForecaster | None = None
    typical: dict = field(default_factory=dict)

    @property
    def step(self) -> pd.Timedelta:
        return pd.Timedelta(minutes=self.site.grid.step_minutes)


def make_context(site: Scenario, vehicle_ids: list, timetable: pd.DataFrame, forecaster=None) -> Context:
    """A :class:`Context`; forecast arrivals get the median visiting vehicle of ``site``."""
    veh = site.vehicles
    visitors = veh.loc[[v for v in vehicle_ids if v in veh.index]]
    typical = {
        "battery_kwh": float(visitors["battery_kwh"].median()),
        "max_charge_kw": float(visitors["max_charge_kw"].median()),
        "min_charge_kw": float(visitors["min_charge_kw"].median()),
        "charge_efficiency": float(visitors["charge_efficiency"].median()),
    }
    return Context(
        site=site, vehicle_ids=list(vehicle_ids), timetable=timetable, forecaster=forecaster, typical=typical
    )


# ---------------------------------------------------------------------------
# cars plugged in for a session
# ---------------------------------------------------------------------------

SESSION_COLUMNS = ["v", "vehicle_id", "soc_kwh", "departure", "target_kwh"]


def _spec(ctx: Context, vid) -> pd.Series:
    return ctx.site.vehicles.loc[vid]


def present_sessions(obs: Observation, ctx: Context, margins: Margins = NO_MARGINS) -> pd.DataFrame:
    """Per plugged-in session car: ``v, vehicle_id, soc_kwh, departure, target_kwh`` (see the module doc)."""
    rows = []
    soon = obs.now + ctx.step
    shift = pd.Timedelta(minutes=margins.departure_minutes)
    for r in obs.present[obs.present["kind"] == "session"].itertuples():
        spec = _spec(ctx, r.vehicle_id)
        U = spec["max_soc"] * spec["battery_kwh"]
        dep, energy = r.estimated_departure, math.nan
        need_forecast = math.isnan(r.reported_target_kwh)
        if ctx.forecaster is not None and (pd.isna(dep) or need_forecast):
            f_dep, energy = ctx.forecaster.stay(r.arrival, obs.now)
            if pd.isna(dep):
                dep = f_dep
        if need_forecast:
            if math.isnan(energy):
                target = U
            else:
                target = r.arrival_soc_kwh + spec["charge_efficiency"] * energy * (1.0 + margins.energy)
        else:
            target = r.reported_target_kwh
        dep = soon if dep is None or pd.isna(dep) else max(dep - shift, soon)
        rows.append((r.v, r.vehicle_id, r.soc_kwh, dep, min(target, U)))
    return pd.DataFrame(rows, columns=SESSION_COLUMNS)


def sampled_sessions(obs: Observation, ctx: Context, n: int, rng: np.random.Generator) -> list[pd.DataFrame]:
    """``n`` sampled pictures of the plugged-in session cars (departures and unreported energies drawn)."""
    base = present_sessions(obs, ctx)
    if ctx.forecaster is None or not len(base):
        return [base.copy() for _ in range(n)]
    soon = obs.now + ctx.step
    present = obs.present.set_index("v")
    deps = np.empty((len(base), n), dtype=object)
    targets = np.repeat(base["target_kwh"].to_numpy(float)[:, None], n, axis=1)
    for i, b in enumerate(base.itertuples()):
        r = present.loc[b.v]
        spec = _spec(ctx, b.vehicle_id)
        U = spec["max_soc"] * spec["battery_kwh"]
        d, energies = ctx.forecaster.stay_sample(r["arrival"], obs.now, n, rng)
        if not pd.isna(r["estimated_departure"]):
            d = ctx.forecaster.estimate_sample(r["estimated_departure"], obs.now, n, rng)
        deps[i] = [soon if x is None else max(pd.Timestamp(x).floor("s"), soon) for x in d]
        if math.isnan(r["reported_target_kwh"]):
            targets[i] = np.minimum(U, r["arrival_soc_kwh"] + spec["charge_efficiency"] * np.asarray(energies, float))
    out = []
    for s_ in range(n):
        pic = base.copy()
        pic["departure"] = pd.DatetimeIndex(list(deps[:, s_])).tz_convert(ctx.site.timezone)
        pic["target_kwh"] = targets[:, s_]
        out.append(pic)
    return out


# ---------------------------------------------------------------------------
# fleet vehicles
# ---------------------------------------------------------------------------

TRIP_COLUMNS = ["trip_id", "departure", "arrival", "energy_kwh", "departure_soc"]


@dataclass(frozen=True)
class FleetVehicle:
    """A fleet vehicle as the operator sees it.

    Attributes
    ----------
    v : int
    vehicle_id : str
    soc_kwh : float
        SoC now, or the SoC it is expected back with [kWh].
    back : pandas.Timestamp or None
        When it is expected back (None: it is here).
    trips : DataFrame
        Its pending trips (:data:`TRIP_COLUMNS`), in order, planned times
        adjusted as the module doc says.
    """

    v: int
    vehicle_id: str
    soc_kwh: float
    back: pd.Timestamp | None
    trips: pd.DataFrame


def _required(spec: pd.Series, energy_kwh: float, departure_soc: float) -> float:
    if not math.isnan(departure_soc):
        return departure_soc * spec["battery_kwh"]
    return spec["min_soc"] * spec["battery_kwh"] + energy_kwh


def fleet_vehicles(obs: Observation, ctx: Context, margins: Margins = NO_MARGINS) -> list[FleetVehicle]:
    """Every fleet vehicle: at the site with its SoC, or out with its expected return (see the module doc)."""
    soon = obs.now + ctx.step
    shift = pd.Timedelta(minutes=margins.departure_minutes)
    tt = ctx.timetable
    here = obs.present[obs.present["kind"] == "trip"]
    out = []
    grow = 1.0 + margins.energy
    by_vehicle = dict(tuple(tt.groupby("vehicle_id", sort=False))) if len(tt) else {}
    for vid, v, soc, away in [(r.vehicle_id, r.v, r.soc_kwh, None) for r in here.itertuples()] + [
        (r.vehicle_id, r.v, math.nan, r) for r in obs.away.itertuples()
    ]:
        spec = _spec(ctx, vid)
        mine = by_vehicle.get(vid, tt.iloc[:0])
        back = None
        if away is not None:
            row = mine[mine["trip_id"].astype(str) == str(away.trip_id)]
            if len(row):
                back = max(row["arrival"].iloc[0], soon)
                e = float(row["energy_kwh"].iloc[0]) * grow
                req = _required(spec, e, float(row["departure_soc"].iloc[0]))
            else:
                back, e, req = soon, 0.0, 0.0
            if not math.isnan(away.return_soc_kwh):
                soc = away.return_soc_kwh
            else:
                soc = max(away.soc_departure_kwh, req) - e
            soc = min(max(soc, 0.0), spec["battery_kwh"])
        pending = mine[[(vid, str(t)) not in obs.departed_trips for t in mine["trip_id"].astype(str)]]
        pending = pending.sort_values("departure", kind="stable")
        trips = []
        ready = back if back is not None else soon
        for t in pending.itertuples():
            dep = max(t.departure - shift, ready)
            arr = max(t.arrival, dep + pd.Timedelta(minutes=1))
            e = t.energy_kwh * grow
            if not math.isnan(t.departure_soc):
                e = min(e, t.departure_soc * spec["battery_kwh"])
            trips.append((str(t.trip_id), dep, arr, e, t.departure_soc))
            ready = arr
        out.append(FleetVehicle(int(v), vid, float(soc), back, pd.DataFrame(trips, columns=TRIP_COLUMNS)))
    return out


# ---------------------------------------------------------------------------
# what the online rules need
# ---------------------------------------------------------------------------

NEED_COLUMNS = ["v", "vehicle_id", "soc_kwh", "target_kwh", "deadline"]
#: A fleet vehicle's need covers its trips of this many hours ahead [h].
DUTY_HOURS = 24.0


def needs(obs: Observation, ctx: Context, margins: Margins = NO_MARGINS) -> pd.DataFrame:
    """Per plugged-in vehicle: SoC, the SoC it needs [kWh] and by when (``deadline``).

    Sessions: target and departure as in :func:`present_sessions`. Fleet
    vehicles: by their next departure, enough for the duty of the next
    :data:`DUTY_HOURS` (the next trip's requirement, or ``min_soc`` plus the
    energy of every trip leaving in that time, whichever is more, at most
    ``max_soc``): a van back at 13:30 and out again at 14:40 cannot recharge
    its afternoon in between. Without a pending trip: its ``final_soc``, else
    its SoC now.
    """
    ses = present_sessions(obs, ctx, margins).rename(columns={"departure": "deadline"})
    rows = [ses[NEED_COLUMNS]] if len(ses) else []
    end = ctx.site.grid.end
    fleet = []
    for fv in fleet_vehicles(obs, ctx, margins):
        if fv.back is not None:
            continue
        spec = _spec(ctx, fv.vehicle_id)
        if len(fv.trips):
            t = fv.trips.iloc[0]
            later = fv.trips.iloc[1:]
            later = later[later["departure"] < obs.now + pd.Timedelta(hours=DUTY_HOURS)]
            duty = spec["min_soc"] * spec["battery_kwh"] + t["energy_kwh"] + later["energy_kwh"].sum()
            target = min(
                max(_required(spec, t["energy_kwh"], t["departure_soc"]), duty), spec["max_soc"] * spec["battery_kwh"]
            )
            fleet.append((fv.v, fv.vehicle_id, fv.soc_kwh, target, t["departure"]))
        else:
            final = spec["final_soc"] * spec["battery_kwh"]
            fleet.append((fv.v, fv.vehicle_id, fv.soc_kwh, fv.soc_kwh if math.isnan(final) else final, end))
    if fleet:
        rows.append(pd.DataFrame(fleet, columns=NEED_COLUMNS))
    if not rows:
        return pd.DataFrame(columns=NEED_COLUMNS)
    return pd.concat(rows, ignore_index=True)


def future_arrivals(obs: Observation, ctx: Context, until: pd.Timestamp, margins: Margins = NO_MARGINS) -> pd.DataFrame:
    """Median forecast of the cars arriving after now and before ``until``, energy raised by the margin."""
    if ctx.forecaster is None:
        return pd.DataFrame(columns=FUTURE_COLUMNS)
    f = ctx.forecaster.future(obs.now, until)
    if len(f):
        f = f.assign(energy_kwh=f["energy_kwh"].astype(float) * (1.0 + margins.energy))
        dep = f["departure"] - pd.Timedelta(minutes=margins.departure_minutes)
        lo = f["arrival"] + ctx.step
        f["departure"] = dep.where(dep > lo, lo)
    return f
