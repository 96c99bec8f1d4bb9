"""Per-vehicle power boxes: the private building blocks of the flexibility envelope.

Everything here is vehicle-level and stays inside the fleet: :mod:`gridopt.grid.envelope`
sums it into the fleet's envelope and :mod:`gridopt.grid.disaggregate` turns an
aggregate profile back into per-vehicle powers with it.

For every vehicle ``v`` and step ``t`` we choose a *box*
``low_v(t) <= x_v(t) <= high_v(t)`` on its net grid energy in the step
(``x = (charge_kw - discharge_kw) * dt_h``, kWh) such that **every** choice of
``x_v(t)`` inside the boxes, step by step and independently, keeps every rule of
the vehicle. Three facts make that checkable with two trajectories only:

* **Mode by sign.** A step's net energy ``x`` is delivered as charge ``x / dt_h``
  if ``x > 0``, as discharge ``-x / dt_h`` if ``x < 0``: never both in one step. A
  box either lies in ``[min_charge_kw, max_charge_kw] * dt_h`` (charge step), or in
  ``[-max_discharge_kw * dt_h, 0]`` (discharge or idle), or, for a charger without
  a minimum power, anywhere in ``[-max_discharge_kw, max_charge_kw] * dt_h``: the
  minimum power can then never be broken.
* **Monotone SoC.** With one direction per step the SoC moves by
  ``f(x) = charge_efficiency * x`` (``x >= 0``) or ``x / discharge_efficiency``
  (``x < 0``), exactly. ``f`` is increasing, so the SoC of any choice lies between
  the SoC of the all-low path (``soc_lo``) and of the all-high path (``soc_hi``),
  at every boundary.
* **Robust rules.** So it suffices that ``soc_lo`` meets the requirement at
  departure, that ``soc_lo`` stays at or above ``min_soc`` after every step whose
  box reaches below 0 (discharge), and that ``soc_hi`` stays at or below
  ``max_soc`` after every step (a vehicle that arrives above ``max_soc`` gets no
  charge boxes in that segment). Requirements at a departure chain into the next
  segment as an interval of start SoC ``[soc_lo, soc_hi] - trip energy``.

**Design** (per plug-in segment, vectorized over the fleet). The low path is the
vehicle's *latest* trajectory inside its boxes: as low as allowed (discharge as
early as ``min_soc`` allows) and raised step by step from the departure backwards
until the requirement is met. The high path starts from the low path and is
raised step by step from the arrival forwards as far as ``max_soc`` (from the
highest possible start) allows. With a minimum charger power each step is a
charge step (``[min, max]``) or not (``[-max_discharge, 0]``; ``[0, 0]`` without
V2G): we try a few layouts (charge steps at the start, at the end, both) and keep
the one whose boxes give the largest cumulative energy range
``sum_t (n_steps - t) * (high - low)``. Trips chain the segments of a vehicle:
a departure's requirement is first raised to what its later requirements need
(the next segment must start no lower than its requirement minus what the
charger can add while plugged in, plus the trip's energy), and the SoC range at a
departure is limited so that the next segment still has room (half of
``max_soc`` minus its requirement, and no more than later segments allow: a box
never narrows a range).

**Unreachable requirements.** A requirement that no layout meets (the vehicle
cannot reach it even charging flat out, or its minimum power would push it above
``max_soc``) is replaced by the best effort: the vehicle charges at one even power
from its arrival, as much as ``max_soc`` allows from its highest possible start,
with a box of width 0. Its shortfall is the physics' and is reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..fleet import FleetPlan
from ..scenario import Scenario

#: Tolerance of energy comparisons [kWh].
EPS_KWH = 1e-9


@dataclass(frozen=True)
class Boxes:
    """Per-vehicle boxes and outer trajectories of a fleet (vehicle-level, private).

    Attributes
    ----------
    vehicle_ids : list of str
    low_kwh, high_kwh : ndarray, shape (n_vehicles, n_steps)
        Box of each step's net grid energy ``x_v(t)`` [kWh] (0 while away).
    requirement_soc_lo_kwh : ndarray, shape (n_requirements,)
        SoC of the all-low path at each requirement of the fleet plan [kWh].
    best_effort : ndarray of bool, shape (n_requirements,)
        Requirement out of reach, replaced by the best effort.
    outer_lo_kwh, outer_hi_kwh : ndarray, shape (n_vehicles, n_steps + 1)
        Each vehicle's latest and earliest trajectory (cumulative net grid energy) [kWh].
    outer_p_lo_kw, outer_p_hi_kw : ndarray, shape (n_vehicles, n_steps)
        Each vehicle's own power limits while plugged in [kW].
    layouts : dict
        Segments per layout (``free``: no minimum power; ``charge-first``,
        ``charge-last``, ``charge-both``, ``charge-all``; ``best-effort``).
    """

    vehicle_ids: list
    low_kwh: np.ndarray
    high_kwh: np.ndarray
    requirement_soc_lo_kwh: np.ndarray
    best_effort: np.ndarray
    outer_lo_kwh: np.ndarray
    outer_hi_kwh: np.ndarray
    outer_p_lo_kw: np.ndarray
    outer_p_hi_kw: np.ndarray
    layouts: dict


# ---------------------------------------------------------------------------
# one round: the r-th segment of every vehicle, as arrays of shape (n,)
# ---------------------------------------------------------------------------


@dataclass
class _Round:
    a: np.ndarray  # first boundary of the segment
    d: np.ndarray  # last boundary
    s0_lo: np.ndarray  # lowest and highest possible SoC at a [kWh]
    s0_hi: np.ndarray
    L: np.ndarray  # min_soc, max_soc [kWh]
    U: np.ndarray
    pc: np.ndarray  # max charge, max discharge, min charge [kWh per step]
    pd: np.ndarray
    pm: np.ndarray
    ec: np.ndarray
    ed: np.ndarray
    R: np.ndarray  # required SoC at d [kWh], -inf if none
    d_cap: np.ndarray  # largest soc_hi(d) - soc_lo(d) [kWh] (inf: no next segment)


def soc_gain(x, ec, ed):
    """SoC change of a net grid energy ``x`` [kWh] in one step (one direction per step)."""
    return np.where(x >= 0, x * ec, x / ed)


def _grid_energy(gain, ec, ed):
    """Inverse of :func:`soc_gain`."""
    return np.where(gain >= 0, gain / ec, gain * ed)


def _steps(T: int) -> np.ndarray:
    return np.arange(T)[None, :]


def _inside(rd: _Round, T: int) -> np.ndarray:
    t = _steps(T)
    return (t >= rd.a[:, None]) & (t < rd.d[:, None])


def _layout(rd: _Round, T: int, first: np.ndarray, last: np.ndarray):
    """Step bounds [kWh] of a layout: charge steps in the first ``first`` and last ``last`` steps.

    Without a minimum power every step may go both ways. A segment that starts
    above ``max_soc`` gets no charging.
    """
    t = _steps(T)
    inside = _inside(rd, T)
    a, d = rd.a[:, None], rd.d[:, None]
    can_charge = (rd.s0_hi <= rd.U + EPS_KWH)[:, None] & (rd.pc > 0)[:, None]
    free = (rd.pm <= 0)[:, None] & inside & can_charge  # [-max_discharge, max_charge]
    charge = inside & ((t < a + first[:, None]) | (t >= d - last[:, None])) & can_charge & ~free  # [min, max]
    other = inside & ~free & ~charge  # [-max_discharge, 0]
    lo = np.where(free | other, -rd.pd[:, None], np.where(charge, rd.pm[:, None], 0.0))
    hi = np.where(free | charge, rd.pc[:, None], 0.0)
    return lo, hi


def _paths(rd: _Round, T: int, lo: np.ndarray, hi: np.ndarray):
    """Low and high paths inside the step bounds (see the module docstring).

    Returns ``(low, high, ok)``: shapes (n, T), (n, T), (n,).
    """
    n = len(rd.a)
    rows = np.arange(n)
    inside = _inside(rd, T)
    ec, ed = rd.ec, rd.ed
    # low path: as low as min_soc allows, forward
    low = np.zeros((n, T))
    soc = rd.s0_lo.copy()
    for t in range(T):
        x = lo[:, t]
        floor = _grid_energy(np.minimum(rd.L - soc, 0.0), ec, ed)  # most negative x keeping soc >= L
        x = np.where(x < 0, np.maximum(x, floor), x)
        x = np.where(inside[:, t], np.minimum(x, hi[:, t]), 0.0)
        low[:, t] = x
        soc = soc + soc_gain(x, ec, ed)
    # raise it from the departure backwards until the requirement is met
    deficit = np.where(np.isfinite(rd.R), rd.R - soc, 0.0)
    for t in range(T - 1, -1, -1):
        act = inside[:, t] & (deficit > EPS_KWH)
        if not act.any():
            continue
        g = soc_gain(low[:, t], ec, ed)
        room = soc_gain(hi[:, t], ec, ed) - g
        add = np.where(act, np.clip(np.minimum(room, deficit), 0.0, None), 0.0)
        low[:, t] = np.where(act, _grid_energy(g + add, ec, ed), low[:, t])
        deficit = deficit - add
    ok = deficit <= 1e-7
    # high path: raise from the arrival forwards while soc_hi stays <= max_soc (and the departure cap)
    gains = np.concatenate([np.zeros((n, 1)), np.cumsum(soc_gain(low, ec[:, None], ed[:, None]), axis=1)], axis=1)
    soc_hi0 = rd.s0_hi[:, None] + gains
    soc_lo0 = rd.s0_lo[:, None] + gains
    k = np.arange(T + 1)[None, :]
    charging_somewhere = (hi > 0).any(axis=1)  # max_soc binds only a vehicle that may charge
    in_seg = (k > rd.a[:, None]) & (k <= rd.d[:, None]) & charging_somewhere[:, None]
    cap = np.where(in_seg, rd.U[:, None], np.inf)
    spread = np.maximum(rd.d_cap, rd.s0_hi - rd.s0_lo)  # a box never narrows the incoming SoC range
    cap[rows, rd.d] = np.minimum(cap[rows, rd.d], soc_lo0[rows, rd.d] + spread)
    viol = soc_hi0 - cap
    ok &= (viol <= 1e-7).all(axis=1)
    suffix = np.maximum.accumulate(viol[:, ::-1], axis=1)[:, ::-1]  # suffix[:, k] = max_{j >= k} viol[:, j]
    high = low.copy()
    cum = np.zeros(n)
    for t in range(T):
        g = soc_gain(low[:, t], ec, ed)
        room = soc_gain(hi[:, t], ec, ed) - g
        add = np.clip(np.minimum(room, -suffix[:, t + 1] - cum), 0.0, None)
        add = np.where(inside[:, t] & ok, add, 0.0)
        high[:, t] = np.where(add > 0, _grid_energy(g + add, ec, ed), low[:, t])
        cum = cum + add
    return low, high, ok


def _best_effort(rd: _Round, T: int):
    """One even charging power from the arrival: the requirement if it fits, else as much as max_soc allows."""
    n_steps = rd.d - rd.a
    room = np.maximum(rd.U - rd.s0_hi, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        n_cap = np.where(rd.pm > 0, np.floor(room / (rd.pm * rd.ec) + 1e-9), n_steps)
    n_cap = np.clip(np.nan_to_num(n_cap), 0, n_steps).astype(np.int64)
    n_cap = np.where(rd.pc > 0, n_cap, 0)
    need = np.where(np.isfinite(rd.R), np.maximum(rd.R - rd.s0_lo, 0.0), 0.0)
    gain = np.minimum.reduce([n_cap * rd.pc * rd.ec, room, need])
    # fewest steps that deliver it without going below the minimum power
    with np.errstate(divide="ignore", invalid="ignore"):
        n_on = np.ceil(gain / (rd.pc * rd.ec) - 1e-9)
    n_on = np.clip(np.nan_to_num(n_on), 0, n_cap).astype(np.int64)
    # at least the minimum power: n_on <= n_cap keeps n_on * min * efficiency <= room
    x = np.where(n_on > 0, np.maximum(gain / rd.ec / np.maximum(n_on, 1), rd.pm), 0.0)
    t = _steps(T)
    on = (t >= rd.a[:, None]) & (t < (rd.a + n_on)[:, None])
    path = np.where(on, x[:, None], 0.0)
    return path


def _outer_soc(rd: _Round, s0, T: int, side: str):
    """A vehicle's highest (``hi``) or lowest (``lo``) SoC at each boundary of its segment, relaxed.

    Relaxed: no minimum charger power, the SoC moves by ``[-max_discharge /
    discharge_efficiency, +max_charge * charge_efficiency]`` per step within
    ``[min(min_soc, soc_0), max(max_soc, soc_0)]`` and meets the requirement at
    the end. ``hi`` is the earliest trajectory (charge as early as possible),
    ``lo`` the latest (discharge as early and as deep, charge as late as the
    requirement allows).

    Returns the SoC, shape (n, n_steps + 1) [kWh] (``s0`` before the segment, the
    end value after it).
    """
    n = len(rd.a)
    inside = _inside(rd, T)
    k = np.arange(T + 1)[None, :]
    up = np.where(inside, (rd.pc * rd.ec)[:, None], 0.0)
    down = np.where(inside, -(rd.pd / rd.ed)[:, None], 0.0)
    lo_soc = np.minimum(rd.L, s0)
    hi_soc = np.maximum(rd.U, s0)
    s_lo = np.where(k >= rd.a[:, None], lo_soc[:, None], s0[:, None])
    s_hi = np.where(k >= rd.a[:, None], hi_soc[:, None], s0[:, None])
    rows = np.arange(n)
    s_lo[rows, rd.a] = s0
    s_hi[rows, rd.a] = s0
    Rr = np.where(np.isfinite(rd.R), np.minimum(rd.R, hi_soc), -np.inf)
    s_lo[rows, rd.d] = np.maximum(s_lo[rows, rd.d], Rr)
    after = k > rd.d[:, None]
    s_lo = np.where(after, -np.inf, s_lo)
    s_hi = np.where(after, np.inf, s_hi)
    lower, upper = _tube(down, up, s_lo, s_hi)
    soc = upper if side == "hi" else lower
    return np.where(k < rd.a[:, None], s0[:, None], np.where(after, soc[rows, rd.d][:, None], soc))


def _tube(lo, hi, s_lo, s_hi):
    """Lowest and highest feasible path of ``S(k+1) - S(k) in [lo, hi]``, ``S(k) in [s_lo, s_hi]``.

    One forward and one backward pass; shapes (n, T) and (n, T + 1). Where no
    feasible path exists the highest path is clipped to the lowest.
    """
    n, T = lo.shape
    fmin = np.empty((n, T + 1))
    fmax = np.empty((n, T + 1))
    fmin[:, 0], fmax[:, 0] = s_lo[:, 0], s_hi[:, 0]
    for k in range(T):
        fmin[:, k + 1] = np.maximum(fmin[:, k] + lo[:, k], s_lo[:, k + 1])
        fmax[:, k + 1] = np.minimum(fmax[:, k] + hi[:, k], s_hi[:, k + 1])
    bmin = np.empty((n, T + 1))
    bmax = np.empty((n, T + 1))
    bmin[:, T], bmax[:, T] = s_lo[:, T], s_hi[:, T]
    for k in range(T - 1, -1, -1):
        bmin[:, k] = np.maximum(bmin[:, k + 1] - hi[:, k], s_lo[:, k])
        bmax[:, k] = np.minimum(bmax[:, k + 1] - lo[:, k], s_hi[:, k])
    lower = np.maximum(fmin, bmin)
    upper = np.minimum(fmax, bmax)
    return lower, np.maximum(upper, lower)


#: Layouts with a minimum charger power: (name, share of charge steps at the start, at the end).
LAYOUTS = [
    ("charge-all", 1.0, 0.0),
    ("charge-first", 0.25, 0.0),
    ("charge-first", 0.5, 0.0),
    ("charge-first", 0.75, 0.0),
    ("charge-last", 0.0, 0.25),
    ("charge-last", 0.0, 0.5),
    ("charge-both", 0.25, 0.25),
    ("charge-both", 0.5, 0.25),
    ("charge-both", 0.25, 0.5),
]


def _design_round(rd: _Round, T: int):
    """Best boxes for every segment of a round: ``(low, high, layout names)``."""
    n = len(rd.a)
    n_steps = rd.d - rd.a
    weight = (T - np.arange(T))[None, :].astype(float)
    best = np.full(n, -np.inf)
    low = np.zeros((n, T))
    high = np.zeros((n, T))
    name = np.full(n, "best-effort", dtype=object)
    free = rd.pm <= 0
    for label, f_first, f_last in LAYOUTS if (~free).any() else LAYOUTS[:1]:
        first = np.round(f_first * n_steps).astype(np.int64)
        last = np.minimum(np.round(f_last * n_steps).astype(np.int64), n_steps - first)
        lo, hi = _layout(rd, T, first, last)
        lw, hg, ok = _paths(rd, T, lo, hi)
        score = np.where(ok, ((hg - lw) * weight).sum(axis=1), -np.inf)
        better = score > best + 1e-9
        best = np.where(better, score, best)
        low = np.where(better[:, None], lw, low)
        high = np.where(better[:, None], hg, high)
        name = np.where(better, np.where(free, "free", label), name)
    fixed = ~np.isfinite(best)
    if fixed.any():
        path = _best_effort(rd, T)
        low = np.where(fixed[:, None], path, low)
        high = np.where(fixed[:, None], path, high)
    return low, high, name


def _chain_requirements(seg, req, req_of, col, B, dt) -> np.ndarray:
    """Raise each departure's required SoC to what the vehicle's later requirements need.

    A trip vehicle that leaves with just its own requirement may come back too
    empty to meet the next one in the time it is plugged in then. Backwards over a
    vehicle's segments: the next segment must start at least at ``its requirement
    - steps * max_charge * charge_efficiency``, so this departure needs that plus
    the trip's energy (never above ``max_soc``). Returns the raised requirement
    per segment [kWh] (``-inf`` where none).
    """
    out = req_of.copy()
    link = seg["link_req"].to_numpy(int)
    req_seg = req["segment"].to_numpy(int)
    energy = req["energy_kwh"].to_numpy(float)
    v = seg["vehicle"].to_numpy(int)
    n = (seg["end"] - seg["start"]).to_numpy(int)
    gain = n * col["max_charge_kw"][v] * dt * col["charge_efficiency"][v]
    U = col["max_soc"][v] * B[v]
    for j in range(len(seg) - 1, -1, -1):
        r = link[j]
        if r < 0 or not np.isfinite(out[j]):
            continue
        prev = req_seg[r]
        need = out[j] - gain[j] + energy[r]
        out[prev] = max(out[prev], min(need, U[prev]))
    return out


def _departure_spreads(seg, req_of, col, B) -> np.ndarray:
    """Largest SoC range ``soc_hi - soc_lo`` at each departure followed by a linked segment [kWh].

    The next segment starts with that range (less the trip), and its high path
    must carry the low path's charging to the requirement without passing
    ``max_soc``; a box never narrows a range. So: half of ``max_soc`` minus the
    next requirement, and never more than what the segment after that allows
    (``inf`` where no linked segment follows).
    """
    out = np.full(len(seg), np.inf)
    link = seg["link_req"].to_numpy(int)
    v = seg["vehicle"].to_numpy(int)
    U = col["max_soc"][v] * B[v]
    L = col["min_soc"][v] * B[v]
    for j in range(len(seg) - 2, -1, -1):
        if v[j + 1] == v[j] and link[j + 1] >= 0:
            room = 0.5 * max(U[j] - max(req_of[j + 1], L[j]), 0.0)
            out[j] = min(room, out[j + 1])
    return out


def build_boxes(sc: Scenario, plan: FleetPlan) -> Boxes:
    """Design every vehicle's boxes and its outer trajectories (see the module docstring)."""
    T = sc.grid.n_steps
    dt = sc.grid.dt_h
    vids = plan.vehicle_ids
    V = len(vids)
    veh = sc.vehicles.loc[vids]
    B = veh["battery_kwh"].to_numpy(float)
    col = {c: veh[c].to_numpy(float) for c in veh.columns if c not in ("model", "line")}
    seg = plan.segments
    req = plan.requirements
    low = np.zeros((V, T))
    high = np.zeros((V, T))
    out_lo = np.zeros((V, T + 1))
    out_hi = np.zeros((V, T + 1))
    p_lo = np.zeros((V, T))
    p_hi = np.zeros((V, T))
    n_req = len(req)
    soc_req = {"lo": np.full(n_req, np.nan), "hi": np.full(n_req, np.nan)}
    out_soc_req = {"lo": np.full(n_req, np.nan), "hi": np.full(n_req, np.nan)}
    layouts: dict[str, int] = {}
    if not len(seg):
        return Boxes(vids, low, high, soc_req["lo"], np.zeros(0, bool), out_lo, out_hi, p_lo, p_hi, layouts)

    required = req["required_kwh"].to_numpy(float)
    trip_energy = req["energy_kwh"].to_numpy(float)
    req_of = np.full(len(seg), -np.inf)  # largest requirement at the segment's end
    rows_of: dict[int, list[int]] = {}
    for r, j in enumerate(req["segment"].to_numpy(int)):
        req_of[j] = max(req_of[j], required[r])
        rows_of.setdefault(int(j), []).append(r)
    rank = seg.groupby("vehicle").cumcount().to_numpy()
    v_of = seg["vehicle"].to_numpy(int)
    s0_known = seg["s0_kwh"].to_numpy(float)
    link = seg["link_req"].to_numpy(int)
    starts, ends = seg["start"].to_numpy(int), seg["end"].to_numpy(int)
    req_of = _chain_requirements(seg, req, req_of, col, B, dt)
    d_caps = _departure_spreads(seg, req_of, col, B)
    # outer bookkeeping per vehicle and side: chain start SoC and energy, energy now, trips' energy so far
    chain = {
        side: {name: np.zeros(V) for name in ("s0", "S0", "S", "off", "y_max", "soc_dep")} for side in ("lo", "hi")
    }
    k = np.arange(T + 1)[None, :]

    for r_idx in range(int(rank.max()) + 1):
        js = np.flatnonzero(rank == r_idx)
        v = v_of[js]
        U = col["max_soc"][v] * B[v]

        def start(soc_at_req, js=js):
            """SoC at the segment's start: known, or linked through the trip before it."""
            s = s0_known[js].copy()
            lk = link[js]
            linked = lk >= 0
            lr = lk[linked]
            # a shortfall counts as supplied elsewhere: SoC after the trip = max(SoC, required) - energy
            s[linked] = np.maximum(np.maximum(soc_at_req[lr], required[lr]) - trip_energy[lr], 0.0)
            return s

        L = col["min_soc"][v] * B[v]
        rd = _Round(
            a=starts[js],
            d=ends[js],
            s0_lo=start(soc_req["lo"]),
            s0_hi=start(soc_req["hi"]),
            L=L,
            U=U,
            pc=col["max_charge_kw"][v] * dt,
            pd=col["max_discharge_kw"][v] * dt,
            pm=col["min_charge_kw"][v] * dt,
            ec=col["charge_efficiency"][v],
            ed=col["discharge_efficiency"][v],
            R=req_of[js],
            d_cap=d_caps[js],
        )
        lw, hg, name = _design_round(rd, T)
        for nm in name:
            layouts[nm] = layouts.get(nm, 0) + 1
        inside = _inside(rd, T)
        low[v] = np.where(inside, lw, low[v])
        high[v] = np.where(inside, hg, high[v])
        rows = np.arange(len(js))
        soc_d = {}
        for side, path, s0 in (("lo", lw, rd.s0_lo), ("hi", hg, rd.s0_hi)):
            soc_d[side] = s0 + soc_gain(np.where(inside, path, 0.0), rd.ec[:, None], rd.ed[:, None]).sum(axis=1)
        for i, j in enumerate(js):
            for r in rows_of.get(int(j), ()):
                soc_req["lo"][r] = soc_d["lo"][i]
                soc_req["hi"][r] = soc_d["hi"][i]

        # outer: each vehicle's latest and earliest trajectory (requirements as met by the inner design)
        R_eff = np.where(np.isfinite(rd.R), np.minimum(rd.R, np.maximum(soc_d["lo"], rd.s0_lo)), rd.R)
        ro = _Round(**{**rd.__dict__, "R": R_eff})
        for side in ("lo", "hi"):
            st = chain[side]
            s0 = start(out_soc_req[side])
            new = ~np.isnan(s0_known[js])  # a known start begins a new chain of linked segments
            st["s0"][v] = np.where(new, s0, st["s0"][v])
            st["S0"][v] = np.where(new, st["S"][v], st["S0"][v])
            st["y_max"][v] = np.where(new, s0, st["y_max"][v])
            st["off"][v] = np.where(new, 0.0, st["off"][v] + st["soc_dep"][v] - s0)  # energy the trip took
            soc = _outer_soc(ro, s0, T, side)
            y = soc + st["off"][v][:, None]  # SoC plus the energy trips took since the chain began
            c0, ec, ed = st["s0"][v][:, None], rd.ec[:, None], rd.ed[:, None]
            if side == "hi":  # the most: charge only, as early as possible
                S = st["S0"][v][:, None] + _grid_energy(y - c0, ec, ed)
            else:  # the least: S = C (1 - ec ed) + ed (y - s0), C >= (max y so far - s0) / ec
                seen = np.where(k >= rd.a[:, None], y, -np.inf)
                y_max = np.maximum(np.maximum.accumulate(seen, axis=1), st["y_max"][v][:, None])
                C = np.maximum(y_max - c0, 0.0) / ec
                S = st["S0"][v][:, None] + C * (1.0 - ec * ed) + ed * (y - c0)
                st["y_max"][v] = y_max[rows, rd.d]
            tgt = out_lo if side == "lo" else out_hi
            tgt[v] = np.where(k > rd.a[:, None], S, tgt[v])
            st["S"][v] = S[rows, rd.d]
            st["soc_dep"][v] = soc[rows, rd.d]
            for i, j in enumerate(js):
                for r in rows_of.get(int(j), ()):
                    out_soc_req[side][r] = soc[i, rd.d[i]]
        p_hi[v] = np.where(inside, col["max_charge_kw"][v][:, None], p_hi[v])
        p_lo[v] = np.where(inside, -col["max_discharge_kw"][v][:, None], p_lo[v])
    best_effort = soc_req["lo"] < required - 1e-7
    return Boxes(
        vehicle_ids=vids,
        low_kwh=low,
        high_kwh=high,
        requirement_soc_lo_kwh=soc_req["lo"],
        best_effort=best_effort,
        outer_lo_kwh=out_lo,
        outer_hi_kwh=out_hi,
        outer_p_lo_kw=p_lo,
        outer_p_hi_kw=p_hi,
        layouts=layouts,
    )
