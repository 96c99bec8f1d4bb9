"""Sites coupled by linear network rows: hand-worked optima, the two forms equal, decomposition = central.

These tests use hand-built :class:`NetworkRows` (no pandapower), so they run in the main venv.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

import gridopt
from gridopt.network.decompose import decompose
from gridopt.network.plan import (
    NetworkRows,
    Site,
    build_feeder_model,
    bus_load_kw,
    net_load_range,
    screen_rows,
    site_frames,
    solve_alone,
    solve_central,
)
from gridopt.optimizer.solve import solve
from gridopt.scenario import SolverOptions
from gridopt.synthetic import write_synthetic_fleet

OPTS = SolverOptions(time_limit_s=30, mip_rel_gap=1e-6)
GAP4 = SolverOptions(time_limit_s=30, mip_rel_gap=1e-4)


def one_car_site(folder, prices=(0.1, 0.2, 0.3, 0.4), need_kwh=20.0, **car):
    """A site with one 100 kWh car plugged in for 4 one-hour steps, needing ``need_kwh`` (ideal efficiency)."""
    folder.mkdir(parents=True, exist_ok=True)
    veh = {
        "vehicle_id": "EV1",
        "battery_kwh": 100.0,
        "max_charge_kw": 10.0,
        "max_discharge_kw": 0.0,
        "min_soc": 0.0,
        "max_soc": 1.0,
        "charge_efficiency": 1.0,
        "discharge_efficiency": 1.0,
        **car,
    }
    pd.DataFrame([veh]).to_csv(folder / "vehicles.csv", index=False)
    pd.DataFrame(
        [
            {
                "vehicle_id": "EV1",
                "arrival": "2026-06-15T00:00:00+02:00",
                "departure": "2026-06-15T04:00:00+02:00",
                "arrival_soc": 0.2,
                "target_soc": 0.2 + need_kwh / 100.0,
            }
        ]
    ).to_csv(folder / "sessions.csv", index=False)
    times = pd.date_range("2026-06-15T00:00:00+02:00", periods=4, freq="1h")
    pd.DataFrame(
        {
            "time": [t.isoformat() for t in times],
            "import_price": list(prices),
            "export_price": 0.0,
            "base_load_kw": 0.0,
            "pv_kw": 0.0,
        }
    ).to_csv(folder / "timeseries.csv", index=False)
    cfg = {
        "name": folder.name,
        "timezone": "Europe/Amsterdam",
        "start": "2026-06-15T00:00:00+02:00",
        "horizon_hours": 4,
        "step_minutes": 60,
        "site": {"import_limit_kw": 100, "export_limit_kw": 100},
        "timeseries": "timeseries.csv",
        "unmet_energy_penalty_per_kwh": 10.0,
        "fleet": {"vehicles": "vehicles.csv", "sessions": "sessions.csv"},
    }
    (folder / "scenario.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return gridopt.load_scenario(folder / "scenario.yaml")


def trafo_rows(T, limit_kw, n_buses=2, pct_per_kw=1.0):
    """One transformer row: loading rises ``pct_per_kw`` per kW at any bus; ``limit_kw`` of headroom."""
    coef = np.full((1, n_buses), pct_per_kw)
    return NetworkRows(
        coef,
        np.full((T, 1), -np.inf),
        np.full((T, 1), pct_per_kw * limit_kw),
        ("trafo0",),
        ("trafo",),
        tuple(f"b{i}" for i in range(n_buses)),
    )


def test_hand_worked_transformer_limit(tmp_path):
    """Two one-car sites needing 20 kWh each, prices 0.1/0.2/0.3/0.4 per kWh, a 15 kW transformer headroom.

    Alone each charges 10 kW in the two cheapest hours: 0.1*10 + 0.2*10 = 3.0, together 6.0, with 20 kW at
    the transformer. Coupled the feeder takes 15 kW in hours 0 and 1 and the last 10 kWh in hour 2:
    0.1*15 + 0.2*15 + 0.3*10 = 7.5.
    """
    sites = [Site(f"s{i}", i, one_car_site(tmp_path / f"s{i}")) for i in range(2)]
    rows = trafo_rows(4, 15.0)
    alone = [solve_alone(s, OPTS) for s in sites]
    assert sum(a[1] for a in alone) == pytest.approx(6.0, abs=1e-6)
    fp = solve_central(sites, rows, OPTS)
    assert fp.objective == pytest.approx(7.5, abs=1e-6)
    total = fp.net_kw.sum(axis=0)
    np.testing.assert_allclose(total, [15.0, 15.0, 10.0, 0.0], atol=1e-6)
    assert rows.excess(bus_load_kw(sites, fp.net_kw, 2)).max() <= 1e-9
    for s, v in zip(sites, fp.values, strict=True):
        schedule, table, unmet = site_frames(s, v)  # the independent physics check of each site
        assert unmet["unmet_kwh"].sum() == pytest.approx(0.0, abs=1e-6)
    dp = decompose(sites, rows, OPTS)
    assert dp.objective == pytest.approx(7.5, abs=1e-6)
    assert dp.info["primal_residual"] <= 1e-6


def test_voltage_row_with_negative_sensitivity(tmp_path):
    """A lower voltage limit: vm falls 0.001 pu per kW at bus 1 and 0.0005 at bus 0, 0.0125 pu of margin.

    Both cars need 20 kWh, prices 0.1, 0.2, 0.3, 0.4. The row is 0.0005 p0 + 0.001 p1 <= 0.0125 (written as
    -0.0005 p0 - 0.001 p1 >= -0.0125), i.e. p0 + 2 p1 <= 25 kW per hour. An hour holds at most 17.5 kWh
    (p0 = 10, p1 = 7.5), so hours 0 and 1 give 35 kWh and the last 5 kWh (bus 1) come in hour 2:
    0.1*17.5 + 0.2*17.5 + 0.3*5 = 6.75, and that split is the only one.
    """
    sites = [Site(f"s{i}", i, one_car_site(tmp_path / f"s{i}")) for i in range(2)]
    rows = NetworkRows(
        np.array([[-0.0005, -0.001]]),
        np.full((4, 1), -0.0125),
        np.full((4, 1), np.inf),
        ("bus1",),
        ("bus",),
        ("b0", "b1"),
    )
    fp = solve_central(sites, rows, OPTS)
    assert fp.objective == pytest.approx(6.75, abs=1e-6)
    np.testing.assert_allclose(fp.net_kw[0], [10, 10, 0, 0], atol=1e-6)
    np.testing.assert_allclose(fp.net_kw[1], [7.5, 7.5, 5, 0], atol=1e-6)


def test_screening_keeps_only_reachable_rows(tmp_path):
    """A row no plan can reach is left out; one that the sites' full power reaches is kept, on that side only."""
    sc = one_car_site(tmp_path / "s0")
    site = Site("s0", 0, sc)
    lo, hi = net_load_range(sc, site.fleet_plan())
    np.testing.assert_allclose(hi, 10.0)
    np.testing.assert_allclose(lo, 0.0)
    rows = NetworkRows(
        np.array([[1.0], [1.0]]),
        np.array([[-np.inf, -5.0]] * 4),
        np.array([[10.0, 9.0]] * 4),  # row 0: 10 kW reachable exactly, never beyond; row 1: 9 < 10
        ("a", "b"),
        ("line", "line"),
        ("b0",),
    )
    kept = screen_rows(rows, np.array([0]), lo[None, :], hi[None, :])
    assert set(kept.k.tolist()) == {1} and len(kept) == 4
    assert np.all(np.isinf(kept.lo)) and np.all(kept.hi == 9.0)


