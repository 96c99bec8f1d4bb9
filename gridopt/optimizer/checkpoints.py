"""Soft SoC checkpoints inside a plug-in segment, in both model forms.

``Scenario.soft_checkpoints`` (Python level, default None: no checkpoint) is a
table with one row per checkpoint:

=================  ============================================================
``vehicle_id``     the vehicle
``time``           a step boundary (tz-aware); the SoC checked is the SoC at
                   it, after the step that ends there, which the vehicle must
                   spend plugged in
``soc_kwh``        the SoC wanted there [kWh]
``penalty_per_kwh`` price of each kWh short of it [currency/kWh], >= 0
=================  ============================================================

Each checkpoint ``i`` at boundary ``b`` of vehicle ``v`` (segment ``j``) adds a
shortfall ``w[i] >= 0`` with::

    e[j,b] + w[i] >= soc_kwh[i],    cost penalty_per_kwh[i] * w[i]

so at the optimum ``w[i] = max(0, soc_kwh[i] - e[j,b])``. A checkpoint is a
cost, never a constraint: every plan stays feasible, and :mod:`gridopt.check`'s
rules do not change. The cost is not money the site pays: it is part of
``objective`` and of ``checkpoint_cost`` (recomputed from the schedule by
:func:`checkpoint_cost`), never of ``total_cost``.

The rolling-horizon simulation uses it to weigh a car's plausible departures
and needs (:mod:`gridopt.simulate.shortfall`). Segments holding a checkpoint
keep their SoC per step in the matrix form (they are never slim,
:func:`gridopt.optimizer.matrix.slim_segments`), so each checkpoint is one row
of two entries.

:func:`add_checkpoints` / :func:`checkpoint_expression` add it to the Pyomo
model (:mod:`gridopt.optimizer.model`), :func:`add_matrix_checkpoints` to the
matrices (:mod:`gridopt.optimizer.matrix`); :func:`slack_values` gives the
shortfalls of a plan (the greedy).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

COLUMNS = ["vehicle_id", "time", "soc_kwh", "penalty_per_kwh"]


@dataclass(frozen=True)
class Resolved:
    """The checkpoints on the model's indices (arrays of one entry per checkpoint).

    Attributes
    ----------
    v : ndarray of int
        Vehicle index in ``plan.vehicle_ids``.
    t : ndarray of int
        The step that ends at the checkpoint's boundary (``b - 1``).
    seg : ndarray of int
        The plug-in segment of ``plan.segments`` holding step ``t``.
    soc_kwh, penalty_per_kwh : ndarray of float
    """

    v: np.ndarray
    t: np.ndarray
    seg: np.ndarray
    soc_kwh: np.ndarray
    penalty_per_kwh: np.ndarray

    def __len__(self) -> int:
        return len(self.v)


def table(sc) -> pd.DataFrame | None:
    """``sc.soft_checkpoints`` when it holds rows, else None."""
    cp = getattr(sc, "soft_checkpoints", None)
    if cp is None or not len(cp):
        return None
    return cp


def resolve(sc, plan) -> Resolved:
    """Each checkpoint's vehicle, step and segment in ``plan`` (see the module doc).

    Raises
    ------
    ValueError
        A checkpoint of an unknown vehicle, off the grid's boundaries, at the
        horizon's start, not after a plugged-in step, or with a negative
        penalty or a non-finite SoC.
    """
    cp = table(sc)
    if cp is None:
        z = np.zeros(0, np.int64)
        return Resolved(z, z, z, np.zeros(0), np.zeros(0))
    missing = [c for c in COLUMNS if c not in cp.columns]
    if missing:
        raise ValueError(f"soft_checkpoints: missing columns {missing}")
    vid = {str(x): i for i, x in enumerate(plan.vehicle_ids)}
    unknown = [str(x) for x in cp["vehicle_id"] if str(x) not in vid]
    if unknown:
        raise ValueError(f"soft_checkpoints: unknown vehicle {unknown[0]!r}")
    v = np.array([vid[str(x)] for x in cp["vehicle_id"]], np.int64)
    grid = sc.grid
    times = pd.DatetimeIndex(cp["time"])
    offs = (times - grid.start) / pd.Timedelta(minutes=grid.step_minutes)
    b = np.asarray(np.round(offs), np.int64)
    if np.any(np.abs(np.asarray(offs, float) - b) > 1e-9) or np.any(b < 1) or np.any(b > grid.n_steps):
        raise ValueError(
            "soft_checkpoints: every time must be a step boundary after the horizon's start and by its end"
        )
    t = b - 1
    soc = cp["soc_kwh"].to_numpy(float)
    pen = cp["penalty_per_kwh"].to_numpy(float)
    if not np.all(np.isfinite(soc)) or not np.all(np.isfinite(pen)) or np.any(pen < 0):
        raise ValueError("soft_checkpoints: soc_kwh must be finite and penalty_per_kwh finite and >= 0")
    segs = plan.segments
    s_v = segs["vehicle"].to_numpy(np.int64)
    s_start = segs["start"].to_numpy(np.int64)
    s_end = segs["end"].to_numpy(np.int64)
    seg = np.full(len(v), -1, np.int64)
    for i in range(len(v)):
        hit = np.flatnonzero((s_v == v[i]) & (s_start <= t[i]) & (t[i] < s_end))
        if not len(hit):
            raise ValueError(
                f"soft_checkpoints: vehicle {plan.vehicle_ids[v[i]]!r} is not plugged in during the step "
                f"before {times[i].isoformat()}"
            )
        seg[i] = hit[0]
    return Resolved(v, t, seg, soc, pen)


def checkpoint_segments(sc, plan) -> np.ndarray:
    """Bool per segment of ``plan.segments``: it holds a checkpoint (it must keep a SoC per step)."""
    out = np.zeros(len(plan.segments), bool)
    if table(sc) is not None:
        out[resolve(sc, plan).seg] = True
    return out


# --- Pyomo ---------------------------------------------------------------------------------


def add_checkpoints(m, data) -> None:
    """``e[j,b] + w[i] >= soc_kwh[i]``, ``w[i] >= 0`` (sets ``m.checkpoint_short_kwh``)."""
    import pyomo.environ as pyo

    cp = resolve(data.sc, data.plan)
    if not len(cp):
        return
    m.CP = pyo.Set(initialize=range(len(cp)), ordered=True)
    m.checkpoint_short_kwh = pyo.Var(m.CP, bounds=(0.0, None))

    def rule(m, i):
        j, b = int(cp.seg[i]), int(cp.t[i]) + 1
        return m.soc_kwh[j, b] + m.checkpoint_short_kwh[i] >= float(cp.soc_kwh[i])

    m.checkpoint = pyo.Constraint(m.CP, rule=rule)
    m._checkpoint_penalty = [float(p) for p in cp.penalty_per_kwh]


def checkpoint_expression(m):
    """``sum_i penalty_per_kwh[i] w[i]`` [currency], 0 without checkpoints."""
    if not hasattr(m, "checkpoint_short_kwh"):
        return 0.0
    return sum(p * m.checkpoint_short_kwh[i] for i, p in zip(m.CP, m._checkpoint_penalty, strict=True))


# --- matrices ------------------------------------------------------------------------------


def n_checkpoint_columns(sc) -> int:
    """Columns :func:`add_matrix_checkpoints` needs: one shortfall per checkpoint."""
    cp = table(sc)
    return 0 if cp is None else len(cp)


def checkpoint_pairs(sc, plan, pair_v: np.ndarray, pair_t: np.ndarray) -> np.ndarray:
    """Index of each checkpoint's pair ``(v, b - 1)`` in the matrix's pair arrays."""
    cp = resolve(sc, plan)
    if not len(cp):
        return np.zeros(0, np.int64)
    T = int(max(pair_t.max(initial=0), cp.t.max(initial=0))) + 1
    key = np.asarray(pair_v, np.int64) * T + np.asarray(pair_t, np.int64)
    order = np.argsort(key, kind="stable")
    want = cp.v * T + cp.t
    pos = np.minimum(np.searchsorted(key[order], want), len(key) - 1)
    found = key[order][pos] == want
    if not found.all():  # resolve() found the segment, so the pair exists
        raise AssertionError("soft checkpoint without a plugged-in pair")
    return order[pos].astype(np.int64)


def add_matrix_checkpoints(rows, cost: np.ndarray, sc, plan, col_cp, col_e_after, pair_v, pair_t) -> np.ndarray:
    """Rows ``e_after[pair] + w >= soc_kwh`` and the cost of each ``w``; returns the pairs (per checkpoint)."""
    if not len(col_cp):
        return np.zeros(0, np.int64)
    cp = resolve(sc, plan)
    pairs = checkpoint_pairs(sc, plan, pair_v, pair_t)
    e = np.asarray(col_e_after)[pairs]
    if np.any(e < 0):  # checkpoint_segments keeps them out of the slim form
        raise AssertionError("soft checkpoint inside a slim segment")
    cost[col_cp] = cp.penalty_per_kwh
    rows.add([(e, 1.0), (np.asarray(col_cp), 1.0)], cp.soc_kwh, np.inf, len(cp))
    return pairs


def slack_values(mm, x: np.ndarray) -> np.ndarray:
    """The shortfalls' tightest values, ``max(0, soc_kwh - e_after)``, for a plan ``x`` in ``mm``'s layout."""
    if not len(mm.col_cp):
        return np.zeros(0)
    return np.maximum(0.0, mm.cp_soc_kwh - x[mm.col_e_after[mm.cp_pair]])


# --- independent recomputation ---------------------------------------------------------------


def checkpoint_cost(sc, schedule: pd.DataFrame) -> float:
    """``sum_i penalty_per_kwh[i] * max(0, soc_kwh[i] - SoC at time[i])`` from a schedule [currency].

    The SoC at a boundary is the schedule's ``soc_kwh`` (SoC at the end of the
    step) of the step that ends there; computed from the schedule alone, not
    the model.
    """
    cp = table(sc)
    if cp is None or not len(schedule):
        return 0.0
    step = pd.Timedelta(minutes=sc.grid.step_minutes)
    soc = schedule.set_index(["vehicle_id", "time"])["soc_kwh"]
    keys = list(zip(cp["vehicle_id"].astype(str), pd.DatetimeIndex(cp["time"]) - step, strict=True))
    s = soc.copy()
    s.index = pd.MultiIndex.from_arrays([s.index.get_level_values(0).astype(str), s.index.get_level_values(1)])
    got = s.reindex(keys).to_numpy(float)
    short = np.maximum(0.0, cp["soc_kwh"].to_numpy(float) - got)
    return float(np.dot(cp["penalty_per_kwh"].to_numpy(float), short))
