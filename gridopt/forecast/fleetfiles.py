"""Forecasts as gridopt fleet tables: sessions.csv, trips.csv and a vehicles.csv.

A forecast knows energies [kWh]; gridopt's sessions know states of charge. The
conversion rests on stated assumptions (:class:`FleetAssumptions`):

* every forecast session is its own visiting vehicle with a ``battery_kwh``
  battery, charged through ``charge_efficiency``, on a charger of
  ``max_charge_kw``, without V2G;
* it must leave at ``target_soc``; it arrives with
  ``arrival_soc = target_soc - charge_efficiency * energy_kwh / battery_kwh``,
  so that the plan draws exactly ``energy_kwh`` from the grid;
* nobody arrives below ``min_arrival_soc``: a session whose energy would need a
  lower arrival SoC gets a bigger battery,
  ``battery_kwh = charge_efficiency * energy_kwh / (target_soc - min_arrival_soc)``;
* the energy is capped at what the charger can deliver while plugged in,
  ``max_charge_kw * dwell_h``.

Trip vehicles (fleets) get the same battery assumption, enlarged where one
trip needs more than ``(max_soc - min_arrival_soc) * battery_kwh``, and start
at ``initial_soc = target_soc``. Replace them by the fleet's real
vehicles.csv when there is one: the ``vehicle_id`` values come from the history.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import ScenarioError

SESSION_COLUMNS = ["vehicle_id", "arrival", "departure", "arrival_soc", "target_soc", "session_id"]
TRIP_COLUMNS = ["vehicle_id", "departure", "arrival", "energy_kwh", "trip_id"]
VEHICLE_COLUMNS = [
    "vehicle_id",
    "battery_kwh",
    "max_charge_kw",
    "max_discharge_kw",
    "min_soc",
    "max_soc",
    "initial_soc",
    "charge_efficiency",
    "model",
]


@dataclass(frozen=True)
class FleetAssumptions:
    """How forecast energies become vehicles and SoC (see the module doc).

    Attributes
    ----------
    battery_kwh : float
        Battery of a forecast vehicle [kWh].
    target_soc : float
        SoC a session must leave with; a trip vehicle's ``initial_soc`` [-].
    min_arrival_soc : float
        Lowest SoC a vehicle arrives with; also its ``min_soc`` [-].
    max_charge_kw : float
        Charger power [kW].
    charge_efficiency : float
        Share of grid energy stored [-].
    """

    battery_kwh: float = 60.0
    target_soc: float = 0.9
    min_arrival_soc: float = 0.1
    max_charge_kw: float = 7.2
    charge_efficiency: float = 0.95

    def check(self) -> FleetAssumptions:
        if not self.battery_kwh > 0:
            raise ScenarioError(f"--battery-kwh must be > 0 (got {self.battery_kwh})")
        if not 0 <= self.min_arrival_soc < self.target_soc <= 1:
            raise ScenarioError(
                f"--target-soc must be within ({self.min_arrival_soc}, 1] (got {self.target_soc}); "
                "arrivals are assumed at or above the minimum arrival SoC"
            )
        if not self.max_charge_kw > 0:
            raise ScenarioError(f"--charge-kw must be > 0 (got {self.max_charge_kw})")
        if not 0 < self.charge_efficiency <= 1:
            raise ScenarioError(f"charge efficiency must be in (0, 1] (got {self.charge_efficiency})")
        return self


def _ids(forecast: pd.DataFrame, prefix: str) -> list[str]:
    """Opaque, unique vehicle ids: ``<prefix><site>-<yyyymmdd>-<nnn>`` (``s<k>-`` in front per sample)."""
    f = forecast.reset_index(drop=True)
    head = f["sample"].map(lambda k: f"s{int(k)}-") if "sample" in f else pd.Series("", index=f.index)
    body = prefix + f["site"].astype(str) + "-" + f["day"].astype(str).str.replace("-", "")
    n = (head + body).groupby(head + body).cumcount() + 1
    return (head + body + "-" + n.map(lambda i: f"{i:03d}")).tolist()


def sessions_fleet(
    forecast: pd.DataFrame, a: FleetAssumptions, prefix: str = "F"
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """sessions.csv, vehicles.csv and a quantiles table from a session forecast.

    Parameters
    ----------
    forecast : pandas.DataFrame
        :data:`gridopt.forecast.arrivals.FORECAST_COLUMNS` (plus ``sample``).
    a : FleetAssumptions
    prefix : str
        Start of every vehicle id.

    Returns
    -------
    sessions : pandas.DataFrame
        gridopt sessions columns (plus ``sample`` if the forecast has it).
    vehicles : pandas.DataFrame
        One visiting vehicle per session.
    quantiles : pandas.DataFrame
        ``session_id, vehicle_id, site, arrival, departure_q10, departure,
        departure_q90, energy_kwh_q10, energy_kwh, energy_kwh_q90`` [kWh].
    """
    a.check()
    f = forecast.reset_index(drop=True)
    vid = _ids(f, prefix)
    dwell = np.asarray((f["departure"] - f["arrival"]).dt.total_seconds() / 3600.0, dtype=float)
    energy = np.minimum(f["energy_kwh"].to_numpy(float), a.max_charge_kw * dwell)
    stored = a.charge_efficiency * energy
    battery = np.maximum(a.battery_kwh, np.ceil(10 * stored / (a.target_soc - a.min_arrival_soc)) / 10)
    arrival_soc = np.round(np.clip(a.target_soc - stored / battery, a.min_arrival_soc, a.target_soc), 4)
    sessions = pd.DataFrame(
        {
            "vehicle_id": vid,
            "arrival": f["arrival"],
            "departure": f["departure"],
            "arrival_soc": arrival_soc,
            "target_soc": a.target_soc,
            "session_id": vid,
        }
    )
    vehicles = pd.DataFrame(
        {
            "vehicle_id": vid,
            "battery_kwh": battery,
            "max_charge_kw": a.max_charge_kw,
            "max_discharge_kw": 0.0,
            "min_soc": a.min_arrival_soc,
            "max_soc": 1.0,
            "initial_soc": np.nan,
            "charge_efficiency": a.charge_efficiency,
            "model": "forecast visitor (assumed battery)",
        }
    )[VEHICLE_COLUMNS]
    quant = pd.DataFrame(
        {
            "session_id": vid,
            "vehicle_id": vid,
            "site": f["site"],
            "arrival": f["arrival"],
            "departure_q10": f["departure_q10"],
            "departure": f["departure"],
            "departure_q90": f["departure_q90"],
            "energy_kwh_q10": f["energy_kwh_q10"],
            "energy_kwh": energy,
            "energy_kwh_q90": f["energy_kwh_q90"],
        }
    )
    if "sample" in f:
        sessions.insert(0, "sample", f["sample"].astype(int).to_numpy())
        quant.insert(0, "sample", f["sample"].astype(int).to_numpy())
    return sessions, vehicles, quant


def trip_vehicles(trips: pd.DataFrame, a: FleetAssumptions) -> pd.DataFrame:
    """An assumed vehicles.csv for the vehicles of a trip forecast (see the module doc)."""
    a.check()
    need = trips.groupby("vehicle_id")["energy_kwh"].max() if len(trips) else pd.Series(dtype=float)
    usable = 1.0 - a.min_arrival_soc
    battery = np.maximum(a.battery_kwh, np.ceil(10 * need.to_numpy(float) / usable) / 10)
    return pd.DataFrame(
        {
            "vehicle_id": need.index.astype(str),
            "battery_kwh": battery,
            "max_charge_kw": a.max_charge_kw,
            "max_discharge_kw": 0.0,
            "min_soc": a.min_arrival_soc,
            "max_soc": 1.0,
            "initial_soc": a.target_soc,
            "charge_efficiency": a.charge_efficiency,
            "model": "fleet vehicle (assumed battery)",
        }
    )[VEHICLE_COLUMNS]
