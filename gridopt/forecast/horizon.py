"""Forecast a fleet's input over a horizon: sessions or trips, ready for a scenario."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..errors import ScenarioError
from .arrivals import ArrivalModel
from .fleetfiles import TRIP_COLUMNS, FleetAssumptions, sessions_fleet, trip_vehicles
from .io import History
from .trips import TripModel


@dataclass(frozen=True)
class FleetForecast:
    """A forecast in gridopt's own formats.

    Attributes
    ----------
    kind : str
        ``"sessions"`` or ``"trips"``.
    table : pandas.DataFrame
        A valid sessions.csv or trips.csv table (plus a leading ``sample``
        column when sampled: keep one sample's rows for one scenario).
    vehicles : pandas.DataFrame
        vehicles.csv for ``table`` (assumed batteries, see
        :mod:`gridopt.forecast.fleetfiles`).
    quantiles : pandas.DataFrame
        Per session or trip: 10 %, 50 %, 90 % of departure and energy [kWh].
    daily : pandas.DataFrame
        Sessions: expected arrivals per site and day (``mean``, ``q10``,
        ``q90``); trips: trips per day.
    timezone : str
    warnings : tuple of str
        Where the history is too thin for what is asked.
    """

    kind: str
    table: pd.DataFrame
    vehicles: pd.DataFrame
    quantiles: pd.DataFrame
    daily: pd.DataFrame
    timezone: str
    warnings: tuple = ()


def parse_start(text: str, timezone: str) -> pd.Timestamp:
    """The first day of a horizon: a date (local midnight) or a time with offset, in ``timezone``."""
    try:
        ts = pd.Timestamp(str(text))
    except (ValueError, TypeError):
        raise ScenarioError(f"--start: {text!r} is not a date (e.g. 2020-03-02)") from None
    if ts is pd.NaT:
        raise ScenarioError(f"--start: {text!r} is not a date (e.g. 2020-03-02)")
    if ts.tzinfo is None:
        ts = ts.tz_localize(timezone, ambiguous=True, nonexistent="shift_forward")
    return ts.tz_convert(timezone)


def forecast_fleet(
    history: History,
    start: pd.Timestamp,
    days: int,
    samples: int = 0,
    seed: int = 0,
    assumptions: FleetAssumptions | None = None,
    sites: list | None = None,
    schedule: pd.DataFrame | None = None,
) -> FleetForecast:
    """Forecast sessions (or trips) for ``days`` local days from ``start``.

    Parameters
    ----------
    history : History
        Sessions or trips, from :func:`gridopt.forecast.read_history`.
    start : pandas.Timestamp
        tz-aware; its local date in the history's timezone is the first day.
    days : int
        Horizon [d], >= 1.
    samples : int
        0: the median forecast; N: N sampled scenarios (``sample`` column).
    seed : int
        Seed of the sampler.
    assumptions : FleetAssumptions, optional
        Battery, charger and SoC assumptions (defaults documented there).
    sites : list of str, optional
        Sessions: sites to forecast (default all).
    schedule : pandas.DataFrame, optional
        Trips: planned trips to forecast instead of the learned plan.

    Returns
    -------
    FleetForecast
    """
    a = (assumptions or FleetAssumptions()).check()
    if days < 1:
        raise ScenarioError(f"--days must be >= 1 (got {days})")
    if samples < 0:
        raise ScenarioError(f"--samples must be >= 0 (got {samples})")
    start = start.tz_convert(history.timezone)
    if history.kind == "sessions":
        if schedule is not None:
            raise ScenarioError("--schedule is for trip histories; this history holds sessions")
        model = ArrivalModel.fit(history.frame, history.timezone)
        fc = model.forecast(start, days, samples=samples, seed=seed, sites=sites)
        table, vehicles, quant = sessions_fleet(fc, a)
        daily = model.daily_counts(start, days)
        if sites is not None:
            daily = daily[daily["site"].isin(sites)].reset_index(drop=True)
        return FleetForecast("sessions", table, vehicles, quant, daily, history.timezone, tuple(model.warnings))
    if sites is not None:
        raise ScenarioError("--site is for session histories; this history holds trips")
    model = TripModel.fit(history.frame, history.timezone)
    if schedule is not None:
        fc = model.forecast_schedule(schedule, samples=samples, seed=seed)
    else:
        fc = model.forecast(start, days, samples=samples, seed=seed)
    lead = ["sample"] if samples else []
    table = fc[lead + TRIP_COLUMNS].reset_index(drop=True)
    quant = fc.reset_index(drop=True)
    day = pd.DatetimeIndex(fc["departure"]).strftime("%Y-%m-%d") if len(fc) else pd.Index([])
    daily = (
        pd.DataFrame({"day": day, "sample": fc["sample"] if samples else 0})
        .groupby("day")
        .size()
        .div(max(samples, 1))
        .rename("mean")
        .reset_index()
    )
    return FleetForecast("trips", table, trip_vehicles(fc, a), quant, daily, history.timezone)
