"""setpoints.csv: contiguous blocks of equal power that re-create the plan's powers exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gridopt
from gridopt.export.setpoints import (
    DEFAULT_VOLTAGE_V,
    charger_of_rows,
    charging_blocks,
    expand_setpoints,
    power_blocks,
    written,
)

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))
STEP = pd.Timedelta(minutes=15)
TIMES = pd.date_range("2026-03-29T00:00", periods=24, freq="15min", tz="Europe/Amsterdam")  # across the DST change


def schedule_of(powers: np.ndarray, plugged: np.ndarray, stations=None) -> pd.DataFrame:
    """A schedule frame from (V, T) net powers (negative: discharge) and a plugged-in mask."""
    V, T = powers.shape
    power = np.where(plugged, powers, 0.0)
    df = pd.DataFrame(
        {
            "time": np.tile(TIMES[:T], V),
            "vehicle_id": np.repeat([f"EV{v}" for v in range(V)], T),
            "plugged_in": plugged.ravel(),
            "charge_kw": np.maximum(power, 0.0).ravel(),
            "discharge_kw": np.maximum(-power, 0.0).ravel(),
            "soc_kwh": np.where(plugged, 10.0, np.nan).ravel(),
        }
    )
    if stations is not None:
        df.insert(2, "station_id", np.where(plugged, stations, None).ravel())
    return df


def assert_recreates(schedule: pd.DataFrame, blocks: pd.DataFrame, ids: np.ndarray) -> None:
    """Expanded blocks = the written powers at every plugged-in step, nothing elsewhere, blocks maximal."""
    steps = expand_setpoints(blocks, STEP)
    plugged = schedule[schedule["plugged_in"].astype(bool)].copy()
    plugged["charger_id"] = np.asarray(ids, dtype=object)[schedule["plugged_in"].to_numpy(bool)]
    plugged["want"] = written(plugged["charge_kw"]) - written(plugged["discharge_kw"]) + 0.0
    key = ["vehicle_id", "charger_id", "time"]
    got = steps.set_index(key)["limit_kw"]
    assert not got.index.duplicated().any(), "a step is covered twice"
    want = plugged.set_index(key)["want"]
    assert len(got) == len(want), "blocks cover other steps than the plugged-in ones"
    assert (got.reindex(want.index).to_numpy() == want.to_numpy()).all()  # exactly, not approximately
    # maximal: two blocks of one charger and vehicle that touch have different powers
    b = blocks.sort_values(["charger_id", "vehicle_id", "start"])
    same = (b["charger_id"].to_numpy()[1:] == b["charger_id"].to_numpy()[:-1]) & (
        b["vehicle_id"].to_numpy()[1:] == b["vehicle_id"].to_numpy()[:-1]
    )
    touch = same & (b["start"].to_numpy()[1:] == b["end"].to_numpy()[:-1])
    assert (b["limit_kw"].to_numpy()[1:][touch] != b["limit_kw"].to_numpy()[:-1][touch]).all()
    assert (pd.DatetimeIndex(blocks["end"]) > pd.DatetimeIndex(blocks["start"])).all()


def test_blocks_of_a_hand_worked_plan():
    powers = np.array([[7.4, 7.4, 0.0, 3.0, 3.0, -2.5], [1.0, 1.0, 1.0, 1.0, 1.0, 1.0]])
    plugged = np.array([[1, 1, 1, 1, 0, 1], [0, 1, 1, 1, 1, 1]], dtype=bool)
    sched = schedule_of(powers, plugged)
    ids, source = charger_of_rows(sched)
    assert source == "vehicle_id"
    blocks = power_blocks(sched, STEP, ids)
    t = TIMES
    want = pd.DataFrame(
        {
            "charger_id": ["EV0"] * 4 + ["EV1"],
            "vehicle_id": ["EV0"] * 4 + ["EV1"],
            "start": [t[0], t[2], t[3], t[5], t[1]],
            "end": [t[2], t[3], t[4], t[6], t[6]],
            "limit_kw": [7.4, 0.0, 3.0, -2.5, 1.0],
        }
    )
    pd.testing.assert_frame_equal(blocks, want, check_dtype=False)
    assert_recreates(sched, blocks, ids)
    # charging blocks: EV0 charges in two runs (a pause and a discharge end them), EV1 in one
    assert charging_blocks(sched) == {"median_per_vehicle": 1.5, "max_per_vehicle": 2, "vehicles": 2}


def test_stations_name_the_charger_and_split_vehicles():
    powers = np.array([[5.0] * 6, [5.0] * 6])
    plugged = np.array([[1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1]], dtype=bool)
    stations = np.array([["CA-1"] * 6, ["CA-1"] * 6], dtype=object)
    sched = schedule_of(powers, plugged, stations)
    ids, source = charger_of_rows(sched)
    assert source == "station_id"
    blocks = power_blocks(sched, STEP, ids)
    assert blocks[["charger_id", "vehicle_id"]].values.tolist() == [["CA-1", "EV0"], ["CA-1", "EV1"]]
    assert_recreates(sched, blocks, ids)


def test_charger_assignment_wins():
    powers = np.array([[5.0] * 6])
    plugged = np.ones((1, 6), dtype=bool)
    sched = schedule_of(powers, plugged)
    assignment = pd.DataFrame(
        {
            "vehicle_id": ["EV0", "EV0"],
            "charger_id": ["C1", "C2"],
            "start": [TIMES[0], TIMES[3]],
            "end": [TIMES[3], TIMES[6]],
        }
    )
    ids, source = charger_of_rows(sched, assignment)
    assert source == "charger_assignment"
    assert list(ids) == ["C1"] * 3 + ["C2"] * 3
    blocks = power_blocks(sched, STEP, ids)
    assert blocks["charger_id"].tolist() == ["C1", "C2"]  # a move between chargers ends a block
    assert_recreates(sched, blocks, ids)


POWERS = st.sampled_from([0.0, 0.0, 1.4, 7.4, 11.0, -3.7, 2.0000001, 1.9999999, 3.3333333333, 1e-7])


@settings(max_examples=150, deadline=None)
@given(data=st.data(), n_vehicles=st.integers(1, 4), n_steps=st.integers(1, 24), with_stations=st.booleans())
def test_expanded_setpoints_recreate_random_plans(data, n_vehicles, n_steps, with_stations):
    shape = (n_vehicles, n_steps)
    powers = np.array(
        data.draw(st.lists(POWERS | st.floats(-50, 50), min_size=n_vehicles * n_steps, max_size=n_vehicles * n_steps))
    ).reshape(shape)
    plugged = np.array(data.draw(st.lists(st.booleans(), min_size=powers.size, max_size=powers.size))).reshape(shape)
    stations = None
    if with_stations:
        stations = np.array(
            data.draw(st.lists(st.sampled_from(["S1", "S2", None]), min_size=powers.size, max_size=powers.size)),
            dtype=object,
        ).reshape(shape)
    sched = schedule_of(powers, plugged, stations)
    ids, _ = charger_of_rows(sched)
    assert_recreates(sched, power_blocks(sched, STEP, ids), ids)


@pytest.fixture(scope="module", params=SCENARIOS, ids=lambda p: p.stem)
def written_run(request, tmp_path_factory):
    sc = gridopt.load_scenario(request.param)
    res = gridopt.optimize(sc, baseline=False, flexibility=False)
    out = tmp_path_factory.mktemp(request.param.stem)
    gridopt.write_results(res, out)
    return sc, res, out


def _read(path: Path, times: list[str]) -> pd.DataFrame:
    df = pd.read_csv(path, keep_default_na=False, na_values=[""])
    for c in times:
        df[c] = pd.to_datetime(df[c], utc=True)
    return df


def test_every_ready_scenario_setpoints_recreate_schedule_csv(written_run):
    sc, res, out = written_run
    sched = _read(out / "schedule.csv", ["time"])
    sp = _read(out / "setpoints.csv", ["start", "end"])
    assert list(sp.columns) == [
        "charger_id",
        "vehicle_id",
        "start",
        "end",
        "limit_kw",
        "limit_a",
        "phases",
        "voltage_v",
    ]
    sched["vehicle_id"] = sched["vehicle_id"].astype(str)
    sp["vehicle_id"] = sp["vehicle_id"].astype(str)
    sp["charger_id"] = sp["charger_id"].astype(str)
    ids, source = charger_of_rows(sched)
    assert source == (
        "charger_id" if sc.chargers is not None else "station_id" if "station_id" in sched else "vehicle_id"
    )
    assert_recreates(sched, sp, ids)
    # limit_a is the kW over phases x 230 V (or the chargers.csv voltage), and fewer rows than plugged-in steps
    assert np.allclose(sp["limit_a"], sp["limit_kw"] * 1000 / (sp["phases"] * sp["voltage_v"]), rtol=1e-5, atol=1e-6)
    if sc.chargers is None:
        assert (sp["voltage_v"] == DEFAULT_VOLTAGE_V).all()
    else:
        volts = sp["charger_id"].map(sc.chargers.set_index("charger_id")["voltage_v"])
        assert np.allclose(sp["voltage_v"], volts)
    assert len(sp) < sched["plugged_in"].sum()
    # the summary's charging blocks count the same runs the file shows
    blocks = res.summary["operator"]["charging_blocks"]
    assert blocks == charging_blocks(res.schedule)
    assert 1 <= blocks["median_per_vehicle"] <= blocks["max_per_vehicle"]
