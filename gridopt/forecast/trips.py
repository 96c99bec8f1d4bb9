"""Trip forecasts for fleets that run to a schedule.

A fleet's trips repeat: vehicle ``BUS-04`` leaves around 06:10 on weekdays and
is back by 14:00. :class:`TripModel` learns from a trips history, per *slot*:

* a slot is a vehicle's ``route`` when the history names routes, else the
  vehicle's k-th trip of the local day;
* the **plan** of a slot is its ``planned_departure`` when the history gives
  one, else the median local departure time of the slot's trips;
* the **delay** of a trip is its departure minus its plan [h]; its
  **duration** is arrival minus departure [h]; and its **energy** [kWh];
* delays, durations and energies are pooled by slot and weekday, falling back
  to slot and day type (weekday / weekend), then to the slot, when a pool has
  fewer than ``min_trips`` trips;
* a slot **runs** on a weekday with probability = share of that weekday's
  history days on which it ran.

The median forecast keeps the slots that run on at least half of their
weekday's days, departing at plan + median delay, with the median duration and
energy; q10/q90 come from the pool. A sample draws whether each slot runs and,
if so, one historical trip of its pool (delay, duration and energy together).
A *schedule* of planned trips (``vehicle_id``, ``planned_departure``, ...)
replaces the learned plan: every planned trip runs, with a learned delay.

A vehicle's trips never overlap: a trip that would leave before the vehicle
is back leaves one minute after its return.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import ScenarioError
from .timezones import at_local_hours, local_hour

TRIP_FORECAST_COLUMNS = [
    "vehicle_id",
    "trip_id",
    "departure",
    "arrival",
    "energy_kwh",
    "departure_q10",
    "departure_q90",
    "energy_kwh_q10",
    "energy_kwh_q90",
]
_GAP = pd.Timedelta(minutes=1)


def _hours_between(a: pd.Series, b: pd.Series) -> np.ndarray:
    return np.asarray((b - a).dt.total_seconds() / 3600.0, dtype=float)


@dataclass
class TripModel:
    """Learned plans, delays, durations and energies of a fleet's trip slots.

    Attributes
    ----------
    timezone : str
    trips : pandas.DataFrame
        The history with ``slot``, ``weekday``, ``weekend``, ``date``,
        ``plan_hour`` [h], ``delay_h``, ``duration_h`` [h] added.
    day_counts : dict
        Weekday -> number of history days of that weekday.
    min_trips : int
    """

    timezone: str
    trips: pd.DataFrame
    day_counts: dict
    min_trips: int = 3
    _cache: dict = field(default_factory=dict, repr=False)

    @classmethod
    def fit(cls, history: pd.DataFrame, timezone: str, min_trips: int = 3) -> TripModel:
        """Learn from canonical trips (times in ``timezone``)."""
        if len(history) == 0:
            raise ScenarioError("history: no trips to learn from")
        t = history.sort_values(["vehicle_id", "departure"], kind="stable").reset_index(drop=True).copy()
        dep = pd.DatetimeIndex(t["departure"])
        t["date"] = dep.tz_localize(None).normalize()
        t["weekday"] = dep.day_of_week
        t["weekend"] = t["weekday"] >= 5
        if t["route"].notna().any():
            t["slot"] = t["route"].fillna("").astype(str)
        else:
            t["slot"] = "#" + (t.groupby(["vehicle_id", "date"]).cumcount() + 1).astype(str)
        hour = local_hour(t["departure"])
        planned = t["planned_departure"].notna().to_numpy()
        plan = np.where(planned, local_hour(t["planned_departure"].fillna(t["departure"])), np.nan)
        # slots without a written plan: the median departure clock time of the slot and weekday
        med = pd.Series(hour).groupby([t["vehicle_id"], t["slot"], t["weekday"]]).transform("median").to_numpy()
        t["plan_hour"] = np.where(planned, plan, med)
        delay = np.where(
            planned, _hours_between(t["planned_departure"].fillna(t["departure"]), t["departure"]), hour - med
        )
        t["delay_h"] = delay
        t["duration_h"] = _hours_between(t["departure"], t["arrival"])
        span = pd.date_range(t["date"].min(), t["date"].max(), freq="D")
        day_counts = {w: int((span.day_of_week == w).sum()) for w in range(7)}
        return cls(timezone=timezone, trips=t, day_counts=day_counts, min_trips=min_trips)

    def pool(self, vehicle_id: str, slot: str, weekday: int) -> pd.DataFrame:
        """History trips of a slot on a weekday (with the fallbacks of the module doc)."""
        key = ("pool", vehicle_id, slot, weekday)
        if key not in self._cache:
            self._cache[key] = self._pool(vehicle_id, slot, weekday)
        return self._cache[key]

    def _pool(self, vehicle_id: str, slot: str, weekday: int) -> pd.DataFrame:
        t = self.trips[(self.trips["vehicle_id"] == vehicle_id) & (self.trips["slot"] == slot)]
        own = t[t["weekday"] == weekday]
        if len(own) >= self.min_trips:
            return own
        same = t[t["weekend"] == (weekday >= 5)]
        return same if len(same) >= self.min_trips else t

    def run_probability(self, vehicle_id: str, slot: str, weekday: int) -> float:
        """Share of the history's days of ``weekday`` on which the slot ran [-]."""
        key = ("p", vehicle_id, slot, weekday)
        if key not in self._cache:
            self._cache[key] = self._run_probability(vehicle_id, slot, weekday)
        return self._cache[key]

    def _run_probability(self, vehicle_id: str, slot: str, weekday: int) -> float:
        t = self.trips
        sel = (t["vehicle_id"] == vehicle_id) & (t["slot"] == slot) & (t["weekday"] == weekday)
        n_days = self.day_counts.get(weekday, 0)
        return float(t.loc[sel, "date"].nunique() / n_days) if n_days else 0.0

    def _row(self, vid, trip_id, date, plan_hour, pool, rng, planned_arrival=None, planned_dep=None):
        if rng is None:
            d = np.quantile(pool["delay_h"], [0.1, 0.5, 0.9])
            e = np.quantile(pool["energy_kwh"], [0.1, 0.5, 0.9])
            dur = float(np.median(pool["duration_h"]))
        else:
            j = int(rng.integers(len(pool)))
            d = np.repeat(pool["delay_h"].iloc[j], 3)
            e = np.repeat(pool["energy_kwh"].iloc[j], 3)
            dur = float(pool["duration_h"].iloc[j])
        base = planned_dep if planned_dep is not None else at_local_hours([date], [plan_hour], self.timezone)[0]
        dep = [base + pd.Timedelta(hours=float(x)) for x in d]
        if planned_arrival is not None and not pd.isna(planned_arrival):
            arr = planned_arrival + pd.Timedelta(hours=float(d[1]))
        else:
            arr = dep[1] + pd.Timedelta(hours=max(dur, 1.0 / 60.0))
        return {
            "vehicle_id": vid,
            "trip_id": trip_id,
            "departure": dep[1],
            "arrival": arr,
            "energy_kwh": float(e[1]),
            "departure_q10": dep[0],
            "departure_q90": dep[2],
            "energy_kwh_q10": float(e[0]),
            "energy_kwh_q90": float(e[2]),
        }

    def forecast(self, start: pd.Timestamp, days: int, samples: int = 0, seed: int = 0) -> pd.DataFrame:
        """Trips departing in ``days`` local days from ``start`` (median, or ``samples`` scenarios)."""
        rng = np.random.default_rng(seed)
        slots = self.trips.groupby(["vehicle_id", "slot"], sort=True).size().index
        first = pd.Timestamp(start).tz_localize(None).normalize() if start.tzinfo else pd.Timestamp(start).normalize()
        rows = []
        for k in range(max(samples, 1)):
            for date in pd.date_range(first, periods=int(days), freq="D"):
                w = date.day_of_week
                for vid, slot in slots:
                    p = self.run_probability(vid, slot, w)
                    runs = p >= 0.5 if not samples else rng.random() < p
                    if not runs:
                        continue
                    pool = self.pool(vid, slot, w)
                    plan = float(np.median(pool["plan_hour"]))
                    trip_id = f"{slot.lstrip('#') if slot.startswith('#') else slot}-{date:%Y%m%d}"
                    row = self._row(vid, f"{vid}-{trip_id}", date, plan, pool, rng if samples else None)
                    rows.append({**row, "sample": k})
        return self._finish(rows, samples)

    def forecast_schedule(self, schedule: pd.DataFrame, samples: int = 0, seed: int = 0) -> pd.DataFrame:
        """Trips of a schedule of planned trips, each with a learned delay, duration and energy."""
        rng = np.random.default_rng(seed)
        known = set(self.trips["vehicle_id"])
        rows = []
        for k in range(max(samples, 1)):
            for _, s in schedule.iterrows():
                vid = s["vehicle_id"]
                if vid not in known:
                    raise ScenarioError(f"schedule: vehicle {vid!r} has no trips in the history to learn from")
                slot = self._match_slot(vid, s)
                w = s["planned_departure"].day_of_week
                pool = self.pool(vid, slot, w)
                row = self._row(
                    vid,
                    s["trip_id"],
                    None,
                    None,
                    pool,
                    rng if samples else None,
                    planned_arrival=s["planned_arrival"],
                    planned_dep=s["planned_departure"],
                )
                rows.append({**row, "sample": k})
        return self._finish(rows, samples)

    def _match_slot(self, vid: str, planned: pd.Series) -> str:
        t = self.trips[self.trips["vehicle_id"] == vid]
        if isinstance(planned.get("route"), str) and planned["route"] in set(t["slot"]):
            return planned["route"]
        plans = t.groupby("slot")["plan_hour"].median()
        h = local_hour(pd.Series([planned["planned_departure"]]))[0]
        d = np.abs(plans.to_numpy() - h) % 24
        return plans.index[int(np.argmin(np.minimum(d, 24 - d)))]

    @staticmethod
    def _finish(rows: list, samples: int) -> pd.DataFrame:
        cols = (["sample"] if samples else []) + TRIP_FORECAST_COLUMNS
        if not rows:
            return pd.DataFrame(columns=cols)
        out = pd.DataFrame(rows).sort_values(["sample", "vehicle_id", "departure"], kind="stable")
        # a vehicle leaves only once it is back
        fixed = []
        for _, g in out.groupby(["sample", "vehicle_id"], sort=False):
            g = g.copy()
            back = None
            for i in g.index:
                if back is not None and g.at[i, "departure"] < back + _GAP:
                    shift = back + _GAP - g.at[i, "departure"]
                    for c in ("departure", "arrival", "departure_q10", "departure_q90"):
                        g.at[i, c] = g.at[i, c] + shift
                back = g.at[i, "arrival"]
            fixed.append(g)
        out = pd.concat(fixed).sort_values(["sample", "departure", "vehicle_id"], kind="stable")
        return out[cols].reset_index(drop=True)