def synthetic_sites(tmp_path, n_sites, n_vehicles, step_minutes=60):
    sites = []
    for i in range(n_sites):
        path = write_synthetic_fleet(tmp_path / f"syn{i}", n_vehicles, seed=i, step_minutes=step_minutes, v2g_share=0.5)
        sites.append(Site(f"syn{i}", i % 2, gridopt.load_scenario(path)))
    return sites


def tight_rows(T):
    """A transformer row (0.5 %/kW, 6 % headroom) and a lower voltage limit at bus 1 (0.02 pu margin)."""
    return NetworkRows(
        np.array([[0.5, 0.5], [-0.001, -0.002]]),
        np.column_stack([np.full(T, -np.inf), np.full(T, -0.02)]),
        np.column_stack([np.full(T, 6.0), np.full(T, np.inf)]),
        ("trafo0", "bus1"),
        ("trafo", "bus"),
        ("b0", "b1"),
    )


def test_stacked_matrices_equal_pyomo(tmp_path):
    """One model, two forms: the stacked matrices and the Pyomo blocks reach the same optimum (binding rows)."""
    sites = synthetic_sites(tmp_path, 3, 2)
    rows = tight_rows(24)
    fp = solve_central(sites, rows, OPTS)
    assert fp.info["rows_kept"] > 0
    top, _ = build_feeder_model(sites, rows)
    rep = solve(top, OPTS)
    assert rep.status.value == "optimal"
    assert fp.objective == pytest.approx(rep.objective, rel=1e-6)
    alone = sum(solve_alone(s, OPTS)[1] for s in sites)
    assert fp.objective > alone + 1.0  # the rows bind


