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
    vehicles = pd.DataFrame(
        {
            "vehicle_id": [f"EV{i:05d}" for i in range(n)],
            "battery_kwh": battery,
            "max_charge_kw": max_c,
            "max_discharge_kw": np.where(v2g, max_c, 0.0),
            "min_soc": 0.15,
            "max_soc": 0.95,
            "charge_efficiency": 0.93,
            "discharge_efficiency": 0.93,
            "min_charge_kw": min_c,
        }
    )
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
