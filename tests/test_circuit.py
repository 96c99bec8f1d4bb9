"""The circuit tree (``site.circuit``): kW and per-phase current limits, hand-worked (issue 13 item 1).

Each case's optimum follows from the limit that binds; both model forms must reach it, and the
physics check (exact phasor magnitudes, written apart from the model) must pass the plan and
catch an overloaded one.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import car, write_scenario

import gridopt
from gridopt.check import check_schedule
from gridopt.errors import ScenarioError
from gridopt.optimizer.circuit import POLYGON_SCALE, delta_wye, line_coefficients

START = pd.Timestamp("2026-06-15T00:00:00+02:00")


def at(hours: float) -> str:
    return (START + pd.Timedelta(hours=hours)).isoformat()


def scenario(tmp_path, n_cars, chargers, circuit, *, hours=1, need_kwh=10.0, names=None, **site):
    """``n_cars`` cars plugged in for the whole horizon, each on its own named charger, needing ``need_kwh``."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    names = names or [c["charger_id"] for c in chargers][:n_cars]
    cars = [car(f"EV{i + 1}", initial_soc=None, battery_kwh=100.0, max_charge_kw=22.0) for i in range(n_cars)]
    ses = [
        {
            "vehicle_id": f"EV{i + 1}",
            "arrival": at(0),
            "departure": at(hours),
            "arrival_soc": 0.0,
            "target_soc": need_kwh / 100.0,
            "station_id": names[i],
        }
        for i in range(n_cars)
    ]
    pd.DataFrame(chargers).to_csv(tmp_path / "chargers.csv", index=False)
    site_cfg = {"import_limit_kw": 1000, "export_limit_kw": 0, "chargers": "chargers.csv", "circuit": circuit, **site}
    path = write_scenario(
        tmp_path, vehicles=cars, sessions=ses, site=site_cfg, tariff={"import_price": 0.1}, horizon_hours=hours
    )
    return gridopt.load_scenario(path)


def both(sc):
    fast = gridopt.optimize(sc, baseline=False, flexibility=False)
    milp = gridopt.optimize(sc, method="milp", baseline=False, flexibility=False)
    assert fast.summary["objective"] == pytest.approx(milp.summary["objective"], rel=1e-7, abs=1e-7)
    return fast, milp


def objective(charged_kwh: float, need_kwh: float) -> float:
    """Cost of ``charged_kwh`` at 0.1 plus the shortfall at 10 per kWh."""
    return 0.1 * charged_kwh + 10.0 * (need_kwh - charged_kwh)


def test_pod_current_limit_line_to_line(tmp_path):
    """Two chargers across A and B at 208 V under a 40 A pod: (P1 + P2) 1000 / 208 <= 40, so 8.32 kW in all."""
    chg = [{"charger_id": f"C{k}", "max_kw": 7, "phase": "AB", "node": "POD"} for k in (1, 2)]
    circuit = [{"node_id": "POD", "limit_a": 40, "voltage_v": 208}]
    sc = scenario(tmp_path, 2, chg, circuit)
    fast, milp = both(sc)
    assert fast.summary["objective"] == pytest.approx(objective(8.32, 20.0), abs=1e-6)
    assert fast.schedule["charge_kw"].sum() == pytest.approx(8.32, abs=1e-6)


def test_unbalanced_lines_meet_at_a_vertex_of_the_12_gon(tmp_path):
    """Chargers on AB and on CA under a 50 A transformer: line A carries I_AB at 30 deg and -I_CA at 150 deg.

    |I_A|^2 = a^2 + b^2 + ab; the most charging (a + b) under it is a = b = 50 / sqrt(3) A: the sum
    points at 0 deg, a vertex of the inscribed 12-gon, so the linear form loses nothing there.
    Each charger: 50 / sqrt(3) x 0.208 = 6.004 kW.
    """
    chg = [
        {"charger_id": "X", "max_kw": 11, "phase": "AB", "voltage_v": 208, "node": "T"},
        {"charger_id": "Y", "max_kw": 11, "phase": "CA", "voltage_v": 208, "node": "T"},
    ]
    sc = scenario(tmp_path, 2, chg, [{"node_id": "T", "limit_a": 50}])
    fast, milp = both(sc)
    each = 50 / math.sqrt(3) * 0.208
    assert fast.summary["objective"] == pytest.approx(objective(2 * each, 20.0), abs=1e-6)
    for res in (fast, milp):
        assert res.schedule["charge_kw"].tolist() == pytest.approx([each, each], abs=1e-5)


