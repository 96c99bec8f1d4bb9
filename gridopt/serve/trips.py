"""Fleet vehicles with trips in ``gridopt serve``: their deltas and their SoC at "now".

A scenario with trips (a depot timetable) is served in *fleet mode*: every vehicle without a
session in the scenario is a fleet vehicle, parked and plugged in whenever it is not on a trip
(as :func:`gridopt.fleet.build_fleet_plan` sees it). Its deltas:

* ``trip_start``: the vehicle left at ``time``: the next trip of the timetable (the one it should
  be on already, if not yet reported as started) departs then (with
  a new ``arrival`` or ``energy_kwh`` if given), or, when ``arrival`` is given and comes before
  that trip's departure, an unplanned trip (``arrival`` and ``energy_kwh`` required); an optional
  ``soc`` is its SoC on leaving, an optional ``charger_id`` the charger it plugs into on return;
* ``trip_end``: the vehicle is back at ``time`` with a SoC reading ``soc``: its latest trip
  arrives then;
* ``trip``: a timetable change of a trip not yet under way: a new one (``departure``,
  ``arrival``, ``energy_kwh``, optional ``departure_soc``, ``trip_id``, ``charger_id``), new times,
  energy or charger for the trip ``trip_id``, or ``cancel``; of a trip that has left, only its
  ``charger_id``;
* ``soc``: a SoC reading of a fleet vehicle at the depot.

A trip's ``charger_id`` is that of trips.csv: the charger the vehicle plugs into when it is back
(absent: unchanged; empty: none named, gridopt assigns one). Every change of the trips is checked as
trips.csv is, by the scenario's own checks: :func:`gridopt.scenario.validate_trips` and
:func:`gridopt.chargers.check_named_chargers` (a charger of chargers.csv, the site has chargers, no
other vehicle plugged in there at the same time), the latter from now on.

The re-planning scenario keeps the trips not yet over (one under way at now stays: the fleet
plan then plugs the vehicle in at its return) and sets each fleet vehicle's ``initial_soc`` to
its SoC now (see :meth:`FleetTrips.fleet_soc_kwh`): at the depot, the latest reading when it is
newer than the current plan, else the current plan's SoC at now; on a trip, its SoC on return
(the ``trip_end`` reading, else its SoC on leaving minus the trip's ``energy_kwh``, at least 0).
A vehicle's latest trip back by now stays too when it names a charger: the vehicle is on that
charger from now (:func:`gridopt.chargers.segment_chargers` follows the last trip back).
"""

from __future__ import annotations

import math
import re

import pandas as pd

from ..errors import ScenarioError
from ..scenario import validate_trips

#: Names of the live tables in messages of the scenario's checks (their "lines" are row labels).
_FILES = {"vehicles": "vehicles", "trips": "live trips", "sessions": "live sessions"}


def _ns(t) -> int:
    return pd.Timestamp(t).value


def _charger(value) -> str | None:
    """A trip's named charger (text), else None."""
    return value if isinstance(value, str) and value else None


def _name_charger(trips: pd.DataFrame, label, charger_id: str | None, new: bool) -> pd.DataFrame:
    """``trips`` with trip ``label``'s ``charger_id`` set (None: unchanged; a new trip then names none)."""
    if charger_id is None and not new:
        return trips
    charger_id = (charger_id or "").strip()  # as trips.csv is read
    if "charger_id" not in trips:
        if not charger_id:
            return trips
        trips = trips.assign(charger_id="")
    trips["charger_id"] = trips["charger_id"].astype(object)
    trips.at[label, "charger_id"] = charger_id
    return trips


