"""The network layer on hand-built pandapower nets whose sensitivities and overloads are worked out by hand.

The 3-bus chain: an external grid at bus ``b0`` (0.4 kV, 1.0 pu), line ``a``
(``b0``-``b1``, R_a = 0.1 ohm, X_a = 0.05 ohm) and line ``b`` (``b1``-``b2``,
R_b = 0.2 ohm, X_b = 0.1 ohm), no shunt capacitance, ``max_i_ka`` 0.2 kA, no
other loads. At zero flow (every voltage 1 pu, no losses) the voltage
sensitivities are exactly LinDistFlow's (Vn = 400 V)::

    d vm_i / d p_j = -R_common(i, j) / Vn^2     [pu/W]
    d vm_1 / d p_1 = d vm_1 / d p_2 = d vm_2 / d p_1 = -0.1 / 400^2 * 1000 = -6.25e-4 pu/kW
    d vm_2 / d p_2 = -(0.1 + 0.2) / 400^2 * 1000                          = -1.875e-3 pu/kW

and every kW drawn at a bus enters each line upstream of it at its from end and
leaves at its to end: rating = sqrt(3) * 0.4 kV * 0.2 kA = 138.564 kVA, so
``flow_pct`` changes by +-100 / 138.564 = 0.72169 %/kW.
"""

from __future__ import annotations

import math

import numpy as np
import pandapower as pp  # tests/network/conftest.py: collected only where pandapower is installed
import pandas as pd
import pytest

import gridopt.network as gn
from gridopt.errors import ScenarioError

RATING_KVA = math.sqrt(3) * 0.4 * 0.2 * 1000.0
PCT_PER_KW = 100.0 / RATING_KVA


def chain(load_b2_kw: float = 0.0, max_i_ka: float = 0.2, vm_min: float = 0.95) -> gn.NetworkData:
    """The 3-bus chain of the module docstring (optionally a load at b2)."""
    net = pp.create_empty_network()
    b = [pp.create_bus(net, 0.4, name=f"b{i}", min_vm_pu=vm_min, max_vm_pu=1.05) for i in range(3)]
    pp.create_ext_grid(net, b[0], vm_pu=1.0)
    for name, (f, t, r, x) in {"a": (0, 1, 0.1, 0.05), "b": (1, 2, 0.2, 0.1)}.items():
        pp.create_line_from_parameters(
            net,
            b[f],
            b[t],
            length_km=1.0,
            r_ohm_per_km=r,
            x_ohm_per_km=x,
            c_nf_per_km=0.0,
            max_i_ka=max_i_ka,
            name=name,
        )
    if load_b2_kw:
        pp.create_load(net, b[2], p_mw=load_b2_kw / 1000.0, q_mvar=0.0, name="L2")
    return gn.NetworkData.from_pandapower(net, name="chain")


def one_step(nd: gn.NetworkData, steps: int = 1):
    return nd.profiles("2024-06-17T12:00+02:00", steps, 15)


def test_buses_elements_and_ratings():
    nd = chain()
    assert nd.bus_names == ["b0", "b1", "b2"]
    assert list(nd.buses.level) == ["LV"] * 3
    assert list(nd.buses.vm_limits) == ["simbench"] * 3  # the net's own min/max_vm_pu
    assert nd.buses.is_slack.tolist() == [True, False, False]
    assert nd.elements.loc["a", "rating_kva"] == pytest.approx(RATING_KVA)
    assert nd.elements.loc["b", ["from_bus", "to_bus"]].tolist() == ["b1", "b2"]
    assert nd.elements.max_loading_percent.tolist() == [100.0, 100.0]  # not given: the default


def test_default_voltage_band_where_the_net_gives_none():
    net = pp.create_empty_network()
    b0, b1 = pp.create_bus(net, 0.4, name="x0"), pp.create_bus(net, 0.4, name="x1")
    pp.create_ext_grid(net, b0)
    pp.create_line_from_parameters(net, b0, b1, 1.0, 0.1, 0.05, 0.0, 0.2, name="l")
    nd = gn.NetworkData.from_pandapower(net)
    assert nd.buses.vm_min_pu.tolist() == [0.95, 0.95] and nd.buses.vm_max_pu.tolist() == [1.05, 1.05]
    assert set(nd.buses.vm_limits) == {"default"}


def test_sensitivities_by_hand():
    nd = chain()
    lin = gn.linearise(nd, one_step(nd), ["b1", "b2"])
    assert lin.buses == ["b1", "b2"]  # the slack is not monitored
    k = 0.1 / 400**2 * 1000.0  # 6.25e-4 pu/kW
    np.testing.assert_allclose(lin.S_vm, [[-k, -k], [-k, -3 * k]], rtol=1e-3)
    np.testing.assert_allclose(lin.base_vm, [[1.0, 1.0]], atol=1e-9)
    flows = lin.flows.set_index(["element", "end"])
    s = pd.DataFrame(lin.S_flow, index=flows.index, columns=["b1", "b2"])
    np.testing.assert_allclose(s.loc[("a", "from")], [PCT_PER_KW, PCT_PER_KW], rtol=1e-3)
    np.testing.assert_allclose(s.loc[("a", "to")], [-PCT_PER_KW, -PCT_PER_KW], rtol=1e-3)
    np.testing.assert_allclose(s.loc[("b", "from")], [0.0, PCT_PER_KW], atol=1e-6, rtol=1e-3)
    np.testing.assert_allclose(s.loc[("b", "to")], [0.0, -PCT_PER_KW], atol=1e-6, rtol=1e-3)
    np.testing.assert_allclose(lin.base_flow_pct, 0.0, atol=1e-9)


