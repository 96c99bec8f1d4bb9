"""The command line: ``gridopt run`` / ``gridopt validate``, their files, exit codes and messages."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import car, write_scenario

from gridopt.cli import main

START = pd.Timestamp("2026-06-15T00:00:00+02:00")
ISO_WITH_OFFSET = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?[+-]\d\d:\d\d$")
SCHEDULE_COLUMNS = ["time", "vehicle_id", "plugged_in", "charge_kw", "discharge_kw", "soc_kwh", "soc_pct"]
SITE_COLUMNS = [
    "time",
    "grid_import_kw",
    "grid_export_kw",
    "base_load_kw",
    "pv_kw",
    "pv_used_kw",
    "ev_charge_kw",
    "ev_discharge_kw",
    "import_price",
    "export_price",
]
SUMMARY_KEYS = {
    "status",
    "objective",
    "total_cost",
    "energy_cost",
    "demand_charge_cost",
    "degradation_cost",
    "unmet_energy_cost",
    "unmet_energy_kwh",
    "unmet_energy_by_vehicle",
    "peak_import_kw",
    "pv_self_consumption",
    "mip_gap",
    "solve_seconds",
    "build_seconds",
    "solver",
    "versions",
    "baseline",
    "savings",
}


def at(hours: float) -> str:
    return (START + pd.Timedelta(hours=hours)).isoformat()


def small_scenario(folder: Path) -> Path:
    """3 vehicles, 4 hourly steps: a trip car (away 02:00-03:00), a visitor (01:00-04:00), a V2G car."""
    return write_scenario(
        folder,
        vehicles=[
            car("EV1", initial_soc=0.2),
            car("V1", initial_soc=None),
            car("EV3", max_discharge_kw=5.0, initial_soc=0.6),
        ],
        trips=[{"vehicle_id": "EV1", "departure": at(2), "arrival": at(3), "energy_kwh": 10.0}],
        sessions=[{"vehicle_id": "V1", "arrival": at(1), "departure": at(4), "arrival_soc": 0.2, "target_soc": 0.4}],
        timeseries=pd.DataFrame(
            {
                "time": [at(h) for h in range(4)],
                "import_price": [0.3, 0.1, 0.2, 0.4],
                "export_price": [0.05, 0.05, 0.05, 0.35],
                "base_load_kw": [2.0, 2.0, 3.0, 3.0],
                "pv_kw": [0.0, 1.0, 2.0, 0.0],
            }
        ),
        tariff={},
        site={"import_limit_kw": 40, "export_limit_kw": 10},
    )


def infeasible_scenario(folder: Path) -> Path:
    """Base load 50 kW on a 10 kW connection, no PV, no V2G: no plan exists."""
    return write_scenario(
        folder, vehicles=[car()], site={"import_limit_kw": 10, "export_limit_kw": 0, "base_load_kw": 50}
    )


def bad_scenario(folder: Path) -> Path:
    return write_scenario(folder, vehicles=[car(battery_kwh=-50)])


def read_csv_text(path: Path) -> pd.DataFrame:
    """A CSV as text cells, empty cells kept as ''."""
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def one_error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error:"), err
    assert "Traceback" not in err
    return lines[0]


# ---------------------------------------------------------------------------
# Success
# ---------------------------------------------------------------------------


def check_outputs(out: Path, n_vehicles: int, n_steps: int) -> dict:
    assert sorted(p.name for p in out.iterdir()) == [
        "schedule.csv",
        "setpoints.csv",
        "site.csv",
        "summary.json",
        "vehicles.csv",
    ]

    sched = read_csv_text(out / "schedule.csv")
    assert list(sched.columns) == SCHEDULE_COLUMNS
    assert len(sched) == n_vehicles * n_steps
    assert not sched.duplicated(["time", "vehicle_id"]).any()
    assert sched.groupby("vehicle_id").size().tolist() == [n_steps] * n_vehicles
    assert sched["time"].nunique() == n_steps
    assert all(ISO_WITH_OFFSET.match(t) for t in sched["time"]), sched["time"].unique()
    assert set(sched["plugged_in"]) <= {"0", "1"}
    away = sched["plugged_in"] == "0"
    assert (sched.loc[away, "soc_kwh"] == "").all()
    assert (sched.loc[~away, "soc_kwh"] != "").all()
    for col in ("charge_kw", "discharge_kw"):
        v = sched[col].astype(float)
        assert (v >= -1e-9).all() and v.map(math.isfinite).all()
    assert (sched.loc[away, ["charge_kw", "discharge_kw"]].astype(float).abs() < 1e-9).all().all()

    site = read_csv_text(out / "site.csv")
    assert list(site.columns) == SITE_COLUMNS
    assert len(site) == n_steps
    assert all(ISO_WITH_OFFSET.match(t) for t in site["time"])
    assert site["time"].tolist() == sorted(sched["time"].unique(), key=pd.Timestamp)
    assert (site.drop(columns="time") != "").all().all()

    summary = json.loads((out / "summary.json").read_text())
    assert SUMMARY_KEYS <= set(summary), SUMMARY_KEYS - set(summary)
    assert isinstance(summary["unmet_energy_by_vehicle"], dict)
    assert isinstance(summary["versions"], dict)
    parts = sum(summary[k] for k in ("energy_cost", "demand_charge_cost", "degradation_cost", "unmet_energy_cost"))
    assert summary["total_cost"] == pytest.approx(parts, abs=1e-6)
    return summary


def test_run_writes_schedule_site_and_summary(tmp_path, capsys):
    path = small_scenario(tmp_path / "sc")
    out = tmp_path / "results"
    code = main(["run", str(path), "--out", str(out)])
    stdout, stderr = capsys.readouterr()
    assert code == 0, stderr
    assert "error" not in stderr.lower()
    assert "Traceback" not in stderr

    summary = check_outputs(out, n_vehicles=3, n_steps=4)
    assert summary["status"] == "optimal"
    assert summary["objective"] == pytest.approx(summary["total_cost"], abs=1e-6)
    assert summary["pv_self_consumption"] is not None
    assert summary["unmet_energy_kwh"] == pytest.approx(0.0, abs=1e-6)

    sched = read_csv_text(out / "schedule.csv")
    sched["time"] = sched["time"].map(pd.Timestamp)
    plugged = {vid: g.set_index("time")["plugged_in"].tolist() for vid, g in sched.groupby("vehicle_id")}
    assert plugged["EV1"] == ["1", "1", "0", "1"]  # away on its 02:00-03:00 trip
    assert plugged["V1"] == ["0", "1", "1", "1"]  # session 01:00-04:00
    assert plugged["EV3"] == ["1", "1", "1", "1"]
    assert sched["time"].min() == START

    # a short human summary
    lines = stdout.strip().splitlines()
    assert 1 <= len(lines) <= 15
    assert "optimal" in stdout and "total cost" in stdout
    assert str(out) in stdout


def test_run_no_baseline(tmp_path, capsys):
    path = small_scenario(tmp_path / "sc")
    out = tmp_path / "results"
    assert main(["run", str(path), "--out", str(out), "--no-baseline", "--quiet"]) == 0
    stdout, _ = capsys.readouterr()
    assert stdout == ""
    summary = json.loads((out / "summary.json").read_text())
    assert "baseline" not in summary and summary["status"] == "optimal"


def test_validate_accepts_a_valid_scenario(tmp_path, capsys):
    path = small_scenario(tmp_path / "sc")
    assert main(["validate", str(path)]) == 0
    out, err = capsys.readouterr()
    assert "valid" in out and "3 vehicles" in out
    assert "error" not in err
    assert not (tmp_path / "sc" / "results").exists()


def test_run_as_a_subprocess(tmp_path):
    path = small_scenario(tmp_path / "sc")
    out = tmp_path / "results"
    proc = subprocess.run(
        [sys.executable, "-m", "gridopt", "run", str(path), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "optimal" in proc.stdout
    check_outputs(out, n_vehicles=3, n_steps=4)


# ---------------------------------------------------------------------------
# Failure: exit codes, one message, nothing written
# ---------------------------------------------------------------------------


def test_infeasible_site_exits_3_naming_limit_and_steps(tmp_path, capsys):
    path = infeasible_scenario(tmp_path / "sc")
    out = tmp_path / "results"
    code = main(["run", str(path), "--out", str(out)])
    _, err = capsys.readouterr()
    assert code == 3
    line = one_error_line(err)
    assert "import limit" in line
    assert re.search(r"\b10(\.0+)? kW", line), line
    assert at(0) in line  # the steps, as times
    assert "50" in line  # the base load that does not fit
    assert not out.exists()


def test_infeasible_site_subprocess_exits_3(tmp_path):
    path = infeasible_scenario(tmp_path / "sc")
    out = tmp_path / "results"
    proc = subprocess.run(
        [sys.executable, "-m", "gridopt", "run", str(path), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 3, proc.stderr
    line = one_error_line(proc.stderr)
    assert "import limit" in line and at(0) in line
    assert not out.exists()


@pytest.mark.parametrize(
    "make, args, code",
    [
        pytest.param(bad_scenario, [], 2, id="bad-input"),
        pytest.param(infeasible_scenario, [], 3, id="infeasible"),
        pytest.param(small_scenario, ["--time-limit", "-1"], 2, id="bad-time-limit"),
        pytest.param(small_scenario, ["--gap", "2"], 2, id="bad-gap"),
    ],
)
def test_failure_creates_no_output_folder(tmp_path, capsys, make, args, code):
    path = make(tmp_path / "sc")
    out = tmp_path / "new" / "results"
    assert main(["run", str(path), "--out", str(out), *args]) == code
    one_error_line(capsys.readouterr().err)
    assert not out.exists()
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize(
    "make, code",
    [pytest.param(bad_scenario, 2, id="bad-input"), pytest.param(infeasible_scenario, 3, id="infeasible")],
)
def test_failure_leaves_an_earlier_run_untouched(tmp_path, capsys, make, code):
    path = make(tmp_path / "sc")
    out = tmp_path / "results"
    out.mkdir()
    (out / "schedule.csv").write_text("time,vehicle_id\nold,run\n")
    (out / "summary.json").write_text('{"status": "optimal", "old": true}\n')
    before = snapshot(tmp_path)
    assert main(["run", str(path), "--out", str(out)]) == code
    one_error_line(capsys.readouterr().err)
    assert snapshot(tmp_path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results", "sc"]  # no temporary folder left


def test_out_path_that_is_a_file_is_an_error_not_a_traceback(tmp_path, capsys):
    """``--out`` naming an existing file: one error line, a non-zero exit, the file untouched."""
    path = small_scenario(tmp_path / "sc")
    out = tmp_path / "results"
    out.write_text("not a folder\n")
    code = main(["run", str(path), "--out", str(out)])
    _, err = capsys.readouterr()
    assert code != 0
    line = one_error_line(err)
    assert "results" in line
    assert out.read_text() == "not a folder\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results", "sc"]
