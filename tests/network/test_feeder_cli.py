"""``gridopt feeder`` on a small SimBench feeder: AC-verified plan, outputs, bad input (grid venv)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from gridopt.cli import main

START = "2026-01-14T12:00:00+01:00"


def car_park(folder: Path) -> Path:
    """16 cars on 11 kW chargers, all back at 18:00 needing 30 kWh by 07:00; a time-of-use tariff; hourly steps."""
    folder.mkdir(parents=True, exist_ok=True)
    n = 16
    pd.DataFrame(
        {
            "vehicle_id": [f"CAR{i:02d}" for i in range(n)],
            "battery_kwh": 60.0,
            "max_charge_kw": 11.0,
            "max_discharge_kw": 0.0,
            "min_soc": 0.1,
            "max_soc": 1.0,
            "charge_efficiency": 0.95,
            "discharge_efficiency": 0.95,
        }
    ).to_csv(folder / "vehicles.csv", index=False)
    pd.DataFrame(
        {
            "vehicle_id": [f"CAR{i:02d}" for i in range(n)],
            "arrival": "2026-01-14T18:00:00+01:00",
            "departure": "2026-01-15T07:00:00+01:00",
            "arrival_soc": 0.3,
            "target_soc": 0.8,
        }
    ).to_csv(folder / "sessions.csv", index=False)
    cfg = {
        "name": "car-park",
        "timezone": "Europe/Berlin",
        "start": START,
        "horizon_hours": 24,
        "step_minutes": 60,
        "site": {"import_limit_kw": 200, "export_limit_kw": 0, "base_load_kw": 0},
        "tariff": {"import_price": {"00:00": 0.24, "06:00": 0.32, "17:00": 0.42, "21:00": 0.30}, "export_price": 0},
        "fleet": {"vehicles": "vehicles.csv", "sessions": "sessions.csv"},
    }
    (folder / "scenario.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return folder / "scenario.yaml"


def feeder_file(tmp_path, **changes) -> Path:
    """The car park at the far end of SimBench's smallest LV feeder (14 lines, 160 kVA), hourly steps."""
    car_park(tmp_path / "site")
    cfg = {
        "name": "tiny",
        "network": "1-LV-rural1--0-sw",
        "timezone": "Europe/Berlin",
        "start": START,
        "horizon_hours": 24,
        "step_minutes": 60,
        "sites": [{"name": "car park", "bus": "LV1.101 Bus 13", "level": "LV", "scenario": "site/scenario.yaml"}],
        "solver": {"time_limit_s": 60, "mip_rel_gap": 1e-5},
    }
    for site_spec in changes.get("sites", []):
        site_spec.setdefault("scenario", "site/scenario.yaml")
    cfg.update(changes)
    path = tmp_path / "feeder.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("feeder")
    out = tmp / "out"
    assert main(["feeder", str(feeder_file(tmp)), "--out", str(out), "--quiet"]) == 0
    return out


def test_plan_keeps_the_limits_uncontrolled_breaks(run):
    s = json.loads((run / "summary.json").read_text())
    base, alone, plan = (s["cases"][k] for k in ("baseline", "alone", "plan"))
    assert base["violations"] > 0 and base["max_trafo_loading_percent"] > 100.0
    assert plan["violations"] == 0 and s["ac_ok"]
    assert plan["max_trafo_loading_percent"] <= 100.0 and plan["min_vm_pu"] >= 0.9
    # coupling can only cost more than the site alone (both proven within 1e-5)
    assert plan["cost"] >= alone["cost"] * (1 - 2e-5)
    assert s["violations_avoided"]["baseline"]["violations"] == base["violations"]


def test_outputs_agree_with_each_other(run):
    buses = pd.read_csv(run / "buses.csv")
    assert list(buses.columns) == ["time", "bus", "ev_p_kw", "case"]
    assert set(buses["case"]) == {"baseline", "alone", "plan"}
    site = pd.read_csv(run / "sites" / "car-park" / "site.csv")
    plan = buses[buses["case"] == "plan"]
    np.testing.assert_allclose(
        plan["ev_p_kw"].to_numpy(), (site["grid_import_kw"] - site["grid_export_kw"]).to_numpy(), atol=1e-3
    )
    el = pd.read_csv(run / "elements.csv")
    for col in ("time", "element", "kind", "loading_percent", "vm_pu", "case"):
        assert col in el.columns
    p = el[el["case"] == "plan"]
    assert not p["violated"].any()
    br = p[p["kind"] != "bus"]
    assert (br["loading_percent"] <= br["limit_high"] + 1e-6).all()
    assert len(p) == 24 * (15 + 14)  # 24 steps x (15 buses + 1 transformer + 13 lines)
    net = json.loads((run / "network.json").read_text())
    assert len(net["buses"]) == 15 and len(net["edges"]) == 14
    assert all(b["x"] is not None for b in net["buses"])
    assert [b["sites"] for b in net["buses"] if b["name"] == "LV1.101 Bus 13"] == [["car park"]]
    sched = pd.read_csv(run / "sites" / "car-park" / "schedule.csv")
    assert sched["vehicle_id"].nunique() == 16


def test_decomposed_on_dask_matches_central(run, tmp_path):
    out = tmp_path / "dec"
    assert main(["feeder", str(feeder_file(tmp_path)), "--out", str(out), "--quiet", "--workers", "1"]) == 0
    central = json.loads((run / "summary.json").read_text())
    dec = json.loads((out / "summary.json").read_text())
    assert dec["method"] == "dantzig-wolfe" and dec["ac_ok"]
    assert dec["cases"]["plan"]["cost"] == pytest.approx(central["cases"]["plan"]["cost"], rel=5e-3)


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"network": "1-LV-rural9--0-sw"}, "feeder.yaml: field 'network': '1-LV-rural9--0-sw' is not a SimBench code"),
        (
            {"sites": [{"name": "w", "bus": "LV1.101 Bus 99"}]},
            "feeder.yaml: field 'sites.0.bus': bus 'LV1.101 Bus 99' is not in network 1-LV-rural1--0-sw",
        ),
        (
            {"sites": [{"name": "w", "bus": "LV1.101 Bus 13", "level": "MV"}]},
            "feeder.yaml: field 'sites.0.bus': bus 'LV1.101 Bus 13' is a LV bus (0.4 kV), the site needs an MV bus",
        ),
        ({"start": "2026-01-15T12:00:00+01:00"}, "starts at 2026-01-14T12:00:00+01:00, the feeder at 2026-01-15"),
        ({"horizon_hours": 12}, "has 24 steps, the feeder 12"),
        ({"homez": {"ev_share": 0.4}}, "feeder.yaml: unknown key 'homez'"),
        ({"homes": {"ev_share": 1.5}}, "feeder.yaml: field 'homes.ev_share'"),
    ],
)
def test_bad_feeder_is_one_line_exit_2(tmp_path, capsys, change, expected):
    out = tmp_path / "out"
    assert main(["feeder", str(feeder_file(tmp_path, **change)), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and expected in err
    assert not out.exists()
