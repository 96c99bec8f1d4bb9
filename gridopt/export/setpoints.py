"""Setpoints and the ready-by report from a plan's schedule.

**Which charger.** Each plugged-in row of the schedule gets a charger id, the
first of these that exists:

1. the result's ``charger_assignment`` (``vehicle_id, charger_id, start, end``:
   the vehicle is on ``charger_id`` for the steps starting in ``[start, end)``);
2. a ``charger_id`` column of the schedule;
3. the session's ``station_id`` (sessions that name their station);
4. the vehicle's own id: a trip-based depot has one charger per vehicle.

**Setpoints** (:func:`power_blocks`): per charger and vehicle, maximal runs of
plugged-in steps of equal power ``limit_kw = charge_kw - discharge_kw``
(negative: discharging), each one row ``start, end`` (end exclusive), not one
row per step. Powers are compared and written as ``schedule.csv`` writes them
(6 significant digits, :func:`written`), so expanding the blocks back to steps
(:func:`expand_setpoints`) gives ``schedule.csv``'s powers exactly. A plugged-in
step of 0 kW is a block too: the charger must be told to pause.

``limit_a = limit_kw * 1000 / (phases * voltage_v)``: the current per phase
[A], with the charger's ``phases`` and phase-to-neutral ``voltage_v`` where the
scenario's chargers give them, else :data:`DEFAULT_PHASES` phases at
:data:`DEFAULT_VOLTAGE_V` (a European three-phase AC charger); the file carries
both columns so that the reader sees what ``limit_a`` assumes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Phase-to-neutral voltage assumed where a charger does not give its own [V].
DEFAULT_VOLTAGE_V = 230.0
#: Phases assumed where a charger does not give its own [-].
DEFAULT_PHASES = 3
#: Columns of ``setpoints.csv``.
SETPOINT_COLUMNS = ["charger_id", "vehicle_id", "start", "end", "limit_kw", "limit_a", "phases", "voltage_v"]
#: Columns of ``vehicles.csv``.
VEHICLE_COLUMNS = [
    "vehicle_id",
    "kind",
    "event_id",
    "departure",
    "ready_by",
    "need_kwh",
    "soc_kwh",
    "soc_pct",
    "unmet_kwh",
    "charger_id",
    "first_charge_start",
    "last_charge_end",
]


def written(x) -> np.ndarray:
    """``x`` as ``schedule.csv`` writes it: rounded to 6 significant digits (``%.6g``), ``-0`` as 0.

    Parameters
    ----------
    x : array-like of float
        Powers [kW] or energies [kWh]; NaN stays NaN.
    """
    x = np.asarray(x, dtype=float) + 0.0
    codes, uniques = pd.factorize(x)  # few distinct values: format each once
    if not len(uniques):
        return np.full(len(x), np.nan)
    vals = np.array([float(f"{u:.6g}") for u in uniques], dtype=float) + 0.0
    return np.where(codes >= 0, vals[np.maximum(codes, 0)], np.nan)


def charger_of_rows(schedule: pd.DataFrame, assignment: pd.DataFrame | None = None) -> tuple[np.ndarray, str]:
    """The charger id of every schedule row, and where it came from (see the module's notes).

    Parameters
    ----------
    schedule : DataFrame
        The plan's schedule (``time``, ``vehicle_id``, optional ``charger_id`` / ``station_id``).
    assignment : DataFrame, optional
        ``vehicle_id, charger_id, start, end`` (the result's ``charger_assignment``).

    Returns
    -------
    ids : ndarray of object, shape (len(schedule),)
    source : {"charger_assignment", "charger_id", "station_id", "vehicle_id"}
    """
    vid = schedule["vehicle_id"].to_numpy(dtype=object)
    if assignment is not None and len(assignment):
        left = pd.DataFrame({"row": np.arange(len(schedule)), "time": schedule["time"].to_numpy(), "vehicle_id": vid})
        right = assignment[["vehicle_id", "charger_id", "start", "end"]].copy()
        left["vehicle_id"] = left["vehicle_id"].astype(str)  # one key type on both sides (pandas 3 infers str)
        right["vehicle_id"] = right["vehicle_id"].astype(str)
        left["time"] = pd.DatetimeIndex(schedule["time"]).tz_convert("UTC")
        right["start"] = pd.DatetimeIndex(right["start"]).tz_convert("UTC")
        right["end"] = pd.DatetimeIndex(right["end"]).tz_convert("UTC")
        merged = pd.merge_asof(
            left.sort_values("time"), right.sort_values("start"), left_on="time", right_on="start", by="vehicle_id"
        )
        inside = merged["end"].notna() & (merged["time"] < merged["end"])
        ids = np.array(vid, dtype=object)
        ids[merged.loc[inside, "row"].to_numpy()] = merged.loc[inside, "charger_id"].to_numpy(dtype=object)
        return ids, "charger_assignment"
    if "charger_id" in schedule:
        ids = schedule["charger_id"].to_numpy(dtype=object)
        return np.where(pd.isna(ids), vid, ids), "charger_id"
    if "station_id" in schedule:
        ids = schedule["station_id"].to_numpy(dtype=object)
        return np.where(pd.isna(ids), vid, ids), "station_id"
    return vid.copy(), "vehicle_id"


def charger_electrics(sc, charger_ids) -> tuple[np.ndarray, np.ndarray, str]:
    """Phases and phase-to-neutral voltage [V] of each charger id, and where they came from.

    From the scenario's chargers table (``sc.chargers``, columns ``charger_id`` and
    ``phases``, optional ``voltage_v``: across the charger's terminals, line to line
    for a three-phase charger, so divided by sqrt(3) here) where it exists and names
    the charger; else :data:`DEFAULT_PHASES` and :data:`DEFAULT_VOLTAGE_V`. The
    voltage returned is the one per phase that ``I = P / (phases * voltage_v)`` uses.

    Returns
    -------
    phases : ndarray of int
    voltage_v : ndarray of float
    source : {"chargers", "default", "chargers+default"}
    """
    ids = np.asarray(charger_ids, dtype=object)
    phases = np.full(len(ids), DEFAULT_PHASES, dtype=np.int64)
    volts = np.full(len(ids), DEFAULT_VOLTAGE_V)
    table = getattr(sc, "chargers", None)
    if table is None or not isinstance(table, pd.DataFrame) or not len(table) or "phases" not in table:
        return phases, volts, "default"
    t = table.set_index("charger_id") if "charger_id" in table else table
    known = pd.Index(t.index).get_indexer(ids) >= 0
    given = pd.Series(ids[known]).map(t["phases"]).to_numpy(dtype=float)
    ok = np.isfinite(given)
    sub = np.flatnonzero(known)
    phases[sub[ok]] = given[ok].astype(np.int64)
    if "voltage_v" in t:  # chargers.csv: across the terminals, line to line for three-phase chargers
        v = pd.Series(ids[known]).map(t["voltage_v"]).to_numpy(dtype=float)
        v = np.where(phases[sub] == 3, v / np.sqrt(3.0), v)
        okv = np.isfinite(v) & (v > 0)
        volts[sub[okv]] = v[okv]
    n_given = int(ok.sum())
    return phases, volts, ("chargers" if n_given == len(ids) else "chargers+default" if n_given else "default")


def power_blocks(schedule: pd.DataFrame, step: pd.Timedelta, charger_ids: np.ndarray) -> pd.DataFrame:
    """Contiguous blocks of equal power per charger and vehicle (the rows of ``setpoints.csv``).

    Parameters
    ----------
    schedule : DataFrame
        ``time`` (step starts, tz-aware), ``vehicle_id``, ``plugged_in``,
        ``charge_kw``, ``discharge_kw`` [kW].
    step : Timedelta
        Step length.
    charger_ids : ndarray of object, shape (len(schedule),)
        From :func:`charger_of_rows`.

    Returns
    -------
    DataFrame
        ``charger_id, vehicle_id, start, end`` (tz-aware; ``end`` exclusive),
        ``limit_kw`` (charge minus discharge as written, [kW]), sorted by
        charger and start. Only plugged-in steps are covered.
    """
    on = schedule["plugged_in"].to_numpy(dtype=bool)
    tz = pd.DatetimeIndex(schedule["time"]).tz
    t = pd.DatetimeIndex(schedule["time"]).as_unit("ns").asi8[on]
    vid = schedule["vehicle_id"].to_numpy(dtype=object)[on]
    chg = np.asarray(charger_ids, dtype=object)[on]
    power = written(schedule["charge_kw"].to_numpy(float)[on]) - written(schedule["discharge_kw"].to_numpy(float)[on])
    power = power + 0.0
    vcode = pd.factorize(vid)[0]
    ccode = pd.factorize(chg)[0]
    order = np.lexsort((t, ccode, vcode))
    t, vid, chg, power, vcode, ccode = t[order], vid[order], chg[order], power[order], vcode[order], ccode[order]
    step_ns = int(pd.Timedelta(step).value)
    new = np.ones(len(t), dtype=bool)
    new[1:] = (
        (vcode[1:] != vcode[:-1]) | (ccode[1:] != ccode[:-1]) | (t[1:] != t[:-1] + step_ns) | (power[1:] != power[:-1])
    )
    first = np.flatnonzero(new)
    last = np.append(first[1:] - 1, len(t) - 1) if len(first) else first

    def stamps(ns):
        return pd.DatetimeIndex(ns.astype("datetime64[ns]")).tz_localize("UTC").tz_convert(tz)

    out = pd.DataFrame(
        {
            "charger_id": chg[first],
            "vehicle_id": vid[first],
            "start": stamps(t[first]),
            "end": stamps(t[last] + step_ns),
            "limit_kw": power[first],
        }
    )
    out = out.sort_values(["start", "charger_id", "vehicle_id"], kind="stable")
    out = out.sort_values("charger_id", kind="stable", key=lambda s: s.astype(str)).reset_index(drop=True)
    return out


def setpoints_table(sc, schedule: pd.DataFrame, assignment: pd.DataFrame | None = None) -> tuple[pd.DataFrame, dict]:
    """``setpoints.csv``'s rows (:data:`SETPOINT_COLUMNS`) and what they assume.

    Returns
    -------
    table : DataFrame
    info : dict
        ``charger_source`` (see :func:`charger_of_rows`), ``phases_source``,
        ``default_phases``, ``default_voltage_v``.
    """
    ids, source = charger_of_rows(schedule, assignment)
    blocks = power_blocks(schedule, pd.Timedelta(minutes=sc.grid.step_minutes), ids)
    phases, volts, p_source = charger_electrics(sc, blocks["charger_id"].to_numpy(dtype=object))
    blocks["limit_a"] = written(blocks["limit_kw"].to_numpy(float) * 1000.0 / (phases * volts))
    blocks["phases"] = phases
    blocks["voltage_v"] = volts
    info = {
        "charger_source": source,
        "phases_source": p_source,
        "default_phases": DEFAULT_PHASES,
        "default_voltage_v": DEFAULT_VOLTAGE_V,
    }
    return blocks[SETPOINT_COLUMNS], info


def expand_setpoints(setpoints: pd.DataFrame, step: pd.Timedelta) -> pd.DataFrame:
    """The blocks back as one row per step: ``charger_id, vehicle_id, time, limit_kw``.

    Parameters
    ----------
    setpoints : DataFrame
        ``charger_id, vehicle_id, start, end, limit_kw`` (tz-aware times).
    step : Timedelta
        Step length.
    """
    start = pd.DatetimeIndex(setpoints["start"])
    end = pd.DatetimeIndex(setpoints["end"])
    step_ns = int(pd.Timedelta(step).value)
    n = ((end.as_unit("ns").asi8 - start.as_unit("ns").asi8) // step_ns).astype(np.int64)
    rep = np.repeat(np.arange(len(setpoints)), n)
    offs = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
    t_ns = start.as_unit("ns").asi8[rep] + offs * step_ns
    times = pd.DatetimeIndex(t_ns.astype("datetime64[ns]")).tz_localize("UTC").tz_convert(start.tz)
    return pd.DataFrame(
        {
            "charger_id": setpoints["charger_id"].to_numpy(dtype=object)[rep],
            "vehicle_id": setpoints["vehicle_id"].to_numpy(dtype=object)[rep],
            "time": times,
            "limit_kw": setpoints["limit_kw"].to_numpy(dtype=float)[rep],
        }
    )


def charging_blocks(schedule: pd.DataFrame) -> dict:
    """Charging blocks per vehicle: maximal runs of steps that charge (``charge_kw > 0``).

    A change of power within a run is not a new block; a pause, a discharge or
    an unplugged step is. Returns ``median_per_vehicle`` and ``max_per_vehicle``
    over the vehicles that charge at all (0 when none does), and ``vehicles``,
    their count.
    """
    if not len(schedule):
        return {"median_per_vehicle": 0.0, "max_per_vehicle": 0, "vehicles": 0}
    s = schedule.sort_values(["vehicle_id", "time"], kind="stable")
    on = written(s["charge_kw"].to_numpy(float)) > 0
    v = pd.factorize(s["vehicle_id"].to_numpy(dtype=object))[0]
    starts = on.copy()
    starts[1:] = on[1:] & (~on[:-1] | (v[1:] != v[:-1]))
    per = np.bincount(v[starts], minlength=v.max() + 1)
    per = per[per > 0]
    if not len(per):
        return {"median_per_vehicle": 0.0, "max_per_vehicle": 0, "vehicles": 0}
    return {"median_per_vehicle": float(np.median(per)), "max_per_vehicle": int(per.max()), "vehicles": int(len(per))}


def ready_by_report(sc, schedule: pd.DataFrame, unmet: pd.DataFrame, charger_ids: np.ndarray) -> pd.DataFrame:
    """``vehicles.csv``: one row per vehicle and requirement (:data:`VEHICLE_COLUMNS`).

    For each requirement (trip departure, session end, ``final_soc``):
    ``departure`` (the event's own time), ``ready_by`` (the step boundary at
    which the plan must meet it: departures round down to the step grid),
    ``need_kwh`` and the planned ``soc_kwh`` there (and ``soc_pct`` of the
    battery), ``unmet_kwh``, the ``charger_id`` of the plug-in that ends there
    (several joined by ``;``) and the start of its first and the end of its last
    charging step (empty when it does not charge). A vehicle without any
    requirement in the horizon gets one row of kind ``none`` with its SoC at
    the end of its last plugged-in step.
    """
    battery = sc.vehicles["battery_kwh"]
    step_ns = int(pd.Timedelta(minutes=sc.grid.step_minutes).value)
    tz = sc.grid.tz
    s = schedule.assign(_charger=np.asarray(charger_ids, dtype=object)).sort_values(
        ["vehicle_id", "time"], kind="stable"
    )
    # one pass over whole columns, then a slice per vehicle (its rows are contiguous after the sort)
    vids = s["vehicle_id"].to_numpy(dtype=object)
    cols = (
        pd.DatetimeIndex(s["time"]).as_unit("ns").asi8,
        s["plugged_in"].to_numpy(bool),
        written(s["charge_kw"].to_numpy(float)) > 0,
        s["_charger"].to_numpy(dtype=object),
        s["soc_kwh"].to_numpy(float),
    )
    codes = pd.factorize(vids)[0]
    firsts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]]) if len(codes) else np.zeros(0, np.int64)
    lasts = np.r_[firsts[1:], len(codes)]
    by_vehicle = {vids[a]: tuple(c[a:b] for c in cols) for a, b in zip(firsts, lasts, strict=True)}

    def stamp(ns):
        return pd.Timestamp(int(ns), tz="UTC").tz_convert(tz)

    def window(vid, end_ns):
        t, plugged, charging, chg, _ = by_vehicle[vid]
        k = int(np.searchsorted(t, end_ns))  # steps before the boundary
        gaps = np.flatnonzero(~plugged[:k])
        i0 = int(gaps[-1]) + 1 if len(gaps) else 0
        ids = list(dict.fromkeys(str(c) for c in chg[i0:k]))
        on = np.flatnonzero(charging[i0:k]) + i0
        first = stamp(t[on[0]]) if len(on) else pd.NaT
        last = stamp(t[on[-1]] + step_ns) if len(on) else pd.NaT
        return ";".join(ids), first, last

    rows = []
    for r in unmet.itertuples(index=False):
        b = pd.Timestamp(r.boundary_time)
        chg, first, last = window(r.vehicle_id, b.value) if r.vehicle_id in by_vehicle else ("", pd.NaT, pd.NaT)
        cap = float(battery.get(r.vehicle_id, np.nan))
        rows.append(
            {
                "vehicle_id": r.vehicle_id,
                "kind": r.kind,
                "event_id": r.event_id,
                "departure": pd.Timestamp(r.time).tz_convert(tz) if pd.notna(r.time) else pd.NaT,
                "ready_by": b.tz_convert(tz),
                "need_kwh": float(r.required_kwh),
                "soc_kwh": float(r.soc_kwh),
                "soc_pct": 100.0 * float(r.soc_kwh) / cap if cap > 0 else np.nan,
                "unmet_kwh": float(r.unmet_kwh),
                "charger_id": chg,
                "first_charge_start": first,
                "last_charge_end": last,
            }
        )
    with_req = set(unmet["vehicle_id"])
    for vid, (t, plugged, _, _, soc) in by_vehicle.items():
        if vid in with_req:
            continue
        seen = np.flatnonzero(plugged & np.isfinite(soc))
        end_ns = t[seen[-1]] + step_ns if len(seen) else sc.grid.end.value
        chg, first, last = window(vid, end_ns)
        cap = float(battery.get(vid, np.nan))
        soc_end = float(soc[seen[-1]]) if len(seen) else np.nan
        rows.append(
            {
                "vehicle_id": vid,
                "kind": "none",
                "event_id": None,
                "departure": pd.NaT,
                "ready_by": stamp(end_ns),
                "need_kwh": 0.0,
                "soc_kwh": soc_end,
                "soc_pct": 100.0 * soc_end / cap if cap > 0 else np.nan,
                "unmet_kwh": 0.0,
                "charger_id": chg,
                "first_charge_start": first,
                "last_charge_end": last,
            }
        )
    out = pd.DataFrame(rows, columns=VEHICLE_COLUMNS)
    if len(out):
        out = out.sort_values(["vehicle_id", "ready_by"], kind="stable", key=_sort_key).reset_index(drop=True)
    return out


def _sort_key(s: pd.Series) -> pd.Series:
    return s.astype(str) if s.name == "vehicle_id" else s


def operator_summary(
    sc, schedule: pd.DataFrame, baseline_schedule: pd.DataFrame | None = None, assignment=None
) -> dict:
    """``summary.json``'s ``operator`` block: charging blocks per vehicle and what setpoints assume.

    ``charging_blocks`` of the plan (and ``baseline_charging_blocks`` of the
    uncontrolled plan when given, see :func:`charging_blocks`); ``charger_source``
    (see :func:`charger_of_rows`), ``phases_source``, ``default_phases`` and
    ``default_voltage_v`` (see :func:`charger_electrics`).
    """
    ids, source = charger_of_rows(schedule, assignment)
    _, _, p_source = charger_electrics(sc, pd.unique(ids[schedule["plugged_in"].to_numpy(bool)]))
    out = {"charging_blocks": charging_blocks(schedule)}
    if baseline_schedule is not None:
        out["baseline_charging_blocks"] = charging_blocks(baseline_schedule)
    out.update(
        charger_source=source,
        phases_source=p_source,
        default_phases=DEFAULT_PHASES,
        default_voltage_v=DEFAULT_VOLTAGE_V,
    )
    return out


def operator_lines(summary: dict, money) -> list[str]:
    """Terminal lines of ``gridopt run`` for the operator block: charging blocks, the switching penalty."""
    op = summary.get("operator") or {}
    out = []
    blocks = op.get("charging_blocks")
    if blocks and blocks.get("vehicles"):
        base = op.get("baseline_charging_blocks")
        vs = f" (uncontrolled {base['median_per_vehicle']:g} / {base['max_per_vehicle']})" if base else ""
        out.append(
            f"  charging blocks   median {blocks['median_per_vehicle']:g}, at most {blocks['max_per_vehicle']} "
            f"per vehicle{vs}"
        )
    if summary.get("switching_cost"):
        out.append(
            f"  switching         {money(summary['switching_cost'])} of penalty on power changes "
            "(in the objective, not in the total cost)"
        )
    return out