def test_inner_bound_between_vertices(tmp_path):
    """One charger on A (0 deg) and one on AB (30 deg, 208 V line to line, 120 V line to neutral) under 30 A.

    Line A carries I_1 at 0 deg plus I_2 at 30 deg. The 12-gon is an inner bound: every plan it
    allows has |I_A| <= 30 A (the check computes the exact magnitude), and it gives up at most
    1 - cos(15 deg) = 3.4% of the exact optimum, found here by a fine scan of the exact constraint.
    """
    chg = [
        {"charger_id": "C1", "max_kw": 22, "phase": "A", "voltage_v": 120, "node": "P"},
        {"charger_id": "C2", "max_kw": 22, "phase": "AB", "voltage_v": 208, "node": "P"},
    ]
    sc = scenario(tmp_path, 2, chg, [{"node_id": "P", "limit_a": 30}], need_kwh=50.0)
    fast, milp = both(sc)
    p = fast.schedule["charge_kw"].to_numpy()
    i_a = abs(p[0] * 1000 / 120 + p[1] * 1000 / 208 * np.exp(1j * math.radians(30)))
    assert i_a <= 30 + 1e-6
    # exact optimum of p1 + p2 with |I_A| <= 30 (line B: p2 1000/208 <= 30 too)
    best = 0.0
    for i2 in np.linspace(0, 30, 30001):
        z2 = i2 * np.exp(1j * math.radians(30))
        # largest i1 >= 0 with |i1 + z2| <= 30
        disc = 30**2 - z2.imag**2
        i1 = max(0.0, -z2.real + math.sqrt(disc)) if disc >= 0 else 0.0
        best = max(best, i1 * 0.120 + i2 * 0.208)
    assert p.sum() <= best + 1e-6
    assert p.sum() >= POLYGON_SCALE * best - 1e-6


def test_delta_wye_primary(tmp_path):
    """A charger on AB behind a delta-wye transformer (ratio 4) whose primary allows 10 A per line.

    Secondary: I_a = I at 30 deg, I_b = -I at 30 deg. Primary: (I_b - I_a) / 4 = -2I / 4, so
    I / 2 <= 10 A: I = 20 A, 20 x 0.208 = 4.16 kW.
    """
    chg = [{"charger_id": "C1", "max_kw": 11, "phase": "AB", "node": "SEC"}]
    circuit = [
        {"node_id": "PRI", "limit_a": 10, "delta_wye_ratio": 4},
        {"node_id": "SEC", "parent": "PRI", "voltage_v": 208},
    ]
    sc = scenario(tmp_path, 1, chg, circuit)
    fast, milp = both(sc)
    assert fast.schedule["charge_kw"].iloc[0] == pytest.approx(4.16, abs=1e-6)
    z = delta_wye(line_coefficients("AB", 208.0), 4.0) * 4.16
    assert np.abs(z).tolist() == pytest.approx([5.0, 10.0, 5.0])


def test_three_phase_and_single_phase_share_a_line_and_a_kw_limit(tmp_path):
    """A 3-phase charger (400 V) and a single-phase one on A (230 V) under 16 A per line and a 12 kW panel.

    Line A: P3 1000 / (sqrt(3) 400) + P1 1000 / 230 <= 16, both at 0 deg (exact). Lines B, C:
    P3 1000 / (sqrt(3) 400) <= 16, P3 <= 11.085. The panel: P1 + P3 <= 12. The most charging puts
    everything on the three-phase charger (fewer amps per kW on line A): P3 = 11.085, then P1 from
    line A: 0, so 11.085 kW (the panel does not bind).
    """
    chg = [
        {"charger_id": "T3", "max_kw": 22, "phases": 3, "node": "PANEL"},
        {"charger_id": "S1", "max_kw": 7.4, "phase": "A", "voltage_v": 230, "node": "PANEL"},
    ]
    circuit = [{"node_id": "PANEL", "limit_a": 16, "limit_kw": 12, "voltage_v": 400}]
    sc = scenario(tmp_path, 2, chg, circuit, need_kwh=20.0)
    fast, milp = both(sc)
    p3 = 16 * math.sqrt(3) * 400 / 1000
    assert fast.schedule["charge_kw"].tolist() == pytest.approx([p3, 0.0], abs=1e-6)
    tight = scenario(
        tmp_path / "kw", 2, chg, [{"node_id": "PANEL", "limit_a": 16, "limit_kw": 8, "voltage_v": 400}], need_kwh=20.0
    )
    fast, _ = both(tight)
    assert fast.schedule["charge_kw"].sum() == pytest.approx(8.0, abs=1e-6)


def test_check_catches_an_overloaded_pod(tmp_path):
    chg = [{"charger_id": f"C{k}", "max_kw": 7, "phase": "AB", "node": "POD"} for k in (1, 2)]
    sc = scenario(tmp_path, 2, chg, [{"node_id": "POD", "limit_a": 40, "limit_kw": 9, "voltage_v": 208}])
    res = gridopt.optimize(sc, baseline=False, flexibility=False)
    over = res.schedule.copy()
    over["charge_kw"] = 5.0
    site = res.site.copy()
    site["grid_import_kw"] = 10.0
    site["ev_charge_kw"] = 10.0
    msgs = " | ".join(check_schedule(sc, over, site, res.unmet, raise_on_violation=False))
    assert "node 'POD' line A" in msgs and "48.0769 A above limit_a 40" in msgs
    assert "10.0000 kW beyond limit_kw 9" in msgs