def test_decomposition_equals_central(tmp_path):
    """Column generation with the repair lands within 0.5% of the central optimum, network-feasible.

    Tiny sites with minimum charging powers (binaries) and rows that bind in many steps: every site is
    fractional in the master. Repaired as one MILP (the default for few vehicles) the plan is the
    central optimum; repaired within boxes only (each site its share of the rows' slack, the fallback
    for many vehicles) it keeps the rows and lands up to 15% above it.
    """
    sites = synthetic_sites(tmp_path, 3, 2)
    rows = tight_rows(24)
    fp = solve_central(sites, rows, GAP4)
    dp = decompose(sites, rows, GAP4, tol=1e-5)
    assert dp.info["primal_residual"] <= 1e-6
    assert dp.bound <= fp.objective * (1 + 1e-4)
    assert dp.objective == pytest.approx(fp.objective, rel=5e-3)
    assert dp.info["lagrangian_bound"] <= dp.info["master_cost"] + 1e-6
    # the boxes alone (no MILP over a group of sites) keep the rows too
    dr = decompose(sites, rows, GAP4, tol=1e-5, repair_central_max_vehicles=0)
    assert dr.info["repair"]["central_sites"] == 0
    assert dr.info["primal_residual"] <= 1e-6
    assert fp.objective * (1 - 1e-4) <= dr.objective <= fp.objective * 1.15


def test_decomposition_on_dask(tmp_path):
    """On a one-worker LocalCluster (shut down after): the same plan, and tasks for any subset of the sites."""
    from distributed import Client, LocalCluster

    from gridopt.network.decompose import _Dask, price_site

    sites = synthetic_sites(tmp_path, 3, 2)
    rows = tight_rows(24)
    local = decompose(sites, rows, GAP4, tol=1e-5)
    with LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cl:
        with Client(cl) as client:
            dp = decompose(sites, rows, GAP4, client=client, tol=1e-5)
            sub = _Dask(client, sites).map_sites(price_site, [sites[2], sites[0]], [(None, GAP4), (None, GAP4)])
    assert dp.objective == pytest.approx(local.objective, rel=1e-6)
    assert dp.info["primal_residual"] <= 1e-6
    assert [p.cost for p in sub] == pytest.approx([price_site(sites[i], None, GAP4).cost for i in (2, 0)], rel=1e-9)