class FleetTrips:
    """Mixin of :class:`gridopt.serve.state.LiveSite`: the fleet vehicles' trips (see the module doc)."""

    def _error(self, loc: tuple, message: str):
        from .state import DeltaError

        return DeltaError(loc, message)

    def _init_trips(self, sc) -> None:
        self.trips = sc.trips.copy()
        with_sessions = set(sc.sessions["vehicle_id"].astype(str)) if len(sc.sessions) else set()
        #: fleet vehicles (fleet mode: a scenario with trips), else none
        self.fleet_ids = [v for v in sc.vehicles.index if str(v) not in with_sessions] if len(sc.trips) else []
        self.vreadings: dict = {}  # fleet vehicle -> (time ns, SoC kWh)
        self.dep_soc: dict = {}  # trip label -> SoC on leaving [kWh]
        self.return_soc: dict = {}  # trip label -> SoC on return [kWh]
        self._next_trip = int(self.trips.index.max()) + 1 if len(self.trips) else 2

    def _trial_trips(self, other) -> None:
        """Copy the mutable trip state into ``other`` (a trial copy of the site)."""
        other.trips = self.trips.copy()
        other.vreadings = dict(self.vreadings)
        other.dep_soc = dict(self.dep_soc)
        other.return_soc = dict(self.return_soc)

    # --- where a fleet vehicle is --------------------------------------------------
    def fleet_vehicle(self, vehicle_id: str, loc: tuple) -> pd.Series:
        spec = self.vehicle(vehicle_id, loc)
        if vehicle_id not in self.fleet_ids:
            what = "the scenario has no trips" if not self.fleet_ids else "it comes for sessions"
            raise self._error(loc, f"vehicle {vehicle_id!r} does not run trips ({what}): use plug_in and unplug")
        return spec

    def refuse_fleet(self, vehicle_id: str, loc: tuple) -> None:
        """Session deltas are not for fleet vehicles."""
        if vehicle_id in self.fleet_ids:
            raise self._error(
                loc, f"vehicle {vehicle_id!r} runs trips: report trip_start, trip_end, trip or soc, not sessions"
            )

    def _mine(self, vehicle_id: str) -> pd.DataFrame:
        t = self.trips
        return t[t["vehicle_id"].astype(str) == vehicle_id].sort_values("departure", kind="stable")

    def trip_under_way(self, vehicle_id: str, ns: int):
        """Label of the vehicle's trip under way at ``ns`` (departure < ns < arrival), or None."""
        for label, r in self._mine(vehicle_id).iterrows():
            if _ns(r["departure"]) < ns < _ns(r["arrival"]):
                return label
        return None

    # --- SoC -------------------------------------------------------------------------
    def _at_depot_soc(self, vehicle_id: str, k: int) -> float:
        """SoC [kWh] of a fleet vehicle at the depot at boundary ``k``."""
        battery = float(self.base.vehicles.at[vehicle_id, "battery_kwh"])
        reading = self.vreadings.get(vehicle_id)
        plan_start = _ns(self.base.grid.boundary_time(self.plan_k))
        if reading is not None and (self.plan is None or reading[0] >= plan_start):
            return reading[1]
        if self.plan is not None and k == self.plan_k and vehicle_id in self.plan_start_soc:
            return self.plan_start_soc[vehicle_id]
        planned = self._plan_soc(vehicle_id, k)
        if not math.isnan(planned):
            return planned
        ns = _ns(self.base.grid.boundary_time(k))
        back = [lab for lab, r in self._mine(vehicle_id).iterrows() if _ns(r["arrival"]) <= ns]
        if back and (back[-1] in self.return_soc or _ns(self.trips.at[back[-1], "arrival"]) > plan_start):
            return self._soc_on_return(back[-1])  # just back (the plan has no SoC for it at now)
        if reading is not None:
            return reading[1]
        return float(self.base.vehicles.at[vehicle_id, "initial_soc"]) * battery

    def _soc_on_return(self, label) -> float:
        if label in self.return_soc:
            return self.return_soc[label]
        r = self.trips.loc[label]
        vid = str(r["vehicle_id"])
        if _ns(r["departure"]) < _ns(self.base.grid.start):
            # under way when the horizon starts: the scenario's initial_soc is its SoC on return
            out = float(self.base.vehicles.at[vid, "initial_soc"]) * float(self.base.vehicles.at[vid, "battery_kwh"])
        else:
            left = self.dep_soc.get(label)
            if left is None:
                kd = int(self.base.grid.departure_boundary(pd.DatetimeIndex([r["departure"]]))[0])
                left = self._at_depot_soc(vid, max(0, kd))
            out = max(0.0, left - float(r["energy_kwh"]))
        self.return_soc[label] = out
        return out

    def fleet_soc_kwh(self, vehicle_id: str, k: int) -> float:
        """SoC [kWh] of a fleet vehicle at boundary ``k``: at the depot, or on return from a trip under way."""
        label = self.trip_under_way(vehicle_id, _ns(self.base.grid.boundary_time(k)))
        return self._soc_on_return(label) if label is not None else self._at_depot_soc(vehicle_id, k)

    # --- deltas ------------------------------------------------------------------------
    def _check_trips(self, trips: pd.DataFrame, t, loc: tuple, charger_loc: tuple | None = None) -> pd.DataFrame:
        """``trips`` checked as trips.csv is (a broken rule: a 422 on ``loc``; on ``charger_loc``, when
        given, for the chargers they name). Chargers are checked from the step boundary at or after the
        delta's time ``t`` on (where the re-plan starts at the earliest): a clash before does not matter
        to the plan."""
        from ..chargers import check_named_chargers

        sc = self.base
        try:
            trips = validate_trips(trips, sc.vehicles, _FILES["trips"], _FILES["vehicles"])
        except ScenarioError as exc:
            raise self._error(loc, self._readable(str(exc), trips)) from None
        try:
            start = sc.grid.boundary_time(self.boundary_at_or_after(t, loc))
            check_named_chargers(sc.vehicles, trips, self.sessions, sc.chargers, start, sc.grid.end, _FILES)
        except ScenarioError as exc:
            raise self._error(charger_loc or loc, self._readable(str(exc), trips)) from None
        return trips

    def _readable(self, message: str, trips: pd.DataFrame) -> str:
        """A check's message with the live tables' row labels as the trips' and sessions' ids."""

        def name(m: re.Match, table: pd.DataFrame, kind: str, col: str) -> str:
            label = int(m[1])
            ident = table.at[label, col] if label in table.index and col in table else None
            return f"{kind} {ident!r}" if isinstance(ident, str) and ident else m[0]

        message = re.sub(rf"{_FILES['trips']} line (\d+)", lambda m: name(m, trips, "trip", "trip_id"), message)
        return re.sub(
            rf"{_FILES['sessions']} line (\d+)", lambda m: name(m, self.sessions, "session", "session_id"), message
        )

    def trip_start(self, i: int, vehicle_id: str, t, soc, arrival, energy_kwh, trip_id, charger_id=None) -> None:
        spec = self.fleet_vehicle(vehicle_id, ("events", i, "vehicle_id"))
        ns = _ns(t)
        under = self.trip_under_way(vehicle_id, ns)
        if under is not None and under in self.dep_soc:  # reported as started already
            raise self._error(("events", i, "vehicle_id"), f"vehicle {vehicle_id!r} is on a trip at {t.isoformat()}")
        # the timetable's next trip (one the timetable has under way, not yet reported, leaves late)
        nxt = [(lab, r) for lab, r in self._mine(vehicle_id).iterrows() if _ns(r["arrival"]) > ns]
        trips = self.trips.copy()
        tz = self.base.timezone
        new = not (nxt and (arrival is None or _ns(arrival) > _ns(nxt[0][1]["departure"])))
        if not new:
            label = nxt[0][0]  # the timetable's next trip leaves now
            trips.at[label, "departure"] = pd.Timestamp(t).tz_convert(tz)
            if arrival is not None:
                trips.at[label, "arrival"] = pd.Timestamp(arrival).tz_convert(tz)
            if energy_kwh is not None:
                trips.at[label, "energy_kwh"] = float(energy_kwh)
        else:  # an unplanned trip
            for field, value in (("arrival", arrival), ("energy_kwh", energy_kwh)):
                if value is None:
                    raise self._error(("events", i, field), f"vehicle {vehicle_id!r} has no trip planned: give {field}")
            label = self._next_trip
            self._next_trip += 1
            row = {
                "vehicle_id": vehicle_id,
                "departure": pd.Timestamp(t).tz_convert(tz),
                "arrival": pd.Timestamp(arrival).tz_convert(tz),
                "energy_kwh": float(energy_kwh),
                "departure_soc": math.nan,
                "trip_id": trip_id or f"live-trip-{label}",
            }
            trips = pd.concat([trips, pd.DataFrame([row], index=[label])[[c for c in trips.columns if c in row]]])
        if arrival is not None and _ns(arrival) <= ns:
            raise self._error(("events", i, "arrival"), "must be after the departure time")
        trips = _name_charger(trips, label, charger_id, new)
        loc = ("events", i, "charger_id") if charger_id is not None else None
        self.trips = self._check_trips(trips, t, ("events", i), loc)
        if soc is not None:
            self.dep_soc[label] = float(soc) * float(spec["battery_kwh"])
        else:
            kd = int(self.base.grid.departure_boundary(pd.DatetimeIndex([pd.Timestamp(t)]))[0])
            self.dep_soc[label] = self._at_depot_soc(vehicle_id, max(kd, 0))
        self.return_soc.pop(label, None)

    def trip_end(self, i: int, vehicle_id: str, t, soc: float) -> None:
        spec = self.fleet_vehicle(vehicle_id, ("events", i, "vehicle_id"))
        ns = _ns(t)
        gone = [lab for lab, r in self._mine(vehicle_id).iterrows() if _ns(r["departure"]) < ns]
        if not gone:
            raise self._error(
                ("events", i, "vehicle_id"), f"vehicle {vehicle_id!r} has not left on a trip by {t.isoformat()}"
            )
        label = gone[-1]
        trips = self.trips.copy()
        trips.at[label, "arrival"] = pd.Timestamp(t).tz_convert(self.base.timezone)
        self.trips = self._check_trips(trips, t, ("events", i))
        kwh = float(soc) * float(spec["battery_kwh"])
        self.return_soc[label] = kwh
        self.vreadings[vehicle_id] = (ns, kwh)

    def fleet_reading(self, i: int, vehicle_id: str, t, soc: float) -> None:
        spec = self.fleet_vehicle(vehicle_id, ("events", i, "vehicle_id"))
        if self.trip_under_way(vehicle_id, _ns(t)) is not None:
            raise self._error(
                ("events", i, "vehicle_id"),
                f"vehicle {vehicle_id!r} is on a trip at {t.isoformat()}: report its return with trip_end",
            )
        self.vreadings[vehicle_id] = (_ns(t), float(soc) * float(spec["battery_kwh"]))

    def trip_change(self, i: int, e, t) -> None:
        """A timetable change (``e``: the ``trip`` delta with already converted times)."""
        self.fleet_vehicle(e.vehicle_id, ("events", i, "vehicle_id"))
        mine = self._mine(e.vehicle_id)
        found = [lab for lab, r in mine.iterrows() if e.trip_id is not None and str(r["trip_id"]) == e.trip_id]
        trips = self.trips.copy()
        tz = self.base.timezone
        new = not found
        if found:
            label = found[0]
            # a trip that has left may still change its charger (the one it plugs into when back)
            only_charger = not e.cancel and all(
                getattr(e, f) is None for f in ("departure", "arrival", "energy_kwh", "departure_soc")
            )
            if _ns(trips.at[label, "departure"]) < _ns(t) and not (only_charger and e.charger_id is not None):
                raise self._error(("events", i, "trip_id"), f"trip {e.trip_id!r} has left already: report trip_end")
            if e.cancel:
                trips = trips.drop(index=label)
            else:
                for field in ("departure", "arrival"):
                    if getattr(e, field) is not None:
                        trips.at[label, field] = getattr(e, field).tz_convert(tz)
                if e.energy_kwh is not None:
                    trips.at[label, "energy_kwh"] = float(e.energy_kwh)
                if e.departure_soc is not None:
                    trips.at[label, "departure_soc"] = float(e.departure_soc)
                trips = _name_charger(trips, label, e.charger_id, new)
        else:
            if e.cancel:
                raise self._error(("events", i, "trip_id"), f"vehicle {e.vehicle_id!r} has no trip {e.trip_id!r}")
            for field in ("departure", "arrival", "energy_kwh"):
                if getattr(e, field) is None:
                    raise self._error(("events", i, field), f"a new trip needs {field}")
            if _ns(e.departure) < _ns(t):
                raise self._error(("events", i, "departure"), "a new trip cannot leave before the delta's time")
            label = self._next_trip
            self._next_trip += 1
            row = {
                "vehicle_id": e.vehicle_id,
                "departure": e.departure.tz_convert(tz),
                "arrival": e.arrival.tz_convert(tz),
                "energy_kwh": float(e.energy_kwh),
                "departure_soc": math.nan if e.departure_soc is None else float(e.departure_soc),
                "trip_id": e.trip_id or f"live-trip-{label}",
            }
            trips = pd.concat([trips, pd.DataFrame([row], index=[label])[[c for c in trips.columns if c in row]]])
            trips = _name_charger(trips, label, e.charger_id, new)
        loc = ("events", i, "charger_id") if e.charger_id is not None else None
        self.trips = self._check_trips(trips, t, ("events", i), loc)

    # --- the re-planning scenario's fleet part ------------------------------------------
    def planning_fleet(self, k: int, now_ns: int):
        """``(vehicles with their SoC now as initial_soc, trips not yet over, SoC now by vehicle)``."""
        sc = self.base
        vehicles = sc.vehicles.loc[self.fleet_ids].copy()
        start_soc = {}
        for vid in self.fleet_ids:
            kwh = self.fleet_soc_kwh(vid, k)
            start_soc[vid] = kwh
            vehicles.at[vid, "initial_soc"] = float(min(max(kwh / float(vehicles.at[vid, "battery_kwh"]), 0.0), 1.0))
        # a boolean Series, not a list: an empty list would select no columns (every trip cancelled)
        keep = pd.Series([_ns(a) > now_ns for a in self.trips["arrival"]], index=self.trips.index, dtype=bool)
        if "charger_id" in self.trips:  # the latest trip back, when it names the charger the vehicle is on
            for vid in self.fleet_ids:
                mine = self._mine(str(vid))
                back = mine[[_ns(a) <= now_ns for a in mine["arrival"]]] if len(mine) else mine
                if len(back) and _charger(back["charger_id"].iloc[-1]) is not None:
                    keep[back.index[-1]] = True
        trips = self.trips.loc[keep].copy()
        for c in ("departure", "arrival"):
            trips[c] = pd.to_datetime(trips[c], utc=True).dt.tz_convert(sc.timezone)
        return vehicles, trips, start_soc
