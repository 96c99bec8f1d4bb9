"""Saving a scenario: load_scenario(save_scenario(sc)) is sc, and the zip runs with `gridopt run`."""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import yaml

import gridopt
from gridopt.cli import main as cli
from gridopt.edit import apply_edits, current_edits
from gridopt.fingerprint import scenario_fingerprint
from gridopt.io.save import PATH_FIELDS, get_path, save_scenario, scenario_zip, slug, write_scenario_files
from gridopt.io.upload import unpack_scenario_zip

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))


def assert_same_scenario(a: gridopt.Scenario, b: gridopt.Scenario) -> None:
    """Same inputs to the optimizer, field by field, and the same config apart from file paths."""
    assert scenario_fingerprint(a) == scenario_fingerprint(b)
    for name in (
        "name",
        "description",
        "import_limit_kw",
        "export_limit_kw",
        "demand_charge_per_kw",
        "battery_degradation_cost_per_kwh",
        "unmet_energy_penalty_per_kwh",
        "solver",
        "warnings",
    ):
        assert getattr(a, name) == getattr(b, name), name
    assert a.grid.index.equals(b.grid.index) and a.grid.step_minutes == b.grid.step_minutes
    pd.testing.assert_frame_equal(a.series, b.series)
    pd.testing.assert_frame_equal(a.vehicles, b.vehicles)  # including the file lines kept for messages
    pd.testing.assert_frame_equal(a.trips, b.trips)
    pd.testing.assert_frame_equal(a.sessions, b.sessions)

    def without_paths(cfg):
        cfg = json.loads(json.dumps(cfg))
        for f in PATH_FIELDS:
            if get_path(cfg, f) is not None:
                node = cfg
                for k in f[:-1]:
                    node = node[k]
                node[f[-1]] = "<path>"
        return cfg

    assert without_paths(a.config) == without_paths(b.config)


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_saved_scenario_loads_back_the_same(path, tmp_path):
    sc = gridopt.load_scenario(path)
    saved = save_scenario(sc, tmp_path / "out")
    assert saved.name == f"{slug(sc.name)}.yaml"
    assert all(p.parent.name == "data" for p in (tmp_path / "out" / "data").iterdir())
    back = gridopt.load_scenario(saved, confine=True)  # self-contained: nothing outside its folder
    assert_same_scenario(sc, back)
    text = saved.read_text()
    assert text.startswith("# gridopt scenario") and f"gridopt run {saved.name}" in text
    if sc.config["fleet"].get("vehicles"):  # caltech_acn_network has visitors only
        assert yaml.safe_load(text)["fleet"]["vehicles"] == "data/vehicles.csv"


def test_an_edited_scenario_saves_and_loads_back_the_same(tmp_path):
    sc = gridopt.load_scenario(ROOT / "scenarios" / "pv_tight_grid.yaml")
    e = dataclasses.replace(
        current_edits(sc),
        n_vehicles=17,
        v2g_share=1.0,
        import_price={"00:00": 0.1, "17:00": 0.35},
        pv_peak_kw=90.0,
        import_limit_kw=None,
    )
    edited = apply_edits(sc, e, tmp_path / "work")
    back = gridopt.load_scenario(save_scenario(edited, tmp_path / "saved"))
    assert_same_scenario(edited, back)
    assert len(back.vehicles) == 17 and back.import_limit_kw == float("inf")


def test_the_zip_unpacks_loads_and_runs_with_the_cli(tmp_path, capsys):
    sc = gridopt.load_scenario(ROOT / "scenarios" / "workplace_acn.yaml")
    data = scenario_zip(sc)
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert names[0] == "workplace-acn/workplace-acn.yaml"
    assert set(names[1:]) == {
        "workplace-acn/data/timeseries.csv",
        "workplace-acn/data/tariff.json",
        "workplace-acn/data/vehicles.csv",
        "workplace-acn/data/sessions.csv",
    }
    path = unpack_scenario_zip(data, tmp_path / "up")
    assert_same_scenario(sc, gridopt.load_scenario(path, confine=True))
    assert cli(["run", str(path), "--out", str(tmp_path / "res"), "--quiet"]) == 0
    assert {p.name for p in (tmp_path / "res").iterdir()} == {
        "schedule.csv",
        "site.csv",
        "summary.json",
        "vehicles.csv",
        "setpoints.csv",
    }


def test_work_folders_are_named_by_content_and_written_once(tmp_path):
    sc = gridopt.load_scenario(ROOT / "scenarios" / "depot_bus_v2g.yaml")
    a, cfg_a = write_scenario_files(sc.config, sc.base_dir, tmp_path)
    stamp = (a / "scenario.yaml").stat().st_mtime_ns
    b, _ = write_scenario_files(sc.config, sc.base_dir, tmp_path)
    assert a == b and (a / "scenario.yaml").stat().st_mtime_ns == stamp
    texts = {("fleet", "vehicles"): (a / "data" / "vehicles.csv").read_text().replace("0.59", "0.6", 1)}
    c, _ = write_scenario_files(sc.config, sc.base_dir, tmp_path, texts)
    assert c != a
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".partial")]
    assert cfg_a["timeseries"] == "data/timeseries.csv"


def test_fingerprint_follows_content_not_files(tmp_path):
    sc = gridopt.load_scenario(ROOT / "scenarios" / "depot_bus_v2g.yaml")
    fp = scenario_fingerprint(sc)
    assert fp == scenario_fingerprint(gridopt.load_scenario(save_scenario(sc, tmp_path)))
    assert fp != scenario_fingerprint(sc.replace(import_limit_kw=1000.0))
    assert fp != scenario_fingerprint(sc.replace(solver=gridopt.SolverOptions(time_limit_s=5)))
    assert fp == scenario_fingerprint(sc.replace(description="other words"))
