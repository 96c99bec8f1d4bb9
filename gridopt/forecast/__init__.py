"""Forecasts from history: sessions (arrivals, dwell, energy) and fleet trips.

>>> from gridopt import forecast                                           # doctest: +SKIP
>>> hist = forecast.read_history(["caltech_2019.csv.gz"])                  # ACN-Data or sessions/trips.csv
>>> fc = forecast.forecast_fleet(hist, forecast.parse_start("2020-03-02", hist.timezone), days=7)
>>> fc.table, fc.vehicles                                                   # sessions.csv, vehicles.csv
>>> model = forecast.SessionModel.fit(hist.frame)                           # per-session, at plug-in
>>> model.predict(forecast.read_arrivals("arrivals.csv", hist.timezone))
>>> forecast.evaluate(train.frame, test.frame).to_markdown()

Modules: :mod:`.timezones` (time parsing, timezone inference), :mod:`.history`
(canonical tables), :mod:`.io` (files), :mod:`.features` (plug-in features),
:mod:`.quantile` (boosted quantile regression), :mod:`.sessions` (per-session
model), :mod:`.baselines`, :mod:`.metrics`, :mod:`.evaluate`, :mod:`.arrivals`
(arrival counts and conditional sampling), :mod:`.trips` (fleet trips),
:mod:`.fleetfiles` (energy -> SoC, vehicles), :mod:`.horizon` (the whole
forecast), :mod:`.cli`.
"""

from __future__ import annotations

from .arrivals import ArrivalModel
from .baselines import DriverEstimate, HistoricalAverage
from .evaluate import Evaluation, evaluate, plugin_view
from .fleetfiles import FleetAssumptions
from .horizon import FleetForecast, forecast_fleet, parse_start
from .io import History, read_arrivals, read_history, read_schedule
from .sessions import PREDICTION_COLUMNS, SessionModel
from .trips import TripModel

__all__ = [
    "PREDICTION_COLUMNS",
    "ArrivalModel",
    "DriverEstimate",
    "Evaluation",
    "FleetAssumptions",
    "FleetForecast",
    "HistoricalAverage",
    "History",
    "SessionModel",
    "TripModel",
    "evaluate",
    "forecast_fleet",
    "parse_start",
    "plugin_view",
    "read_arrivals",
    "read_history",
    "read_schedule",
]
