"""Session forecasts for a simulation, from :mod:`gridopt.forecast`.

:class:`SessionForecaster` wraps :class:`gridopt.forecast.ArrivalModel`, learned
once from a history of sessions that ends before the simulated period (never
from the actual sessions), and answers the three questions a planner asks:

* **who else will come** (:meth:`~SessionForecaster.future`): the median
  forecast of each local day (``round(mean count)`` arrivals at the quantiles
  of the arrival-time distribution, each with the conditional median dwell),
  keeping the arrivals after ``now``; each car's energy is the conditional
  *mean*, so that the day's total is not biased low;
  :meth:`~SessionForecaster.future_sample` draws a whole day instead;
* **when will a car that did not say leave, and how much will it take**
  (:meth:`~SessionForecaster.stay`): the ``k`` history sessions nearest in
  arrival clock time, *conditioned on the car still being here*: only those
  whose dwell exceeds the time it has already stayed. The median of their dwell
  and energy is the point forecast; :meth:`~SessionForecaster.stay_sample`
  draws (dwell, energy) pairs from them;
* **how far off is a driver's estimate** (:meth:`~SessionForecaster.estimate_sample`):
  departures drawn as the estimate plus an error ``actual - estimated`` of a
  claimed history session, conditioned the same way.

Energies are what the history's sessions drew from the grid [kWh].
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..errors import ScenarioError
from ..forecast import ArrivalModel

#: Fewest conditional neighbours before the whole day-type pool is used.
MIN_NEIGHBOURS = 5
FUTURE_COLUMNS = ["arrival", "departure", "energy_kwh"]


class SessionForecaster:
    """Forecasts of sessions learned from a history (see the module doc).

    Parameters
    ----------
    history : DataFrame
        Canonical sessions (:func:`gridopt.forecast.read_history`), times in any zone.
    timezone : str
        The site's timezone.
    site : str, optional
        The history's site to learn; required when it holds several.
    """

    def __init__(self, history: pd.DataFrame, timezone: str, site: str | None = None):
        sites = sorted(map(str, pd.unique(history["site"])))
        if site is None:
            if len(sites) > 1:
                raise ScenarioError(f"history: holds the sites {', '.join(sites)}: choose one with --site")
            site = sites[0]
        if site not in sites:
            raise ScenarioError(f"--site: unknown site {site!r} (the history has {', '.join(sites)})")
        h = history[history["site"].astype(str) == site].copy()
        for col in ("arrival", "departure", "estimated_departure"):
            h[col] = pd.to_datetime(h[col], utc=True).dt.tz_convert(timezone)
        self.timezone = timezone
        self.site = site
        self.model = ArrivalModel.fit(h, timezone)
        self.history_end = h["departure"].max()
        est = h["estimated_departure"]
        err = (h["departure"] - est).dt.total_seconds() / 3600.0
        self.estimate_error_h = np.sort(err[est.notna()].to_numpy(float))
        self._median_days: dict = {}

    # --- who else will come ---------------------------------------------------
    def _days(self, after: pd.Timestamp, until: pd.Timestamp) -> list:
        first = after.tz_convert(self.timezone).tz_localize(None).normalize()
        last = until.tz_convert(self.timezone).tz_localize(None).normalize()
        return list(pd.date_range(first, last, freq="D"))

    def _window(self, df: pd.DataFrame, after, until) -> pd.DataFrame:
        keep = (df["arrival"] > after) & (df["arrival"] < until)
        return df.loc[keep, FUTURE_COLUMNS].reset_index(drop=True)

    def future(self, after: pd.Timestamp, until: pd.Timestamp) -> pd.DataFrame:
        """Median forecast of the sessions arriving in ``(after, until)``: ``arrival, departure, energy_kwh``."""
        parts = []
        for day in self._days(after, until):
            if day not in self._median_days:
                self._median_days[day] = self._expected_energy(self.model.median_day(self.site, day))
            parts.append(self._window(self._median_days[day], after, until))
        return _concat(parts)

    def _expected_energy(self, day: pd.DataFrame) -> pd.DataFrame:
        """The median day with each car's energy replaced by its conditional *mean*.

        Energies are skewed (a few cars take a lot): a sum of medians falls
        short of the total a day brings, which is what a plan must make room for.
        """
        if not len(day):
            return day
        day = day.copy()
        local = pd.DatetimeIndex(day["arrival"]).tz_convert(self.timezone)
        hours = local.hour + local.minute / 60.0 + local.second / 3600.0
        weekend = local.day_of_week >= 5
        day["energy_kwh"] = [
            float(self.model.neighbours(self.site, bool(w), float(h))["energy_kwh"].mean())
            for h, w in zip(hours, weekend, strict=True)
        ]
        return day

    def future_sample(self, after: pd.Timestamp, until: pd.Timestamp, rng: np.random.Generator) -> pd.DataFrame:
        """One sampled future of the sessions arriving in ``(after, until)``."""
        parts = [
            self._window(self.model.sample_day(self.site, day, rng), after, until) for day in self._days(after, until)
        ]
        return _concat(parts)

    # --- a car that is here -----------------------------------------------------
    def _pool(self, arrival: pd.Timestamp, now: pd.Timestamp) -> pd.DataFrame:
        """History sessions like this one (arrival clock time) that stayed longer than it has so far."""
        local = arrival.tz_convert(self.timezone)
        hour = local.hour + local.minute / 60.0 + local.second / 3600.0
        weekend = local.day_of_week >= 5
        stayed_h = (now - arrival).total_seconds() / 3600.0
        nb = self.model.neighbours(self.site, weekend, hour)
        nb = nb[nb["dwell_h"] > stayed_h]
        if len(nb) < MIN_NEIGHBOURS:
            pool = self.model.sites[self.site].sessions["weekend" if weekend else "weekday"]
            nb = pool[pool["dwell_h"] > stayed_h]
        return nb

    def stay(self, arrival: pd.Timestamp, now: pd.Timestamp) -> tuple[pd.Timestamp | None, float]:
        """Median departure and energy [kWh] of a car that arrived at ``arrival`` and is still here at ``now``.

        The departure is None when no history session stayed that long.
        """
        nb = self._pool(arrival, now)
        if not len(nb):
            allp = self.model.neighbours(self.site, arrival.tz_convert(self.timezone).day_of_week >= 5, 12.0)
            return None, float(np.median(allp["energy_kwh"])) if len(allp) else 0.0
        dwell = float(np.median(nb["dwell_h"]))
        return arrival + pd.Timedelta(hours=dwell), float(np.median(nb["energy_kwh"]))

    def stay_quantile(self, arrival: pd.Timestamp, now: pd.Timestamp, q: float) -> pd.Timestamp | None:
        """The ``q``-quantile departure of a car that arrived at ``arrival`` and is still here at ``now`` (None: no such history)."""
        nb = self._pool(arrival, now)
        if not len(nb):
            return None
        return arrival + pd.Timedelta(hours=float(np.quantile(nb["dwell_h"].to_numpy(float), q, method="inverted_cdf")))

    def energy_quantile(self, arrival: pd.Timestamp, now: pd.Timestamp, q: float) -> float:
        """The ``q``-quantile energy [kWh] of such a car (NaN: no history session stayed that long)."""
        nb = self._pool(arrival, now)
        if not len(nb):
            return math.nan
        return float(np.quantile(nb["energy_kwh"].to_numpy(float), q, method="inverted_cdf"))

    def stay_sample(self, arrival: pd.Timestamp, now: pd.Timestamp, n: int, rng: np.random.Generator):
        """``n`` sampled (departure, energy [kWh]) pairs of such a car; departures None if none stayed that long."""
        nb = self._pool(arrival, now)
        if not len(nb):
            _, e = self.stay(arrival, now)
            return [None] * n, np.full(n, e)
        pick = rng.integers(len(nb), size=n)
        dwell = nb["dwell_h"].to_numpy(float)[pick]
        return [arrival + pd.Timedelta(hours=float(h)) for h in dwell], nb["energy_kwh"].to_numpy(float)[pick]

    def estimate_sample(self, estimate: pd.Timestamp, now: pd.Timestamp, n: int, rng: np.random.Generator) -> list:
        """``n`` departures of a car whose driver estimated ``estimate`` and that is still here at ``now``."""
        err = self.estimate_error_h
        err = err[err > (now - estimate).total_seconds() / 3600.0]
        if not len(err):
            return [None] * n
        return [estimate + pd.Timedelta(hours=float(h)) for h in rng.choice(err, size=n)]


def _concat(parts: list) -> pd.DataFrame:
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in FUTURE_COLUMNS})
    return pd.concat(parts, ignore_index=True)
