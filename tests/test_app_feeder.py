"""The Feeder page (issue 14, reading issue 12's `gridopt feeder` results) on a hand-made results folder.

Three buses: the slack (bus 0), a transformer to bus 1, a line to bus 2 with a home site; two steps,
three cases. Worked out by hand: uncontrolled charging loads the transformer to 90% then 120%
(one step over), the line to 70% then 101% (one step over) and drops bus 2 to 0.89 pu in the second
step (one step under 0.90); each site alone: 110% and 80% on the transformer (one step over); the
plan stays at 95% and 60%, 0.93 pu at the lowest.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from test_app import charts, new_app, ok, texts

from gridopt.ui import feeder

FEEDER = "gridopt/ui/pages/feeder.py"
T = ["2026-01-14T18:00:00+01:00", "2026-01-14T18:15:00+01:00"]
#: case -> (trafo %, line %, bus 2 pu) per step
LOADS = {
    "baseline": [(90.0, 70.0, 0.95), (120.0, 101.0, 0.89)],
    "alone": [(110.0, 50.0, 0.94), (80.0, 40.0, 0.95)],
    "plan": [(95.0, 60.0, 0.93), (60.0, 50.0, 0.96)],
}


def write_feeder(folder: Path) -> Path:
    """A tiny `gridopt feeder` results folder (the four files the page reads)."""
    folder.mkdir(parents=True, exist_ok=True)
    network = {
        "network": "toy",
        "crs": "lon/lat (toy)",
        "buses": [
            {"name": "bus 0", "level": "MV", "vn_kv": 20.0, "x": 0.0, "y": 0.0, "vm_min_pu": 0.9, "slack": True},
            {"name": "bus 1", "level": "LV", "vn_kv": 0.4, "x": 1.0, "y": 0.0, "vm_min_pu": 0.9, "sites": []},
            {"name": "bus 2", "level": "LV", "vn_kv": 0.4, "x": 2.0, "y": 0.5, "vm_min_pu": 0.9, "sites": ["homes@2"]},
        ],
        "edges": [
            {"name": "trafo 1", "kind": "trafo", "from": "bus 0", "to": "bus 1", "rating_kva": 250.0},
            {"name": "line 1", "kind": "line", "from": "bus 1", "to": "bus 2", "rating_kva": 100.0},
        ],
    }
    rows = []
    for case, steps in LOADS.items():
        for t, (trafo, line, vm) in zip(T, steps, strict=True):
            rows += [
                (t, "trafo 1", "trafo", trafo, None, None, 100.0, trafo > 100, case),
                (t, "line 1", "line", line, None, None, 100.0, line > 100, case),
                (t, "bus 2", "bus", None, vm, 0.9, 1.1, vm < 0.9, case),
            ]
    cols = ["time", "element", "kind", "loading_percent", "vm_pu", "limit_low", "limit_high", "violated", "case"]
    pd.DataFrame(rows, columns=cols).to_csv(folder / "elements.csv", index=False)
    pd.DataFrame(
        [(t, "bus 2", 11.0, case) for case in LOADS for t in T], columns=["time", "bus", "ev_p_kw", "case"]
    ).to_csv(folder / "buses.csv", index=False)

    def case(cost, violations, steps, trafo, line, vmin):
        return {
            "cost": cost,
            "violations": violations,
            "steps_with_violations": steps,
            "max_trafo_loading_percent": trafo,
            "max_line_loading_percent": line,
            "min_vm_pu": vmin,
            "max_vm_pu": 0.96,
        }

    summary = {
        "feeder": "toy-feeder",
        "network": "toy",
        "start": T[0],
        "end": "2026-01-14T18:30:00+01:00",
        "step_minutes": 15,
        "n_sites": 1,
        "n_vehicles": 2,
        "ac_ok": True,
        "cases": {
            "baseline": case(5.0, 3, 1, 120.0, 101.0, 0.89),
            "alone": case(3.0, 1, 1, 110.0, 50.0, 0.94),
            "plan": case(3.3, 0, 0, 95.0, 60.0, 0.93),
        },
        "violations_avoided": {"baseline": {"violations": 3, "steps_with_violations": 1}},
        "cost_vs_alone": {"plan": 3.3, "alone": 3.0, "difference": 0.3, "percent": 10.0},
        "method": "central",
        "warnings": [],
        "limits": "toy limits",
    }
    (folder / "summary.json").write_text(json.dumps(summary))
    (folder / "network.json").write_text(json.dumps(network))
    return folder


@pytest.fixture(autouse=True)
def _run_store(tmp_path, monkeypatch):
    monkeypatch.setenv("GRIDOPT_APP_DIR", str(tmp_path / "app-data"))


def test_the_feeder_page_shows_the_hand_made_results(tmp_path):
    folder = write_feeder(tmp_path / "toy")
    at = ok(new_app().switch_page(FEEDER).run())
    assert at.title[0].value == "Feeder" and "No folder yet" in texts(at.info)
    at.text_input(key="feeder_dir").set_value(str(folder)).run()
    ok(at)
    cards = {m.label: m.value for m in at.metric}
    assert cards == {
        "Feeder plan cost": "3.30",
        "Against each site alone": "+0.30",
        "Violations avoided": "3",
        "Transformer peak loading": "95.0%",
    }
    cases = at.dataframe[0].value
    assert cases.index.tolist() == ["Uncontrolled charging", "Each site's own optimum", "Feeder plan"]
    assert cases["max_trafo_loading_percent"].tolist() == [120.0, 110.0, 95.0]
    violations = at.dataframe[1].value
    got = {(r.case, r.element): (r.steps, r.worst, r.first) for r in violations.itertuples()}
    assert got == {
        ("Uncontrolled charging", "trafo 1"): (1, "120.0%", "Wed 18:15"),
        ("Uncontrolled charging", "line 1"): (1, "101.0%", "Wed 18:15"),
        ("Uncontrolled charging", "bus 2"): (1, "0.8900 pu", "Wed 18:15"),
        ("Each site's own optimum", "trafo 1"): (1, "110.0%", "Wed 18:00"),
    }
    assert "Violations (4)" in [h.value for h in at.subheader]
    assert charts(at) == 3


def test_the_per_step_figures_are_the_hand_worked_extremes(tmp_path):
    data = feeder.load(str(write_feeder(tmp_path / "toy")), "x")
    load = feeder.loading_by_step(data["elements"])
    plan_trafo = load[(load["case"] == "plan") & (load["kind"] == "trafo")]["loading_percent"].tolist()
    assert plan_trafo == [95.0, 60.0]
    volt = feeder.voltage_by_step(data["elements"])
    assert volt[volt["case"] == "baseline"]["min"].tolist() == [0.95, 0.89]
    fig = feeder._map_figure(data["network"], data["elements"], "baseline")
    bands = {tr.name: [t for t in tr.text if t] for tr in fig.data if tr.mode == "lines"}
    assert bands == {"loading over 100%": ["trafo 1: up to 120.0%"] * 2 + ["line 1: up to 101.0%"] * 2}
    plan = feeder._map_figure(data["network"], data["elements"], "plan")
    assert {tr.name for tr in plan.data if tr.mode == "lines"} == {"loading 60-90%", "loading 90-100%"}


@pytest.mark.parametrize(
    "drop, message", [("network.json", "not a feeder's results folder (no network.json)"), (None, "no such folder")]
)
def test_a_folder_that_is_not_a_feeders_results_gets_one_line(tmp_path, drop, message):
    folder = write_feeder(tmp_path / "toy")
    if drop:
        (folder / drop).unlink()
    at = ok(new_app().switch_page(FEEDER).run())
    at.text_input(key="feeder_dir").set_value(str(folder if drop else tmp_path / "nowhere")).run()
    ok(at)
    assert message in texts(at.error) and not at.metric
