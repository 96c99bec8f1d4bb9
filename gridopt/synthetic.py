"""Seeded synthetic fleets for benchmarks, sweeps and tests.

A workplace-plus-residential car park over one day: cars arrive in the morning
(work) and stay until the afternoon, or arrive in the evening and stay over
night (their target is due at the horizon's end). A share can do V2G; chargers
have a minimum power; efficiencies 0.93; curtailable PV sized with the fleet; an
import cap; time-of-use prices. The *binding* variant has negative midday prices,
PV that cannot be curtailed and an import limit that never binds: the case
where the no-simultaneous-charge-and-discharge binaries matter.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml


def _vehicles(battery_kwh: np.ndarray, max_charge_kw: np.ndarray, min_charge_kw: np.ndarray, v2g: np.ndarray):
    """The vehicles table of a synthetic fleet: ids ``EV00000`` …, SoC 0.15..0.95, efficiencies 0.93.

    Arrays of shape ``(n,)``: battery [kWh], charger powers [kW], and whether each vehicle discharges
    (V2G at its charging power).
    """
    return pd.DataFrame(
        {
            "vehicle_id": [f"EV{i:05d}" for i in range(len(battery_kwh))],
            "battery_kwh": battery_kwh,
            "max_charge_kw": max_charge_kw,
            "max_discharge_kw": np.where(v2g, max_charge_kw, 0.0),
            "min_soc": 0.15,
            "max_soc": 0.95,
            "charge_efficiency": 0.93,
            "discharge_efficiency": 0.93,
            "min_charge_kw": min_charge_kw,
        }
    )


def write_synthetic_fleet(
    folder: str | Path,
    n_vehicles: int,
    *,
    seed: int = 0,
    binding: bool = False,
    v2g_share: float = 0.4,
    step_minutes: int = 15,
    start: str = "2026-06-15T00:00:00+02:00",
    timezone: str = "Europe/Amsterdam",
    time_limit_s: float = 60.0,
    mip_rel_gap: float = 1e-3,
) -> Path:
    """Write a synthetic scenario (YAML and CSVs) into ``folder`` and return the YAML's path.

    Parameters
    ----------
    n_vehicles : int
        Fleet size.
    seed : int
        Random seed: the same arguments always give the same files.
    binding : bool
        Negative midday prices, uncurtailable PV, a loose import limit.
    v2g_share : float
        Share of V2G-capable vehicles [-].
    """
    rng = np.random.default_rng(seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    n = int(n_vehicles)
    t0 = pd.Timestamp(start).tz_convert(timezone)
    battery = rng.choice([40.0, 58.0, 64.0, 77.0, 100.0], size=n)
    three_phase = rng.random(n) < 0.6
    max_c = np.where(three_phase, 11.0, 7.4)
    min_c = np.where(three_phase, 4.1, 1.4)
    v2g = rng.random(n) < v2g_share
    vehicles = _vehicles(battery, max_c, min_c, v2g)
    work = rng.random(n) < 0.55
    arr_h = np.where(work, rng.normal(8.5, 1.0, n), rng.normal(18.5, 1.2, n)).clip(5, 22.5)
    dwell_h = np.where(work, rng.normal(8.0, 1.5, n), rng.normal(13.0, 2.0, n)).clip(1.0, 16)
    dep_h = arr_h + dwell_h
    arrival_soc = rng.uniform(0.2, 0.6, n)
    need = rng.uniform(0.15, 0.45, n)
    target = np.minimum(0.9, arrival_soc + need)
    minute = lambda h: pd.to_timedelta(np.round(h * 60), unit="min")  # noqa: E731
    sessions = pd.DataFrame(
        {
            "vehicle_id": vehicles["vehicle_id"],
            "arrival": (t0 + minute(arr_h)).map(lambda t: t.isoformat()),
            "departure": (t0 + minute(dep_h)).map(lambda t: t.isoformat()),
            "arrival_soc": arrival_soc.round(4),
            "target_soc": target.round(4),
        }
    )
    steps = int(24 * 60 / step_minutes)
    hours = np.arange(steps) * step_minutes / 60 + step_minutes / 120
    pv_shape = np.clip(np.sin(np.pi * (hours - 6) / 15), 0, None) ** 1.5  # 06:00-21:00 bell
    pv_kw = 2.5 * n * pv_shape
    base = 0.8 * n * (0.6 + 0.4 * np.exp(-((hours - 13) ** 2) / 18))
    tou = np.select([hours < 7, hours < 17, hours < 21], [0.15, 0.28, 0.45], 0.18)
    export = np.full(steps, 0.05)
    if binding:
        midday = (hours >= 11) & (hours < 15)
        tou = np.where(midday, -0.08, tou)
        export = np.where(midday, -0.12, export)
    series = pd.DataFrame(
        {
            "time": [(t0 + pd.Timedelta(minutes=step_minutes * i)).isoformat() for i in range(steps)],
            "import_price": tou.round(5),
            "export_price": export.round(5),
            "base_load_kw": base.round(3),
            "pv_kw": pv_kw.round(3),
        }
    )
    vehicles.to_csv(folder / "vehicles.csv", index=False)
    sessions.to_csv(folder / "sessions.csv", index=False)
    series.to_csv(folder / "timeseries.csv", index=False)
    import_limit = float(base.max() + (6.0 if binding else 2.2) * n)
    cfg = {
        "name": f"synthetic-{n}{'-binding' if binding else ''}-s{seed}",
        "description": "seeded synthetic workplace and overnight fleet (gridopt.synthetic)",
        "timezone": timezone,
        "start": t0.isoformat(),
        "horizon_hours": 24,
        "step_minutes": step_minutes,
        "site": {
            "import_limit_kw": round(import_limit, 1),
            "export_limit_kw": float(3.0 * n if binding else 1.0 * n),
            "pv_curtailable": not binding,
        },
        "timeseries": "timeseries.csv",
        "tariff": {"demand_charge_per_kw": 0.0},
        "battery_degradation_cost_per_kwh": 0.02,
        "unmet_energy_penalty_per_kwh": 10.0,
        "fleet": {"vehicles": "vehicles.csv", "sessions": "sessions.csv"},
        "solver": {"time_limit_s": time_limit_s, "mip_rel_gap": mip_rel_gap},
    }
    path = folder / "scenario.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


#: Variants of :func:`write_hard_day`.
HARD_VARIANTS = ("base", "uncurtailable", "meter", "minpower", "tight-export")


def write_hard_day(
    folder: str | Path,
    n_vehicles: int,
    variant: str = "base",
    *,
    seed: int = 1,
    time_limit_s: float = 60.0,
    mip_rel_gap: float = 1e-3,
) -> Path:
    """Write one hard negative-price day (YAML and CSVs) into ``folder``; return the YAML's path.

    The day of issue 10, where the mode binaries bind: 24 h of 15-minute steps,
    one session per vehicle (60% workplace, 40% evening); half the chargers
    11 kW with a 4.2 kW minimum, half 7.4 kW with a 1.4 kW minimum; 40% V2G;
    efficiencies 0.93; PV peaking at 1.5 kW per vehicle; base load 0.8 kW per
    vehicle; export limit 2 kW per vehicle; an import limit that never binds;
    09:30-16:30 import about -0.44 and export about -0.51 per kWh; degradation
    0.02 per kWh. Variants: ``base`` (curtailable PV), ``uncurtailable``,
    ``meter`` (18:00-20:00 export pays 0.04 more than import costs: one-meter
    binaries), ``minpower`` (every charger's minimum at half its maximum),
    ``tight-export`` (export limit 0.3 kW per vehicle, PV uncurtailable).

    Parameters
    ----------
    folder : str or Path
        Where the files go (created).
    n_vehicles : int
        Sessions (one vehicle each).
    variant : str
        One of :data:`HARD_VARIANTS`.
    seed : int
        Random seed: the same arguments always give the same files.
    time_limit_s : float
        The scenario's solver time limit [s].
    mip_rel_gap : float
        The scenario's gap target [-].
    """
    if variant not in HARD_VARIANTS:
        raise ValueError(f"variant must be one of {HARD_VARIANTS}, not {variant!r}")
    rng = np.random.default_rng(seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    n = int(n_vehicles)
    t0 = pd.Timestamp("2026-05-10T00:00:00+02:00").tz_convert("Europe/Amsterdam")
    fast = np.arange(n) % 2 == 0  # half 11 kW, half 7.4 kW
    max_c = np.where(fast, 11.0, 7.4)
    min_c = np.where(fast, 4.2, 1.4) if variant != "minpower" else max_c / 2
    v2g = rng.random(n) < 0.4
    battery = rng.choice([40.0, 58.0, 64.0, 77.0, 100.0], size=n)
    vehicles = _vehicles(battery, max_c, min_c, v2g)
    work = rng.random(n) < 0.6
    arr_h = np.where(work, rng.normal(8.5, 1.0, n), rng.normal(17.5, 1.5, n)).clip(5, 22.5)
    dwell_h = np.where(work, rng.normal(8.5, 1.5, n), rng.normal(12.0, 2.0, n)).clip(1.0, 16)
    dep_h = np.minimum(arr_h + dwell_h, 24.0)
    arrival_soc = rng.uniform(0.2, 0.6, n)
    target = np.minimum(0.9, arrival_soc + rng.uniform(0.15, 0.45, n))
    minute = lambda h: pd.to_timedelta(np.round(h * 4) * 15, unit="min")  # noqa: E731
    sessions = pd.DataFrame(
        {
            "vehicle_id": vehicles["vehicle_id"],
            "arrival": (t0 + minute(arr_h)).map(lambda t: t.isoformat()),
            "departure": (t0 + minute(dep_h)).map(lambda t: t.isoformat()),
            "arrival_soc": arrival_soc.round(4),
            "target_soc": target.round(4),
        }
    )
    steps = 96
    hours = np.arange(steps) / 4 + 1 / 8
    pv_kw = 1.5 * n * np.clip(np.sin(np.pi * (hours - 6) / 15), 0, None) ** 1.5
    base = np.full(steps, 0.8 * n)
    imp = np.select([hours < 7, hours < 17, hours < 21], [0.12, 0.22, 0.38], 0.16) + rng.normal(0, 0.01, steps)
    exp = imp - 0.07
    neg = (hours >= 9.5) & (hours < 16.5)
    imp = np.where(neg, -0.44 + rng.normal(0, 0.01, steps), imp)
    exp = np.where(neg, -0.51 + rng.normal(0, 0.01, steps), exp)
    if variant == "meter":  # export pays more than import costs, 18:00-20:00
        evening = (hours >= 18) & (hours < 20)
        exp = np.where(evening, imp + 0.04, exp)
    series = pd.DataFrame(
        {
            "time": [(t0 + pd.Timedelta(minutes=15 * i)).isoformat() for i in range(steps)],
            "import_price": imp.round(4),
            "export_price": exp.round(4),
            "base_load_kw": base.round(3),
            "pv_kw": pv_kw.round(3),
        }
    )
    vehicles.to_csv(folder / "vehicles.csv", index=False)
    sessions.to_csv(folder / "sessions.csv", index=False)
    series.to_csv(folder / "timeseries.csv", index=False)
    cfg = {
        "name": f"hard-{variant}-{n}-s{seed}",
        "description": "a negative-price day where the mode binaries bind (benchmarks/hard.py)",
        "timezone": "Europe/Amsterdam",
        "start": t0.isoformat(),
        "horizon_hours": 24,
        "step_minutes": 15,
        "site": {
            "import_limit_kw": float(round(0.8 * n + 11.0 * n, 1)),
            "export_limit_kw": float((0.3 if variant == "tight-export" else 2.0) * n),
            "pv_curtailable": variant in ("base", "meter", "minpower"),
        },
        "timeseries": "timeseries.csv",
        "tariff": {"demand_charge_per_kw": 0.0},
        "battery_degradation_cost_per_kwh": 0.02,
        "unmet_energy_penalty_per_kwh": 10.0,
        "fleet": {"vehicles": "vehicles.csv", "sessions": "sessions.csv"},
        "solver": {"time_limit_s": time_limit_s, "mip_rel_gap": mip_rel_gap},
    }
    path = folder / "scenario.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path
