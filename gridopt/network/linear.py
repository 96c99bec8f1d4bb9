"""A linear network model: voltages and branch flows as affine functions of EV power per bus.

Method
------
Sensitivities are central finite differences of pandapower's AC power flow at
one operating point (the network's own loads and generators at one step, plus
the EV power of the plan being linearised around), one pair of power flows per
EV bus. The affine term of every step is exact: it is the AC power flow of that
step at the operating plan, minus the sensitivity times the plan's EV power.
For step ``t`` and EV power ``p`` [kW] (``N`` EV buses, consumption positive;
reactive power ``q = p tan(phi)`` at a fixed power factor moves with it)::

    vm[t]       = base_vm[t]       + S_vm   @ p[t]      # B buses [pu]
    flow_pct[t] = base_flow_pct[t] + S_flow @ p[t]      # F = 2 E branch ends [%]

``flow_pct`` of a branch end is ``100 * P_in / rating_kva``, the active power
entering the element at that end (a line's from and to end, a transformer's hv
and lv side) over the element's rated apparent power at nominal voltage.

Limits and how they are made conservative
------------------------------------------
pandapower's loading of an end is current based, ``100 * |S| / (rating * vm)``
(``|S| = sqrt(P^2 + Q^2)``), a convex, nonlinear function, and the element's
loading is the larger of its two ends (which one depends on the direction of
flow, the losses and, for a transformer, its own reactive power and voltage
drop). Each end gets two linear rows, ::

    -flow_limit_pct[t] <= flow_pct[t] <= flow_limit_pct[t]
    flow_limit_pct[t] = sqrt((L * v_low[t])^2 - q_pct[t]^2) - flow_margin_pct

with ``L`` the element's ``max_loading_percent``; ``v_low[t]`` the lowest voltage
the end's bus can have: its tightened lower limit ``vm_lower``, or, when higher,
its voltage at the operating point minus the most the EVs can lower it
(``|S_vm| @ ev_range_kw``) and the voltage margin (the slack's set point for the
slack bus); and ``q_pct[t] = 100 * (|Q_in[t]| + |S_Q| @ ev_range_kw) / rating``
the reactive flow at the operating point plus the most the EVs can change it.
If the AC active flow is within ``flow_margin_pct`` of the linear one, the end's
AC loading is at most ``L``: the rows are an inner (conservative) bound of the
circle ``P^2 + Q^2 <= (L v rating / 100)^2``. Voltages: ``vm_lower = vm_min +
vm_margin_pu <= vm[t] <= vm_max - vm_margin_pu = vm_upper``. The margins are
the linearisation error bound, measured against AC power flow in
``tests/network/test_linear_simbench.py`` (see ``docs/network.md``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import GridoptError, ScenarioError
from .ac import PowerFlow, _tan_phi, ev_frame
from .data import BusProfiles, NetworkData

#: Default voltage margin [pu]: the measured error bound of the linear voltages (docs/network.md).
VM_MARGIN_PU = 0.002
#: Default flow margin [% of rating]: the measured error bound of the linear flows (docs/network.md).
FLOW_MARGIN_PCT = 1.5
#: Default finite-difference step [kW].
DELTA_KW = 2.0


@dataclass(frozen=True)
class LinearNetwork:
    """Affine voltages and branch-end flows in EV power per bus, with conservative limits.

    Shapes: ``T`` steps, ``N`` EV buses, ``B`` monitored buses (all in-service buses but the
    slack), ``F = 2 E`` branch ends (``E`` elements).

    Attributes
    ----------
    index : pandas.DatetimeIndex
        Step starts (``T``).
    ev_buses : list of str
        Buses of the EV power vector ``p`` (``N``), in this order.
    power_factor : float
        EV power factor the sensitivities include.
    buses : list of str
        Monitored buses (``B``).
    flows : pandas.DataFrame
        ``F`` rows: ``element``, ``kind``, ``end`` (``from``/``to``; hv/lv for a transformer),
        ``bus`` (the end's bus), ``rating_kva``, ``max_loading_percent``.
    base_vm : numpy.ndarray
        ``T x B`` [pu].
    S_vm : numpy.ndarray
        ``B x N`` [pu/kW].
    base_flow_pct : numpy.ndarray
        ``T x F`` [% of rating].
    S_flow : numpy.ndarray
        ``F x N`` [%/kW].
    vm_lower, vm_upper : numpy.ndarray
        ``B``: voltage limits tightened by ``vm_margin_pu`` [pu].
    flow_limit_pct : numpy.ndarray
        ``T x F``: upper limit of each end's ``flow_pct`` [%] (see the module docstring).
    vm_margin_pu, flow_margin_pct : float
        The error bounds the limits were tightened by.
    operating_step : int
        Step whose loads the sensitivities were computed at.
    operating_p_kw : numpy.ndarray
        ``T x N``: the EV plan linearised around [kW] (zeros for the first linearisation).
    """

    index: pd.DatetimeIndex
    ev_buses: list
    power_factor: float
    buses: list
    flows: pd.DataFrame
    base_vm: np.ndarray
    S_vm: np.ndarray
    base_flow_pct: np.ndarray
    S_flow: np.ndarray
    vm_lower: np.ndarray
    vm_upper: np.ndarray
    flow_limit_pct: np.ndarray
    vm_margin_pu: float
    flow_margin_pct: float
    operating_step: int
    operating_p_kw: np.ndarray

    def predict(self, p_kw) -> tuple[np.ndarray, np.ndarray]:
        """Linear voltages and flows of an EV plan.

        Parameters
        ----------
        p_kw : array_like
            ``T x N`` EV power [kW] in the order of ``ev_buses`` (or a DataFrame with those columns).

        Returns
        -------
        vm : numpy.ndarray
            ``T x B`` [pu].
        flow_pct : numpy.ndarray
            ``T x F`` [%].
        """
        p = self._as_array(p_kw)
        return self.base_vm + p @ self.S_vm.T, self.base_flow_pct + p @ self.S_flow.T

    def inequalities(self) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
        """The network rows as ``G @ p[t] <= h[t]`` for every step.

        Returns
        -------
        G : numpy.ndarray
            ``M x N`` [pu/kW or %/kW], the same for every step (``M = 2 B + 2 F``).
        h : numpy.ndarray
            ``T x M`` right-hand sides.
        rows : pandas.DataFrame
            ``M`` rows: ``kind`` (``vm_max``, ``vm_min``, ``flow``), ``name`` (bus or element), ``end``
            (flow rows: ``from``/``to``), ``bound`` (``upper``: ``vm <= vm_upper``, ``flow_pct <=
            flow_limit_pct``; ``lower``: ``vm >= vm_lower``, ``flow_pct >= -flow_limit_pct``), ``unit``
            (``pu`` or ``%``); the voltage rows first, then the flows' upper and lower rows. A row whose ``G`` row is zero does not
            depend on the EVs; a negative ``h`` there is a limit the network breaks on its own.
        """
        G = np.vstack([self.S_vm, -self.S_vm, self.S_flow, -self.S_flow])
        h = np.hstack(
            [
                self.vm_upper - self.base_vm,
                self.base_vm - self.vm_lower,
                self.flow_limit_pct - self.base_flow_pct,
                self.flow_limit_pct + self.base_flow_pct,
            ]
        )
        nb, nf = len(self.buses), len(self.flows)
        rows = pd.DataFrame(
            {
                "kind": ["vm_max"] * nb + ["vm_min"] * nb + ["flow"] * (2 * nf),
                "name": list(self.buses) * 2 + list(self.flows.element) * 2,
                "end": [""] * (2 * nb) + list(self.flows.end) * 2,
                "bound": ["upper"] * nb + ["lower"] * nb + ["upper"] * nf + ["lower"] * nf,
                "unit": ["pu"] * (2 * nb) + ["%"] * (2 * nf),
            }
        )
        return G, h, rows

    def _as_array(self, p_kw) -> np.ndarray:
        if isinstance(p_kw, pd.DataFrame):
            p_kw = p_kw.reindex(columns=self.ev_buses).fillna(0.0).to_numpy(float)
        p = np.asarray(p_kw, float)
        if p.shape != (len(self.index), len(self.ev_buses)):
            raise ValueError(f"p_kw has shape {p.shape}, expected {(len(self.index), len(self.ev_buses))}")
        return p


def linearise(
    network: NetworkData,
    profiles: BusProfiles,
    ev_buses: list[str],
    *,
    ev_p_kw: pd.DataFrame | None = None,
    power_factor: float = 1.0,
    operating_step: int | None = None,
    ev_range_kw=0.0,
    delta_kw: float = DELTA_KW,
    vm_margin_pu: float = VM_MARGIN_PU,
    flow_margin_pct: float = FLOW_MARGIN_PCT,
) -> LinearNetwork:
    """Linearise the network's voltages and branch flows in the EV power at ``ev_buses``.

    Parameters
    ----------
    network : NetworkData
    profiles : BusProfiles
        The network's own loads and generators, ``T`` steps.
    ev_buses : list of str
        Buses where EVs connect (``N``, unique); checked against the network.
    ev_p_kw : pandas.DataFrame, optional
        ``T x n`` EV plan to linearise around [kW] (columns a subset of ``ev_buses``; the rest 0).
        Default: no EV power (the first linearisation); pass the last plan to re-linearise.
    power_factor : float
        EV power factor in (0, 1]; reactive power ``q = p tan(acos(pf))`` moves with ``p``.
    operating_step : int, optional
        Step whose loads the sensitivities are computed at. Default: the step with the
        largest total consumption (network plus operating plan).
    ev_range_kw : float or array_like
        Largest change of EV power per bus against the operating plan [kW] (scalar or ``N``);
        used to bound the change of reactive flows in the flow limits.
    delta_kw : float
        Finite-difference step [kW] (central differences).
    vm_margin_pu, flow_margin_pct : float
        Error bounds the limits are tightened by ([pu], [% of rating]).

    Returns
    -------
    LinearNetwork

    Raises
    ------
    ScenarioError
        An unknown or repeated EV bus, an EV plan of the wrong shape, a step whose AC power
        flow does not converge at the operating point.
    """
    ev_buses = [network.bus(b, source="linearise", field="ev_buses") for b in ev_buses]
    if len(set(ev_buses)) != len(ev_buses):
        raise ScenarioError("linearise: field 'ev_buses': a bus is listed twice")
    tan_phi = _tan_phi(power_factor)
    n_t, n = profiles.n_steps, len(ev_buses)
    p_op = np.zeros((n_t, n))
    if ev_p_kw is not None:
        frame = ev_frame(network, profiles, ev_p_kw, name="ev_p_kw", source="linearise")
        extra = [c for c in frame.columns if c not in ev_buses]
        if extra:
            raise ScenarioError(f"linearise: field 'ev_p_kw': bus '{extra[0]}' is not one of ev_buses")
        p_op = frame.reindex(columns=ev_buses).fillna(0.0).to_numpy(float)
    ev_range = np.broadcast_to(np.abs(np.asarray(ev_range_kw, float)), (n,))
    if not delta_kw > 0:
        raise ScenarioError(f"linearise: field 'delta_kw': {delta_kw} is not positive")

    bus = network.buses
    mon = bus.index[~bus.is_slack.to_numpy(bool)]
    mon_pos = bus.index.get_indexer(mon)
    el = network.elements
    pf = PowerFlow(network, ev_buses)

    # affine terms: AC power flow of every step at the operating plan
    vm_op = np.zeros((n_t, len(mon)))
    p_in = np.zeros((n_t, 2 * len(el)))
    q_in = np.zeros((n_t, 2 * len(el)))
    for t in range(n_t):
        pf.set_base(profiles, t)
        pf.set_ev(p_op[t], p_op[t] * tan_phi)
        if not pf.solve():
            raise ScenarioError(
                f"linearise: the AC power flow does not converge at {profiles.index[t].isoformat()} "
                "(the network's own loads plus the operating plan)"
            )
        vm_op[t] = pf.vm_pu()[mon_pos]
        pfr, qfr, pto, qto = pf.branch_power()
        p_in[t] = np.concatenate([pfr, pto])
        q_in[t] = np.concatenate([qfr, qto])

    # sensitivities at one operating step (central differences)
    if operating_step is None:
        total = profiles.bus_p_kw.to_numpy(float).sum(axis=1) + p_op.sum(axis=1)
        operating_step = int(np.argmax(total))
    if not 0 <= operating_step < n_t:
        raise ScenarioError(f"linearise: field 'operating_step': {operating_step} is not a step (0..{n_t - 1})")
    S_vm = np.zeros((len(mon), n))
    S_p = np.zeros((2 * len(el), n))
    S_q = np.zeros((2 * len(el), n))
    pf.set_base(profiles, operating_step)
    for j in range(n):
        res = []
        for sign in (1.0, -1.0):
            p = p_op[operating_step].copy()
            p[j] += sign * delta_kw
            pf.set_ev(p, p * tan_phi)
            if not pf.solve():
                raise GridoptError(
                    f"linearise: the AC power flow does not converge with {sign * delta_kw:+g} kW at bus '{ev_buses[j]}'"
                )
            pfr, qfr, pto, qto = pf.branch_power()
            res.append((pf.vm_pu()[mon_pos], np.concatenate([pfr, pto]), np.concatenate([qfr, qto])))
        S_vm[:, j] = (res[0][0] - res[1][0]) / (2 * delta_kw)
        S_p[:, j] = (res[0][1] - res[1][1]) / (2 * delta_kw)
        S_q[:, j] = (res[0][2] - res[1][2]) / (2 * delta_kw)

    rating = np.concatenate([el.rating_kva.to_numpy(float)] * 2)
    S_flow = 100.0 * S_p / rating[:, None]
    base_flow = 100.0 * (p_in - p_op @ S_p.T) / rating[None, :]
    base_vm = vm_op - p_op @ S_vm.T

    # lowest voltage of each end's bus: its tightened limit, or higher where the EV range cannot reach it
    vm_lower_all = bus.vm_min_pu.to_numpy(float) + vm_margin_pu
    end_bus = list(el.from_bus) + list(el.to_bus)
    end_pos = bus.index.get_indexer(end_bus)
    v_low = np.tile(vm_lower_all[end_pos], (n_t, 1))
    in_mon = pd.Index(mon).get_indexer(end_bus)
    has = in_mon >= 0
    reach = vm_op[:, in_mon[has]] - (np.abs(S_vm[in_mon[has]]) @ ev_range)[None, :] - vm_margin_pu
    v_low[:, has] = np.maximum(v_low[:, has], reach)
    slack = bus.is_slack.to_numpy(bool)[end_pos]
    v_low[:, slack] = bus.slack_vm_pu.to_numpy(float)[end_pos][slack]
    lim = np.concatenate([el.max_loading_percent.to_numpy(float)] * 2)
    q_pct = 100.0 * (np.abs(q_in) + (np.abs(S_q) @ ev_range)[None, :]) / rating[None, :]
    flow_limit = np.sqrt(np.maximum((lim[None, :] * v_low) ** 2 - q_pct**2, 0.0)) - flow_margin_pct

    flows = pd.DataFrame(
        {
            "element": list(el.index) * 2,
            "kind": list(el.kind) * 2,
            "end": ["from"] * len(el) + ["to"] * len(el),
            "bus": end_bus,
            "rating_kva": rating,
            "max_loading_percent": lim,
        }
    )
    return LinearNetwork(
        index=profiles.index,
        ev_buses=ev_buses,
        power_factor=float(power_factor),
        buses=list(mon),
        flows=flows,
        base_vm=base_vm,
        S_vm=S_vm,
        base_flow_pct=base_flow,
        S_flow=S_flow,
        vm_lower=bus.vm_min_pu.to_numpy(float)[mon_pos] + vm_margin_pu,
        vm_upper=bus.vm_max_pu.to_numpy(float)[mon_pos] - vm_margin_pu,
        flow_limit_pct=flow_limit,
        vm_margin_pu=float(vm_margin_pu),
        flow_margin_pct=float(flow_margin_pct),
        operating_step=operating_step,
        operating_p_kw=p_op,
    )