def test_circuit_with_assignment_pyomo_equals_matrices(tmp_path):
    """Four cars, three pooled chargers on two pods of a transformer: both forms reach one optimum."""
    rng = np.random.default_rng(4)
    tmp_path.mkdir(parents=True, exist_ok=True)
    cars = [
        car(f"EV{i}", initial_soc=None, battery_kwh=60.0, max_charge_kw=11.0, max_discharge_kw=float(i % 2) * 5)
        for i in range(4)
    ]
    ses = []
    for i in range(4):
        a = int(rng.integers(0, 3))
        ses.append(
            {
                "vehicle_id": f"EV{i}",
                "arrival": at(a),
                "departure": at(int(rng.integers(a + 2, 6))),
                "arrival_soc": 0.3,
                "target_soc": 0.5,
            }
        )
    chg = [
        {"charger_id": "P1a", "max_kw": 7, "phase": "AB", "node": "POD1", "v2g": "true"},
        {"charger_id": "P1b", "max_kw": 7, "phase": "AB", "node": "POD1", "v2g": "true"},
        {"charger_id": "P2a", "max_kw": 11, "min_kw": 2, "phase": "BC", "node": "POD2"},
    ]
    circuit = [
        {"node_id": "TR", "limit_a": 60, "voltage_v": 208},
        {"node_id": "POD1", "parent": "TR", "limit_a": 40},
        {"node_id": "POD2", "parent": "TR", "limit_kw": 6},
    ]
    pd.DataFrame(chg).to_csv(tmp_path / "chargers.csv", index=False)
    (tmp_path / "circuit.csv").write_text(pd.DataFrame(circuit).to_csv(index=False))
    path = write_scenario(
        tmp_path,
        vehicles=cars,
        sessions=ses,
        site={"import_limit_kw": 30, "export_limit_kw": 10, "chargers": "chargers.csv", "circuit": "circuit.csv"},
        tariff={"import_price": {"00:00": 0.3, "02:00": 0.1, "04:00": 0.4}, "export_price": 0.35},
        horizon_hours=6,
    )
    sc = gridopt.load_scenario(path)
    assert sc.circuit["parent"].tolist() == ["", "TR", "TR"]
    fast, milp = both(sc)
    assert fast.summary["chargers"]["assignment_binaries"] > 0


BAD = [
    (
        [{"node_id": "A", "parent": "B"}, {"node_id": "B", "parent": "A"}],
        "site.circuit' item 1: node 'A' is its own ancestor",
    ),
    ([{"node_id": "A", "parent": "Z"}], "parent 'Z' is not a node_id of the circuit"),
    ([{"node_id": "A", "limit_a": -5}], "'limit_a' = -5 must be >= 0"),
    ([{"node_id": "A"}, {"node_id": "A"}], "node_id 'A' is given twice"),
]


@pytest.mark.parametrize("circuit, message", BAD)
def test_bad_circuit(tmp_path, circuit, message):
    chg = [{"charger_id": "C1", "max_kw": 7, "phase": "A", "voltage_v": 230, "node": "A"}]
    with pytest.raises(ScenarioError, match=message.replace("(", r"\(")):
        scenario(tmp_path, 1, chg, circuit)


def test_amps_need_a_phase_and_a_voltage(tmp_path):
    with pytest.raises(ScenarioError, match="chargers.csv line 2: 'phase' is empty, but node 'P'"):
        scenario(tmp_path, 1, [{"charger_id": "C1", "max_kw": 7, "node": "P"}], [{"node_id": "P", "limit_a": 16}])
    with pytest.raises(ScenarioError, match="chargers.csv line 2: no 'voltage_v'"):
        scenario(
            tmp_path / "v",
            1,
            [{"charger_id": "C1", "max_kw": 7, "phase": "A", "node": "P"}],
            [{"node_id": "P", "limit_a": 16}],
        )
    with pytest.raises(ScenarioError, match="chargers.csv line 2: node 'Q' is not a node_id"):
        scenario(
            tmp_path / "q", 1, [{"charger_id": "C1", "max_kw": 7, "node": "Q"}], [{"node_id": "P", "limit_kw": 16}]
        )


def test_circuit_yaml_list_and_csv_read_alike(tmp_path):
    chg = [{"charger_id": f"C{k}", "max_kw": 7, "phase": "AB", "node": "POD"} for k in (1, 2)]
    circuit = [{"node_id": "POD", "limit_a": 40, "voltage_v": 208}]
    a = scenario(tmp_path / "yaml", 2, chg, circuit)
    b_dir = tmp_path / "csv"
    b_dir.mkdir()
    pd.DataFrame(circuit).to_csv(b_dir / "circuit.csv", index=False)
    b = scenario(b_dir, 2, chg, "circuit.csv")
    pd.testing.assert_frame_equal(a.circuit.reset_index(drop=True), b.circuit.reset_index(drop=True))
    cfg = yaml.safe_load((tmp_path / "yaml" / "scenario.yaml").read_text())
    assert cfg["site"]["circuit"][0]["node_id"] == "POD"
