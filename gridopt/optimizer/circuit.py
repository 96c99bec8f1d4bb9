"""Chargers, their assignment and the circuit tree: one block definition for both model forms.

:func:`charger_block` works the block out once, as plain arrays; :func:`add_charger_block`
(Pyomo, :mod:`gridopt.optimizer.model`) and :func:`add_matrix_block` (numpy,
:mod:`gridopt.optimizer.matrix`) emit the same columns and rows, so the two forms cannot drift.

Symbols (units in brackets)
---------------------------
=====================  ===========================================================
``o``                  an occupancy: a plug-in segment, cut at ``site.reassign_at`` times
``k``                  a charger; ``g`` a group of interchangeable chargers (same
                       ``max_kw, min_kw, v2g, phase, voltage_v, node``), ``n_g`` its size
``a[o,g]``             occupancy ``o`` holds a charger of group ``g`` (binary, only where needed)
``p[o,g,t], q[o,g,t]`` charge / discharge of ``o`` through group ``g`` [kW] (only when ``o``
                       may use several groups)
``P_k[t]``             net power of charger (or group) ``k``: ``sum (c - d)`` of what it holds [kW]
``z_kl``               current of ``k`` in line ``l`` of a node per kW [A/kW], a phasor
=====================  ===========================================================

Rules:

* **Named chargers** (a session's ``station_id``) are reserved for the sessions that name
  them: the occupancy's power bounds are the charger's (``c <= min(P_v, max_kw)``,
  ``c >= max(min_v, min_kw)`` when charging, ``d = 0`` unless ``v2g``), no binary.
* **Pooled chargers** (the others) form groups. An occupancy may use any group.
  ``sum_g a[o,g] <= 1``; in every step ``t``: ``sum_{o at t} a[o,g] <= n_g`` (written only at
  the steps where an occupancy starts and more could be there than ``n_g``: an interval
  family needs at most ``n_g`` chargers exactly when no step holds more than ``n_g`` of it).
  One group never over-full: no binary, every occupancy holds it. One candidate group:
  ``c <= min(P_v, max_kw) a``, ``d <= min(P_d, max_kw) a``. Several: ``c = sum_g p``,
  ``d = sum_g q``, ``p <= min(P_v, max_kw_g) a[o,g]``, ``q <= min(P_d, max_kw_g) a[o,g]``,
  ``p >= min_kw_g (x + a[o,g] - 1)`` (``x`` the charging mode). Which charger of the group
  each occupancy gets is worked out after the solve (earliest start first).
* **Circuit**: per node and step, ``|sum_k P_k| <= limit_kw``; per line ``l`` with
  ``limit_a``, the current ``I_l = sum_k z_kl P_k`` (a phasor) must satisfy ``|I_l| <= limit_a``.
  When every ``z_kl`` of the line has one direction (up to sign) that is exact and linear:
  ``|sum_k Re(z_kl e^{-j theta}) P_k| <= limit_a``. Otherwise the disk is replaced by the
  regular 12-gon inscribed in it, with vertices at every multiple of 30 degrees:
  ``|sum_k Re(z_kl e^{-j phi_i}) P_k| <= limit_a cos(15 deg)``, ``phi_i = 15 + 30 i`` degrees,
  ``i = 0..5`` (an inner bound: exact for currents at multiples of 30 degrees, at most 3.4%
  tighter in between; docs/circuit.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import GridoptError

#: Reference kinds of a block entry: a new column, or the charge / discharge / charging-mode column of a pair.
NEW, C, D, X = 0, 1, 2, 3
#: Angles of the phase-to-neutral voltages [deg].
_LN = {"A": 0.0, "B": -120.0, "C": 120.0}
_LINES = ("A", "B", "C")
#: Facets of the inscribed 12-gon: normals at 15 + 30 i degrees (i = 0..5, both signs).
POLYGON_NORMALS_DEG = 15.0 + 30.0 * np.arange(6)
POLYGON_SCALE = math.cos(math.radians(15.0))
#: Two phasors are of one direction when their angles differ by less than this [rad] (mod pi).
_ANGLE_TOL = 1e-9


def line_coefficients(phase: str, voltage_v: float) -> np.ndarray:
    """Line currents (A, B, C) of a charger per kW of net power [A/kW], complex, shape (3,).

    Unity power factor. ``A``: ``1000/V`` in line A at 0 deg; ``AB``: ``+1000/V`` at the
    angle of ``V_AB`` (30 deg) in line A and ``-1000/V`` in line B; ``ABC``:
    ``1000/(sqrt(3) V)`` in each line at its phase-to-neutral angle.
    """
    z = np.zeros(3, complex)
    if phase == "ABC":
        for i, ln in enumerate(_LINES):
            z[i] = 1000.0 / (math.sqrt(3) * voltage_v) * np.exp(1j * math.radians(_LN[ln]))
    elif len(phase) == 1:
        z[_LINES.index(phase)] = 1000.0 / voltage_v * np.exp(1j * math.radians(_LN[phase]))
    else:
        x, y = phase[0], phase[1]
        v_xy = 1000.0 * np.exp(1j * math.radians(_LN[x])) - 1000.0 * np.exp(1j * math.radians(_LN[y]))
        u = v_xy / abs(v_xy)
        z[_LINES.index(x)] += 1000.0 / voltage_v * u
        z[_LINES.index(y)] -= 1000.0 / voltage_v * u
    return z


def delta_wye(z: np.ndarray, ratio: float) -> np.ndarray:
    """Line currents on the delta primary of a delta-wye transformer: ``(I_a - I_c)/n, (I_b - I_a)/n, (I_c - I_b)/n``."""
    return np.array([z[0] - z[2], z[1] - z[0], z[2] - z[1]]) / ratio


@dataclass
class ChargerBlock:
    """The block's columns and rows, and what is needed to read the assignment back.

    Pair ``p`` is the ``p``-th plugged-in (vehicle, step), sorted by vehicle then step (the
    order of both model forms). Entries reference ``(kind, index)``: a new column, or the
    ``c``/``d``/``x`` column of a pair.
    """

    pc: np.ndarray  # per pair: largest charge [kW]
    pd: np.ndarray  # per pair: largest discharge [kW]
    pmin: np.ndarray  # per pair: minimum charging power [kW]
    need_x: np.ndarray  # per pair: needs a charging-mode binary for the block's rows
    col_lb: np.ndarray
    col_ub: np.ndarray
    col_binary: np.ndarray  # bool per new column
    row_lb: np.ndarray
    row_ub: np.ndarray
    e_row: np.ndarray
    e_kind: np.ndarray
    e_index: np.ndarray
    e_coef: np.ndarray
    occupancies: pd.DataFrame = field(default_factory=pd.DataFrame)
    groups: list = field(default_factory=list)  # charger ids of each group
    a_col: dict = field(default_factory=dict)  # (occupancy, group) -> new column of a
    fixed_group: dict = field(default_factory=dict)  # occupancy -> group held without a binary
    fixed_charger: dict = field(default_factory=dict)  # occupancy -> named charger
    occ_pairs: list = field(default_factory=list)  # pairs of each occupancy
    a_min: dict = field(default_factory=dict)  # (occupancy, group) -> minimum charge there [kW]
    sizes: list = field(default_factory=list)  # chargers per group
    group_row: list = field(default_factory=list)  # row of each group's first charger in sc.chargers (0-based)
    split_c: dict = field(default_factory=dict)  # (pair, group) -> new column p[o,g,t] (several groups only)
    split_d: dict = field(default_factory=dict)  # (pair, group) -> new column q[o,g,t]
    circuit: object = None  # CircuitRows of the block's circuit rows (None without site.circuit)

    @property
    def n_cols(self) -> int:
        return len(self.col_lb)

    @property
    def n_rows(self) -> int:
        return len(self.row_lb)

    @property
    def n_binaries(self) -> int:
        return int(self.col_binary.sum())


class _Builder:
    def __init__(self):
        self.lb, self.ub, self.binary = [], [], []
        self.rlb, self.rub = [], []
        self.rows, self.kinds, self.index, self.coef = [], [], [], []

    def col(self, lb: float, ub: float, binary: bool = False) -> int:
        self.lb.append(lb)
        self.ub.append(ub)
        self.binary.append(binary)
        return len(self.lb) - 1

    def row(self, terms, lb: float, ub: float) -> None:
        r = len(self.rlb)
        for kind, idx, coef in terms:
            if coef != 0.0:
                self.rows.append(r)
                self.kinds.append(kind)
                self.index.append(idx)
                self.coef.append(float(coef))
        self.rlb.append(lb)
        self.rub.append(ub)


def occupancies(sc, plan) -> pd.DataFrame:
    """Plug-in segments cut at the ``site.reassign_at`` clock times: ``vehicle, segment, start, end, station``."""
    idx = sc.grid.index
    cut = np.zeros(sc.grid.n_steps, bool)
    if sc.reassign_at:
        clock = set(sc.reassign_at)
        cut = np.array([(t.hour, t.minute) in clock for t in idx])
    rows = []
    for j, s in enumerate(plan.segments.itertuples()):
        if s.end <= s.start:
            continue
        cuts = [t for t in range(s.start + 1, s.end) if cut[t]]
        bounds = [s.start, *cuts, s.end]
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            st = None
            if plan.stations is not None:
                val = plan.stations[s.vehicle, a]
                st = val if isinstance(val, str) and val else None
            rows.append((int(s.vehicle), j, int(a), int(b), st))
    return pd.DataFrame(rows, columns=["vehicle", "segment", "start", "end", "station"])


def charger_limits(chg: pd.DataFrame, k: int, pc: float, pd_: float, pmin: float) -> tuple[float, float, float]:
    """(largest charge, largest discharge, minimum charge) [kW] of a vehicle (``pc``, ``pd_``,
    ``pmin`` its own limits [kW]) on charger row ``k`` of ``chg`` (0-based)."""
    mx, mn = float(chg.at[k, "max_kw"]), float(chg.at[k, "min_kw"])
    c_hi = min(pc, mx)
    lo = max(pmin, mn)
    if lo > c_hi + 1e-12:  # the charger cannot go as low as the vehicle can take: no charging
        c_hi, lo = 0.0, 0.0
    d_hi = min(pd_, mx) if bool(chg.at[k, "v2g"]) else 0.0
    return c_hi, d_hi, lo


def _pairs(plan) -> tuple[np.ndarray, np.ndarray]:
    segs = plan.segments
    lens = (segs["end"] - segs["start"]).to_numpy(np.int64)
    v = np.repeat(segs["vehicle"].to_numpy(np.int64), lens)
    t = np.concatenate([np.arange(a, b) for a, b in zip(segs["start"], segs["end"], strict=True)] or [np.zeros(0, int)])
    order = np.lexsort((t, v))
    return v[order], t[order].astype(np.int64)


def charger_block(sc, plan) -> ChargerBlock | None:
    """The block of ``sc`` (None without ``site.chargers``); see the module docstring."""
    ch = sc.chargers
    if ch is None:
        return None
    veh = sc.vehicles.loc[plan.vehicle_ids]
    pc_v = veh["max_charge_kw"].to_numpy(float)
    pd_v = veh["max_discharge_kw"].to_numpy(float)
    pmin_v = veh["min_charge_kw"].to_numpy(float)
    pair_v, pair_t = _pairs(plan)
    nP = len(pair_v)
    pair_of = {(int(v), int(t)): p for p, (v, t) in enumerate(zip(pair_v, pair_t, strict=True))}
    pc, pd, pmin = pc_v[pair_v].copy(), pd_v[pair_v].copy(), pmin_v[pair_v].copy()
    need_x = np.zeros(nP, bool)
    b = _Builder()
    occ = occupancies(sc, plan)
    chg = ch.reset_index(drop=True)
    by_id = {cid: i for i, cid in enumerate(chg["charger_id"])}
    named = {s for s in occ["station"] if isinstance(s, str)}
    pooled = chg[~chg["charger_id"].isin(named)]
    keys = ["max_kw", "min_kw", "v2g", "phase", "voltage_v", "node"]
    groups: list[list] = []
    group_row: list[int] = []
    if len(pooled):
        for _, g in pooled.fillna({"voltage_v": -1.0}).groupby(keys, sort=False, dropna=False):
            groups.append(list(g["charger_id"]))
            group_row.append(int(g.index[0]))

    def limits(v: int, k: int) -> tuple[float, float, float]:
        return charger_limits(chg, k, pc_v[v], pd_v[v], pmin_v[v])

    # unit -> list of (kind, pair or column, sign) of its net power P[t], per step
    unit_terms: dict = {}  # (unit, t) -> list of (kind, index, coef)

    def add_power(unit, t, kind, idx, coef=1.0):
        unit_terms.setdefault((unit, t), []).append((kind, idx, coef))

    occ_pairs = [
        [pair_of[(v, t)] for t in range(a, e)] for v, a, e in zip(occ["vehicle"], occ["start"], occ["end"], strict=True)
    ]
    fixed_group: dict = {}
    fixed_charger: dict = {}
    a_col: dict = {}
    a_min: dict = {}
    split_c: dict = {}
    split_d: dict = {}
    free = [o for o in range(len(occ)) if not isinstance(occ.at[o, "station"], str)]
    T = sc.grid.n_steps
    # reserved chargers: their sessions' bounds
    for o in range(len(occ)):
        st = occ.at[o, "station"]
        if not isinstance(st, str):
            continue
        k = by_id[st]
        fixed_charger[o] = st
        v = int(occ.at[o, "vehicle"])
        c_hi, d_hi, lo = limits(v, k)
        for p in occ_pairs[o]:
            pc[p], pd[p], pmin[p] = c_hi, d_hi, lo
            add_power(("k", k), int(pair_t[p]), C, p)
            add_power(("k", k), int(pair_t[p]), D, p, -1.0)
    # pooled groups
    if free and not groups:
        for o in free:  # no charger left for them: they stay idle
            for p in occ_pairs[o]:
                pc[p] = pd[p] = pmin[p] = 0.0
    elif free:
        active = np.zeros((len(free), T), bool)
        for i, o in enumerate(free):
            active[i, occ.at[o, "start"] : occ.at[o, "end"]] = True
        count = active.sum(axis=0)
        sizes = [len(g) for g in groups]
        single = len(groups) == 1
        if single and count.max() <= sizes[0]:
            for o in free:
                fixed_group[o] = 0
        starts = sorted({int(occ.at[o, "start"]) for o in free})
        for o in free:
            v = int(occ.at[o, "vehicle"])
            if o in fixed_group:
                c_hi, d_hi, lo = limits(v, group_row[0])
                for p in occ_pairs[o]:
                    pc[p], pd[p], pmin[p] = c_hi, d_hi, lo
                    add_power(("g", 0), int(pair_t[p]), C, p)
                    add_power(("g", 0), int(pair_t[p]), D, p, -1.0)
                continue
            lims = [limits(v, group_row[g]) for g in range(len(groups))]
            cols = [b.col(0.0, 1.0, True) for _ in groups]
            for g, col in enumerate(cols):
                a_col[(o, g)] = col
                a_min[(o, g)] = lims[g][2]
            b.row([(NEW, col, 1.0) for col in cols], -np.inf, 1.0)
            if single:
                c_hi, d_hi, lo = lims[0]
                for p in occ_pairs[o]:
                    pc[p], pd[p], pmin[p] = c_hi, d_hi, lo
                    b.row([(C, p, 1.0), (NEW, cols[0], -c_hi)], -np.inf, 0.0)
                    if d_hi > 0:
                        b.row([(D, p, 1.0), (NEW, cols[0], -d_hi)], -np.inf, 0.0)
                    add_power(("g", 0), int(pair_t[p]), C, p)
                    add_power(("g", 0), int(pair_t[p]), D, p, -1.0)
                continue
            c_top = max(lm[0] for lm in lims)
            d_top = max(lm[1] for lm in lims)
            lo_all = min(lm[2] for lm in lims if lm[0] > 0) if any(lm[0] > 0 for lm in lims) else 0.0
            for p in occ_pairs[o]:
                pc[p], pd[p], pmin[p] = c_top, d_top, lo_all
                t = int(pair_t[p])
                sum_c, sum_d = [(C, p, 1.0)], [(D, p, 1.0)]
                for g, (c_hi, d_hi, lo) in enumerate(lims):
                    pcol = b.col(0.0, c_hi)
                    split_c[(p, g)] = pcol
                    sum_c.append((NEW, pcol, -1.0))
                    b.row([(NEW, pcol, 1.0), (NEW, cols[g], -c_hi)], -np.inf, 0.0)
                    add_power(("g", g), t, NEW, pcol)
                    if lo > lo_all + 1e-12 and c_hi > 0:
                        need_x[p] = True
                        b.row([(NEW, pcol, 1.0), (X, p, -lo), (NEW, cols[g], -lo)], -lo, np.inf)
                    if d_hi > 0 and d_top > 0:
                        qcol = b.col(0.0, d_hi)
                        split_d[(p, g)] = qcol
                        sum_d.append((NEW, qcol, -1.0))
                        b.row([(NEW, qcol, 1.0), (NEW, cols[g], -d_hi)], -np.inf, 0.0)
                        add_power(("g", g), t, NEW, qcol, -1.0)
                b.row(sum_c, 0.0, 0.0)
                if d_top > 0:
                    b.row(sum_d, 0.0, 0.0)
        # counting rows: at each start step where more than n_g occupancies with a binary may be
        binary_occ = [i for i, o in enumerate(free) if o not in fixed_group]
        if binary_occ:
            sub = active[binary_occ]
            n_here = sub.sum(axis=0)
            for t in starts:
                for g, n_g in enumerate(sizes):
                    if n_here[t] > n_g:
                        here = [free[binary_occ[i]] for i in np.flatnonzero(sub[:, t])]
                        b.row([(NEW, a_col[(o, g)], 1.0) for o in here], -np.inf, float(n_g))
    circuit = None
    if sc.circuit is not None:
        circuit = _circuit_rows(sc, chg, groups, group_row, unit_terms, b, T)
    return ChargerBlock(
        pc=pc,
        pd=pd,
        pmin=pmin,
        need_x=need_x,
        col_lb=np.array(b.lb, float),
        col_ub=np.array(b.ub, float),
        col_binary=np.array(b.binary, bool),
        row_lb=np.array(b.rlb, float),
        row_ub=np.array(b.rub, float),
        e_row=np.array(b.rows, np.int64),
        e_kind=np.array(b.kinds, np.int64),
        e_index=np.array(b.index, np.int64),
        e_coef=np.array(b.coef, float),
        occupancies=occ,
        groups=groups,
        a_col=a_col,
        fixed_group=fixed_group,
        fixed_charger=fixed_charger,
        occ_pairs=occ_pairs,
        a_min=a_min,
        sizes=[len(g) for g in groups],
        group_row=group_row,
        split_c=split_c,
        split_d=split_d,
        circuit=circuit,
    )


def unit_coefficients(sc, chg: pd.DataFrame, row: int) -> dict:
    """Per node above charger row ``row``: its line currents per kW [A/kW] (complex, shape (3,))."""
    from ..chargers import ancestors

    circ = sc.circuit
    ratio = dict(zip(circ["node_id"], circ["delta_wye_ratio"], strict=True))
    phase, volts = chg.at[row, "phase"], float(chg.at[row, "voltage_v"])
    z = line_coefficients(phase, volts) if phase and not math.isnan(volts) else None
    out = {}
    for node in ancestors(circ, chg.at[row, "node"]):
        if z is not None and not math.isnan(ratio[node]):
            z = delta_wye(z, float(ratio[node]))
        out[node] = z
    return out


@dataclass
class CircuitRows:
    """The circuit's rows of one step, as templates: row ``r`` is ``|sum_u coef[u][r] P_u| <= bound[r]``.

    ``units`` are the block's power units (``("k", charger row)`` for a reserved charger,
    ``("g", group)`` for a group), ``rows_of[u]`` / ``coef_of[u]`` the template rows unit ``u``
    appears in and its coefficients there (per kW of its net power), ``bound`` [kW or A] per
    template row. The block writes these rows at every step where a unit below the node has
    power; the greedy (:mod:`gridopt.optimizer.greedy_chargers`) keeps its plan inside them.
    """

    units: list
    rows_of: dict
    coef_of: dict
    bound: np.ndarray


def _circuit_rows(sc, chg, groups, group_row, unit_terms, b: _Builder, T: int) -> CircuitRows:
    circ = sc.circuit
    units = sorted({u for u, _ in unit_terms}, key=str)
    coef = {u: unit_coefficients(sc, chg, u[1] if u[0] == "k" else group_row[u[1]]) for u in units}
    rows_of: dict = {u: [] for u in units}
    coef_of: dict = {u: [] for u in units}
    bound: list = []
    by_step: dict = {}
    for (u, t), terms in unit_terms.items():
        by_step.setdefault(t, []).append((u, terms))
    for node, lim_kw, lim_a in zip(circ["node_id"], circ["limit_kw"], circ["limit_a"], strict=True):
        below = [u for u in units if node in coef[u]]
        if not below:
            continue
        below_set = set(below)
        # the directions of each line: exact rows when one direction, else the 12-gon
        lines = []
        if not math.isnan(lim_a):
            for ln in range(3):
                zs = [coef[u][node][ln] for u in below if coef[u][node] is not None]
                zs = [z for z in zs if abs(z) > 0]
                if not zs:
                    continue
                th = [math.atan2(z.imag, z.real) % math.pi for z in zs]
                one = all(min(abs(a - th[0]), math.pi - abs(a - th[0])) < _ANGLE_TOL for a in th)
                normals = [th[0]] if one else list(np.radians(POLYGON_NORMALS_DEG))
                scale = 1.0 if one else POLYGON_SCALE
                lines.append((ln, normals, scale))
        # the same rows as templates (one step)
        if not math.isnan(lim_kw):
            for u in below:
                rows_of[u].append(len(bound))
                coef_of[u].append(1.0)
            bound.append(float(lim_kw))
        for ln, normals, scale in lines:
            for phi in normals:
                for u in below:
                    if coef[u][node] is not None:
                        rows_of[u].append(len(bound))
                        coef_of[u].append(float((coef[u][node][ln] * np.exp(-1j * phi)).real))
                bound.append(float(lim_a) * scale)
        for t in range(T):
            here = [(u, terms) for u, terms in by_step.get(t, ()) if u in below_set]
            if not here:
                continue
            if not math.isnan(lim_kw):
                b.row([term for _, terms in here for term in terms], -float(lim_kw), float(lim_kw))
            for ln, normals, scale in lines:
                for phi in normals:
                    row = []
                    for u, terms in here:
                        z = coef[u][node][ln]
                        k = (z * np.exp(-1j * phi)).real
                        row += [(kind, idx, k * c) for kind, idx, c in terms]
                    bound_a = float(lim_a) * scale
                    b.row(row, -bound_a, bound_a)
    return CircuitRows(
        units=units,
        rows_of={u: np.array(r, np.int64) for u, r in rows_of.items()},
        coef_of={u: np.array(c, float) for u, c in coef_of.items()},
        bound=np.array(bound, float),
    )


def assignment(sc, plan, block: ChargerBlock, new_values: np.ndarray, charge: np.ndarray, discharge: np.ndarray):
    """Which charger each occupancy holds, from the solved block.

    Returns
    -------
    charger_assignment : DataFrame
        ``vehicle_id, charger_id, start, end`` (tz-aware plug-in and unplug of each occupancy; an
        occupancy without a charger is left out).
    chargers_vt : ndarray of object, shape (n_vehicles, n_steps)
        The charger of each vehicle in each step (None where it holds none).
    unassigned : int
        Occupancies that got no charger (more vehicles than chargers).
    """
    occ = block.occupancies
    held: dict = {}  # occupancy -> group
    for o in range(len(occ)):
        if o in block.fixed_group:
            held[o] = block.fixed_group[o]
        else:
            got = [g for (oo, g), col in block.a_col.items() if oo == o and new_values[col] > 0.5]
            if got:
                held[o] = got[0]
    charger_of: dict = dict(block.fixed_charger)
    last_of_vehicle: dict = {}
    for g, ids in enumerate(block.groups):
        free_at = {k: -1 for k in ids}  # charger -> step at which it is free again
        mine = sorted((o for o, gg in held.items() if gg == g), key=lambda o: (occ.at[o, "start"], o))
        for o in mine:
            a, v = int(occ.at[o, "start"]), int(occ.at[o, "vehicle"])
            prev = last_of_vehicle.get(v)
            pick = prev if prev in free_at and free_at[prev] <= a else None
            if pick is None:
                pick = next((k for k in ids if free_at[k] <= a), None)
            if pick is None:
                raise GridoptError(f"{sc.name}: charger group {ids} over-full at step {a}: a bug in gridopt")
            free_at[pick] = int(occ.at[o, "end"])
            charger_of[o] = pick
            last_of_vehicle[v] = pick
    V, T = len(plan.vehicle_ids), sc.grid.n_steps
    chargers_vt = np.full((V, T), None, dtype=object)
    rows = []
    idx = sc.grid.index
    step = pd.Timedelta(minutes=sc.grid.step_minutes)

    def at(k: int):
        return idx[k] if k < T else idx[-1] + step

    for o in range(len(occ)):
        k = charger_of.get(o)
        if k is None:
            continue
        v, a, e = int(occ.at[o, "vehicle"]), int(occ.at[o, "start"]), int(occ.at[o, "end"])
        chargers_vt[v, a:e] = k
        rows.append((plan.vehicle_ids[v], k, at(a), at(e)))
    frame = pd.DataFrame(rows, columns=["vehicle_id", "charger_id", "start", "end"])
    for col in ("start", "end"):  # the schedule's time unit
        frame[col] = pd.DatetimeIndex(frame[col], tz=idx.tz).as_unit("ns")
    # an occupancy that holds nothing must not charge (the model's bounds already say so)
    return frame, chargers_vt, len(occ) - len(charger_of)


def round_assignment(block: ChargerBlock, a_values: np.ndarray, pmin_pair: np.ndarray, T: int):
    """An integral assignment near a relaxed one, and the minimum charging power it implies per pair.

    Occupancies take their groups by decreasing relaxed value ``a[o,g]`` (a value of at least 0.5
    first, then any positive one), each only where the group still has a free charger at every step
    of the occupancy; the rest hold none. Used by the fast path to repair a plan of the LP
    relaxation (:mod:`gridopt.optimizer.fast`).

    Parameters
    ----------
    a_values : ndarray
        Values of the block's columns (relaxed) [-].
    pmin_pair : ndarray
        The model's minimum charging power per pair [kW].

    Returns
    -------
    values : ndarray
        The block's binary columns set to 0 or 1 (other columns as given).
    pmin : ndarray
        ``pmin_pair`` raised to the minimum of the group each pair now holds.
    """
    vals = np.asarray(a_values, float).copy()
    pmin = np.asarray(pmin_pair, float).copy()
    occ = block.occupancies
    load = np.zeros((len(block.sizes), T), np.int64)
    order = sorted(block.a_col.items(), key=lambda kv: -vals[kv[1]])
    held: dict = {}
    for (o, g), col in order:
        if o in held or vals[col] <= 1e-6:
            continue
        a, e = int(occ.at[o, "start"]), int(occ.at[o, "end"])
        if (load[g, a:e] < block.sizes[g]).all():
            load[g, a:e] += 1
            held[o] = g
    for (o, g), col in block.a_col.items():
        vals[col] = 1.0 if held.get(o) == g else 0.0
    for o, g in held.items():
        pairs = block.occ_pairs[o]
        pmin[pairs] = np.maximum(pmin[pairs], block.a_min[(o, g)])
    return vals, pmin


# --- the two model forms --------------------------------------------------------------------------


def add_charger_block(m, data) -> None:
    """Pyomo: the block's columns ``m.chg[i]`` and rows ``m.charger_rows[r]`` (see the module docstring)."""
    import pyomo.environ as pyo

    blk = data.charger_block
    if blk is None:
        return
    n = blk.n_cols
    m.CHG = pyo.RangeSet(0, n - 1) if n else pyo.Set(initialize=[])
    m.chg = pyo.Var(
        m.CHG,
        domain=lambda m, i: pyo.Binary if blk.col_binary[i] else pyo.Reals,
        bounds=lambda m, i: (float(blk.col_lb[i]), float(blk.col_ub[i])),
    )
    pairs = data.plugged_pairs

    def ref(kind, idx):
        if kind == NEW:
            return m.chg[int(idx)]
        v, t = pairs[int(idx)]
        if kind == C:
            return m.charge_kw[v, t]
        if kind == D:
            return m.discharge_kw[v, t] if (v, t) in m.PD else None
        return m.charging[v, t] if (v, t) in m.PX else None

    order = np.argsort(blk.e_row, kind="stable")
    starts = np.searchsorted(blk.e_row[order], np.arange(blk.n_rows + 1))
    exprs = []
    for r in range(blk.n_rows):
        terms = []
        for e in order[starts[r] : starts[r + 1]]:
            var = ref(blk.e_kind[e], blk.e_index[e])
            if var is not None:
                terms.append(float(blk.e_coef[e]) * var)
        exprs.append(sum(terms) if terms else None)
    keep = [r for r in range(blk.n_rows) if exprs[r] is not None]

    def rule(m, r):
        lo = None if math.isinf(blk.row_lb[r]) else float(blk.row_lb[r])
        hi = None if math.isinf(blk.row_ub[r]) else float(blk.row_ub[r])
        return (lo, exprs[r], hi)

    m.CHR = pyo.Set(initialize=keep, ordered=True)
    m.charger_rows = pyo.Constraint(m.CHR, rule=rule)


