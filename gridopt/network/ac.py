"""The network's independent check: pandapower's AC power flow, step by step.

:func:`ac_check` takes a plan's EV power per bus and step, adds it to the
network's own loads and generators (SimBench's profiles) and solves the full AC
power flow (``pandapower.runpp``, Newton-Raphson) for every step on one copy of
the net (only the powers change between steps; each step starts from the last
solution). It uses nothing of the linear model of :mod:`gridopt.network.linear`.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import ScenarioError
from .data import BusProfiles, NetworkData, import_pandapower, runpp

#: Slack on a limit before it counts as broken [% loading], [pu].
LOADING_TOL_PERCENT = 1e-6
VM_TOL_PU = 1e-9


class PowerFlow:
    """One working copy of a net on which steps are solved by changing powers only.

    Parameters
    ----------
    network : NetworkData
    ev_buses : list of str
        Buses that get an EV load (a pandapower load named ``gridopt EV <bus>``).
    """

    def __init__(self, network: NetworkData, ev_buses: list[str]):
        self.network = network
        self.net = copy.deepcopy(network.net)
        net = self.net
        self.ev_buses = list(ev_buses)
        self._orig_loads = net.load.index[net.load.in_service.astype(bool)]
        self._sgens = net.sgen.index[net.sgen.in_service.astype(bool)]
        self._storages = net.storage.index[net.storage.in_service.astype(bool)] if "storage" in net else []
        pp = import_pandapower()
        pp_bus = network.buses.pp_index
        if self.ev_buses:
            idx = pp.create_loads(
                net,
                [int(pp_bus[b]) for b in self.ev_buses],
                p_mw=0.0,
                q_mvar=0.0,
                name=[f"gridopt EV {b}" for b in self.ev_buses],
            )
            self._ev_loads = pd.Index(idx)
        else:
            self._ev_loads = pd.Index([], dtype=int)
        self._warm = False
        el = network.elements
        self._lines = el[el.kind == "line"]
        self._trafos = el[el.kind == "trafo"]
        self._bus_pp = network.buses.pp_index.to_numpy()

    def set_base(self, profiles: BusProfiles, t: int) -> None:
        """Set the network's own loads and generators to step ``t`` of ``profiles``."""
        net = self.net
        arrays = self._arrays(profiles)
        for table, column, pos, values in arrays:
            col = net[table][column].to_numpy(float, copy=True)
            col[pos] = values[t]
            net[table][column] = col

    def _arrays(self, profiles: BusProfiles) -> list:
        """``(table, column, positions, T x n values [MW or Mvar])`` for each profile, cached per profiles object."""
        if getattr(self, "_cache_key", None) is not profiles:
            net = self.net
            out = []
            for table, column, idx, frame in (
                ("load", "p_mw", self._orig_loads, profiles.load_p_kw),
                ("load", "q_mvar", self._orig_loads, profiles.load_q_kvar),
                ("sgen", "p_mw", self._sgens, profiles.sgen_p_kw),
                ("sgen", "q_mvar", self._sgens, profiles.sgen_q_kvar),
                ("storage", "p_mw", self._storages, profiles.storage_p_kw),
            ):
                if len(idx):
                    vals = frame.reindex(columns=idx).fillna(0.0).to_numpy(float) / 1000.0
                    out.append((table, column, net[table].index.get_indexer(idx), vals))
            self._cache_key, self._cache = profiles, out
        return self._cache

    def set_ev(self, p_kw: np.ndarray, q_kvar: np.ndarray) -> None:
        """Set the EV loads [kW], [kvar] (one per ``ev_buses``; consumption positive)."""
        net = self.net
        p = net.load["p_mw"].to_numpy(float, copy=True)
        q = net.load["q_mvar"].to_numpy(float, copy=True)
        pos = net.load.index.get_indexer(self._ev_loads)
        p[pos] = np.asarray(p_kw, float) / 1000.0
        q[pos] = np.asarray(q_kvar, float) / 1000.0
        net.load["p_mw"] = p
        net.load["q_mvar"] = q

    def solve(self) -> bool:
        """AC power flow; warm-started from the last converged step."""
        ok = runpp(self.net, init="results" if self._warm else "auto", recycle=True)
        if not ok and self._warm:  # start afresh: flat start, internal model rebuilt
            self.net["_ppc"] = None
            ok = runpp(self.net, init="auto", recycle=True)
        self._warm = ok
        return ok

    # results of the last solve, in the order of network.buses / network.elements
    def vm_pu(self) -> np.ndarray:
        return self.net.res_bus.vm_pu.reindex(self._bus_pp).to_numpy(float)

    def loading_percent(self) -> np.ndarray:
        """Loading of each element of ``network.elements`` [%] (pandapower's: current based)."""
        out = pd.Series(np.nan, index=self.network.elements.index)
        out[self._lines.index] = self.net.res_line.loading_percent.reindex(self._lines.pp_index).to_numpy(float)
        out[self._trafos.index] = self.net.res_trafo.loading_percent.reindex(self._trafos.pp_index).to_numpy(float)
        return out.to_numpy(float)

    def branch_power(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Power entering each element at its from (hv) and to (lv) end: ``p_from, q_from, p_to, q_to`` [kW], [kvar]."""
        el = self.network.elements
        out = np.full((4, len(el)), np.nan)
        rl = self.net.res_line.reindex(self._lines.pp_index)
        rt = self.net.res_trafo.reindex(self._trafos.pp_index)
        il = el.index.get_indexer(self._lines.index)
        it = el.index.get_indexer(self._trafos.index)
        for j, (cl, ct) in enumerate(
            (("p_from_mw", "p_hv_mw"), ("q_from_mvar", "q_hv_mvar"), ("p_to_mw", "p_lv_mw"), ("q_to_mvar", "q_lv_mvar"))
        ):
            out[j, il] = 1000.0 * rl[cl].to_numpy(float)
            out[j, it] = 1000.0 * rt[ct].to_numpy(float)
        return out[0], out[1], out[2], out[3]


@dataclass(frozen=True)
class ACResult:
    """AC power flow of a plan, step by step.

    Attributes
    ----------
    elements : pandas.DataFrame
        Long table, one row per step and element: ``time``, ``element``, ``kind`` (``trafo``,
        ``line``, ``bus``), ``loading_percent`` (trafo, line; NaN for a bus), ``vm_pu`` (bus; NaN
        otherwise), ``limit_low``, ``limit_high`` (``vm_min_pu``/``vm_max_pu`` for a bus,
        ``max_loading_percent`` as ``limit_high`` for a branch), ``violated`` (bool).
    steps : pandas.DataFrame
        Index: step start. ``converged``, ``max_trafo_loading_percent``, ``max_line_loading_percent``,
        ``min_vm_pu``, ``max_vm_pu``, ``n_violations``.
    violations : list of str
        One line per broken limit (or unsolved step), e.g.
        ``"2016-06-01 18:00+02:00: trafo 'MV1.101-LV1.101-Trafo 1' loading 112.4% > 100%"``.
    """

    elements: pd.DataFrame
    steps: pd.DataFrame
    violations: list[str]

    @property
    def ok(self) -> bool:
        """True when every step solved and no limit is broken."""
        return not self.violations


def ev_frame(network: NetworkData, profiles: BusProfiles, p_bus_kw, *, name: str = "p_bus_kw", source: str = "plan"):
    """Check and align EV power per bus and step: a ``T x n`` DataFrame on ``profiles.index`` [kW]."""
    if p_bus_kw is None:
        return pd.DataFrame(index=profiles.index)
    if not isinstance(p_bus_kw, pd.DataFrame):
        raise ScenarioError(f"{source}: {name} must be a DataFrame (time x bus name), got {type(p_bus_kw).__name__}")
    for b in p_bus_kw.columns:
        network.bus(b, source=source, field=f"{name} column")
    if not p_bus_kw.columns.is_unique:
        dup = p_bus_kw.columns[p_bus_kw.columns.duplicated()][0]
        raise ScenarioError(f"{source}: {name} has bus '{dup}' twice (one column per bus)")
    if len(p_bus_kw) != profiles.n_steps or not p_bus_kw.index.equals(profiles.index):
        raise ScenarioError(
            f"{source}: {name} has {len(p_bus_kw)} rows on another index than the {profiles.n_steps} network steps"
        )
    vals = p_bus_kw.to_numpy(float)
    if not np.isfinite(vals).all():
        raise ScenarioError(f"{source}: {name} holds NaN or infinite values")
    return p_bus_kw.astype(float)


def ac_check(
    network: NetworkData,
    profiles: BusProfiles,
    p_bus_kw: pd.DataFrame | None = None,
    q_bus_kvar: pd.DataFrame | None = None,
    *,
    power_factor: float = 1.0,
) -> ACResult:
    """AC power flow of the network with EV power added, step by step.

    Parameters
    ----------
    network : NetworkData
    profiles : BusProfiles
        The network's own loads and generators (``network.profiles(...)``), ``T`` steps.
    p_bus_kw : pandas.DataFrame, optional
        ``T x n`` EV power per bus [kW] (index ``profiles.index``, columns bus names; consumption
        positive, V2G negative). None: the network alone.
    q_bus_kvar : pandas.DataFrame, optional
        EV reactive power [kvar], same shape. Default: from ``power_factor``.
    power_factor : float
        EV power factor (``q = p * tan(acos(pf))``, lagging for consumption) when ``q_bus_kvar`` is None.

    Returns
    -------
    ACResult
    """
    p = ev_frame(network, profiles, p_bus_kw)
    if q_bus_kvar is None:
        q = p * _tan_phi(power_factor)
    else:
        q = ev_frame(network, profiles, q_bus_kvar, name="q_bus_kvar")
        if list(q.columns) != list(p.columns):
            raise ScenarioError("plan: q_bus_kvar must have the same bus columns as p_bus_kw")
    pf = PowerFlow(network, list(p.columns))
    el = network.elements
    bus = network.buses
    n_t, n_e, n_b = profiles.n_steps, len(el), len(bus)
    loading = np.full((n_t, n_e), np.nan)
    vm = np.full((n_t, n_b), np.nan)
    conv = np.zeros(n_t, bool)
    pv, qv = p.to_numpy(float), q.to_numpy(float)
    for t in range(n_t):
        pf.set_base(profiles, t)
        if pv.shape[1]:
            pf.set_ev(pv[t], qv[t])
        conv[t] = pf.solve()
        if conv[t]:
            loading[t] = pf.loading_percent()
            vm[t] = pf.vm_pu()
    return _result(network, profiles.index, loading, vm, conv)


def _tan_phi(power_factor: float) -> float:
    if not (0.0 < power_factor <= 1.0):
        raise ScenarioError(f"plan: power_factor {power_factor} is not in (0, 1]")
    return float(np.tan(np.arccos(power_factor)))


def _result(network: NetworkData, index: pd.DatetimeIndex, loading, vm, conv) -> ACResult:
    el, bus = network.elements, network.buses
    lim_l = el.max_loading_percent.to_numpy(float)
    lo, hi = bus.vm_min_pu.to_numpy(float), bus.vm_max_pu.to_numpy(float)
    over = loading > lim_l + LOADING_TOL_PERCENT
    under_v, over_v = vm < lo - VM_TOL_PU, vm > hi + VM_TOL_PU
    violations = []
    for t, ts in enumerate(index):
        stamp = ts.isoformat()
        if not conv[t]:
            violations.append(f"{stamp}: the AC power flow did not converge (no operating point: voltage collapse?)")
            continue
        for j in np.flatnonzero(over[t]):
            violations.append(
                f"{stamp}: {el.kind.iloc[j]} '{el.index[j]}' loading {loading[t, j]:.1f}% > {lim_l[j]:g}%"
            )
        for j in np.flatnonzero(under_v[t]):
            violations.append(f"{stamp}: bus '{bus.index[j]}' voltage {vm[t, j]:.4f} pu < {lo[j]:g} pu")
        for j in np.flatnonzero(over_v[t]):
            violations.append(f"{stamp}: bus '{bus.index[j]}' voltage {vm[t, j]:.4f} pu > {hi[j]:g} pu")
    n_t, n_e, n_b = len(index), len(el), len(bus)
    rows_el = pd.DataFrame(
        {
            "time": np.repeat(index, n_e),
            "element": np.tile(el.index.to_numpy(), n_t),
            "kind": np.tile(el.kind.to_numpy(), n_t),
            "loading_percent": loading.ravel(),
            "vm_pu": np.nan,
            "limit_low": np.nan,
            "limit_high": np.tile(lim_l, n_t),
            "violated": over.ravel(),
        }
    )
    rows_bus = pd.DataFrame(
        {
            "time": np.repeat(index, n_b),
            "element": np.tile(bus.index.to_numpy(), n_t),
            "kind": "bus",
            "loading_percent": np.nan,
            "vm_pu": vm.ravel(),
            "limit_low": np.tile(lo, n_t),
            "limit_high": np.tile(hi, n_t),
            "violated": (under_v | over_v).ravel(),
        }
    )
    elements = pd.concat([rows_el, rows_bus], ignore_index=True)
    elements.loc[np.repeat(~conv, n_e).tolist() + np.repeat(~conv, n_b).tolist(), "violated"] = True
    kind = el.kind.to_numpy()

    def colmax(a, mask):
        sub = a[:, mask]
        return np.nanmax(sub, axis=1) if sub.shape[1] and np.isfinite(sub).any() else np.full(n_t, np.nan)

    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        steps = pd.DataFrame(
            {
                "converged": conv,
                "max_trafo_loading_percent": colmax(loading, kind == "trafo"),
                "max_line_loading_percent": colmax(loading, kind == "line"),
                "min_vm_pu": np.nanmin(vm, axis=1) if n_b else np.nan,
                "max_vm_pu": np.nanmax(vm, axis=1) if n_b else np.nan,
                "n_violations": over.sum(axis=1) + under_v.sum(axis=1) + over_v.sum(axis=1) + (~conv),
            },
            index=index,
        )
    return ACResult(elements=elements, steps=steps, violations=violations)
