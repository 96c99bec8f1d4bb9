"""Sweeps (issue 11): expansion, Latin hypercube, Dask runs (LocalCluster and a scheduler by address),
failing cases as rows, resume after kill -9, results equal to single runs, and a checked Scenario.replace."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import gridopt
from gridopt.batch import expand, load_results, load_sweep
from gridopt.cli import main
from gridopt.errors import ScenarioError

pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parents[1]
SCEN = ROOT / "scenarios"
DEPOT = SCEN / "depot_bus_v2g.yaml"
GRIDOPT = Path(sys.executable).with_name("gridopt")


def _sweep_file(tmp_path: Path, text: str, name: str = "sweep.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


# --- expansion --------------------------------------------------------------


def test_grid_expansion_is_the_cartesian_product_with_ranges_groups_and_fixed_fields(tmp_path):
    sw = load_sweep(
        {
            "name": "g",
            "base": str(DEPOT),
            "parameters": {
                "import_limit_kw": [300, None],
                "v2g_share": {"start": 0, "stop": 1, "num": 3},
                "day": [
                    {"label": "a", "import_price": 0.2},
                    {"label": "b", "import_price": {"00:00": 0.1, "16:00": 0.4}},
                ],
            },
            "fixed": {"time_limit_s": 5},
        }
    )
    cases = expand(sw)
    assert len(cases) == 2 * 3 * 2
    assert [c.params["v2g_share"] for c in cases[:6:2]] == [0.0, 0.5, 1.0]
    assert {c.params["day"] for c in cases} == {"a", "b"}
    first = cases[0]
    assert first.changes == {"time_limit_s": 5, "import_limit_kw": 300, "v2g_share": 0.0, "import_price": 0.2}
    assert cases[-1].changes["import_limit_kw"] is None and cases[-1].changes["import_price"]["16:00"] == 0.4
    assert len({c.key for c in cases}) == len(cases)  # every case its own content hash
    assert [c.key for c in expand(load_sweep(sw.spec))] == [c.key for c in cases]  # deterministic
    step = load_sweep(
        {"name": "s", "base": str(DEPOT), "parameters": {"export_limit_kw": {"start": 0, "stop": 100, "step": 25}}}
    )
    assert [c.params["export_limit_kw"] for c in expand(step)] == [0, 25, 50, 75, 100]


def test_a_changed_input_file_changes_the_case_key(tmp_path):
    prices = tmp_path / "prices.csv"
    prices.write_text("time,import_price\n2024-06-17T00:00:00+02:00,0.2\n")
    spec = {"name": "f", "base": str(DEPOT), "parameters": {"price_file": ["prices.csv"]}}
    before = expand(load_sweep(spec, folder=tmp_path))[0]
    assert before.params["price_file"] == "prices.csv"
    prices.write_text("time,import_price\n2024-06-17T00:00:00+02:00,0.3\n")
    os.utime(prices, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
    assert expand(load_sweep(spec, folder=tmp_path))[0].key != before.key


def test_latin_hypercube_hits_every_stratum_once_and_is_reproducible():
    spec = {
        "name": "l",
        "base": str(DEPOT),
        "mode": "lhs",
        "samples": 8,
        "seed": 3,
        "parameters": {
            "battery_degradation_cost_per_kwh": {"min": 0.0, "max": 0.08},
            "import_limit_kw": {"min": 500, "max": 1299, "integer": True},
            "v2g_share": [0.0, 0.5],
        },
    }
    cases = expand(load_sweep(spec))
    assert len(cases) == 8
    deg = np.array([c.params["battery_degradation_cost_per_kwh"] for c in cases])
    assert sorted(np.floor(deg / 0.01).astype(int)) == list(range(8))  # one sample in each eighth
    lim = [c.params["import_limit_kw"] for c in cases]
    assert all(isinstance(x, int) and 500 <= x <= 1299 for x in lim)
    assert sorted((np.array(lim) - 500) // 100) == list(range(8))
    assert sorted(c.params["v2g_share"] for c in cases) == [0.0] * 4 + [0.5] * 4
    assert [c.key for c in expand(load_sweep(spec))] == [c.key for c in cases]
    other = expand(load_sweep({**spec, "seed": 4}))
    assert [c.params for c in other] != [c.params for c in cases]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("name: x\nbase: ../nope.yaml\n", "scenario '../nope.yaml' not found"),
        ("name: x\nbase: {base}\nparameters: {{min_soc: [0.1]}}\n", "parameters.min_soc: unknown field 'min_soc'"),
        ("name: x\nbase: {base}\nparameters: {{v2g_share: {{start: 0, stop: 1}}}}\n", "a range is {start, stop, num}"),
        ("name: x\nbase: {base}\nmode: lhs\nparameters: {{v2g_share: [0, 1]}}\n", "mode lhs needs 'samples'"),
        ("name: x\nbase: {base}\nsweeps: 3\n", "unknown key 'sweeps'"),
    ],
)
def test_a_bad_sweep_file_is_one_line_and_exit_2(tmp_path, capsys, spec, message):
    path = _sweep_file(tmp_path, spec.format(base=DEPOT))
    assert main(["sweep", str(path), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("error: sweep.yaml: ") and message in err
    assert not (tmp_path / "out").exists()


# --- Scenario.replace -----------------------------------------------------------


@pytest.fixture(scope="module")
def depot():
    return gridopt.load_scenario(DEPOT)


def _yaml_message(tmp_path: Path, old: str, new: str) -> str:
    text = DEPOT.read_text().replace("data/", str(SCEN / "data") + "/").replace(old, new)
    p = tmp_path / "edited.yaml"
    p.write_text(text)
    with pytest.raises(ScenarioError) as err:
        gridopt.load_scenario(p)
    return str(err.value).split(": ", 1)[1]


@pytest.mark.parametrize(
    ("change", "old", "new"),
    [
        ({"import_limit_kw": -5}, "import_limit_kw: 1200", "import_limit_kw: -5"),
        ({"import_limit_kw": "abc"}, "import_limit_kw: 1200", "import_limit_kw: abc"),
        ({"import_limit_kw": True}, "import_limit_kw: 1200", "import_limit_kw: true"),
        ({"step_minutes": 7}, "step_minutes: 15", "step_minutes: 7"),
        ({"time_limit_s": 0}, "time_limit_s: 120", "time_limit_s: 0"),
        (
            {"battery_degradation_cost_per_kwh": -1},
            "battery_degradation_cost_per_kwh: 0.05",
            "battery_degradation_cost_per_kwh: -1",
        ),
    ],
)
def test_replace_refuses_what_the_yaml_refuses_with_the_same_message(depot, tmp_path, change, old, new):
    with pytest.raises(ScenarioError) as err:
        depot.replace(**change)
    text = str(err.value)
    assert text.startswith("depot-bus-v2g (replace): ")
    assert text.split(": ", 1)[1] == _yaml_message(tmp_path, old, new)


def test_replace_none_step_horizon_tariff_v2g_fleet_and_refusals(depot, tmp_path, monkeypatch):
    monkeypatch.setenv("GRIDOPT_EDIT_DIR", str(tmp_path / "edits"))
    assert depot.replace(import_limit_kw=None).import_limit_kw == float("inf")  # None = no limit, as in YAML
    sc = depot.replace(step_minutes=30, horizon_hours=12, import_price=0.3, v2g_share=0.5, n_vehicles=10)
    assert (sc.grid.step_minutes, sc.grid.n_steps) == (30, 24)
    assert len(sc.vehicles) == 10 and (sc.vehicles["max_discharge_kw"] > 0).sum() == 5
    assert sc.series["import_price"].eq(0.3).all()
    assert depot.replace() is depot
    with pytest.raises(ScenarioError, match="field 'vehicles' takes a file path .*not a DataFrame"):
        depot.replace(vehicles=depot.vehicles.assign(min_soc=5))
    with pytest.raises(ScenarioError, match="unknown field 'min_soc'"):
        depot.replace(min_soc=5)
    with pytest.raises(ScenarioError, match="field 'v2g_share': must be within 0..1"):
        depot.replace(v2g_share=1.5)
    with pytest.raises(ScenarioError, match="field 'n_vehicles': must be a whole number"):
        depot.replace(n_vehicles=2.5)
    with pytest.raises(ScenarioError, match="field 'series' is built from the scenario's files"):
        depot.replace(series=depot.series)
    assert main(["run", str(DEPOT), "--out", str(tmp_path / "o"), "--time-limit", "-1"]) == 2  # CLI: exit 2


# --- Dask runs -----------------------------------------------------------------

SWEEP = """\
name: small
base: {base}
parameters:
  import_limit_kw: [400, 10]       # 10 kW: below the depot's base load, an infeasible site
  step_minutes: [15, 7]            # 7 minutes: 24 h is no whole number of steps, bad input
