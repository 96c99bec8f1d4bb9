"""Write the site scenarios of the ready feeders (seeded; run from the repository root).

``python scenarios/feeders/build_feeders.py`` writes ``scenarios/feeders/data/depot`` (an electric bus
depot: 16 buses of 350 kWh on 150 kW chargers, half of them V2G, back in the evening and out before
06:30) and ``scenarios/feeders/data/workplace`` (20 cars on 11 kW chargers arriving 07:00-09:30,
staying 7-9.5 h, with 40 kWp of rooftop PV), both over the 36 hours from 2026-01-14 12:00 (Berlin),
with the same dynamic hourly tariff. The feeders' files (``*.yaml`` here) attach them to buses.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml

START = pd.Timestamp("2026-01-14T12:00:00+01:00")
TZ = "Europe/Berlin"
HOURS = 36
STEP = 15
TOU = {
    f"{h:02d}:00": p
    for h, p in enumerate(
        [
            0.27,
            0.26,
            0.25,
            0.245,
            0.25,
            0.27,
            0.31,
            0.35,
            0.36,
            0.34,
            0.32,
            0.31,
            0.3,
            0.3,
            0.31,
            0.33,
            0.36,
            0.4,
            0.42,
            0.4,
            0.36,
            0.33,
            0.3,
            0.28,
        ]
    )
}  # dynamic hourly tariff [EUR/kWh]
HERE = Path(__file__).resolve().parent


def _iso(hours: np.ndarray) -> list[str]:
    return [(START.normalize() + pd.Timedelta(minutes=int(round(h * 60)))).isoformat() for h in hours]


def _write(folder: Path, name: str, vehicles: pd.DataFrame, sessions: pd.DataFrame, site: dict, **extra) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    vehicles.to_csv(folder / "vehicles.csv", index=False)
    sessions.to_csv(folder / "sessions.csv", index=False)
    cfg = {
        "name": name,
        "timezone": TZ,
        "start": START.isoformat(),
        "horizon_hours": HOURS,
        "step_minutes": STEP,
        "site": site,
        "tariff": {"import_price": TOU, "export_price": 0.08},
        "battery_degradation_cost_per_kwh": 0.04,
        "unmet_energy_penalty_per_kwh": 2.0,
        "fleet": {"vehicles": "vehicles.csv", "sessions": "sessions.csv"},
        **extra,
    }
    (folder / "scenario.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))


def depot(seed: int = 3) -> None:
    rng = np.random.default_rng(seed)
    n = 16
    v2g = np.arange(n) % 2 == 0
    veh = pd.DataFrame(
        {
            "vehicle_id": [f"BUS-{i + 1:02d}" for i in range(n)],
            "battery_kwh": 350.0,
            "max_charge_kw": 150.0,
            "max_discharge_kw": np.where(v2g, 100.0, 0.0),
            "min_soc": 0.1,
            "max_soc": 0.95,
            "charge_efficiency": 0.95,
            "discharge_efficiency": 0.95,
            "min_charge_kw": 0.0,
        }
    )
    arr = np.clip(rng.normal(18.5, 0.7, n), 16.5, 21.0)
    dep = 24 + np.clip(rng.normal(5.8, 0.4, n), 5.0, 6.5)
    soc0 = rng.uniform(0.2, 0.4, n)
    sess = pd.DataFrame(
        {
            "vehicle_id": veh.vehicle_id,
            "arrival": _iso(arr),
            "departure": _iso(dep),
            "arrival_soc": soc0.round(4),
            "target_soc": 0.9,
        }
    )
    _write(
        HERE / "data" / "depot",
        "bus-depot",
        veh,
        sess,
        {"import_limit_kw": 2600.0, "export_limit_kw": 800.0, "base_load_kw": 40.0},
    )


def workplace(seed: int = 4) -> None:
    rng = np.random.default_rng(seed)
    n = 20
    veh = pd.DataFrame(
        {
            "vehicle_id": [f"CAR-{i + 1:02d}" for i in range(n)],
            "battery_kwh": rng.choice([50.0, 64.0, 77.0], n),
            "max_charge_kw": 11.0,
            "max_discharge_kw": 0.0,
            "min_soc": 0.1,
            "max_soc": 1.0,
            "charge_efficiency": 0.92,
            "discharge_efficiency": 0.92,
            "min_charge_kw": 0.0,
        }
    )
    arr = 24 + np.clip(rng.normal(8.0, 0.6, n), 7.0, 9.5)
    dep = arr + np.clip(rng.normal(8.5, 0.6, n), 7.0, 9.5)
    soc0 = rng.uniform(0.2, 0.5, n)
    need = np.clip(rng.normal(25.0, 6.0, n), 8.0, 40.0)
    sess = pd.DataFrame(
        {
            "vehicle_id": veh.vehicle_id,
            "arrival": _iso(arr),
            "departure": _iso(np.minimum(dep, 12 + HOURS - 0.25)),
            "arrival_soc": soc0.round(4),
            "target_soc": np.minimum(1.0, soc0 + need / veh.battery_kwh.to_numpy()).round(4),
        }
    )
    _write(
        HERE / "data" / "workplace",
        "workplace",
        veh,
        sess,
        {"import_limit_kw": 250.0, "export_limit_kw": 40.0, "base_load_kw": 10.0},
        pv={"peak_kw": 40.0, "tilt_deg": 20, "azimuth_deg": 180, "latitude": 52.4, "longitude": 10.8},
    )


if __name__ == "__main__":
    depot()
    workplace()
