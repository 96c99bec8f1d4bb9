"""Fewer on/off switches: a penalty on every change of a vehicle's power, in both model forms.

With ``site.switching_penalty_per_kw`` = ``w`` > 0 the objective adds ``w``
times the **total variation** of each vehicle's net power ``p[v,t] = c[v,t] -
d[v,t]`` over its plugged-in steps, with the power 0 before it plugs in and
after it unplugs::

    w * sum_v sum_t |p[v,t] - p[v,t-1]|        (p = 0 where v is not plugged in)

A charging block at ``P`` kW thus costs ``2 w P`` (on and off), one at a
different power inside a block ``w |P1 - P2|``. Because every vehicle's power
starts and ends at 0, the rises and the falls add up to the same amount, so
the term is written with **one** non-negative slack per plugged-in step, the
rise ``r[v,t]``::

    r[v,t] >= p[v,t] - p[v,t-1],   r[v,t] >= 0,   cost 2 w sum r[v,t]

(``p[v,t-1]`` left out where ``v`` was not plugged in at ``t-1``), and, where a
V2G vehicle's last plugged-in step before it unplugs (or the horizon ends) may
discharge, the rise back to 0 after it: ``q[v,t] >= -p[v,t]``, ``q >= 0``, cost
``2 w q`` (a vehicle that only charges always falls to 0 there). At the optimum
``r = max(0, p[v,t] - p[v,t-1])``, ``q = max(0, -p[v,t])`` and the cost is the
total variation.
:func:`switching_cost` recomputes it from a schedule, independently of the
model, for ``summary.json``'s ``switching_cost`` and the objective check.

The penalty is not money the site pays: it is part of ``objective`` and of
``switching_cost``, never of ``total_cost``.

:func:`add_switching` adds it to the Pyomo model (:mod:`gridopt.optimizer.model`),
:func:`add_matrix_switching` to the matrices (:mod:`gridopt.optimizer.matrix`);
:func:`slack_values` gives the slacks' tightest values for a plan (the greedy).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def switching_weight(sc) -> float:
    """``site.switching_penalty_per_kw`` of ``sc`` [currency/kW], 0 when not set."""
    return float(getattr(sc, "switching_penalty_per_kw", 0.0) or 0.0)


def end_pairs(pair_v: np.ndarray, pair_t: np.ndarray, may_discharge: np.ndarray) -> np.ndarray:
    """Pairs (indices) that end a plugged-in run and may discharge: where the end rise ``q`` exists."""
    prev = previous_pair(pair_v, pair_t)
    has_next = np.zeros(len(pair_v), dtype=bool)
    has_next[prev[prev >= 0]] = True
    return np.flatnonzero(~has_next & np.asarray(may_discharge, dtype=bool))


def previous_pair(pair_v: np.ndarray, pair_t: np.ndarray) -> np.ndarray:
    """For each plugged-in pair ``(v, t)``, the index of pair ``(v, t-1)``, or -1 if ``v`` was not plugged in then.

    Parameters
    ----------
    pair_v, pair_t : ndarray of int, shape (n_pairs,)
    """
    pair_v = np.asarray(pair_v, np.int64)
    pair_t = np.asarray(pair_t, np.int64)
    if not len(pair_v):
        return np.zeros(0, np.int64)
    T = int(pair_t.max()) + 2
    key = pair_v * T + pair_t
    order = np.argsort(key, kind="stable")
    want = key - 1
    pos = np.searchsorted(key[order], want)
    pos = np.minimum(pos, len(key) - 1)
    found = key[order][pos] == want
    prev = np.where(found, order[pos], -1)
    return np.where(pair_t > 0, prev, -1).astype(np.int64)


# --- Pyomo ---------------------------------------------------------------------------------


def add_switching(m, data) -> None:
    """The rises ``r[v,t] >= p[v,t] - p[v,t-1]`` (only with ``switching_penalty_per_kw`` > 0).

    Sets ``m.switch_rise_kw`` over the plugged-in pairs; :func:`switching_expression`
    gives their cost.
    """
    import pyomo.environ as pyo

    if switching_weight(data.sc) <= 0 or not data.plugged_pairs:
        return
    plugged = set(data.plugged_pairs)
    m.SW = pyo.Set(initialize=data.plugged_pairs, dimen=2, ordered=True)
    m.switch_rise_kw = pyo.Var(m.SW, bounds=(0.0, None))

    def power(v, t):
        p = m.charge_kw[v, t]
        if (v, t) in m.PD:
            p = p - m.discharge_kw[v, t]
        return p

    def rise(m, v, t):
        before = power(v, t - 1) if (v, t - 1) in plugged else 0.0
        return m.switch_rise_kw[v, t] >= power(v, t) - before

    m.switch_rise = pyo.Constraint(m.SW, rule=rise)
    last = [(v, t) for v, t in data.plugged_pairs if (v, t) in m.PD and (v, t + 1) not in plugged]
    m.SWE = pyo.Set(initialize=last, dimen=2, ordered=True)
    m.switch_end_kw = pyo.Var(m.SWE, bounds=(0.0, None))
    m.switch_end = pyo.Constraint(m.SWE, rule=lambda m, v, t: m.switch_end_kw[v, t] >= -power(v, t))


def switching_expression(m, data):
    """``2 w sum r[v,t]`` [currency], 0 without the penalty."""
    w = switching_weight(data.sc)
    if w <= 0 or not hasattr(m, "switch_rise_kw"):
        return 0.0
    return 2.0 * w * (sum(m.switch_rise_kw[p] for p in m.SW) + sum(m.switch_end_kw[p] for p in m.SWE))


# --- matrices ------------------------------------------------------------------------------


def n_switching_columns(sc, pair_v, pair_t, may_discharge) -> int:
    """Columns :func:`add_matrix_switching` needs: a rise per plugged-in pair and an end rise per
    :func:`end_pairs` pair, or none."""
    if switching_weight(sc) <= 0:
        return 0
    return len(pair_v) + len(end_pairs(pair_v, pair_t, may_discharge))


def add_matrix_switching(rows, cost: np.ndarray, sc, col_sw, col_c, col_d, pair_v, pair_t) -> None:
    """Rows ``r - c[t] + d[t] + c[t-1] - d[t-1] >= 0``, ``q - d[t] + c[t] >= 0`` and the cost ``2 w`` of each.

    ``col_sw``: one rise per pair, then one end rise per :func:`end_pairs` pair
    (bounds ``[0, inf)`` as the builder makes them); ``col_d`` -1 where a pair
    has no discharge column.
    """
    if not len(col_sw):
        return
    cost[col_sw] = 2.0 * switching_weight(sc)
    n = len(col_c)
    first = rows.n
    rows.add([(np.asarray(col_sw)[:n], 1.0), (col_c, -1.0)], 0.0, np.inf, n)
    r = first + np.arange(n)
    hd = np.flatnonzero(np.asarray(col_d) >= 0)
    rows.rows.append(r[hd])
    rows.cols.append(np.asarray(col_d)[hd])
    rows.vals.append(np.ones(len(hd)))
    prev = previous_pair(pair_v, pair_t)
    hp = np.flatnonzero(prev >= 0)
    rows.rows.append(r[hp])
    rows.cols.append(np.asarray(col_c)[prev[hp]])
    rows.vals.append(np.ones(len(hp)))
    hpd = hp[np.asarray(col_d)[prev[hp]] >= 0]
    rows.rows.append(r[hpd])
    rows.cols.append(np.asarray(col_d)[prev[hpd]])
    rows.vals.append(-np.ones(len(hpd)))
    col_d = np.asarray(col_d)
    ends = end_pairs(pair_v, pair_t, col_d >= 0)
    col_q = np.asarray(col_sw)[n:]
    rows.add([(col_q, 1.0), (col_d[ends], -1.0), (np.asarray(col_c)[ends], 1.0)], 0.0, np.inf, len(ends))


def slack_values(mm, x: np.ndarray) -> np.ndarray:
    """The rises' tightest values, ``max(0, p[t] - p[t-1])``, for a plan ``x`` in ``mm``'s layout."""
    if not len(mm.col_sw):
        return np.zeros(0)
    p = x[mm.col_c] - np.where(mm.col_d >= 0, x[np.maximum(mm.col_d, 0)], 0.0)
    prev = previous_pair(mm.pair_v, mm.pair_t)
    before = np.where(prev >= 0, p[np.maximum(prev, 0)], 0.0)
    ends = end_pairs(mm.pair_v, mm.pair_t, mm.col_d >= 0)
    return np.concatenate([np.maximum(0.0, p - before), np.maximum(0.0, -p[ends])])


# --- independent recomputation ---------------------------------------------------------------


def total_variation_kw(schedule: pd.DataFrame) -> float:
    """Sum over vehicles of ``|p[t] - p[t-1]|`` with ``p = charge_kw - discharge_kw`` and 0 while unplugged [kW].

    Computed from the schedule alone (not from the model): each vehicle's power
    padded with 0 before the horizon and after it.
    """
    if not len(schedule):
        return 0.0
    s = schedule.sort_values(["vehicle_id", "time"], kind="stable")
    plugged = s["plugged_in"].to_numpy(bool)
    p = np.where(plugged, s["charge_kw"].to_numpy(float) - s["discharge_kw"].to_numpy(float), 0.0)
    v = pd.factorize(s["vehicle_id"].to_numpy(dtype=object))[0]
    before = np.zeros(len(p))
    before[1:] = np.where(v[1:] == v[:-1], p[:-1], 0.0)
    last = np.ones(len(p), dtype=bool)
    last[:-1] = v[1:] != v[:-1]
    return float(np.abs(p - before).sum() + np.abs(p[last]).sum())


def switching_cost(sc, schedule: pd.DataFrame) -> float:
    """``switching_penalty_per_kw`` times :func:`total_variation_kw` of the schedule [currency]."""
    w = switching_weight(sc)
    return w * total_variation_kw(schedule) if w > 0 else 0.0
