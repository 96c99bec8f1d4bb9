"""Helpers that write small scenarios to a temporary folder."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

import gridopt


def write_scenario(
    folder: Path,
    *,
    vehicles: list[dict],
    trips: list[dict] | None = None,
    sessions: list[dict] | None = None,
    timeseries: pd.DataFrame | None = None,
    **fields,
) -> Path:
    """Write a scenario YAML with its CSVs into ``folder`` and return the YAML path.

    ``fields`` override the YAML's top-level keys (nested dicts replace whole).
    """
    folder.mkdir(parents=True, exist_ok=True)
    cfg = {
        "name": "test",
        "timezone": "Europe/Amsterdam",
        "start": "2026-06-15T00:00:00+02:00",
        "horizon_hours": 4,
        "step_minutes": 60,
        "site": {"import_limit_kw": 100, "export_limit_kw": 100, "base_load_kw": 0},
        "tariff": {"import_price": 0.2, "export_price": 0.0},
        "unmet_energy_penalty_per_kwh": 10.0,
        "fleet": {"vehicles": "vehicles.csv"},
    }
    pd.DataFrame(vehicles).to_csv(folder / "vehicles.csv", index=False)
    if trips is not None:
        pd.DataFrame(trips).to_csv(folder / "trips.csv", index=False)
        cfg["fleet"]["trips"] = "trips.csv"
    if sessions is not None:
        pd.DataFrame(sessions).to_csv(folder / "sessions.csv", index=False)
        cfg["fleet"]["sessions"] = "sessions.csv"
    if timeseries is not None:
        timeseries.to_csv(folder / "timeseries.csv", index=False)
        cfg["timeseries"] = "timeseries.csv"
    cfg.update(fields)
    path = folder / "scenario.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def car(vehicle_id="EV1", **kw) -> dict:
    """A 50 kWh car with an 10 kW charger, no V2G, ideal efficiency unless overridden."""
    d = {
        "vehicle_id": vehicle_id,
        "battery_kwh": 50.0,
        "max_charge_kw": 10.0,
        "max_discharge_kw": 0.0,
        "min_soc": 0.0,
        "max_soc": 1.0,
        "initial_soc": 0.5,
        "charge_efficiency": 1.0,
        "discharge_efficiency": 1.0,
    }
    d.update(kw)
    return d


def one_car_replay(tmp_path, session: dict, import_price, estimated_departure: str):
    """A one-car site to replay: ``(scenario, actual)``, 07:00-13:00 on 15 June 2026 in 15-minute steps.

    The car is :func:`car` ``"C0"`` (50 kWh, 10 kW, efficiency 1) with ``session``
    (sessions.csv fields), behind a 100 kW import limit with no export, no
    demand charge and unmet energy at 10 per kWh. ``import_price`` is a number
    or an array over the 24 steps; ``estimated_departure`` is what the driver
    said at plug-in (the reported target is the real one).
    """
    from gridopt import simulate

    idx = pd.date_range("2026-06-15T07:00:00+02:00", periods=24, freq="15min")
    ts = pd.DataFrame({"time": [x.isoformat() for x in idx], "import_price": import_price})
    path = write_scenario(
        tmp_path,
        vehicles=[car("C0", initial_soc="")],
        sessions=[session],
        timeseries=ts,
        start=idx[0].isoformat(),
        horizon_hours=6,
        step_minutes=15,
        site={"import_limit_kw": 100, "export_limit_kw": 0},
        tariff={"export_price": 0.0},
    )
    sc = gridopt.load_scenario(path)
    row = dict(session, estimated_departure=estimated_departure, reported_target_soc=session["target_soc"])
    p = tmp_path / "actual.csv"
    pd.DataFrame([row]).to_csv(p, index=False)
    return sc, simulate.read_actual(p, sc)


@pytest.fixture
def scenario_dir(tmp_path):
    return tmp_path / "sc"


def solve_file(path, **kw):
    sc = gridopt.load_scenario(path)
    return sc, gridopt.optimize(sc, **kw)


def synthetic_scenarios(tmp_path_factory, cases) -> dict:
    """Synthetic fleets (``gridopt.synthetic``) by ``(n_vehicles, seed, binding)``: {case: Scenario}."""
    from gridopt.synthetic import write_synthetic_fleet

    out = {}
    for n, seed, binding in cases:
        d = tmp_path_factory.mktemp(f"s{n}_{seed}_{binding}")
        out[(n, seed, binding)] = gridopt.load_scenario(write_synthetic_fleet(d, n, seed=seed, binding=binding))
    return out


def matrix_optimum(mm, seconds: float = 60) -> float:
    """The optimum of the matrix form ``mm`` solved as a MILP to a 1e-9 gap by HiGHS (asserted optimal)."""
    import highspy

    from gridopt.optimizer.fast import _mip, _run

    h = _mip(mm, 1e-9, None)
    _run(h, seconds)
    assert h.getModelStatus() == highspy.HighsModelStatus.kOptimal
    return h.getInfo().objective_function_value