fixed: {{time_limit_s: 30}}
"""


def test_sweep_on_a_local_cluster_records_failures_and_equals_single_runs(tmp_path):
    path = _sweep_file(tmp_path, SWEEP.format(base=DEPOT))
    out = tmp_path / "out"
    run = gridopt.sweep(path, out, workers=2, quiet=True)
    df = run.results
    assert list(df["case"]) == [0, 1, 2, 3] and run.ran == 4 and run.skipped == 0
    by = {(r.import_limit_kw, r.step_minutes): r for r in df.itertuples()}
    assert by[(400, 15)].status == "optimal"
    assert by[(10, 15)].status == "infeasible" and "import limit" in by[(10, 15)].message
    assert by[(400, 7)].status == "bad_input" and "7-minute steps" in by[(400, 7)].message
    assert all("\n" not in m for m in df["message"])
    assert run.manifest["cluster"]["workers"] == 2 and run.manifest["status"] == "complete"
    # the table is the journal; parquet, csv and DuckDB agree
    pq = pd.read_parquet(out / "results.parquet")
    csv = pd.read_csv(out / "results.csv")
    assert len(pq) == len(csv) == 4 and set(pq["case_key"]) == set(csv["case_key"])
    duckdb = pytest.importorskip("duckdb")
    query = f"SELECT count(*) FROM '{out / 'results.parquet'}' WHERE status = 'optimal'"
    n_ok = duckdb.connect().execute(query).fetchone()[0]
    assert n_ok == 1
    # equal to gridopt run of the same scenario written as a file
    ok = by[(400, 15)]
    text = (
        DEPOT.read_text()
        .replace("data/", str(SCEN / "data") + "/")
        .replace("import_limit_kw: 1200", "import_limit_kw: 400")
    )
    text = text.replace("time_limit_s: 120", "time_limit_s: 30")
    (tmp_path / "single.yaml").write_text(text)
    assert main(["run", str(tmp_path / "single.yaml"), "--out", str(tmp_path / "single"), "--quiet"]) == 0
    single = json.loads((tmp_path / "single" / "summary.json").read_text())
    case_dir = out / "cases" / ok.case_id
    swept = json.loads((case_dir / "summary.json").read_text())
    assert (case_dir / "schedule.csv").read_bytes() == (tmp_path / "single" / "schedule.csv").read_bytes()
    assert swept["total_cost"] == pytest.approx(single["total_cost"], rel=1e-9)
    assert ok.total_cost == pytest.approx(single["total_cost"], rel=1e-9)
    assert ok.peak_import_kw == pytest.approx(single["peak_import_kw"], rel=1e-9)
    row = df.set_index("case_id").loc[ok.case_id]
    assert row["savings.total_cost"] == pytest.approx(single["savings"]["total_cost"], rel=1e-9)
    assert row["baseline.peak_import_kw"] == pytest.approx(single["baseline"]["peak_import_kw"], rel=1e-9)
    assert row["versions.highspy"] == single["versions"]["highspy"]
    # provenance: the same scenario hash, the command line or the API call, versions, machine, times
    assert ok.scenario_hash == single["provenance"]["scenario_hash"] == swept["provenance"]["scenario_hash"]
    assert single["provenance"]["invocation"].startswith("gridopt run ")
    assert (
        "gridopt.sweep()" in swept["provenance"]["invocation"] and swept["provenance"]["sweep"]["case_id"] == ok.case_id
    )
    for prov in (single["provenance"], swept["provenance"]):
        assert prov["python"] == ".".join(map(str, sys.version_info[:3]))
        assert prov["packages"]["highspy"] and prov["solver"]["name"]
        assert prov["machine"]["cores"] >= 1 and prov["machine"]["memory_gb"] > 0
        assert prov["started"] <= prov["finished"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"] == {"optimal": 1, "infeasible": 1, "bad_input": 2}
    assert manifest["sweep_packages"]["distributed"] and len(manifest["case_keys"]) == 4
    # rerun: nothing left to do, nothing duplicated
    again = gridopt.sweep(path, out, quiet=True)
    assert (again.ran, again.skipped) == (0, 4) and len(again.results) == 4
    report = gridopt.sweep_report(out, png=False)
    assert report.files[0].name == "report.html" and "total cost vs import_limit_kw" in report.files[0].read_text()
    # the app's Compare page loads the folder and plots it
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    at.switch_page("gridopt/ui/pages/compare.py").run()
    at.text_input(key="sweep_dir").set_value(str(out)).run()
    assert not at.exception, [e.value for e in at.exception]
    shown = "\n".join(str(m.value) for m in at.markdown)
    assert "**4 cases**" in shown and "parameters: import_limit_kw, step_minutes" in shown
    assert len(at.get("plotly_chart")) == 2 * 3  # 3 KPIs against each of the two parameters
    at.text_input(key="sweep_dir").set_value(str(tmp_path)).run()
    assert "not a sweep's folder" in at.error[0].value


def test_sweep_on_a_scheduler_started_by_address(tmp_path):
    pytest.importorskip("distributed")
    sched_file = tmp_path / "scheduler.json"
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    dask = str(Path(sys.executable).with_name("dask"))
    procs = [
        subprocess.Popen(
            [
                dask,
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--no-dashboard",
                "--scheduler-file",
                str(sched_file),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
    ]
    try:
        deadline = time.monotonic() + 30
        while not sched_file.is_file() and time.monotonic() < deadline:
            time.sleep(0.2)
        address = json.loads(sched_file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        procs.append(
            subprocess.Popen(
                [
                    dask,
                    "worker",
                    address,
                    "--nworkers",
                    "1",
                    "--nthreads",
                    "1",
                    "--no-dashboard",
                    "--host",
                    "127.0.0.1",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=env,
            )
        )
        path = _sweep_file(
            tmp_path,
            f"name: remote\nbase: {DEPOT}\nparameters: {{v2g_share: [0.0, 1.0]}}\nfixed: {{time_limit_s: 30}}\n",
        )
        run = gridopt.sweep(path, tmp_path / "out", scheduler=address, workers=1, quiet=True)
        assert list(run.results["status"]) == ["optimal", "optimal"]
        assert run.manifest["cluster"]["scheduler"] == address and run.manifest["cluster"]["workers"] == 1
        v2g = run.results.set_index("v2g_share")["v2g_energy_kwh"]
        assert v2g[0.0] == 0 and v2g[1.0] > 0
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


def test_kill_9_mid_sweep_then_resume_loses_and_duplicates_nothing(tmp_path):
    """A sweep killed with SIGKILL while cases run: the rerun runs only what is missing."""
    path = _sweep_file(
        tmp_path,
        "name: killed\nbase: {synthetic: {n_vehicles: 4, step_minutes: 60}}\n"
        "parameters: {seed: {start: 0, stop: 15, num: 16}}\nfixed: {time_limit_s: 20}\n",
    )
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [str(GRIDOPT), "sweep", str(path), "--out", str(out), "--workers", "1", "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if len(list((out / "journal").glob("*.json"))) >= 3:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the sweep ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        done_before = {p.stem for p in (out / "journal").glob("*.json")}
        assert 3 <= len(done_before) < 16
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["status"] == "running"  # killed: it never got to write its end
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the killed driver's orphaned worker processes
        except ProcessLookupError:
            pass
    run = gridopt.sweep(path, out, workers=1, quiet=True)
    df = run.results
    assert run.skipped >= len(done_before) and run.ran == 16 - run.skipped
    assert len(df) == 16 and df["case_key"].is_unique and sorted(df["seed"]) == list(range(16))
    assert set(df["status"]) == {"optimal"}
    assert len(list((out / "journal").glob("*.json"))) == 16
    assert sorted(p.name for p in (out / "cases").iterdir() if not p.name.startswith(".")) == sorted(df["case_id"])
    assert load_results(out)["case_key"].tolist() == df["case_key"].tolist()
    assert run.manifest["status"] == "complete"
