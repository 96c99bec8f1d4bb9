"""The live plan behind ``gridopt serve``: a session site, re-planned from "now" on every delta.

:class:`LiveSite` holds one scenario (a site whose vehicles come for
sessions), what has been reported since (plug-ins, unplugs, SoC readings,
energy needs, price updates) and the current plan. Every batch of deltas moves
"now" to the step boundary at or after the latest delta (gridopt rounds a
plug-in up to the next boundary) and re-plans ``[now, end of the horizon)``
with :func:`gridopt.optimize`, which re-checks the plan with
:func:`gridopt.check.check_schedule` before it is served.

The re-planning scenario is the loaded one cut to ``[now, end)``:

* sessions that ended before now are dropped; a session under way starts at
  now with the SoC the vehicle has now: the latest SoC reading when it is newer
  than the current plan, else the current plan's SoC at now (the plan is taken
  as carried out); sessions still to come stay as they are;
* prices, base load and PV from now on (with the updates).

A scenario with trips is served in fleet mode (:mod:`gridopt.serve.trips`: trip
starts, returns with a SoC reading, timetable changes). Limits (see ``docs/serve.md``): the demand charge of a re-plan counts the peak of the rest of
the horizon only; one site per server, kept in memory.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import ScenarioError
from ..scenario import Scenario, validate_sessions
from ..timeindex import make_grid
from .trips import FleetTrips


class DeltaError(ScenarioError):
    """A delta that cannot apply; ``loc`` names the field (``("events", 0, "vehicle_id")``)."""

    def __init__(self, loc: tuple, message: str):
        super().__init__(message)
        self.loc = loc


@dataclass
class Plan:
    """The current plan.

    Attributes
    ----------
    scenario : Scenario
        The re-planning scenario it solved (``[now, end)``).
    schedule, site, unmet : DataFrame
        :func:`gridopt.optimize`'s result tables.
    summary : dict
        ``status``, ``total_cost``, ``solve_seconds``, ``wall_seconds``.
    """

    scenario: Scenario
    schedule: pd.DataFrame
    site: pd.DataFrame
    unmet: pd.DataFrame
    summary: dict


def _ns(t) -> int:
    return pd.Timestamp(t).value


class LiveSite(FleetTrips):
    """One site and its current plan (see the module doc).

    Parameters
    ----------
    sc : Scenario
        A loaded scenario (sessions, and trips: :mod:`gridopt.serve.trips`).
    name : str
        Its name in answers and messages.
    """

    def __init__(self, sc: Scenario, name: str):
        self.base = sc
        self.name = name
        grid = sc.grid
        self.step = pd.Timedelta(minutes=grid.step_minutes)
        self.start_ns, self.end_ns = _ns(grid.start), _ns(grid.end)
        self.k = 0
        self.series = sc.series.copy()
        self.sessions = sc.sessions.copy()
        self.readings: dict = {}  # session row label -> (time ns, soc kWh)
        self.replans = 0
        self.plan: Plan | None = None
        self.plan_k = 0
        self.plan_start_soc: dict = {}  # session label -> SoC [kWh] the current plan started from
        self._next_label = int(self.sessions.index.max()) + 1 if len(self.sessions) else 2
        self._init_trips(sc)
        self.replan()

    def trial(self) -> LiveSite:
        """A copy whose deltas leave this site as it is (all or nothing)."""
        import copy

        other = copy.copy(self)
        other.sessions = self.sessions.copy()
        other.series = self.series.copy()
        other.readings = dict(self.readings)
        self._trial_trips(other)
        return other

    # --- time ------------------------------------------------------------------
    @property
    def now(self) -> pd.Timestamp:
        return self.base.grid.boundary_time(self.k)

    def boundary_at_or_after(self, t: pd.Timestamp, loc: tuple) -> int:
        """The step boundary at or after ``t``; a time outside the horizon is refused."""
        ns = _ns(t)
        if ns < self.start_ns or ns >= self.end_ns:
            raise DeltaError(
                loc,
                f"{t.isoformat()} is outside the scenario's horizon "
                f"{self.base.grid.start.isoformat()} to {self.base.grid.end.isoformat()}",
            )
        step_ns = self.step.value
        return int(-(-(ns - self.start_ns) // step_ns))

    # --- SoC now -------------------------------------------------------------------
    def _plan_soc(self, vehicle_id: str, k: int) -> float:
        """The current plan's SoC [kWh] of a vehicle at boundary ``k`` (NaN if it does not say)."""
        if self.plan is None or k <= self.plan_k:
            return math.nan
        s = self.plan.schedule
        n = self.plan.scenario.grid.n_steps
        ids = list(self.plan.scenario.vehicles.index)
        if vehicle_id not in ids or k - 1 - self.plan_k >= n:
            return math.nan
        return float(s["soc_kwh"].to_numpy(float)[ids.index(vehicle_id) * n + (k - 1 - self.plan_k)])

    def soc_now_kwh(self, label, k: int) -> float:
        """SoC [kWh] of session ``label``'s vehicle at boundary ``k``, under way at ``k``."""
        row = self.sessions.loc[label]
        vid = str(row["vehicle_id"])
        battery = float(self.base.vehicles.at[vid, "battery_kwh"])
        reading = self.readings.get(label)
        if reading is not None and (self.plan is None or reading[0] >= _ns(self.base.grid.boundary_time(self.plan_k))):
            return reading[1]  # newer than the current plan
        if self.plan is not None and k == self.plan_k and label in self.plan_start_soc:
            return self.plan_start_soc[label]  # what the current plan started from
        planned = self._plan_soc(vid, k)
        if not math.isnan(planned):
            return planned
        if reading is not None:
            return reading[1]
        return float(row["arrival_soc"]) * battery

    # --- sessions --------------------------------------------------------------------
    def session_at(self, vehicle_id: str, t: pd.Timestamp, loc: tuple):
        """Label of the vehicle's session under way at ``t`` (arrival <= t < departure)."""
        s = self.sessions
        ns = _ns(t)
        mine = s[s["vehicle_id"].astype(str) == vehicle_id]
        for label, r in mine.iterrows():
            if _ns(r["arrival"]) <= ns < _ns(r["departure"]):
                return label
        raise DeltaError(loc, f"vehicle {vehicle_id} is not plugged in at {t.isoformat()}")

    def vehicle(self, vehicle_id: str, loc: tuple) -> pd.Series:
        if vehicle_id not in self.base.vehicles.index:
            raise DeltaError(loc, f"unknown vehicle {vehicle_id!r} (not in the scenario's vehicles)")
        return self.base.vehicles.loc[vehicle_id]

    def plug_in(self, i: int, vehicle_id: str, t, soc: float, departure, target_soc, session_id) -> None:
        spec = self.vehicle(vehicle_id, ("events", i, "vehicle_id"))
        self.refuse_fleet(vehicle_id, ("events", i, "vehicle_id"))
        if _ns(departure) <= _ns(t):
            raise DeltaError(("events", i, "departure"), "must be after the plug-in time")
        s = self.sessions
        ns, dep = _ns(t), _ns(departure)
        mine = s[s["vehicle_id"].astype(str) == vehicle_id]
        # the plug-in replaces an expected session of the same vehicle that overlaps it
        drop = [lab for lab, r in mine.iterrows() if _ns(r["arrival"]) < dep and ns < _ns(r["departure"])]
        self.sessions = s.drop(index=drop)
        self.readings = {k: v for k, v in self.readings.items() if k not in drop}
        target = float(spec["max_soc"]) if target_soc is None else float(target_soc)
        label = self._next_label
        self._next_label += 1
        row = {
            "vehicle_id": vehicle_id,
            "arrival": pd.Timestamp(t).tz_convert(self.base.timezone),
            "departure": pd.Timestamp(departure).tz_convert(self.base.timezone),
            "arrival_soc": float(soc),
            "target_soc": max(target, float(soc)),
            "session_id": session_id or f"live-{label}",
        }
        new = pd.DataFrame([row], index=[label])
        self.sessions = pd.concat([self.sessions, new[[c for c in self.sessions.columns if c in new]]])
        self.readings[label] = (ns, float(soc) * float(spec["battery_kwh"]))

    def unplug(self, i: int, vehicle_id: str, t) -> None:
        self.vehicle(vehicle_id, ("events", i, "vehicle_id"))
        self.refuse_fleet(vehicle_id, ("events", i, "vehicle_id"))
        label = self.session_at(vehicle_id, t, ("events", i, "vehicle_id"))
        self.sessions.at[label, "departure"] = pd.Timestamp(t).tz_convert(self.base.timezone)

    def soc_reading(self, i: int, vehicle_id: str, t, soc: float) -> None:
        spec = self.vehicle(vehicle_id, ("events", i, "vehicle_id"))
        if vehicle_id in self.fleet_ids:
            return self.fleet_reading(i, vehicle_id, t, soc)
        label = self.session_at(vehicle_id, t, ("events", i, "vehicle_id"))
        self.readings[label] = (_ns(t), float(soc) * float(spec["battery_kwh"]))

    def energy_need(self, i: int, vehicle_id: str, t, target_soc, energy_kwh, departure) -> None:
        spec = self.vehicle(vehicle_id, ("events", i, "vehicle_id"))
        self.refuse_fleet(vehicle_id, ("events", i, "vehicle_id"))
        label = self.session_at(vehicle_id, t, ("events", i, "vehicle_id"))
        battery = float(spec["battery_kwh"])
        if target_soc is None and energy_kwh is None and departure is None:
            raise DeltaError(("events", i), "give target_soc, energy_kwh or departure")
        if target_soc is not None and energy_kwh is not None:
            raise DeltaError(("events", i, "energy_kwh"), "give target_soc or energy_kwh, not both")
        if energy_kwh is not None:
            k = self.boundary_at_or_after(t, ("events", i, "time"))
            target_soc = min((self.soc_now_kwh(label, k) + float(energy_kwh)) / battery, float(spec["max_soc"]))
        if target_soc is not None:
            self.sessions.at[label, "target_soc"] = float(target_soc)
        if departure is not None:
            if _ns(departure) <= _ns(self.sessions.at[label, "arrival"]):
                raise DeltaError(("events", i, "departure"), "must be after the vehicle's plug-in time")
            self.sessions.at[label, "departure"] = pd.Timestamp(departure).tz_convert(self.base.timezone)

    def prices(self, i: int, t, import_price: list, export_price: list | None) -> None:
        k = self.boundary_at_or_after(t, ("events", i, "time"))
        left = self.base.grid.n_steps - k
        for field, values in (("import_price", import_price), ("export_price", export_price)):
            if values is None:
                continue
            if len(values) > left:
                raise DeltaError(
                    ("events", i, field), f"{len(values)} prices but only {left} steps from {t.isoformat()} to the end"
                )
            col = self.series.columns.get_loc(field)
            self.series.iloc[k : k + len(values), col] = np.asarray(values, dtype=float)

    # --- planning ---------------------------------------------------------------------
    def advance(self, k: int) -> None:
        """Move now to boundary ``k`` (never back)."""
        self.k = max(self.k, min(k, self.base.grid.n_steps - 1))

    def planning_scenario(self) -> Scenario:
        """The loaded scenario cut to ``[now, end)`` with the reported state (see the module doc)."""
        sc, k = self.base, self.k
        grid = sc.grid
        now = self.now
        now_ns = _ns(now)
        plan_grid = make_grid(now, (grid.n_steps - k) * grid.dt_h, grid.step_minutes, sc.timezone)
        series = self.series.iloc[k:].copy()
        series.index = plan_grid.index
        rows = []
        self._start_soc = {}
        for label, r in self.sessions.iterrows():
            if _ns(r["departure"]) <= now_ns:
                continue
            r = r.copy()
            if _ns(r["arrival"]) <= now_ns:
                battery = float(sc.vehicles.at[str(r["vehicle_id"]), "battery_kwh"])
                soc_kwh = self.soc_now_kwh(label, k)
                self._start_soc[label] = soc_kwh
                soc = soc_kwh / battery
                r["arrival"] = now
                r["arrival_soc"] = float(min(max(soc, 0.0), 1.0))
                r["target_soc"] = max(float(r["target_soc"]), 0.0)
            rows.append(r)
        sessions = pd.DataFrame(rows, columns=self.sessions.columns)
        sessions.index = np.arange(len(sessions)) + 2
        for c in ("arrival", "departure"):
            sessions[c] = (
                pd.to_datetime(sessions[c], utc=True).dt.tz_convert(sc.timezone)
                if len(sessions)
                else pd.Series(dtype=f"datetime64[ns, {sc.timezone}]")
            )
        for c in ("arrival_soc", "target_soc"):
            sessions[c] = sessions[c].astype(float)
        # only the vehicles with a session still to serve: one without would count as parked all along
        ids = set(sessions["vehicle_id"].astype(str))
        vehicles = sc.vehicles[[str(v) in ids for v in sc.vehicles.index]]
        if len(sessions):
            sessions = validate_sessions(sessions, vehicles, "live sessions", "vehicles")
        extra = {}
        if self.fleet_ids:  # fleet vehicles: parked unless on a trip, from their SoC now (gridopt.serve.trips)
            fleet, trips, fleet_soc = self.planning_fleet(k, now_ns)
            self._start_soc.update(fleet_soc)
            vehicles = pd.concat([fleet, vehicles[[v not in set(fleet.index) for v in vehicles.index]]])
            extra["trips"] = trips
        return sc.with_built(
            name=f"{sc.name} @ {now.isoformat()}",
            grid=plan_grid,
            series=series,
            vehicles=vehicles,
            sessions=sessions,
            warnings=(),
            **extra,
        )

    def replan(self) -> Plan:
        """Plan ``[now, end)`` afresh; the plan is checked by :func:`gridopt.check.check_schedule`."""
        from .. import optimize

        t0 = time.perf_counter()
        sc = self.planning_scenario()
        self.plan_k = self.k
        self.plan_start_soc = self._start_soc
        self.replans += 1
        if not len(sc.vehicles):
            empty = pd.DataFrame(columns=["time", "vehicle_id", "plugged_in", "charge_kw", "discharge_kw", "soc_kwh"])
            self.plan = Plan(
                sc,
                empty,
                pd.DataFrame(),
                pd.DataFrame(),
                {
                    "status": "no vehicle",
                    "total_cost": math.nan,
                    "solve_seconds": 0.0,
                    "wall_seconds": time.perf_counter() - t0,
                },
            )
            return self.plan
        res = optimize(sc, baseline=False, flexibility=False)
        self.plan = Plan(
            scenario=sc,
            schedule=res.schedule,
            site=res.site,
            unmet=res.unmet,
            summary={
                "status": str(res.summary.get("status")),
                "total_cost": float(res.summary.get("total_cost", math.nan)),
                "solve_seconds": float(res.summary.get("solve_seconds", math.nan)),
                "wall_seconds": time.perf_counter() - t0,
            },
        )
        return self.plan


__all__ = ["DeltaError", "LiveSite", "Plan"]
