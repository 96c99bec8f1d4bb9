"""Grid signals and utility events as per-step series on the scenario's time grid.

The ``grid:`` block of a scenario names a signals CSV (``time`` and any of
:data:`SIGNAL_COLUMNS`) and the weights of the grid objectives; ``events:``
lists utility events. :mod:`gridopt.io.read` reads the files and calls the
functions here, which check and align what was read and resolve everything into
the columns of :data:`gridopt.scenario.GRID_SERIES_COLUMNS`:

=============================  ================================================================
``import_limit_kw``            the site's constant, or its timeseries column, lowered by ``import_cap`` events [kW]
``export_limit_kw``            the site's constant, or its timeseries column [kW]
``carbon_kg_per_kwh``          marginal emission rate of grid energy [kg/kWh]
``renewable_surplus_kw``       renewable supply that would otherwise be curtailed [kW]
``net_load_kw``                the feeder's or region's load without this site [kW]
``target_kw``                  requested site net import (import - export) [kW]; NaN where none
``export_request_kw``          ``export_request`` events [kW], 0 outside them
``export_payment_per_kwh``     their payment per kWh exported up to the request [currency/kWh]
``export_penalty_per_kwh``     their penalty per kWh short of the request [currency/kWh]
``export_request_hard``        the request is a constraint (bool)
``shift_away_price_per_kwh``   ``shift_away`` extra import price, also added to ``import_price`` [currency/kWh]
=============================  ================================================================

Time rules are the site timeseries' (:func:`gridopt.timeindex.align_to_grid`):
a coarser series is stepped, a finer one averaged, except the limits, whose
finer values are reduced to their minimum over each step (a step's constant
power must respect the lowest limit within it). An event applies to every step
whose start lies in ``[start, end)``; its ``start`` and ``end`` must lie on the
step grid.

Units: the loader takes emissions only as ``carbon_kg_per_kwh`` (kg/kWh, which
is also t/MWh). Data in lb/MWh (WattTime's MOER) is converted by whoever builds
the CSV, ``kg/kWh = lb/MWh * LB_PER_MWH_IN_KG_PER_KWH``; a column in any other
unit is refused with the name of the column expected.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd

from ..errors import ScenarioError
from ..scenario import (
    MAX_CARBON_KG_PER_KWH,
    MAX_GRID_POWER_KW,
    MAX_POWER_KW,
    GridConfig,
    GridTerms,
)
from ..timeindex import TimeGrid, align_to_grid, parse_instant

#: Columns a signals CSV may hold besides ``time``.
SIGNAL_COLUMNS = ("carbon_kg_per_kwh", "renewable_surplus_kw", "net_load_kw", "target_kw")
#: Range of each signal column (lowest, highest) and its unit.
SIGNAL_BOUNDS = {
    "carbon_kg_per_kwh": (0.0, MAX_CARBON_KG_PER_KWH, "kg/kWh"),
    "renewable_surplus_kw": (0.0, MAX_GRID_POWER_KW, "kW"),
    "net_load_kw": (-MAX_GRID_POWER_KW, MAX_GRID_POWER_KW, "kW"),
    "target_kw": (-MAX_POWER_KW, MAX_POWER_KW, "kW"),
}
#: One lb/MWh in kg/kWh (0.45359237 kg / 1000 kWh, rounded as the MOER documentation gives it).
LB_PER_MWH_IN_KG_PER_KWH = 0.000453592

# A column whose name starts with one of these means a signal, perhaps in another unit.
_MEANS = (
    (re.compile(r"^(carbon|co2|moer|emission|ef_|aoer|intensity)"), "carbon_kg_per_kwh"),
    (re.compile(r"^(renewable|surplus|curtail)"), "renewable_surplus_kw"),
    (re.compile(r"^(net_?load|load)"), "net_load_kw"),
    (re.compile(r"^(target|setpoint|dispatch)"), "target_kw"),
)


def _expected(column: str) -> str | None:
    low = column.strip().lower()
    for pattern, name in _MEANS:
        if pattern.match(low):
            return name
    return None


def check_signal_columns(columns: list[str], where: str) -> None:
    """Refuse a signals table without ``time``, without data, or with a column gridopt does not take.

    A column that means a signal in another unit (``carbon_lb_per_mwh``,
    ``moer``, ``net_load_mw``) is refused with the name of the column expected
    and, for emissions, how to convert lb/MWh.

    Parameters
    ----------
    columns : list of str
        Header of the table.
    where : str
        File name for messages.
    """
    if "time" not in columns:
        raise ScenarioError(f"{where}: missing column 'time' (required: time and any of {', '.join(SIGNAL_COLUMNS)})")
    for c in columns:
        if c == "time" or c in SIGNAL_COLUMNS:
            continue
        want = _expected(c)
        if want == "carbon_kg_per_kwh":
            raise ScenarioError(
                f"{where}: column {c!r}: emissions are read only as 'carbon_kg_per_kwh' (kg CO2 per kWh, i.e. "
                f"t/MWh): multiply lb/MWh by {LB_PER_MWH_IN_KG_PER_KWH} (divide kg/MWh by 1000) and name the column so"
            )
        if want is not None:
            raise ScenarioError(
                f"{where}: column {c!r}: expected {want!r} ({SIGNAL_BOUNDS[want][2]}); convert the data to that unit "
                "and name the column so"
            )
        raise ScenarioError(f"{where}: unknown column {c!r} (allowed: time, {', '.join(SIGNAL_COLUMNS)})")
    if len(columns) == 1:
        raise ScenarioError(f"{where}: no data column (expected any of {', '.join(SIGNAL_COLUMNS)})")


def check_signal_values(num: pd.DataFrame, where: str) -> None:
    """Refuse a value outside its column's range (:data:`SIGNAL_BOUNDS`), naming the file line.

    ``num`` has numeric columns, index = file lines; NaN (an empty cell) is
    allowed only in ``target_kw`` (a step without a target).
    """
    for c in num.columns:
        lo, hi, unit = SIGNAL_BOUNDS[c]
        v = num[c]
        if c != "target_kw" and v.isna().any():
            raise ScenarioError(f"{where} line {v.isna().idxmax()}: '{c}' is empty")
        bad = (v < lo) | (v > hi)
        if bad.any():
            i = bad.idxmax()
            raise ScenarioError(f"{where} line {i}: '{c}' = {v[i]:g} is outside {lo:g}..{hi:g} {unit}")


def align_signals(num: pd.DataFrame, times: pd.Series, grid: TimeGrid, where: str) -> pd.DataFrame:
    """The signals on ``grid.index`` (stepped or averaged as the site timeseries).

    A step has a ``target_kw`` only if every row that falls in it has one (a
    finer series), or the row it falls in has one (a coarser series); else NaN.

    Parameters
    ----------
    num : DataFrame
        Numeric signal columns, index = file lines.
    times : Series
        tz-aware time of each row.
    grid : TimeGrid
    where : str
        File name for messages.

    Returns
    -------
    DataFrame
        Index ``grid.index``, the columns of ``num``.
    """
    lines = num.index.to_numpy()
    df = num.copy()
    has_target = "target_kw" in df
    if has_target:
        given = df["target_kw"].notna().astype(float)
        df["target_kw"] = df["target_kw"].fillna(0.0)
        df["_target_given"] = given
    df.index = pd.DatetimeIndex(times)
    out = align_to_grid(df, grid, where, lines)
    if has_target:
        out["target_kw"] = out["target_kw"].where(out.pop("_target_given") > 1 - 1e-9)
    return out


def align_limits(num: pd.DataFrame, times: pd.Series, grid: TimeGrid, where: str) -> pd.DataFrame:
    """Limit columns on ``grid.index``: stepped when coarser, the minimum over each step when finer.

    Parameters
    ----------
    num : DataFrame
        ``import_limit_kw`` and/or ``export_limit_kw`` [kW], index = file lines.
    times : Series
        tz-aware time of each row.

    Returns
    -------
    DataFrame on ``grid.index``.
    """
    lines = num.index.to_numpy()
    df = num.copy()
    df.index = pd.DatetimeIndex(times)
    out = align_to_grid(df, grid, where, lines)  # checks order, gaps and coverage
    k = np.floor(grid.steps_float(df.index) + 1e-9).astype(np.int64)
    inside = (k >= 0) & (k < grid.n_steps)
    if inside.sum() > grid.n_steps:  # finer than the step: the lowest limit within each step
        low = df[inside].groupby(k[inside]).min().reindex(range(grid.n_steps))
        out = low.set_axis(grid.index).fillna(out)
    return out


def resolve_events(events: list, grid: TimeGrid, timezone: str, where: str) -> tuple[pd.DataFrame, tuple, list[str]]:
    """Per-step columns of the utility events, the events as records, and warnings.

    Rules: ``start`` and ``end`` are ISO 8601 with the timezone's offset (as the
    scenario's ``start``), ``end`` after ``start``, both on the step grid; a
    window wholly outside the horizon is refused, one partly outside applies to
    the steps inside (with a warning). Two events of the same kind whose windows
    overlap are contradictory and refused.

    Parameters
    ----------
    events : list of ImportCapEvent, ExportRequestEvent, ShiftAwayEvent
        As validated from the YAML.
    grid : TimeGrid
    timezone : str
    where : str
        The YAML's file name for messages.

    Returns
    -------
    columns : DataFrame
        Index ``grid.index``: ``import_cap_kw`` (inf outside caps), ``export_request_kw``,
        ``export_payment_per_kwh``, ``export_penalty_per_kwh``, ``export_request_hard``,
        ``shift_away_price_per_kwh``; only the columns of the kinds present.
    records : tuple of dict
        Per event: ``kind``, ``start``, ``end`` (Timestamps), ``first_step``,
        ``end_step`` (steps ``first_step .. end_step - 1``) and its fields.
    warnings : list of str
    """
    T = grid.n_steps
    warnings: list[str] = []
    records = []
    for i, ev in enumerate(events):
        field = f"{where}: field 'events.{i}"
        start = parse_instant(ev.start, timezone, f"{field}.start'")
        end = parse_instant(ev.end, timezone, f"{field}.end'")
        if end <= start:
            raise ScenarioError(
                f"{field}': {ev.kind} ends ({end.isoformat()}) at or before it starts ({start.isoformat()})"
            )
        pos = grid.steps_float(pd.DatetimeIndex([start, end]))
        for name, p, ts in (("start", pos[0], start), ("end", pos[1], end)):
            if abs(p - round(p)) > 1e-9:
                before = grid.start + pd.Timedelta(minutes=grid.step_minutes * math.floor(p))
                raise ScenarioError(
                    f"{field}.{name}': {ts.isoformat()} is not on the {grid.step_minutes}-minute step grid "
                    f"(steps start at {before.isoformat()} and "
                    f"{(before + pd.Timedelta(minutes=grid.step_minutes)).isoformat()}): an event covers whole steps"
                )
        a, b = int(round(pos[0])), int(round(pos[1]))
        if b <= 0 or a >= T:
            raise ScenarioError(
                f"{field}': the {ev.kind} window {start.isoformat()} to {end.isoformat()} is outside the horizon "
                f"({grid.start.isoformat()} to {grid.end.isoformat()})"
            )
        if a < 0 or b > T:
            warnings.append(
                f"events.{i}: the {ev.kind} window {start.isoformat()} to {end.isoformat()} reaches beyond the "
                "horizon; it applies to the steps inside it"
            )
        rec = {"kind": ev.kind, "start": start, "end": end, "first_step": max(a, 0), "end_step": min(b, T)}
        rec.update(ev.model_dump(exclude={"kind", "start", "end"}))
        records.append(rec)
    for i, r in enumerate(records):
        for j in range(i):
            q = records[j]
            if q["kind"] == r["kind"] and q["start"] < r["end"] and r["start"] < q["end"]:
                raise ScenarioError(
                    f"{where}: field 'events.{j}' and 'events.{i}': two {r['kind']} events overlap from "
                    f"{max(q['start'], r['start']).isoformat()} to {min(q['end'], r['end']).isoformat()}, which is "
                    "contradictory: merge them or make their windows meet end to start"
                )
    cols: dict[str, np.ndarray] = {}
    kinds = {r["kind"] for r in records}
    if "import_cap" in kinds:
        cols["import_cap_kw"] = np.full(T, np.inf)
    if "export_request" in kinds:
        for name in ("export_request_kw", "export_payment_per_kwh", "export_penalty_per_kwh"):
            cols[name] = np.zeros(T)
        cols["export_request_hard"] = np.zeros(T, bool)
    if "shift_away" in kinds:
        cols["shift_away_price_per_kwh"] = np.zeros(T)
    for r in records:
        s = slice(r["first_step"], r["end_step"])
        if r["kind"] == "import_cap":
            cols["import_cap_kw"][s] = r["kw"]
        elif r["kind"] == "export_request":
            cols["export_request_kw"][s] = r["kw"]
            cols["export_payment_per_kwh"][s] = r["payment_per_kwh"]
            cols["export_penalty_per_kwh"][s] = r["penalty_per_kwh"]
            cols["export_request_hard"][s] = r["hard"]
        else:
            cols["shift_away_price_per_kwh"][s] = r["extra_price_per_kwh"]
    return pd.DataFrame(cols, index=grid.index), tuple(records), warnings


def grid_terms(cfg: GridConfig | None) -> GridTerms:
    """The :class:`~gridopt.scenario.GridTerms` of a ``grid:`` block (all zero without one)."""
    if cfg is None:
        return GridTerms()
    return GridTerms(
        carbon_price_per_kg=float(cfg.carbon_price_per_kg),
        carbon_credit_export=bool(cfg.carbon_credit_export),
        peak_weight_per_kw=float(cfg.peak_weight_per_kw),
        valley_fill_weight_per_kw=float(cfg.valley_fill_weight_per_kw),
        tracking_penalty_per_kwh=float(cfg.tracking_penalty_per_kwh),
        tracking=cfg.tracking,
        renewable_use_bonus_per_kwh=float(cfg.renewable_use_bonus_per_kwh),
        emissions_cap_kg=None if cfg.emissions_cap_kg is None else float(cfg.emissions_cap_kg),
        grid_peak_cap_kw=None if cfg.grid_peak_cap_kw is None else float(cfg.grid_peak_cap_kw),
    )


def check_terms(terms: GridTerms, signals: pd.DataFrame | None, where: str) -> list[str]:
    """Refuse a term that needs a signal the scenario lacks; warn about a weight that has nothing to act on.

    Refused: ``tracking: exact`` without ``target_kw``, ``emissions_cap_kg``
    without ``carbon_kg_per_kwh``. Warned: a carbon price, tracking penalty or
    renewable bonus without its signal (the term is 0); a peak or valley-fill
    weight or a grid peak cap without ``net_load_kw`` (the net load is taken
    as 0: the site alone).

    Returns
    -------
    list of str
        Warnings.
    """
    have = set() if signals is None else set(signals.columns)
    if terms.exact_tracking and "target_kw" not in have:
        raise ScenarioError(
            f"{where}: field 'grid.tracking': exact tracking needs a 'target_kw' column in grid.signals"
            + ("" if signals is not None else " (the grid block names no signals file)")
        )
    if terms.exact_tracking and signals["target_kw"].isna().all():
        raise ScenarioError(f"{where}: field 'grid.tracking': exact tracking, but 'target_kw' is empty in every step")
    if terms.emissions_cap_kg is not None and "carbon_kg_per_kwh" not in have:
        raise ScenarioError(
            f"{where}: field 'grid.emissions_cap_kg': a cap on emissions needs a 'carbon_kg_per_kwh' column in "
            "grid.signals"
        )
    out = []
    for weight, column, name in (
        (terms.carbon_price_per_kg, "carbon_kg_per_kwh", "carbon_price_per_kg"),
        (terms.tracking_penalty_per_kwh, "target_kw", "tracking_penalty_per_kwh"),
        (terms.renewable_use_bonus_per_kwh, "renewable_surplus_kw", "renewable_use_bonus_per_kwh"),
    ):
        if weight > 0 and column not in have:
            out.append(f"grid.{name} is set but grid.signals has no '{column}' column: the term is 0")
    if terms.tracking_penalty_per_kwh > 0 and terms.exact_tracking:
        out.append("grid.tracking_penalty_per_kwh has no effect with tracking: exact (the deviation is 0)")
    for on, name in (
        (terms.peak_weight_per_kw > 0, "peak_weight_per_kw"),
        (terms.valley_fill_weight_per_kw > 0, "valley_fill_weight_per_kw"),
        (terms.grid_peak_cap_kw is not None, "grid_peak_cap_kw"),
    ):
        if on and "net_load_kw" not in have:
            out.append(
                f"grid.{name} is set but grid.signals has no 'net_load_kw' column: the net load is taken as 0 "
                "(the site's own import alone)"
            )
    return out


def grid_columns(
    series: pd.DataFrame,
    import_limit_kw: pd.Series | float,
    export_limit_kw: pd.Series | float,
    signals: pd.DataFrame | None,
    events: pd.DataFrame | None,
) -> pd.DataFrame:
    """``series`` with the grid columns of :data:`gridopt.scenario.GRID_SERIES_COLUMNS` that apply.

    ``import_limit_kw(t) = min(limit(t), import_cap_kw(t))``; ``import_price``
    gets the ``shift_away`` extra added. Limits appear as columns only when they
    vary (a timeseries column or an ``import_cap``).

    Parameters
    ----------
    series : DataFrame
        The scenario's prices, base load and PV on the grid.
    import_limit_kw, export_limit_kw : Series or float
        The timeseries column or the site's constant [kW] (``inf`` = none).
    signals : DataFrame or None
        Aligned signals (:func:`align_signals`).
    events : DataFrame or None
        Per-step event columns (:func:`resolve_events`).
    """
    out = series.copy()
    idx = out.index
    cap = events["import_cap_kw"] if events is not None and "import_cap_kw" in events else None
    if cap is not None or isinstance(import_limit_kw, pd.Series):
        imp = pd.Series(import_limit_kw, index=idx, dtype=float)
        out["import_limit_kw"] = imp if cap is None else np.minimum(imp, cap)
    if isinstance(export_limit_kw, pd.Series):
        out["export_limit_kw"] = export_limit_kw.astype(float)
    if signals is not None:
        for c in signals.columns:
            out[c] = signals[c].astype(float)
    if events is not None:
        for c in events.columns:
            if c != "import_cap_kw":
                out[c] = events[c]
        if "shift_away_price_per_kwh" in events:
            out["import_price"] = out["import_price"] + events["shift_away_price_per_kwh"]
    return out