def test_flow_limit_by_hand():
    """At zero flow, Q = 0: limit = L * v_low - margin, v_low = the voltage the EV range can reach at most."""
    nd = chain()
    lin = gn.linearise(nd, one_step(nd), ["b1", "b2"], ev_range_kw=10.0)
    k = 6.25e-4
    # b1 can fall by (k + k) * 10 kW, b2 by (k + 3k) * 10 kW; both above vm_min + margin = 0.952
    v1 = 1.0 - 2 * k * 10 - lin.vm_margin_pu
    v2 = 1.0 - 4 * k * 10 - lin.vm_margin_pu
    flows = lin.flows.set_index(["element", "end"])
    lim = pd.Series(lin.flow_limit_pct[0], index=flows.index)
    m = lin.flow_margin_pct
    assert lim[("a", "from")] == pytest.approx(100.0 * 1.0 - m, abs=1e-6)  # b0 is the slack: 1.0 pu
    assert lim[("a", "to")] == pytest.approx(100.0 * v1 - m, rel=1e-3)
    assert lim[("b", "from")] == pytest.approx(100.0 * v1 - m, rel=1e-3)
    assert lim[("b", "to")] == pytest.approx(100.0 * v2 - m, rel=1e-3)


def test_linear_model_against_ac_power_flow_on_the_chain():
    nd = chain(load_b2_kw=20.0)
    prof = one_step(nd)
    lin = gn.linearise(nd, prof, ["b1", "b2"])
    rng = np.random.default_rng(0)
    pf = gn.PowerFlow(nd, ["b1", "b2"])
    for _ in range(10):
        p = rng.uniform(-10.0, 10.0, 2)
        pf.set_base(prof, 0)
        pf.set_ev(p, 0 * p)
        assert pf.solve()
        vm_lin, flow_lin = lin.predict(p[None, :])
        assert np.abs(vm_lin[0] - pf.vm_pu()[1:]).max() < lin.vm_margin_pu
        pfr, _, pto, _ = pf.branch_power()
        assert np.abs(flow_lin[0] - 100.0 * np.concatenate([pfr, pto]) / RATING_KVA).max() < lin.flow_margin_pct


def test_linearise_around_a_plan_is_exact_at_the_plan():
    nd = chain()
    prof = one_step(nd, steps=2)
    plan = pd.DataFrame({"b2": [15.0, -5.0]}, index=prof.index)
    lin = gn.linearise(nd, prof, ["b1", "b2"], ev_p_kw=plan)
    res = gn.ac_check(nd, prof, plan)
    vm_lin, _ = lin.predict(np.column_stack([np.zeros(2), plan["b2"].to_numpy()]))
    ac_vm = res.elements[res.elements.kind == "bus"].pivot(index="time", columns="element", values="vm_pu")
    np.testing.assert_allclose(vm_lin, ac_vm[["b1", "b2"]].to_numpy(), atol=1e-9)


def test_rows_at_their_boundary_hold_under_ac_power_flow():
    """Scale a charging direction until a linear row binds: AC loading and voltages stay within limits.

    The chain's lines are long for LV (0.3 ohm): at the limit b2 sits 0.1 pu low, where the linear voltage is
    0.007 pu off (beyond the default margin, stated for SimBench's LV grids), so the margin is set to 0.01 pu.
    """
    nd = chain(load_b2_kw=10.0, max_i_ka=0.1, vm_min=0.9)
    prof = one_step(nd)
    lin = gn.linearise(nd, prof, ["b1", "b2"], ev_range_kw=80.0, vm_margin_pu=0.01)
    G, h, _ = lin.inequalities()
    for d in ([1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, -0.5]):
        d = np.array(d)
        gd = G @ d
        alpha = np.min(h[0][gd > 1e-12] / gd[gd > 1e-12])
        res = gn.ac_check(nd, prof, pd.DataFrame([alpha * d], index=prof.index, columns=["b1", "b2"]))
        assert res.ok, res.violations
        st = res.steps.iloc[0]
        assert st.max_line_loading_percent > 90.0 or st.min_vm_pu < 0.92 or st.max_vm_pu > 1.03  # near a limit


