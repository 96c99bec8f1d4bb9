"""What each plugged-in vehicle needs and by when, as numpy arrays (the fast rule policies).

:class:`NeedTracker` computes exactly what :func:`gridopt.simulate.picture.needs`
computes (the same targets, the same deadlines to the nanosecond, rows in the
same order), without building a DataFrame per step:

* what does not change while a car stays plugged in (its arrival, the driver's
  estimate and reported target, its vehicle's battery) is read once, at
  plug-in;
* the forecast departure and energy of a car that did not report them
  (:meth:`~gridopt.simulate.forecasting.SessionForecaster.stay`, conditioned on
  the car still being here) change only when the time it has stayed passes a
  neighbour's dwell: :class:`StayCurve` keeps each arrival's neighbours sorted
  by dwell and caches the answer per number of neighbours still here;
* a fleet vehicle's timetable is split by vehicle once.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .forecasting import MIN_NEIGHBOURS, SessionForecaster
from .picture import DUTY_HOURS, NO_MARGINS, Context, Margins
from .world import Observation

NS_PER_H = 3_600_000_000_000


class StayCurve:
    """:meth:`SessionForecaster.stay` of one arrival, for any ``now`` (same values, cached)."""

    def __init__(self, fc: SessionForecaster, arrival: pd.Timestamp):
        self.arrival = arrival
        self.arrival_ns = arrival.value
        local = arrival.tz_convert(fc.timezone)
        hour = local.hour + local.minute / 60.0 + local.second / 3600.0
        weekend = local.day_of_week >= 5
        self.weekend = weekend
        self.fc = fc
        nb = fc.model.neighbours(fc.site, weekend, hour)
        pool = fc.model.sites[fc.site].sessions["weekend" if weekend else "weekday"]
        self.nb = self._sorted(nb)
        self.pool = self._sorted(pool)
        self._cache: dict = {}

    @staticmethod
    def _sorted(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        d = df["dwell_h"].to_numpy(float)
        e = df["energy_kwh"].to_numpy(float)
        o = np.argsort(d, kind="stable")
        return d[o], e[o]

    def at(self, now_ns: int) -> tuple[int | None, float]:
        """Median departure [ns since the epoch] (None if no one stayed that long) and energy [kWh]."""
        stayed_h = (now_ns - self.arrival_ns) / 1e9 / 3600.0
        d, e = self.nb
        n = len(d) - int(np.searchsorted(d, stayed_h, side="right"))
        key = ("nb", n)
        if n < MIN_NEIGHBOURS:
            d, e = self.pool
            n = len(d) - int(np.searchsorted(d, stayed_h, side="right"))
            key = ("pool", n)
        hit = self._cache.get(key)
        if hit is None:
            if n == 0:
                dep, energy = self.fc.stay(self.arrival, pd.Timestamp(now_ns, tz="UTC"))
                hit = (None if dep is None else dep.value, energy)
            else:
                dwell = float(np.median(d[-n:]))
                hit = ((self.arrival + pd.Timedelta(hours=dwell)).value, float(np.median(e[-n:])))
            self._cache[key] = hit
        return hit


class NeedTracker:
    """Per plugged-in vehicle: SoC, needed SoC [kWh] and deadline [ns], as :func:`~gridopt.simulate.picture.needs`.

    Parameters
    ----------
    ctx : Context
    margins : Margins
    """

    def __init__(self, ctx: Context, margins: Margins = NO_MARGINS):
        self.ctx = ctx
        self.margins = margins
        veh = ctx.site.vehicles.loc[ctx.vehicle_ids]
        self.B = veh["battery_kwh"].to_numpy(float)
        self.U = (veh["max_soc"] * veh["battery_kwh"]).to_numpy(float)
        self.eta = veh["charge_efficiency"].to_numpy(float)
        self.min_soc = veh["min_soc"].to_numpy(float)
        self.final = (veh["final_soc"] * veh["battery_kwh"]).to_numpy(float)
        self.step_ns = pd.Timedelta(minutes=ctx.site.grid.step_minutes).value
        self.shift_ns = pd.Timedelta(minutes=margins.departure_minutes).value
        self.end_ns = ctx.site.grid.end.value
        self._curves: dict = {}
        self._cars: dict = {}
        tt = ctx.timetable
        self._trips: dict = {}
        if len(tt):
            for vid, g in tt.groupby("vehicle_id", sort=False):
                self._trips[vid] = (
                    g["trip_id"].astype(str).to_numpy(object),
                    np.array([t.value for t in g["departure"]], dtype=np.int64),
                    np.array([t.value for t in g["arrival"]], dtype=np.int64),
                    g["energy_kwh"].to_numpy(float),
                    g["departure_soc"].to_numpy(float),
                )

    def _curve(self, arrival: pd.Timestamp) -> StayCurve:
        c = self._curves.get(arrival)
        if c is None:
            c = self._curves[arrival] = StayCurve(self.ctx.forecaster, arrival)
        return c

    def _session(self, obs: Observation, n: int, now_ns: int) -> tuple[float, int]:
        p, rep = obs.plugged, obs.reported
        v, i = int(p.v[n]), int(p.session[n])
        U = self.U[v]
        dep = int(rep.estimate_ns[i])
        dep = None if dep < 0 else dep
        reported = float(rep.target_kwh[n])
        need_forecast = math.isnan(reported)
        energy = math.nan
        if self.ctx.forecaster is not None and (dep is None or need_forecast):
            f_dep, energy = self._curve(rep.arrival[i]).at(now_ns)
            if dep is None:
                dep = f_dep
        if need_forecast:
            if math.isnan(energy):
                target = U
            else:
                target = float(rep.arrival_soc_kwh[n]) + self.eta[v] * energy * (1.0 + self.margins.energy)
        else:
            target = reported
        soon = now_ns + self.step_ns
        dep = soon if dep is None else max(dep - self.shift_ns, soon)
        return min(target, U), dep

    def _fleet(self, obs: Observation, n: int, now_ns: int) -> tuple[float, int]:
        p = obs.plugged
        v = int(p.v[n])
        vid = obs.vehicle_ids[v]
        soc = float(p.soc_kwh[n])
        B, grow = self.B[v], 1.0 + self.margins.energy
        soon = now_ns + self.step_ns
        trips = self._trips.get(vid)
        pending = []
        if trips is not None:
            ids, dep_ns, arr_ns, energy, dsoc = trips
            keep = [k for k in range(len(ids)) if (vid, ids[k]) not in obs.departed_trips]
            keep.sort(key=lambda k: dep_ns[k])  # stable, as sort_values(kind="stable")
            ready = soon
            for k in keep:
                dep = max(int(dep_ns[k]) - self.shift_ns, ready)
                arr = max(int(arr_ns[k]), dep + 60_000_000_000)
                e = energy[k] * grow
                if not math.isnan(dsoc[k]):
                    e = min(e, dsoc[k] * B)
                pending.append((dep, e, dsoc[k]))
                ready = arr
        if not pending:
            final = self.final[v]
            return (soc if math.isnan(final) else final), self.end_ns
        dep0, e0, dsoc0 = pending[0]
        horizon = now_ns + int(DUTY_HOURS * NS_PER_H)
        later = sum(e for d, e, _ in pending[1:] if d < horizon)
        duty = self.min_soc[v] * B + e0 + later
        required = dsoc0 * B if not math.isnan(dsoc0) else self.min_soc[v] * B + e0
        return min(max(required, duty), self.U[v]), dep0

    def needs(self, obs: Observation) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(v, soc_kwh, target_kwh, deadline_ns)``: sessions first, then fleet vehicles, each in world order."""
        p = obs.plugged
        now_ns = obs.now.value
        rows = np.concatenate([np.flatnonzero(p.is_session), np.flatnonzero(~p.is_session)])
        target = np.empty(len(rows))
        deadline = np.empty(len(rows), dtype=np.int64)
        for out, n in enumerate(rows):
            t, d = self._session(obs, n, now_ns) if p.is_session[n] else self._fleet(obs, n, now_ns)
            target[out], deadline[out] = t, d
        return p.v[rows], p.soc_kwh[rows], target, deadline


__all__ = ["NeedTracker", "StayCurve"]