def add_matrix_block(rows, block: ChargerBlock | None, first_col: int, col_c, col_d, col_x) -> None:
    """numpy: the block's rows into ``rows`` (:class:`gridopt.optimizer.matrix._Rows`); its columns
    start at ``first_col``. Entries on a discharge or mode column the model has not are left out
    (their pair cannot discharge, or the form has no mode binaries: ``modes=False``)."""
    if block is None or not block.n_rows:
        return
    col = np.full(len(block.e_kind), -1, np.int64)
    k = block.e_kind
    col[k == NEW] = first_col + block.e_index[k == NEW]
    col[k == C] = col_c[block.e_index[k == C]]
    col[k == D] = col_d[block.e_index[k == D]]
    col[k == X] = col_x[block.e_index[k == X]]
    ok = col >= 0
    # a row that lost its mode term (no binaries in this form) is dropped whole: it is a mode row
    lost = np.zeros(block.n_rows, bool)
    lost[block.e_row[(k == X) & ~ok]] = True
    keep_row = ~lost
    new_index = np.cumsum(keep_row) - 1
    e = ok & keep_row[block.e_row]
    first = rows.n
    rows.add([], block.row_lb[keep_row], block.row_ub[keep_row], int(keep_row.sum()))
    rows.rows.append(first + new_index[block.e_row[e]])
    rows.cols.append(col[e])
    rows.vals.append(block.e_coef[e])


def with_chargers(sc, plan, block: ChargerBlock | None, new_values, schedule: pd.DataFrame):
    """The schedule with a ``charger_id`` column after ``vehicle_id``, the ``charger_assignment`` table
    and the summary's ``chargers`` entry (all unchanged / None without ``site.chargers``)."""
    if block is None:
        return schedule, None, None
    V, T = len(plan.vehicle_ids), sc.grid.n_steps
    charge = schedule["charge_kw"].to_numpy(float).reshape(V, T)
    discharge = schedule["discharge_kw"].to_numpy(float).reshape(V, T)
    frame, chargers_vt, unassigned = assignment(sc, plan, block, np.asarray(new_values, float), charge, discharge)
    out = schedule.copy()
    out.insert(out.columns.get_loc("vehicle_id") + 1, "charger_id", chargers_vt.ravel())
    info = {
        "chargers": len(sc.chargers),
        "occupancies": len(block.occupancies),
        "unassigned_occupancies": int(unassigned),
        "assignment_binaries": block.n_binaries,
        "groups": len(block.groups),
    }
    return out, frame, info
