"""``gridopt flex`` on the command line, the flexibility KPIs, and exact tracking of envelope profiles
through the optimizer (issue 9: "``tracking: exact`` on a profile inside the envelope must always find a
plan that passes the physics check").

Tracking runs on the random fleets of tests/test_envelope.py: CI runs ``GRIDOPT_TRACKING_FLEETS`` (40)
fleets with ``GRIDOPT_TRACKING_PROFILES`` (1) profile each (its kind rotating over the band's edges,
random points, bang-bang and walks hugging the energy band); the full run of the issue is
``GRIDOPT_TRACKING_FLEETS=200 GRIDOPT_TRACKING_PROFILES=20``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import car, write_scenario
from test_envelope import profiles_inside, random_fleet, session

import gridopt
from gridopt.analysis import flexibility_kpis
from gridopt.cli import main

N_FLEETS = int(os.environ.get("GRIDOPT_TRACKING_FLEETS", "40"))
N_PROFILES = int(os.environ.get("GRIDOPT_TRACKING_PROFILES", "1"))
EXACT = gridopt.SolverOptions(time_limit_s=60, mip_rel_gap=1e-6)


# ---------------------------------------------------------------------------
# gridopt flex
# ---------------------------------------------------------------------------


def test_flex_command_writes_the_envelope(tmp_path, capsys):
    path = write_scenario(tmp_path / "sc", vehicles=[car("EV1")], sessions=[session("EV1", 0, 4, 0.5, 0.7)])
    assert main(["flex", str(path), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "flexibility envelope of 1 vehicles" in out and "EV1" not in out
    band = pd.read_csv(tmp_path / "out" / "envelope.csv")
    # the hand-worked band of tests/test_envelope.py::test_one_charging_session_by_hand
    np.testing.assert_allclose(band["p_max_kw"], [10, 5, 0, 10], atol=1e-9)
    assert json.loads((tmp_path / "out" / "envelope.json").read_text())["n_vehicles"] == 1
    assert main(["flex", str(path), "--out", str(tmp_path / "q"), "--quiet"]) == 0
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    ("case", "message"),
    [("missing", "missing.yaml"), ("afile", "exists and is not a folder"), ("bad_yaml", "horizon_hours")],
)
def test_flex_command_errors_exit_2_with_one_line(tmp_path, capsys, case, message):
    path = write_scenario(tmp_path / "sc", vehicles=[car("EV1")])
    out = tmp_path / "out"
    if case == "missing":
        path = tmp_path / "missing.yaml"
    elif case == "afile":
        out.write_text("x")
    else:
        cfg = yaml.safe_load(path.read_text())
        cfg["horizon_hours"] = -4
        path.write_text(yaml.safe_dump(cfg))
    assert main(["flex", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err


# ---------------------------------------------------------------------------
# flexibility KPIs
# ---------------------------------------------------------------------------


def test_flexibility_kpis_by_hand(tmp_path):
    """The one-session car of test_envelope (50 kWh, 10 kW, 25 -> 35 kWh over four hourly steps): inner band
    p_min 0, 0, 0, 10 and p_max 10, 5, 0, 10 kW. Prices 0.3, 0.1, 0.2, 0.4: the plan charges 10 kW in hour 1,
    P = 0, 10, 0, 0: up = 10 + 0 + 0 + 10 = 20 kWh, down = 0 + 10 + 0 + 0 = 10 kWh (hour 3: below p_min,
    counts 0). The baseline charges 10 kW at once, P = 10, 0, 0, 0: up = 0 + 5 + 0 + 10 = 15 kWh, down = 10 kWh.
    """
    times = [(pd.Timestamp("2026-06-15T00:00:00+02:00") + pd.Timedelta(hours=h)).isoformat() for h in range(4)]
    path = write_scenario(
        tmp_path,
        vehicles=[car("EV1")],
        sessions=[session("EV1", 0, 4, 0.5, 0.7)],
        timeseries=pd.DataFrame({"time": times, "import_price": [0.3, 0.1, 0.2, 0.4]}),
        tariff={"export_price": 0.0},
    )
    sc = gridopt.load_scenario(path)
    res = gridopt.optimize(sc, EXACT)
    s, b = res.summary, res.summary["baseline"]
    assert res.site["ev_charge_kw"].tolist() == pytest.approx([0, 10, 0, 0], abs=1e-6)
    assert s["flexibility_up_kwh"] == pytest.approx(20.0, abs=1e-6)
    assert s["flexibility_down_kwh"] == pytest.approx(10.0, abs=1e-6)
    assert b["flexibility_up_kwh"] == pytest.approx(15.0, abs=1e-6)
    assert b["flexibility_down_kwh"] == pytest.approx(10.0, abs=1e-6)
    off = gridopt.optimize(sc, EXACT, flexibility=False).summary
    assert off["flexibility_up_kwh"] is None and off["baseline"]["flexibility_down_kwh"] is None
    # the same numbers from the written envelope, independently of the optimizer
    band = gridopt.flexibility(sc).inner
    assert flexibility_kpis(band, res.site, 1.0) == pytest.approx(
        {"flexibility_up_kwh": 20.0, "flexibility_down_kwh": 10.0}
    )


def test_flexibility_kpis_in_summary_json_and_terminal(tmp_path, capsys):
    path = write_scenario(tmp_path / "sc", vehicles=[car("EV1")], sessions=[session("EV1", 0, 4, 0.5, 0.7)])
    assert main(["run", str(path), "--out", str(tmp_path / "out")]) == 0
    assert "kWh up" in capsys.readouterr().out
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert s["flexibility_up_kwh"] >= 0 and s["flexibility_down_kwh"] >= 0
    assert s["baseline"]["flexibility_up_kwh"] >= 0


# ---------------------------------------------------------------------------
# exact tracking of profiles inside the envelope, through the optimizer
# ---------------------------------------------------------------------------


def tracking_scenario(path: Path, sc, profile: np.ndarray, folder: Path) -> Path:
    """The random fleet's scenario with base load 0, no PV, site limits far above the fleet's powers, and
    ``grid: {signals: target_kw = profile, tracking: exact}``: the site's net import is the fleet's net power."""
    folder.mkdir(parents=True, exist_ok=True)
    cfg = yaml.safe_load(path.read_text())
    cfg["site"] = {"import_limit_kw": 10_000, "export_limit_kw": 10_000, "base_load_kw": 0}
    cfg["fleet"] = {
        k: (str(path.parent / v) if k in ("vehicles", "trips", "sessions") else v) for k, v in cfg["fleet"].items()
    }
    times = [t.isoformat() for t in sc.grid.index]
    pd.DataFrame({"time": times, "target_kw": profile}).to_csv(
        folder / "signals.csv", index=False, float_format="%.17g"
    )
    cfg["grid"] = {"signals": "signals.csv", "tracking": "exact"}
    out = folder / "scenario.yaml"
    out.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return out


@pytest.mark.parametrize("seed", range(N_FLEETS))
def test_exact_tracking_of_a_profile_inside_the_envelope(tmp_path, seed):
    """Every profile inside a random fleet's envelope, given as an exact target, gives an optimal, checked
    plan (gridopt.optimize runs the physics check) that follows it in every step and leaves no more energy
    unmet than the envelope's best effort (the proportional split is a plan of that cost)."""
    path = random_fleet(tmp_path / "fleet", seed)
    sc = gridopt.load_scenario(path)
    env = gridopt.flexibility(sc)
    rng = np.random.default_rng(1000 + seed)
    profiles = profiles_inside(env, rng, max(N_PROFILES, 5))
    chosen = profiles if N_PROFILES >= 5 else [profiles[(seed + i) % 5] for i in range(N_PROFILES)]
    for j, profile in enumerate(chosen):
        sc_t = gridopt.load_scenario(tracking_scenario(path, sc, profile, tmp_path / f"p{j}"))
        res = gridopt.optimize(sc_t, EXACT, baseline=False, flexibility=False)
        s = res.summary
        assert s["status"] == "optimal", (seed, j, s["method"])
        fleet_kw = (res.site["ev_charge_kw"] - res.site["ev_discharge_kw"]).to_numpy()
        net_kw = (res.site["grid_import_kw"] - res.site["grid_export_kw"]).to_numpy()
        np.testing.assert_allclose(net_kw, profile, atol=1e-4, err_msg=f"seed {seed} profile {j}")
        np.testing.assert_allclose(fleet_kw, profile, atol=1e-4)  # base load 0, no PV
        assert s["tracking_error_kwh"] <= 1e-4 * sc.grid.n_steps
        assert s["unmet_energy_kwh"] <= env.best_effort_shortfall_kwh + 1e-5
