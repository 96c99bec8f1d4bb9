"""The model of :mod:`gridopt.optimizer.model` as sparse matrices, built with numpy.

Pyomo's rule-based build costs seconds per 100,000 columns; this builder makes
the same mixed-integer program in milliseconds and hands it to HiGHS directly.
It is a transcription of ``model.py``, row block by row block (each block names
the ``add_*`` function whose equations it writes), and the tests hold the two
equal: same optimum on every case the Pyomo model solves. Pyomo stays the
reference definition; this is the fast path.

Column blocks: ``c`` (charge, one per plugged-in pair), ``d`` (discharge, V2G
pairs), ``e`` (SoC, one per segment boundary), ``u`` (shortfall), ``x``/``y``
(mode binaries), ``imp``, ``exp``, ``pv`` (per step), ``peak``, ``z`` (meter binaries), then the
grid terms' columns where they exist: ``gpk`` (grid peak), ``mean``, ``dev`` (valley fill),
``trk`` (soft tracking, per step with a target), ``ren`` (renewable use), ``paid``, ``short``
(export requests).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..fleet import FleetPlan
from ..scenario import Scenario, step_inputs
from .checkpoints import add_matrix_checkpoints, checkpoint_segments, n_checkpoint_columns
from .circuit import add_matrix_block, charger_block
from .switching import add_matrix_switching, n_switching_columns


def _excl_cumsum(a: np.ndarray) -> np.ndarray:
    out = np.zeros(len(a), dtype=np.int64)
    if len(a) > 1:
        np.cumsum(a[:-1], out=out[1:])
    return out


def _empty() -> np.ndarray:
    return np.zeros(0, np.int64)


def one_meter_steps(sc: Scenario, steps) -> np.ndarray:
    """Steps with a one-meter binary (as :func:`gridopt.optimizer.model.one_meter_steps`).

    Where ``export_price + [cred] carbon_price c + request payment + penalty``
    (soft requests) exceeds ``import_price + carbon_price c`` and the site may
    export; never in a hard request's steps (import 0 there).
    """
    ip = sc.series["import_price"].to_numpy(float)
    ep = sc.series["export_price"].to_numpy(float)
    g = sc.grid_terms
    value, cost = ep.copy(), ip.copy()
    if steps.carbon_kg_per_kwh is not None and g.carbon_price_per_kg > 0:
        cost = cost + g.carbon_price_per_kg * steps.carbon_kg_per_kwh
        if g.carbon_credit_export:
            value = value + g.carbon_price_per_kg * steps.carbon_kg_per_kwh
    req = steps.export_request_kw > 0
    hard = req & steps.export_request_hard
    value = value + np.where(req, steps.export_payment_per_kwh + np.where(hard, 0.0, steps.export_penalty_per_kwh), 0.0)
    return np.flatnonzero((value > cost) & (steps.export_limit_kw > 0) & ~hard)


def request_meter_steps(sc: Scenario, steps) -> np.ndarray:
    """One-meter steps that only a soft export request's payment or penalty makes: where prices and
    carbon alone would not pay for importing and exporting at once, but the request does.

    At these steps the cost of the site's net import is not convex (a kW exported earns more than a kW
    imported costs), so the binary-free LP would import and export at once to collect the payment; they
    are few (the requests' windows), and keeping their binaries keeps the fast path's bound tight.
    """
    ip = sc.series["import_price"].to_numpy(float)
    ep = sc.series["export_price"].to_numpy(float)
    g = sc.grid_terms
    value, cost = ep.copy(), ip.copy()
    if steps.carbon_kg_per_kwh is not None and g.carbon_price_per_kg > 0:
        cost = cost + g.carbon_price_per_kg * steps.carbon_kg_per_kwh
        if g.carbon_credit_export:
            value = value + g.carbon_price_per_kg * steps.carbon_kg_per_kwh
    return np.setdiff1d(one_meter_steps(sc, steps), np.flatnonzero(value > cost))


def slim_segments(sc: Scenario, plan: FleetPlan) -> np.ndarray:
    """Segments (bool per segment of ``plan.segments``) whose SoC needs no column per step.

    A segment of a vehicle without V2G (``max_discharge_kw == 0``) only charges:
    its SoC never falls, ``e[j,k] <= e[j,k+1]``. Then the bounds ``lo_j <= e[j,k]
    <= hi_j`` at every boundary hold exactly when they hold at the segment's
    start and end, and the per-step equalities
    ``e[j,t+1] = e[j,t] + eta_c c[v,t] dt`` can be summed into one::

        e[j,end_j] = e[j,start_j] + eta_c dt sum_{start_j <= t < end_j} c[v,t]

    with ``e`` kept (and bounded) at the two ends only: the same feasible set
    of powers, shortfalls and end SoC, so the same optimum (adacharge's form of
    the charging problem). The SoC after each step is the running sum again
    (:func:`soc_after`). Excluded: segments above ``max_soc`` at the start
    (``high_guard``: their rule needs the SoC after each charging step),
    segments of fewer than 2 steps (nothing to save), and any segment with a
    requirement other than at its end.
    """
    segs = plan.segments
    veh = sc.vehicles.loc[plan.vehicle_ids]
    s_veh = segs["vehicle"].to_numpy(np.int64)
    charge_only = veh["max_discharge_kw"].to_numpy(float)[s_veh] <= 0
    lens = segs["end"].to_numpy(np.int64) - segs["start"].to_numpy(np.int64)
    out = charge_only & ~segs["high_guard"].to_numpy(bool) & (lens >= 2)
    reqs = plan.requirements
    if len(reqs):
        r_seg = reqs["segment"].to_numpy(np.int64)
        inside = reqs["boundary"].to_numpy(np.int64) != segs["end"].to_numpy(np.int64)[r_seg]
        out[r_seg[inside]] = False
    out &= ~checkpoint_segments(sc, plan)  # soft checkpoints need the SoC per step
    return out


def soc_after(mm: MatrixModel, values: np.ndarray) -> np.ndarray:
    """SoC at the end of each plugged-in step (per pair) [kWh] from a plan ``values`` in ``mm``'s layout.

    The SoC column where there is one; inside a slim segment the start SoC
    plus the running sum of ``eta_c dt c`` (the equalities the slim form
    summed, :func:`slim_segments`).
    """
    out = np.empty(len(mm.col_c))
    has = mm.col_e_after >= 0
    out[has] = values[mm.col_e_after[has]]
    slim = ~has
    if slim.any():
        seg = mm.pair_seg[slim]
        gained = mm.gain_pair[slim] * values[mm.col_c[slim]]
        run = np.cumsum(gained)
        # the running sum restarts at each segment (pairs of a segment are consecutive)
        first = np.r_[True, seg[1:] != seg[:-1]]
        before = (run - gained)[first]
        run = run - np.repeat(before, np.diff(np.r_[np.flatnonzero(first), len(seg)]))
        out[slim] = values[mm.col_e_start[seg]] + run
    return out


@dataclass
class MatrixModel:
    """A mixed-integer program ``min cost @ x`` s.t. ``row_lb <= A x <= row_ub``, ``col_lb <= x <= col_ub``.

    ``A`` is row-wise (CSR: ``a_start``, ``a_index``, ``a_value``). ``binary`` holds
    the columns that must be 0 or 1. The remaining attributes map the plan's
    quantities to columns.
    """

    cost: np.ndarray
    col_lb: np.ndarray
    col_ub: np.ndarray
    row_lb: np.ndarray
    row_ub: np.ndarray
    a_start: np.ndarray
    a_index: np.ndarray
    a_value: np.ndarray
    binary: np.ndarray
    # layout
    pair_v: np.ndarray
    pair_t: np.ndarray
    col_c: np.ndarray
    col_d: np.ndarray  # per pair, -1 without V2G
    col_x: np.ndarray  # per pair, -1 without a charging-mode binary
    col_y: np.ndarray  # per pair, -1 without a separate discharging-mode binary
    col_e_after: np.ndarray  # per pair: SoC at the end of the step (-1 inside a slim segment: see soc_after)
    col_e_req: np.ndarray  # per requirement: SoC at the requirement
    col_u: np.ndarray
    col_imp: np.ndarray
    col_exp: np.ndarray
    col_pv: np.ndarray
    col_z: np.ndarray  # meter binaries
    col_e: np.ndarray  # all SoC columns
    col_peak: np.ndarray  # 0 or 1 column
    meter_steps: np.ndarray
    pmin_pair: np.ndarray
    high_pair: np.ndarray  # pairs under the above-max_soc guard
    low_pair: np.ndarray  # pairs under the below-min_soc guard
    L_pair: np.ndarray  # min_soc * battery_kwh per pair [kWh]
    U_pair: np.ndarray  # max_soc * battery_kwh per pair [kWh]
    # grid terms (empty arrays where unused)
    col_gpk: np.ndarray = field(default_factory=_empty)  # grid peak [kW], 0 or 1 column
    col_mean: np.ndarray = field(default_factory=_empty)  # mean grid load [kW], 0 or 1 column
    col_dev: np.ndarray = field(default_factory=_empty)  # largest deviation from the mean [kW], 0 or 1 column
    col_trk: np.ndarray = field(default_factory=_empty)  # tracking deviation, per step of trk_steps [kW]
    trk_steps: np.ndarray = field(default_factory=_empty)
    col_ren: np.ndarray = field(default_factory=_empty)  # charging within the surplus, per ren_steps [kW]
    ren_steps: np.ndarray = field(default_factory=_empty)
    col_sw: np.ndarray = field(default_factory=_empty)  # switching rises, one per pair or none [kW]
    col_paid: np.ndarray = field(default_factory=_empty)  # paid export, per step of paid_steps [kW]
    paid_steps: np.ndarray = field(default_factory=_empty)
    col_short: np.ndarray = field(default_factory=_empty)  # short of a soft request, per short_steps [kW]
    short_steps: np.ndarray = field(default_factory=_empty)
    n_hull_rows: int = 0  # the mode-hull rows (``hull=True``), the last rows of ``A``
    col_chg: np.ndarray = field(default_factory=_empty)  # the charger block's columns (gridopt.optimizer.circuit)
    charger_block: object = None  # its ChargerBlock, None without site.chargers
    # slim segments (``slim=True``, :func:`slim_segments`): SoC columns at their two ends only
    col_e_start: np.ndarray = field(default_factory=_empty)  # per segment: SoC at its start boundary
    slim_seg: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))  # per segment
    pair_seg: np.ndarray = field(default_factory=_empty)  # per pair: its segment
    gain_pair: np.ndarray = field(default_factory=lambda: np.zeros(0))  # per pair: eta_c * dt_h [kWh/kW]
    # soft checkpoints (gridopt.optimizer.checkpoints): shortfall column, pair and SoC wanted, per checkpoint
    col_cp: np.ndarray = field(default_factory=_empty)
    cp_pair: np.ndarray = field(default_factory=_empty)
    cp_soc_kwh: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def n_cols(self) -> int:
        return len(self.cost)

    @property
    def n_rows(self) -> int:
        return len(self.row_lb)


class _Rows:
    """Collects row blocks as triplets."""

    def __init__(self):
        self.rows, self.cols, self.vals, self.lb, self.ub = [], [], [], [], []
        self.n = 0

    def add(self, terms: list[tuple[np.ndarray, np.ndarray]], lb, ub, count: int) -> None:
        """``count`` rows; each term is (column per row, coefficient per row)."""
        if count == 0:
            return
        r = np.arange(self.n, self.n + count)
        for cols, vals in terms:
            cols = np.broadcast_to(np.asarray(cols, dtype=np.int64), (count,))
            vals = np.broadcast_to(np.asarray(vals, dtype=float), (count,))
            self.rows.append(r)
            self.cols.append(cols)
            self.vals.append(vals)
        self.lb.append(np.broadcast_to(np.asarray(lb, dtype=float), (count,)))
        self.ub.append(np.broadcast_to(np.asarray(ub, dtype=float), (count,)))
        self.n += count

    def csr(self):
        rows = np.concatenate(self.rows) if self.rows else np.zeros(0, np.int64)
        cols = np.concatenate(self.cols) if self.cols else np.zeros(0, np.int64)
        vals = np.concatenate(self.vals) if self.vals else np.zeros(0)
        keep = vals != 0
        rows, cols, vals = rows[keep], cols[keep], vals[keep]
        order = np.lexsort((cols, rows))
        rows, cols, vals = rows[order], cols[order], vals[order]
        start = np.zeros(self.n + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=self.n), out=start[1:])
        lb = np.concatenate(self.lb) if self.lb else np.zeros(0)
        ub = np.concatenate(self.ub) if self.ub else np.zeros(0)
        return start, cols.astype(np.int32), vals, lb, ub


def add_mode_hull_rows(rows, sc, st, pair_t, col_c, col_d, Pc, Pd, col_imp, col_exp, kept_meter) -> None:
    """The convex hull of one step's modes, for the binary-free LP (a bound-only device).

    A V2G vehicle in one step either charges (``c`` in ``{0} ∪ [P_min, P_c]``,
    ``d = 0``) or discharges (``c = 0``, ``d`` in ``[0, P_d]``). In the ``(c, d)``
    plane the hull of that union is the triangle (0, 0), (P_c, 0), (0, P_d)
    whatever the minimum power (``(0, 0)`` is a mode), so::

        c[v,t] / P_c[v] + d[v,t] / P_d[v] <= 1          (every V2G pair)

    and likewise for a one-meter step: it imports (``exp = 0``, so by the site
    balance ``imp <= M[t] = base[t] - pv_min[t] + sum of P_c of the vehicles
    plugged in``, and ``imp <=`` the import limit) or exports (``imp = 0``, so
    ``exp <= X[t] = pv[t] - base[t] + sum of P_d plugged in``, and ``<=`` the
    export limit), never both::

        imp[t] / M[t] + exp[t] / X[t] <= 1              (one-meter steps without a binary)

    (``pv_min`` is ``pv`` when PV cannot be curtailed, else 0; steps where
    ``M`` or ``X`` is 0 get no row.)

    Both hold for every plan of the MILP, so the LP with them is still a
    relaxation and its optimum a proven lower bound; they are implied by the
    MILP's big-M rows (``c <= P_c x``, ``d <= P_d y``, ``x + y <= 1``), so they only
    ever go into the binary-free LP.
    """
    hd = np.flatnonzero((col_d >= 0) & (Pc > 0))
    rows.add([(col_c[hd], 1.0 / Pc[hd]), (col_d[hd], 1.0 / Pd[hd])], -np.inf, 1.0, len(hd))
    meter = np.setdiff1d(one_meter_steps(sc, st), kept_meter)
    if len(meter):
        T = len(col_imp)
        base = sc.series["base_load_kw"].to_numpy(float)
        pv = sc.series["pv_kw"].to_numpy(float)
        pv_min = np.zeros(T) if sc.pv_curtailable else pv
        big_imp = np.minimum(st.import_limit_kw, base - pv_min + np.bincount(pair_t, Pc, minlength=T))[meter]
        big_exp = np.minimum(st.export_limit_kw, pv - base + np.bincount(pair_t, Pd, minlength=T))[meter]
        ok = (big_imp > 1e-6) & (big_exp > 1e-6)
        m, bi, be = meter[ok], big_imp[ok], big_exp[ok]
        rows.add([(col_imp[m], 1.0 / bi), (col_exp[m], 1.0 / be)], -np.inf, 1.0, len(m))


def build_matrix(
    sc: Scenario,
    plan: FleetPlan,
    *,
    modes: bool = True,
    request_meters: bool = False,
    hull: bool = False,
    keep_meters: np.ndarray | None = None,
    slim: bool = True,
) -> MatrixModel:
    """The MILP of ``sc`` as matrices (same equations as :func:`gridopt.optimizer.model.build_model`).

    With ``modes=False`` every mode binary is left out together with the rows that
    use it (charger modes and minimum power, the out-of-range SoC guards, the
    one-meter rule): an LP whose optimum is a lower bound on the MILP's. It
    solves far faster than the LP relaxation of the big-M rows. With
    ``request_meters=True`` as well, the one-meter binaries that only export
    requests call for (:func:`request_meter_steps`) stay: a MIP with a handful of
    binaries, still a relaxation of the MILP, whose bound is not weakened by
    importing and exporting at once to collect a request's payment. With
    ``modes=False`` and ``keep_meters`` (steps of :func:`one_meter_steps`), those
    steps' one-meter binaries stay instead.

    With ``modes=False`` and ``hull=True`` the LP gets the convex hull of each
    step's modes (:func:`add_mode_hull_rows`): valid for the MILP, so the LP stays
    a relaxation, but it can no longer charge and discharge a vehicle at full
    power in one step (nor import and export at full power at once) to burn
    energy at negative prices. The MILP's big-M rows imply these rows, so
    ``modes=True`` ignores ``hull``.

    With ``slim=True`` (the default) the charge-only segments of
    :func:`slim_segments` carry one energy sum instead of a SoC column and an
    equality per step (an equivalent program, see there); ``slim=False`` is the
    step-by-step form of ``model.py``.
    """
    T = sc.grid.n_steps
    dt = sc.grid.dt_h
    veh = sc.vehicles.loc[plan.vehicle_ids]
    B = veh["battery_kwh"].to_numpy(float)
    pc_v = veh["max_charge_kw"].to_numpy(float)
    pd_v = veh["max_discharge_kw"].to_numpy(float)
    pmin_v = veh["min_charge_kw"].to_numpy(float)
    etac_v = veh["charge_efficiency"].to_numpy(float)
    etad_v = veh["discharge_efficiency"].to_numpy(float)
    L_v = veh["min_soc"].to_numpy(float) * B
    U_v = veh["max_soc"].to_numpy(float) * B

    segs = plan.segments
    S = len(segs)
    s_start = segs["start"].to_numpy(np.int64)
    s_end = segs["end"].to_numpy(np.int64)
    s_veh = segs["vehicle"].to_numpy(np.int64)
    s_lo = segs["lo_kwh"].to_numpy(float)
    s_hi = segs["hi_kwh"].to_numpy(float)
    s0 = segs["s0_kwh"].to_numpy(float)
    link = segs["link_req"].to_numpy(np.int64)
    lens = s_end - s_start
    nP = int(lens.sum())
    pair_seg = np.repeat(np.arange(S), lens)
    pair_t = s_start[pair_seg] + (np.arange(nP) - np.repeat(_excl_cumsum(lens), lens))
    pair_v = s_veh[pair_seg]
    slim_seg = slim_segments(sc, plan) if slim else np.zeros(S, bool)
    n_e = np.where(slim_seg, 2, lens + 1)  # SoC columns per segment
    boff = _excl_cumsum(n_e)
    nK = int(n_e.sum())

    Pc, Pd, pmin = pc_v[pair_v], pd_v[pair_v], pmin_v[pair_v]
    chg_block = charger_block(sc, plan)  # chargers, assignment, circuit: gridopt.optimizer.circuit
    need_x = np.zeros(nP, bool)
    if chg_block is not None:  # per-pair limits of the charger each pair is on
        Pc, Pd, pmin, need_x = chg_block.pc, chg_block.pd, chg_block.pmin, chg_block.need_x
    high = segs["high_guard"].to_numpy(bool)[pair_seg] & (Pc > 0)
    low = segs["low_guard"].to_numpy(bool)[pair_seg] & (Pd > 0)
    has_d = Pd > 0
    has_x = (Pc > 0) & ((pmin > 0) | (Pd > 0) | high | need_x) & modes
    has_y = has_d & (pmin > 0) & (Pc > 0) & modes
    if not modes:
        high = np.zeros(nP, bool)
        low = np.zeros(nP, bool)

    reqs = plan.requirements
    R = len(reqs)
    r_seg = reqs["segment"].to_numpy(np.int64)
    r_k = reqs["boundary"].to_numpy(np.int64)
    r_req = reqs["required_kwh"].to_numpy(float)
    r_E = reqs["energy_kwh"].to_numpy(float)

    series = sc.series
    ip = series["import_price"].to_numpy(float)
    ep = series["export_price"].to_numpy(float)
    base = series["base_load_kw"].to_numpy(float)
    pv = series["pv_kw"].to_numpy(float)
    st = step_inputs(sc)
    imp_lim, exp_lim = st.import_limit_kw, st.export_limit_kw
    if modes:
        meter = one_meter_steps(sc, st)
    elif keep_meters is not None:
        meter = np.intersect1d(np.asarray(keep_meters, np.int64), one_meter_steps(sc, st))
    elif request_meters:
        meter = request_meter_steps(sc, st)
    else:
        meter = np.zeros(0, np.int64)
    demand = sc.demand_charge_per_kw > 0
    g = sc.grid_terms
    carbon = st.carbon_kg_per_kwh if g.carbon_price_per_kg > 0 else None
    nl = st.net_load_kw
    has_gpk = g.peak_weight_per_kw > 0 or g.grid_peak_cap_kw is not None
    has_valley = g.valley_fill_weight_per_kw > 0
    tgt = st.target_steps
    exact = g.exact_tracking and len(tgt) > 0
    trk_steps = tgt if (not g.exact_tracking and g.tracking_penalty_per_kwh > 0) else np.zeros(0, np.int64)
    sur = st.renewable_surplus_kw
    if sur is not None and g.renewable_use_bonus_per_kwh > 0:
        plugged_t = np.zeros(T, bool)
        plugged_t[pair_t] = True
        ren_steps = np.flatnonzero((sur > 0) & plugged_t)
    else:
        ren_steps = np.zeros(0, np.int64)
    req = st.export_request_kw
    hard = st.hard_request_steps
    paid_steps = np.flatnonzero((req > 0) & (st.export_payment_per_kwh > 0))
    short_steps = np.flatnonzero((req > 0) & (st.export_penalty_per_kwh > 0) & ~st.export_request_hard)

    # --- columns ---------------------------------------------------------
    off = 0

    def block(n):
        nonlocal off
        cols = np.arange(off, off + n, dtype=np.int64)
        off += n
        return cols

    col_c = block(nP)
    d_cols = block(int(has_d.sum()))
    col_d = np.full(nP, -1, np.int64)
    col_d[has_d] = d_cols
    col_e = block(nK)
    col_u = block(R)
    x_cols = block(int(has_x.sum()))
    col_x = np.full(nP, -1, np.int64)
    col_x[has_x] = x_cols
    y_cols = block(int(has_y.sum()))
    col_y = np.full(nP, -1, np.int64)
    col_y[has_y] = y_cols
    col_imp = block(T)
    col_exp = block(T)
    col_pv = block(T)
    col_peak = block(1 if demand else 0)
    col_z = block(len(meter))
    col_gpk = block(1 if has_gpk else 0)
    col_mean = block(1 if has_valley else 0)
    col_dev = block(1 if has_valley else 0)
    col_trk = block(len(trk_steps))
    col_sw = block(n_switching_columns(sc, pair_v, pair_t, has_d))  # switching rises (gridopt.optimizer.switching)
    col_ren = block(len(ren_steps))
    col_paid = block(len(paid_steps))
    col_short = block(len(short_steps))
    col_chg = block(chg_block.n_cols if chg_block is not None else 0)
    col_cp = block(n_checkpoint_columns(sc))  # soft checkpoints' shortfalls (gridopt.optimizer.checkpoints)
    n = off

    lb = np.zeros(n)
    ub = np.full(n, np.inf)
    cost = np.zeros(n)
    ub[col_c] = Pc
    ub[d_cols] = Pd[has_d]
    seg_of_k = np.repeat(np.arange(S), n_e)
    lb[col_e] = s_lo[seg_of_k]
    ub[col_e] = s_hi[seg_of_k]
    known = link < 0
    lb[col_e[boff[known]]] = s0[known]
    ub[col_e[boff[known]]] = s0[known]
    ub[col_u] = r_req
    ub[x_cols] = 1.0
    ub[y_cols] = 1.0
    ub[col_z] = 1.0
    ub[col_imp] = imp_lim  # inf allowed
    ub[col_exp] = exp_lim
    ub[col_imp[hard]] = 0.0  # a hard export request: export at least the request, import nothing
    lb[col_exp[hard]] = req[hard]
    ub[col_pv] = pv
    lb[col_pv] = 0.0 if sc.pv_curtailable else pv
    lb[col_gpk] = -np.inf
    if g.grid_peak_cap_kw is not None:
        ub[col_gpk] = g.grid_peak_cap_kw
    lb[col_mean] = -np.inf
    ub[col_ren] = sur[ren_steps] if len(ren_steps) else 0.0
    ub[col_paid] = req[paid_steps]
    if len(col_chg):
        lb[col_chg], ub[col_chg] = chg_block.col_lb, chg_block.col_ub
    # cost_expression
    ip_c, ep_c = ip, ep
    if carbon is not None:
        ip_c = ip + g.carbon_price_per_kg * carbon
        if g.carbon_credit_export:
            ep_c = ep + g.carbon_price_per_kg * carbon
    cost[col_imp] = ip_c * dt
    cost[col_exp] = -ep_c * dt
    if demand:
        cost[col_peak] = sc.demand_charge_per_kw
    cost[d_cols] = sc.battery_degradation_cost_per_kwh * dt
    cost[col_u] = sc.unmet_energy_penalty_per_kwh
    if g.peak_weight_per_kw > 0:
        cost[col_gpk] = g.peak_weight_per_kw
    cost[col_dev] = g.valley_fill_weight_per_kw
    cost[col_trk] = g.tracking_penalty_per_kwh * dt
    cost[col_ren] = -g.renewable_use_bonus_per_kwh * dt
    cost[col_paid] = -st.export_payment_per_kwh[paid_steps] * dt
    cost[col_short] = st.export_penalty_per_kwh[short_steps] * dt

    slim_pair = slim_seg[pair_seg]
    full = np.flatnonzero(~slim_pair)
    e_before = col_e[boff[pair_seg] + np.where(slim_pair, 0, pair_t - s_start[pair_seg])]
    e_after = e_before + 1
    e_after[slim_pair] = -1  # inside a slim segment only the end has a SoC column
    is_last = pair_t == s_end[pair_seg] - 1
    e_after[slim_pair & is_last] = col_e[boff[pair_seg] + 1][slim_pair & is_last]
    gain = etac_v[pair_v] * dt
    rows = _Rows()
    # add_vehicle_soc_constraints: e[t+1] - e[t] - eta_c dt c + dt/eta_d d = 0
    first_dyn = rows.n
    rows.add([(e_after[full], 1.0), (e_before[full], -1.0), (col_c[full], -gain[full])], 0.0, 0.0, len(full))
    dp = np.flatnonzero(has_d)  # V2G pairs: never in a slim segment
    row_of_pair = np.full(nP, -1, np.int64)
    row_of_pair[full] = first_dyn + np.arange(len(full))
    # (discharge terms of the same rows)
    rows.rows.append(row_of_pair[dp])
    rows.cols.append(col_d[dp])
    rows.vals.append(dt / etad_v[pair_v[dp]])
    # add_vehicle_soc_constraints, slim segments: e[j,end] - e[j,start] - sum_t eta_c dt c[v,t] = 0
    sj = np.flatnonzero(slim_seg)
    first_sum = rows.n
    rows.add([(col_e[boff[sj] + 1], 1.0), (col_e[boff[sj]], -1.0)], 0.0, 0.0, len(sj))
    sum_row = np.full(S, -1, np.int64)
    sum_row[sj] = first_sum + np.arange(len(sj))
    sp = np.flatnonzero(slim_pair)
    rows.rows.append(sum_row[pair_seg[sp]])
    rows.cols.append(col_c[sp])
    rows.vals.append(-gain[sp])
    # trip links: e[j,start] - e[j_r,k_r] - u[r] = -E[r]
    lj = np.flatnonzero(~known)
    lr = link[lj]
    # a requirement is at its segment's end (slim_segments makes sure of that for slim ones)
    r_off = np.where(slim_seg[r_seg], 1, r_k - s_start[r_seg]) if R else np.zeros(0, np.int64)
    col_e_req = col_e[boff[r_seg] + r_off] if R else np.zeros(0, np.int64)
    rows.add([(col_e[boff[lj]], 1.0), (col_e_req[lr], -1.0), (col_u[lr], -1.0)], -r_E[lr], -r_E[lr], len(lj))
    # add_requirement_constraints: e + u >= required
    rows.add([(col_e_req, 1.0), (col_u, 1.0)], r_req, np.inf, R)
    # add_charger_constraints
    px = np.flatnonzero(has_x)
    rows.add([(col_c[px], 1.0), (col_x[px], -Pc[px])], -np.inf, 0.0, len(px))
    pm = np.flatnonzero(has_x & (pmin > 0))
    rows.add([(col_c[pm], 1.0), (col_x[pm], -pmin[pm])], 0.0, np.inf, len(pm))
    dy = np.flatnonzero(has_d & has_y)
    rows.add([(col_d[dy], 1.0), (col_y[dy], -Pd[dy])], -np.inf, 0.0, len(dy))
    dx = np.flatnonzero(has_d & ~has_y & has_x)
    rows.add([(col_d[dx], 1.0), (col_x[dx], Pd[dx])], -np.inf, Pd[dx], len(dx))
    py = np.flatnonzero(has_y)
    rows.add([(col_x[py], 1.0), (col_y[py], 1.0)], -np.inf, 1.0, len(py))
    L, U = L_v[pair_v], U_v[pair_v]
    lo, hi = s_lo[pair_seg], s_hi[pair_seg]
    gy = np.flatnonzero(low & has_y)
    rows.add([(e_after[gy], 1.0), (col_y[gy], -(L[gy] - lo[gy]))], lo[gy], np.inf, len(gy))
    gx = np.flatnonzero(low & ~has_y & has_x)
    rows.add([(e_after[gx], 1.0), (col_x[gx], L[gx] - lo[gx])], L[gx], np.inf, len(gx))
    g1 = np.flatnonzero(low & ~has_y & ~has_x)
    rows.add([(e_after[g1], 1.0)], L[g1], np.inf, len(g1))
    gh = np.flatnonzero(high)
    rows.add([(e_after[gh], 1.0), (col_x[gh], hi[gh] - U[gh])], -np.inf, hi[gh], len(gh))
    # add_site_balance: imp - exp + pv - sum c + sum d = base
    first = rows.n
    rows.add([(col_imp, 1.0), (col_exp, -1.0), (col_pv, 1.0)], base, base, T)
    rows.rows.append(first + pair_t)
    rows.cols.append(col_c)
    rows.vals.append(-np.ones(nP))
    rows.rows.append(first + pair_t[dp])
    rows.cols.append(col_d[dp])
    rows.vals.append(np.ones(len(dp)))
    if len(meter):
        fallback = float(base.max() + sc.vehicles["max_charge_kw"].sum())
        big = np.where(np.isinf(imp_lim[meter]), fallback, imp_lim[meter])
        rows.add([(col_imp[meter], 1.0), (col_z, big)], -np.inf, big, len(meter))
        rows.add([(col_exp[meter], 1.0), (col_z, -exp_lim[meter])], -np.inf, 0.0, len(meter))
    # add_demand_charge: peak - imp >= 0
    if demand:
        rows.add([(np.full(T, col_peak[0]), 1.0), (col_imp, -1.0)], 0.0, np.inf, T)
    # add_grid_peak: gpk - imp + exp >= net_load
    if has_gpk:
        rows.add([(np.full(T, col_gpk[0]), 1.0), (col_imp, -1.0), (col_exp, 1.0)], nl, np.inf, T)
    # add_valley_fill: mean - (1/T) sum (imp - exp) = mean(net_load); dev - L + mean >= 0 <= dev + L - mean
    if has_valley:
        first_mean = rows.n
        rows.add([(col_mean, 1.0)], float(nl.mean()), float(nl.mean()), 1)
        rows.rows += [np.full(T, first_mean), np.full(T, first_mean)]
        rows.cols += [col_imp, col_exp]
        rows.vals += [np.full(T, -1.0 / T), np.full(T, 1.0 / T)]
        dev, mean = np.full(T, col_dev[0]), np.full(T, col_mean[0])
        rows.add([(dev, 1.0), (col_imp, -1.0), (col_exp, 1.0), (mean, 1.0)], nl, np.inf, T)
        rows.add([(dev, 1.0), (col_imp, 1.0), (col_exp, -1.0), (mean, -1.0)], -nl, np.inf, T)
    # add_tracking: exact imp - exp = target; soft trk - imp + exp >= -target, trk + imp - exp >= target
    if exact:
        rows.add([(col_imp[tgt], 1.0), (col_exp[tgt], -1.0)], st.target_kw[tgt], st.target_kw[tgt], len(tgt))
    if len(trk_steps):
        target = st.target_kw[trk_steps]
        ci, ce = col_imp[trk_steps], col_exp[trk_steps]
        rows.add([(col_trk, 1.0), (ci, -1.0), (ce, 1.0)], -target, np.inf, len(trk_steps))
        rows.add([(col_trk, 1.0), (ci, 1.0), (ce, -1.0)], target, np.inf, len(trk_steps))
    # add_renewable_bonus: ren - sum_v c[v,t] <= 0
    if len(ren_steps):
        first_ren = rows.n
        rows.add([(col_ren, 1.0)], -np.inf, 0.0, len(ren_steps))
        row_of = np.full(T, -1, np.int64)
        row_of[ren_steps] = first_ren + np.arange(len(ren_steps))
        on = row_of[pair_t] >= 0
        rows.rows.append(row_of[pair_t[on]])
        rows.cols.append(col_c[on])
        rows.vals.append(-np.ones(int(on.sum())))
    # add_export_requests: paid - exp <= 0; short + exp >= request
    rows.add([(col_paid, 1.0), (col_exp[paid_steps], -1.0)], -np.inf, 0.0, len(paid_steps))
    rows.add([(col_short, 1.0), (col_exp[short_steps], 1.0)], req[short_steps], np.inf, len(short_steps))
    # add_switching: r - p[t] + p[t-1] >= 0 (gridopt.optimizer.switching)
    add_matrix_switching(rows, cost, sc, col_sw, col_c, col_d, pair_v, pair_t)
    # add_checkpoints: e_after + w >= soc_kwh (gridopt.optimizer.checkpoints)
    cp_pair = add_matrix_checkpoints(rows, cost, sc, plan, col_cp, e_after, pair_v, pair_t)
    # add_emissions_cap: sum c(t) dt (imp - cred exp) <= cap
    if g.emissions_cap_kg is not None and st.carbon_kg_per_kwh is not None:
        c_dt = st.carbon_kg_per_kwh * dt
        cred = 1.0 if g.carbon_credit_export else 0.0
        first_cap = rows.n
        rows.add([], -np.inf, g.emissions_cap_kg, 1)
        rows.rows += [np.full(T, first_cap), np.full(T, first_cap)]
        rows.cols += [col_imp, col_exp]
        rows.vals += [c_dt, -cred * c_dt]
    add_matrix_block(rows, chg_block, int(col_chg[0]) if len(col_chg) else 0, col_c, col_d, col_x)
    n_plain = rows.n
    if hull and not modes:  # last, so that the LP without them is the first n_plain rows
        add_mode_hull_rows(rows, sc, st, pair_t, col_c, col_d, Pc, Pd, col_imp, col_exp, meter)
    start, index, value, rlb, rub = rows.csr()
    binary = np.concatenate([x_cols, y_cols, col_z]).astype(np.int64)
    if modes and len(col_chg):  # the block's binaries (assignment); relaxed with modes=False
        binary = np.concatenate([binary, col_chg[chg_block.col_binary]])
    return MatrixModel(
        cost=cost,
        col_lb=lb,
        col_ub=ub,
        row_lb=rlb,
        row_ub=rub,
        a_start=start,
        a_index=index,
        a_value=value,
        binary=binary,
        pair_v=pair_v,
        pair_t=pair_t,
        col_c=col_c,
        col_d=col_d,
        col_x=col_x,
        col_y=col_y,
        col_e_after=e_after,
        col_e_req=col_e_req,
        col_u=col_u,
        col_imp=col_imp,
        col_exp=col_exp,
        col_pv=col_pv,
        col_z=col_z,
        col_e=col_e,
        col_peak=col_peak,
        meter_steps=meter,
        pmin_pair=pmin,
        high_pair=high,
        low_pair=low,
        L_pair=L,
        U_pair=U,
        col_gpk=col_gpk,
        col_mean=col_mean,
        col_dev=col_dev,
        col_trk=col_trk,
        trk_steps=trk_steps,
        col_ren=col_ren,
        ren_steps=ren_steps,
        col_sw=col_sw,
        col_paid=col_paid,
        paid_steps=paid_steps,
        col_short=col_short,
        short_steps=short_steps,
        n_hull_rows=rows.n - n_plain,
        col_chg=col_chg,
        charger_block=chg_block,
        col_e_start=col_e[boff],
        slim_seg=slim_seg,
        pair_seg=pair_seg,
        gain_pair=gain,
        col_cp=col_cp,
        cp_pair=cp_pair,
        cp_soc_kwh=sc.soft_checkpoints["soc_kwh"].to_numpy(float) if len(col_cp) else np.zeros(0),
    )