def test_ac_check_finds_a_known_overload():
    """100 kW at b2 through lines rated sqrt(3) * 0.4 kV * 0.1 kA = 69.3 kVA: at vm <= 1 the current is at
    least 100 / (sqrt(3) * 0.4) = 144.3 A, loading >= 144.3 %; the voltage drop is at least
    0.3 ohm * 100 kW / 400 V^2 = 0.1875 pu, so vm(b2) <= 0.8125 < 0.95."""
    nd = chain(max_i_ka=0.1)
    prof = one_step(nd, steps=2)
    plan = pd.DataFrame({"b2": [100.0, 10.0]}, index=prof.index)
    res = gn.ac_check(nd, prof, plan)
    assert not res.ok
    el = res.elements.set_index(["time", "element"])
    t0, t1 = prof.index
    assert el.loc[(t0, "b"), "loading_percent"] >= 144.3
    assert el.loc[(t0, "a"), "loading_percent"] >= 144.3
    assert el.loc[(t0, "b2"), "vm_pu"] <= 0.8125
    assert bool(el.loc[(t0, "b"), "violated"]) and not bool(el.loc[(t1, "b"), "violated"])
    text = "\n".join(res.violations)
    assert "line 'b' loading" in text and "bus 'b2' voltage" in text
    assert all(v.startswith(t0.isoformat()) for v in res.violations)  # 10 kW at step 1 is fine
    assert res.steps.n_violations.tolist()[1] == 0
    assert res.steps.max_line_loading_percent.iloc[0] == pytest.approx(el.loc[(t0, "b"), "loading_percent"])


def test_ac_check_equals_a_plain_pandapower_run():
    nd = chain(load_b2_kw=30.0)
    res = gn.ac_check(nd, one_step(nd))
    net = chain(load_b2_kw=30.0).net  # a fresh net, solved by pandapower directly
    pp.runpp(net, numba=False)
    el = res.elements.set_index("element")
    assert el.loc["b", "loading_percent"] == pytest.approx(net.res_line.loading_percent.iloc[1], rel=1e-6)
    assert el.loc["b2", "vm_pu"] == pytest.approx(net.res_bus.vm_pu.iloc[2], abs=1e-8)


def test_bad_buses_and_plans():
    nd = chain()
    with pytest.raises(ScenarioError, match=r"^feeder.yaml: field 'sites\[0\].bus': bus 'b7' is not in network chain"):
        nd.bus("b7", source="feeder.yaml", field="sites[0].bus")
    with pytest.raises(ScenarioError, match="bus 'b1' is a LV bus .* needs an MV bus"):
        nd.bus("b1", source="feeder.yaml", level="MV")
    with pytest.raises(ScenarioError, match="listed twice"):
        gn.linearise(nd, one_step(nd), ["b1", "b1"])
    prof = one_step(nd)
    with pytest.raises(ScenarioError, match="bus 'nope' is not in network"):
        gn.ac_check(nd, prof, pd.DataFrame({"nope": [1.0]}, index=prof.index))
    with pytest.raises(ScenarioError, match="NaN"):
        gn.ac_check(nd, prof, pd.DataFrame({"b1": [float("nan")]}, index=prof.index))
    with pytest.raises(ScenarioError, match="bus 'b1' twice"):
        gn.ac_check(nd, prof, pd.DataFrame([[1.0, 2.0]], index=prof.index, columns=["b1", "b1"]))
    with pytest.raises(ScenarioError, match="another index"):
        gn.ac_check(nd, prof, pd.DataFrame({"b1": [1.0, 2.0]}))
    with pytest.raises(ScenarioError) as exc:
        nd.bus("b7", source="feeder.yaml")
    assert "\n" not in str(exc.value)


def test_power_factor_moves_reactive_power_with_active_power():
    """At pf 0.9 (lagging) a kW brings tan(acos 0.9) = 0.4843 kvar: LinDistFlow's drop is (R + X tan phi) / Vn^2."""
    nd = chain()
    tan_phi = math.tan(math.acos(0.9))
    lin = gn.linearise(nd, one_step(nd), ["b1", "b2"], power_factor=0.9)
    k11 = (0.1 + 0.05 * tan_phi) / 400**2 * 1000.0
    k22 = (0.3 + 0.15 * tan_phi) / 400**2 * 1000.0
    np.testing.assert_allclose(np.diag(lin.S_vm), [-k11, -k22], rtol=1e-3)
    prof = one_step(nd)
    plan = pd.DataFrame({"b2": [5.0]}, index=prof.index)
    with_q = gn.ac_check(nd, prof, plan, power_factor=0.9).elements.set_index("element")
    explicit = gn.ac_check(nd, prof, plan, q_bus_kvar=plan * tan_phi).elements.set_index("element")
    unity = gn.ac_check(nd, prof, plan).elements.set_index("element")
    assert with_q.loc["b2", "vm_pu"] == pytest.approx(explicit.loc["b2", "vm_pu"], abs=1e-12)
    # the reactive part adds X_total * Q / Vn^2 = 0.15 ohm * 2.42 kvar / (400 V)^2 = 0.0023 pu of drop (first order)
    drop = unity.loc["b2", "vm_pu"] - with_q.loc["b2", "vm_pu"]
    assert drop == pytest.approx(0.15 * 5.0 * tan_phi * 1000.0 / 400**2, rel=0.03)
    with pytest.raises(ScenarioError, match="power_factor 0 is not in"):
        gn.ac_check(nd, prof, plan, power_factor=0)
