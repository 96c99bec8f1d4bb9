"""The linear network model against pandapower's AC power flow on SimBench LV grids.

Stated error bound (docs/network.md): with EV power at a random half of the load
buses, each drawn from -11..+22 kW (V2G to a 22 kW charger), at random steps,
wherever the AC loadings stay within 100 % (the region a plan may use), the
linear voltages are within ``VM_MARGIN_PU`` (0.002 pu) and the linear
branch-end flows within ``FLOW_MARGIN_PCT`` (1.5 % of the rating) of AC power
flow. Beyond the limits the flow error grows with the square of the flow (2.6 %
at 112 % loading on semiurb4). And the rows are conservative: EV power scaled
until a linear row binds never breaks a limit under AC power flow.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import gridopt.network as gn

STEPS = 8  # 05:00-07:00 of a winter Monday: the morning ramp
START = "2024-01-15T05:00+01:00"


def ev_buses(nd: gn.NetworkData) -> list[str]:
    """LV buses with a household or commercial load (where chargers would be)."""
    name = dict(zip(nd.buses.pp_index, nd.buses.index, strict=True))
    return [name[b] for b in sorted(set(nd.net.load.bus)) if nd.buses.at[name[b], "level"] == "LV"]


@pytest.fixture(scope="module", params=["1-LV-rural1--0-sw", "1-LV-semiurb4--0-sw"])
def grid(request):
    nd = gn.load_network(request.param)
    prof = nd.profiles(START, STEPS, 15)
    buses = ev_buses(nd)
    lin = gn.linearise(nd, prof, buses, ev_range_kw=22.0)
    return nd, prof, buses, lin


def test_linear_model_within_its_stated_error_on_random_injections(grid):
    nd, prof, buses, lin = grid
    pf = gn.PowerFlow(nd, buses)
    rng = np.random.default_rng(12)
    rating = lin.flows.rating_kva.to_numpy()
    mon = nd.buses.index.get_indexer(lin.buses)
    worst_vm = worst_flow = 0.0
    inside = 0
    for _ in range(20):
        t = int(rng.integers(STEPS))
        p = np.where(rng.random(len(buses)) < 0.5, rng.uniform(-11.0, 22.0, len(buses)), 0.0)
        pf.set_base(prof, t)
        pf.set_ev(p, 0 * p)
        assert pf.solve()
        if (pf.loading_percent() > nd.elements.max_loading_percent.to_numpy()).any():
            continue  # beyond the limits: no plan goes there
        inside += 1
        pfr, _, pto, _ = pf.branch_power()
        flow_ac = 100.0 * np.concatenate([pfr, pto]) / rating
        plan = np.zeros((STEPS, len(buses)))
        plan[t] = p
        vm_lin, flow_lin = lin.predict(plan)
        worst_vm = max(worst_vm, np.abs(vm_lin[t] - pf.vm_pu()[mon]).max())
        worst_flow = max(worst_flow, np.abs(flow_lin[t] - flow_ac).max())
    assert inside >= 15
    assert worst_vm <= gn.VM_MARGIN_PU
    assert worst_flow <= gn.FLOW_MARGIN_PCT
    assert worst_vm > 1e-5 and worst_flow > 1e-2  # a nonlinear model, compared for real


def test_rows_are_conservative_under_ac_power_flow(grid):
    """Scale random charging (and V2G) directions until a linear row binds; AC keeps every limit."""
    nd, prof, buses, lin = grid
    G, h, rows = lin.inequalities()
    rng = np.random.default_rng(5)
    tight = []
    for k in range(10):
        t = int(rng.integers(STEPS))
        sign = -1.0 if k % 4 == 0 else 1.0
        d = sign * np.where(rng.random(len(buses)) < 0.6, rng.uniform(0.0, 22.0, len(buses)), 0.0)
        gd = G @ d
        alpha = np.min(h[t][gd > 1e-12] / gd[gd > 1e-12])
        assert alpha > 0
        one = nd.profiles(prof.index[t], 1, 15)  # step t alone
        res = gn.ac_check(nd, one, pd.DataFrame([alpha * d], index=one.index, columns=buses))
        assert res.ok, res.violations
        st = res.steps.iloc[0]
        tight.append(max(st.max_trafo_loading_percent, st.max_line_loading_percent))
    assert max(tight) > 95.0  # the rows are not far inside the limits


def test_relinearising_at_a_plan_is_exact_there(grid):
    nd, prof, buses, lin = grid
    rng = np.random.default_rng(3)
    plan = pd.DataFrame(rng.uniform(0.0, 11.0, (STEPS, len(buses))), index=prof.index, columns=buses)
    lin2 = gn.linearise(nd, prof, buses, ev_p_kw=plan, operating_step=5)
    vm, _ = lin2.predict(plan)
    ac = gn.ac_check(nd, prof, plan).elements
    ac_vm = ac[ac.kind == "bus"].pivot(index="time", columns="element", values="vm_pu")[lin2.buses]
    np.testing.assert_allclose(vm, ac_vm.to_numpy(), atol=1e-8)
    assert lin2.operating_step == 5
