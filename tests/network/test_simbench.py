"""SimBench networks: codes, buses and levels, profiles on a scenario's dates, the AC check on a known overload."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import simbench as sb  # tests/network/conftest.py: collected only where simbench is installed

import gridopt.network as gn
from gridopt.errors import ScenarioError

CODE = "1-LV-rural1--0-sw"


@pytest.fixture(scope="module")
def rural():
    return gn.load_network(CODE)


@pytest.fixture(scope="module")
def absolute(rural):
    """SimBench's absolute profiles [MW], straight from simbench (independent of gridopt's mapping)."""
    return sb.get_absolute_values(rural.net, profiles_instead_of_study_cases=True)


def row_of(when_utc: dt.datetime) -> int:
    """SimBench row of an instant: rows are 15 minutes apart from 2016-01-01 00:00 CET = 2015-12-31 23:00 UTC."""
    return int((when_utc - dt.datetime(2015, 12, 31, 23, 0, tzinfo=dt.timezone.utc)).total_seconds() // 900)


def test_network_tables(rural):
    assert rural.name == CODE
    assert "LV1.101 Bus 4" in rural.bus_names and rural.buses.at["MV1.101 Bus 4", "level"] == "MV"
    assert set(rural.buses.level) == {"LV", "MV"}
    # SimBench gives every bus its band: 0.9-1.1 pu on LV buses
    assert set(rural.buses.vm_limits) == {"simbench"}
    lv = rural.buses[rural.buses.level == "LV"]
    assert set(lv.vm_min_pu) == {0.9} and set(lv.vm_max_pu) == {1.1}
    trafo = rural.elements[rural.elements.kind == "trafo"]
    assert trafo.rating_kva.tolist() == [160.0]  # 0.16 MVA
    assert len(rural.elements[rural.elements.kind == "line"]) == 13


def test_bad_code_is_one_line_naming_it():
    with pytest.raises(ScenarioError) as exc:
        gn.load_network("1-LV-ruralX--0-sw", source="feeder.yaml")
    msg = str(exc.value)
    assert msg.startswith("feeder.yaml: field 'network': '1-LV-ruralX--0-sw' is not a SimBench code")
    assert "did you mean '1-LV-rural" in msg and "\n" not in msg
    with pytest.raises(ScenarioError, match="'garbage' is not a SimBench code"):
        gn.load_network("garbage")


def test_buses_of_the_wrong_level_or_unknown(rural):
    with pytest.raises(
        ScenarioError,
        match=r"^feeder.yaml: field 'sites.0.bus': bus 'MV1.101 Bus 4' is a MV bus \(20 kV\), the site needs an LV bus$",
    ):
        rural.bus("MV1.101 Bus 4", source="feeder.yaml", field="sites.0.bus", level="LV")
    with pytest.raises(ScenarioError, match="bus 'LV1.101 Bus 4' is a LV bus .*needs an MV bus"):
        rural.bus("LV1.101 Bus 4", source="feeder.yaml", level="mv")
    with pytest.raises(ScenarioError, match="bus 'LV1.101 Bus 99' is not in network 1-LV-rural1--0-sw .*did you mean"):
        rural.bus("LV1.101 Bus 99", source="feeder.yaml")
    assert rural.bus("LV1.101 Bus 4", level="LV") == "LV1.101 Bus 4"


def test_profiles_map_the_same_wall_clock_day_of_2016(rural, absolute):
    prof = rural.profiles("2024-06-17T00:00+02:00", 96, 15)
    assert prof.index[0] == pd.Timestamp("2024-06-17T00:00+02:00") and len(prof.index) == 96
    assert prof.reference_start == pd.Timestamp("2016-06-17T00:00+02:00")
    r0 = row_of(dt.datetime(2016, 6, 16, 22, 0, tzinfo=dt.timezone.utc))
    loads = absolute[("load", "p_mw")]
    for k in (0, 37, 95):
        np.testing.assert_allclose(prof.load_p_kw.iloc[k].to_numpy(), 1000 * loads.iloc[r0 + k].to_numpy())
    # per bus: loads minus generators
    sgen = absolute[("sgen", "p_mw")]
    net = rural.net
    b = "LV1.101 Bus 7"  # has a load and a PV generator
    li = net.load.index[net.load.bus == rural.buses.at[b, "pp_index"]]
    si = net.sgen.index[net.sgen.bus == rural.buses.at[b, "pp_index"]]
    assert len(li) and len(si)
    k = 50  # 12:30, the PV generates
    want = 1000 * (loads.iloc[r0 + k][li].sum() - sgen.iloc[r0 + k][si].sum())
    assert prof.bus_p_kw[b].iloc[k] == pytest.approx(want) and want < 0


def test_hour_steps_are_means_and_other_steps_need_resample(rural, absolute):
    loads = absolute[("load", "p_mw")].to_numpy()
    r0 = row_of(dt.datetime(2016, 1, 15, 6, 0, tzinfo=dt.timezone.utc))  # 07:00 CET
    hour = rural.profiles("2024-01-15T07:00+01:00", 3, 60)
    np.testing.assert_allclose(hour.load_p_kw.iloc[1].to_numpy(), 1000 * loads[r0 + 4 : r0 + 8].mean(axis=0))
    with pytest.raises(
        ScenarioError, match=r"^plan.yaml: field 'step_minutes': 20 min is not a multiple of SimBench's 15-minute"
    ):
        rural.profiles("2024-01-15T07:00+01:00", 3, 20, source="plan.yaml")
    with pytest.raises(
        ScenarioError, match=r"field 'start': 2024-01-15T07:05:00\+01:00 is not on SimBench's 15-minute grid"
    ):
        rural.profiles("2024-01-15T07:05+01:00", 3, 15)
    twenty = rural.profiles("2024-01-15T07:00+01:00", 3, 20, resample="mean")
    # step 1 is 07:20-07:40: 10 minutes of the 07:15 row and 10 of the 07:30 row
    np.testing.assert_allclose(twenty.load_p_kw.iloc[1].to_numpy(), 1000 * (loads[r0 + 1] + loads[r0 + 2]) / 2)
    five = rural.profiles("2024-01-15T07:05+01:00", 3, 5, resample="mean")
    np.testing.assert_allclose(five.load_p_kw.to_numpy(), 1000 * loads[[r0, r0, r0 + 1]])


def test_year_end_wraps_and_other_time_zones_map_their_wall_clock(rural, absolute):
    loads = absolute[("load", "p_mw")].to_numpy()
    prof = rural.profiles("2023-12-31T23:30+01:00", 4, 15)
    np.testing.assert_allclose(prof.load_p_kw.to_numpy(), 1000 * loads[[35134, 35135, 0, 1]])
    ny = rural.profiles("2024-06-17T00:00", 2, 15, "America/New_York")
    assert str(ny.index.tz) == "America/New_York" and ny.reference_start == pd.Timestamp("2016-06-17T00:00+02:00")
    moved = rural.profiles("2024-06-17T00:00+02:00", 2, 15, reference_start="2016-06-20 00:00")  # a Monday
    r = row_of(dt.datetime(2016, 6, 19, 22, 0, tzinfo=dt.timezone.utc))
    np.testing.assert_allclose(moved.load_p_kw.to_numpy(), 1000 * loads[[r, r + 1]])
    with pytest.raises(ScenarioError, match="has no time zone"):
        rural.profiles("2024-06-17T00:00", 2, 15)
    with pytest.raises(ScenarioError, match="is not in SimBench's year 2016"):
        rural.profiles("2024-06-17T00:00+02:00", 2, 15, reference_start="2017-01-02")


def test_ac_check_on_a_simbench_day_and_a_known_transformer_overload(rural):
    prof = rural.profiles("2024-01-15T00:00+01:00", 8, 15)  # winter night: no PV
    alone = gn.ac_check(rural, prof)
    assert alone.ok and alone.steps.converged.all()
    assert (alone.steps.max_trafo_loading_percent < 40).all()
    # 200 kW more at the transformer's LV bus in step 3: |S_lv| >= 200 kW + the night's load on a 160 kVA
    # transformer with vm_lv <= 1.03 pu: loading >= 100 * 200 / (160 * 1.03) = 121 %
    plan = pd.DataFrame(0.0, index=prof.index, columns=["LV1.101 Bus 4"])
    plan.iloc[3, 0] = 200.0
    res = gn.ac_check(rural, prof, plan)
    assert res.steps.n_violations.tolist() == [0, 0, 0, 1, 0, 0, 0, 0]
    assert res.steps.max_trafo_loading_percent.iloc[3] >= 121.0
    assert res.violations == [
        f"{prof.index[3].isoformat()}: trafo 'MV1.101-LV1.101-Trafo 1' loading "
        f"{res.steps.max_trafo_loading_percent.iloc[3]:.1f}% > 100%"
    ]
    el = res.elements
    assert set(el.kind) == {"trafo", "line", "bus"}
    assert len(el) == 8 * (len(rural.elements) + len(rural.buses))
    assert el.violated.sum() == 1
