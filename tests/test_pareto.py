"""Pareto fronts by epsilon-constraint (gridopt.pareto, ``gridopt pareto``): hand-worked fronts, monotone
fronts of a shipped scenario, files and the command line.

The hand-worked cases are two hourly steps, one cheap and dirty (or at the grid's
peak), one dear and clean, and a car that needs 10 kWh (10 kW charger, ideal
efficiency): the front is a straight line worked out in each docstring.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import car, write_scenario

import gridopt
from gridopt.check import check_schedule
from gridopt.cli import main
from gridopt.grid.pareto import COLUMNS, least_value, write_pareto

ROOT = Path(__file__).resolve().parents[1]
START = pd.Timestamp("2026-06-15T00:00:00+02:00")
EXACT = gridopt.SolverOptions(time_limit_s=30, mip_rel_gap=1e-9)


def two_steps(folder: Path, signals: dict, prices, grid: dict | None = None, **kw) -> Path:
    """Two hourly steps, hourly import prices, a signals CSV and a car at 10 of 50 kWh that must end at 20 kWh."""
    folder.mkdir(parents=True, exist_ok=True)
    times = [(START + pd.Timedelta(hours=h)).isoformat() for h in range(2)]
    pd.DataFrame({"time": times, **signals}).to_csv(folder / "signals.csv", index=False)
    return write_scenario(
        folder,
        vehicles=[car(initial_soc=0.2, final_soc=0.4)],
        timeseries=pd.DataFrame({"time": times, "import_price": prices}),
        horizon_hours=2,
        tariff={"export_price": 0.0},
        grid={"signals": "signals.csv", **(grid or {})},
        **kw,
    )


def points_of(front) -> pd.DataFrame:
    return front.table.set_index("point")


def test_cost_against_carbon_by_hand(tmp_path):
    """Prices 0.1, 0.3 /kWh; carbon 0.5, 0.1 kg/kWh; 10 kWh to charge, x of them in hour 1.

    Emissions E = 0.5 (10 - x) + 0.1 x = 5 - 0.4 x, cost C = 0.1 (10 - x) + 0.3 x = 1 + 0.2 x,
    so along the front C = 1 + 0.5 (5 - E). Point 0 (cost-optimal, the scenario's own
    carbon price of 1.0 /kg set to 0): x = 0, E = 5 kg, C = 1.0. The least emissions: x = 10,
    1 kg. Five points cap at 4, 3, 2 and 1 kg: C = 1.5, 2.0, 2.5, 3.0.
    """
    path = two_steps(tmp_path, {"carbon_kg_per_kwh": [0.5, 0.1]}, [0.1, 0.3], grid={"carbon_price_per_kg": 1.0})
    sc = gridopt.load_scenario(path)
    front = gridopt.pareto(sc, trade="cost:carbon", points=5, options=EXACT, baseline=False)
    t = points_of(front)
    assert list(front.table.columns) == COLUMNS
    assert front.least == pytest.approx(1.0, abs=1e-6)
    assert front.least_bound == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(t["emissions_kg"], [5, 4, 3, 2, 1], atol=1e-5)
    np.testing.assert_allclose(t["cost"], [1.0, 1.5, 2.0, 2.5, 3.0], atol=1e-5)
    np.testing.assert_allclose(t["total_cost"], t["cost"], atol=1e-9)  # no other weighted term
    np.testing.assert_allclose(t["cap"].iloc[1:4], [4, 3, 2], atol=1e-9)
    assert math.isnan(t["cap"].iloc[0]) and t["cap"].iloc[4] == pytest.approx(1.0, abs=1e-5)
    assert (t["status"] == "optimal").all() and (t["unmet_energy_kwh"] < 1e-6).all()
    assert not t["dominated"].any()  # a strict trade-off: every point is on the front
    for k, res in enumerate(front.results):  # each point's plan: charging in hour 1 = (5 - E) / 0.4
        x = res.schedule["charge_kw"].to_numpy()
        assert x[1] == pytest.approx((5 - t["emissions_kg"].iloc[k]) / 0.4, abs=1e-4)
        assert res.summary["pareto"]["point"] == k
        assert res.summary["carbon_cost"] == 0.0  # the cost axis has the carbon price at 0


def test_cost_against_the_grid_peak_by_hand(tmp_path):
    """Net load 100, 150 kW; prices 0.3, 0.1 /kWh; a kWh moved to hour 0 costs 0.2 more and takes 1 kW off the peak.

    Cost-optimal: all 10 kWh in hour 1, L = 100, 160, peak 160 kW, cost 1.0. The least
    peak: all in hour 0, L = 110, 150, peak 150 kW (cost 3.0). With a in hour 0 the peak is
    160 - a and the cost 1 + 0.2 a: three points at 160, 155, 150 kW cost 1.0, 2.0, 3.0.
    """
    path = two_steps(tmp_path, {"net_load_kw": [100.0, 150.0]}, [0.3, 0.1])
    front = gridopt.pareto(gridopt.load_scenario(path), "cost:peak", 3, EXACT, baseline=False)
    t = points_of(front)
    assert front.least == pytest.approx(150.0, abs=1e-6)
    # the last point's cap is the least peak plus CAP_REL_TOL x 160 kW (1.6e-4 kW: solver tolerances)
    np.testing.assert_allclose(t["grid_peak_kw"], [160, 155, 150], atol=2e-4)
    np.testing.assert_allclose(t["cost"], [1.0, 2.0, 3.0], atol=1e-4)
    assert t["emissions_kg"].isna().all()  # no carbon signal


def test_least_value_keeps_every_need_served(tmp_path):
    """Without the bound on shortfall the least emissions would be 0 kg (charge nothing, pay the penalty);
    the least value serves the car as the cost-optimal plan does (10 kWh in the cleanest hour: 1 kg),
    and a shortfall allowed by the cost-optimal plan is allowed to it (5 kWh short: 0.5 kg)."""
    path = two_steps(tmp_path, {"carbon_kg_per_kwh": [0.5, 0.1]}, [0.1, 0.3])
    sc = gridopt.load_scenario(path)
    value, bound = least_value(sc, "cost:carbon", np.array([0.0]), EXACT)
    assert value == pytest.approx(1.0, abs=1e-6) and bound == pytest.approx(1.0, abs=1e-6)
    value, _ = least_value(sc, "cost:carbon", np.array([5.0]), EXACT)
    assert value == pytest.approx(0.5, abs=1e-5)


def test_no_trade_off_gives_one_point(tmp_path):
    """The cheap hour is also the clean one: the cost-optimal plan has the least emissions already."""
    path = two_steps(tmp_path, {"carbon_kg_per_kwh": [0.1, 0.5]}, [0.1, 0.3])
    front = gridopt.pareto(gridopt.load_scenario(path), "cost:carbon", 7, EXACT, baseline=False)
    assert len(front.table) == 1 and "no trade-off" in front.note
    assert front.table["emissions_kg"].iloc[0] == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize(
    ("name", "trade"), [("grid_workplace_carbon", "cost:carbon"), ("grid_feeder_surplus", "cost:peak")]
)
def test_front_of_a_shipped_scenario_is_monotone_and_checked(name, trade):
    """Real data: the traded KPI never rises as the cap tightens and the cost never falls (tolerance: the
    solver's gap times the cost); every point's plan passes the physics check and keeps its cap."""
    sc = gridopt.load_scenario(ROOT / "scenarios" / f"{name}.yaml")
    opts = sc.solver
    front = gridopt.pareto(sc, trade, 5, baseline=False)
    t = front.table
    kpi = front.kpi
    assert len(t) == 5 and set(t["status"]) <= {"optimal", "time_limit"}
    v, cost = t[kpi].to_numpy(), t["cost"].to_numpy()
    assert (np.diff(v) <= 1e-6 * max(1.0, abs(v[0]))).all(), v
    gap = np.maximum(t["gap"].fillna(opts.mip_rel_gap).to_numpy(), opts.mip_rel_gap)
    tol = gap[:-1] * np.maximum(np.abs(cost[:-1]), 1.0) + 1e-9
    assert (cost[1:] >= cost[:-1] - tol).all(), cost
    assert v[-1] == pytest.approx(front.least, rel=1e-5)
    assert v[0] > v[-1] and cost[-1] > cost[0]  # a real trade-off on these scenarios
    assert not t["dominated"].iloc[-1]
    for k in np.flatnonzero(t["dominated"].to_numpy()):  # as cheap (within the gap) as a lower point
        assert ((cost <= cost[k] + gap[k] * max(abs(cost[k]), 1.0) + 1e-9) & (v < v[k] - 1e-9)).any()
    for k, res in enumerate(front.results):
        check_schedule(res.scenario, res.schedule, res.site, res.unmet)  # raises on any broken limit
        if k:
            cap = t["cap_applied"].iloc[k]
            assert res.summary[kpi] <= cap + 1e-6 * max(1.0, abs(cap))
            cap_field = {"cost:carbon": "emissions_cap_kg", "cost:peak": "grid_peak_cap_kw"}[trade]
            assert getattr(res.scenario.grid_terms, cap_field) == cap  # the check saw this cap


def test_files_and_command_line(tmp_path, capsys, monkeypatch):
    """pareto.csv, pareto.html and points/<k>/ as gridopt run writes them; a shorter front replaces a longer
    one's point folders; bad arguments exit 2 with one line. (The PNG is the next test's: kaleido starts a
    browser, seconds per figure.)"""
    monkeypatch.setattr("gridopt.grid.pareto.png_of", lambda fig, path: None)
    path = two_steps(tmp_path / "sc", {"carbon_kg_per_kwh": [0.5, 0.1]}, [0.1, 0.3])
    out = tmp_path / "out"
    assert main(["pareto", str(path), "--trade", "cost:carbon", "--points", "4", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Pareto front cost against emissions, 4 points" in printed and "no PNG" in printed
    table = pd.read_csv(out / "pareto.csv")
    assert list(table.columns) == COLUMNS and table["point"].tolist() == [0, 1, 2, 3]
    np.testing.assert_allclose(table["emissions_kg"], [5, 11 / 3, 7 / 3, 1], atol=1e-5)
    html = (out / "pareto.html").read_text()
    assert "<html>" in html and "Plotly.newPlot" in html
    assert not re.search(r"<script[^>]*\bsrc=", html)  # plotly.js is inside: the page opens offline
    for k in range(4):
        s = json.loads((out / "points" / str(k) / "summary.json").read_text())
        assert s["pareto"]["point"] == k and s["status"] == "optimal"
        assert s["emissions_kg"] == pytest.approx(table["emissions_kg"].iloc[k], abs=1e-6)
        assert (out / "points" / str(k) / "schedule.csv").exists() and "baseline" in s
    assert main(["pareto", str(path), "--points", "2", "--out", str(out), "--quiet"]) == 0
    assert capsys.readouterr().out == ""
    assert sorted(p.name for p in (out / "points").iterdir() if not p.name.startswith(".")) == ["0", "1"]
    assert len(pd.read_csv(out / "pareto.csv")) == 2
    (tmp_path / "afile").write_text("x")
    bad = [
        (["--trade", "cost:money"], "--trade must be one of cost:carbon, cost:peak"),
        (["--points", "1"], "--points must be a whole number from 2 to 101"),
        (["--gap", "2"], "--gap within 0..1"),
        (["--out", str(tmp_path / "afile")], "exists and is not a folder"),
    ]
    for extra, message in bad:
        args = ["pareto", str(path), "--out", str(tmp_path / "o2"), *extra]
        assert main(args) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
    no_carbon = two_steps(tmp_path / "nc", {"net_load_kw": [1.0, 2.0]}, [0.1, 0.3])
    assert main(["pareto", str(no_carbon), "--out", str(tmp_path / "o3")]) == 2
    assert "needs the carbon_kg_per_kwh column" in capsys.readouterr().err
    assert not (tmp_path / "o2").exists() and not (tmp_path / "o3").exists()


def test_write_pareto_refuses_a_file_and_png_is_optional(tmp_path):
    path = two_steps(tmp_path / "sc", {"net_load_kw": [100.0, 150.0]}, [0.3, 0.1])
    front = gridopt.pareto(gridopt.load_scenario(path), "cost:peak", 2, EXACT, baseline=False)
    (tmp_path / "f").write_text("x")
    with pytest.raises(gridopt.GridoptError, match="not a folder"):
        write_pareto(front, tmp_path / "f")
    written = {p.name for p in write_pareto(front, tmp_path / "out")}
    assert {"pareto.csv", "pareto.html", "summary.json"} <= written
    assert ("pareto.png" in written) == (tmp_path / "out" / "pareto.png").exists()
    fig = gridopt.grid.pareto_figure(front)
    assert fig.layout.xaxis.title.text == "Grid peak [kW]"
    np.testing.assert_allclose(fig.data[1].y, front.table["cost"])
