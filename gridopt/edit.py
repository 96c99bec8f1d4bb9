"""Edit a scenario the way analysts vary it, with the same checks as files get.

A scenario is edited as its YAML-ready ``config`` (paths relative to
``base_dir``) and its tables as read (text columns, see
:func:`gridopt.io.read.read_table`). The functions here are pure: each takes a
config or a table and returns a new one. :func:`apply_edits` ties them
together: it writes changed tables into a work folder and rebuilds the scenario
with :func:`gridopt.io.read.scenario_from_dict`, so an edit is checked exactly
like a file is, and a bad value gets the same kind of message.

>>> cfg = {"site": {"import_limit_kw": 400.0}}
>>> set_grid_limits(cfg, import_limit_kw=None, export_limit_kw=50.0)
{'site': {'export_limit_kw': 50.0}}
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np
import pandas as pd

from .errors import ScenarioError
from .scenario import Scenario, SolverOptions, check_columns, numeric_column
from .timeindex import align_to_grid, horizon_grid, parse_times

#: A price as an edit: a constant per kWh or a daily TOU table ``{"HH:MM": price}``.
PriceSpec = Union[float, dict]
PRICE_COLUMNS = ("import_price", "export_price")
#: Largest price CSV accepted as an edit [bytes].
MAX_PRICE_CSV_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True)
class Edits:
    """What an analyst varies, as target values.

    Start from :func:`current_edits` (the scenario as it is) and change fields
    with :func:`dataclasses.replace`; :func:`apply_edits` changes only what
    differs from the scenario.

    Attributes
    ----------
    import_limit_kw : float or None
        Grid import limit [kW]; None = no limit.
    export_limit_kw : float
        Grid export limit [kW].
    pv_peak_kw : float
        DC peak power of the scenario's ``pv:`` block [kWp]; 0 = no PV block.
    pv_tilt_deg, pv_azimuth_deg : float
        Panel tilt and azimuth [deg] (180 = south).
    pv_latitude, pv_longitude : float or None
        Site location [deg]; needed when PV is added to a scenario without it.
    pv_series_scale : float
        Factor on a ``pv_kw`` column of the time series [-].
    import_price, export_price : float, dict or None
        New price: a constant [currency/kWh] or a daily TOU table; None keeps
        the scenario's.
    price_csv : str or None
        Text of a CSV with ``time`` and ``import_price`` and/or ``export_price``
        (e.g. day-ahead prices); its columns win over the two fields above.
    price_csv_name : str
        The price file's name, for messages.
    demand_charge_per_kw : float
        Demand charge as the tariff states it, per ``tariff.demand_charge_period``
        (prorated to the horizon when that is a day or a month) [currency/kW].
    v2g_share : float
        Share of vehicles able to discharge (V2G) [0..1].
    battery_degradation_cost_per_kwh : float
        Cost per kWh discharged [currency/kWh].
    n_vehicles : int
        Fleet size; more vehicles are copies of the scenario's with their trips
        or sessions (see :func:`scale_fleet`).
    horizon_hours : float
        Length of the plan [h].
    step_minutes : int
        Step length [min].
    time_limit_s : float
        Solver time limit [s].
    mip_rel_gap : float
        Relative gap at which the solver stops [-].
    """

    import_limit_kw: float | None
    export_limit_kw: float
    pv_peak_kw: float
    pv_tilt_deg: float
    pv_azimuth_deg: float
    pv_latitude: float | None
    pv_longitude: float | None
    pv_series_scale: float
    demand_charge_per_kw: float
    v2g_share: float
    battery_degradation_cost_per_kwh: float
    n_vehicles: int
    horizon_hours: float
    step_minutes: int
    time_limit_s: float
    mip_rel_gap: float
    import_price: PriceSpec | None = None
    export_price: PriceSpec | None = None
    price_csv: str | None = None
    price_csv_name: str = "prices.csv"

    def to_json(self) -> str:
        """Canonical JSON text (a cache key: equal edits give equal text)."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True, allow_nan=False)


def current_edits(sc: Scenario) -> Edits:
    """The editable values of ``sc`` as they are."""
    pv = sc.config.get("pv") or {}
    v = sc.vehicles
    return Edits(
        import_limit_kw=None if math.isinf(sc.import_limit_kw) else float(sc.import_limit_kw),
        export_limit_kw=float(sc.export_limit_kw),
        pv_peak_kw=float(pv.get("peak_kw", 0.0)),
        pv_tilt_deg=float(pv.get("tilt_deg", 20.0)),
        pv_azimuth_deg=float(pv.get("azimuth_deg", 180.0)),
        pv_latitude=_opt_float(pv.get("latitude")),
        pv_longitude=_opt_float(pv.get("longitude")),
        pv_series_scale=1.0,
        # the rate as the tariff states it: a monthly charge is prorated again when the scenario is rebuilt
        demand_charge_per_kw=float(
            sc.demand_charge_per_kw if sc.demand_charge_stated_per_kw is None else sc.demand_charge_stated_per_kw
        ),
        v2g_share=float((v["max_discharge_kw"] > 0).mean()) if len(v) else 0.0,
        battery_degradation_cost_per_kwh=float(sc.battery_degradation_cost_per_kwh),
        n_vehicles=int(len(v)),
        horizon_hours=float(sc.config.get("horizon_hours", sc.grid.n_steps * sc.grid.dt_h)),
        step_minutes=int(sc.grid.step_minutes),
        time_limit_s=float(sc.solver.time_limit_s),
        mip_rel_gap=float(sc.solver.mip_rel_gap),
    )


def _opt_float(x) -> float | None:
    return None if x is None else float(x)


# ---------------------------------------------------------------------------
# Config edits (pure: a new dict, the input untouched)
# ---------------------------------------------------------------------------


def set_grid_limits(config: dict, import_limit_kw: float | None, export_limit_kw: float) -> dict:
    """Grid connection limits [kW]; ``import_limit_kw=None`` removes the import limit."""
    cfg = copy.deepcopy(config)
    site = dict(cfg.get("site") or {})
    if import_limit_kw is None:
        site.pop("import_limit_kw", None)
    else:
        site["import_limit_kw"] = float(import_limit_kw)
    site["export_limit_kw"] = float(export_limit_kw)
    cfg["site"] = site
    return cfg


def set_pv(
    config: dict,
    peak_kw: float,
    tilt_deg: float,
    azimuth_deg: float,
    latitude: float | None = None,
    longitude: float | None = None,
) -> dict:
    """Size and orientation of the ``pv:`` block; ``peak_kw=0`` removes it.

    An explicit ``inverter_kw`` keeps its ratio to ``peak_kw``. Adding PV to a
    scenario without a ``pv:`` block needs ``latitude`` and ``longitude``.
    """
    cfg = copy.deepcopy(config)
    if peak_kw <= 0:
        cfg.pop("pv", None)
        return cfg
    pv = dict(cfg.get("pv") or {})
    old_peak = pv.get("peak_kw")
    if pv.get("inverter_kw") is not None and old_peak:
        pv["inverter_kw"] = float(pv["inverter_kw"]) * float(peak_kw) / float(old_peak)
    if latitude is not None:
        pv["latitude"] = float(latitude)
    if longitude is not None:
        pv["longitude"] = float(longitude)
    if "latitude" not in pv or "longitude" not in pv:
        raise ScenarioError("PV: give the site's latitude and longitude to add PV")
    pv.update(peak_kw=float(peak_kw), tilt_deg=float(tilt_deg), azimuth_deg=float(azimuth_deg))
    cfg["pv"] = pv
    return cfg


def set_price(config: dict, column: str, spec: PriceSpec | None) -> dict:
    """Set ``tariff.<column>`` to ``spec``; None removes it.

    A new ``import_price`` replaces a ``tariff_file`` (whose price it would
    override anyway); the file's demand charge is kept as an explicit
    ``demand_charge_per_kw`` by :func:`apply_edits`.
    """
    if column not in PRICE_COLUMNS:
        raise ValueError(f"column must be one of {PRICE_COLUMNS}")
    cfg = copy.deepcopy(config)
    tariff = dict(cfg.get("tariff") or {})
    if spec is None:
        tariff.pop(column, None)
    else:
        tariff[column] = {str(k): float(v) for k, v in spec.items()} if isinstance(spec, dict) else float(spec)
        if column == "import_price":
            tariff.pop("tariff_file", None)
    cfg["tariff"] = tariff
    return cfg


def drop_tariff_file(config: dict) -> dict:
    """``config`` without ``tariff.tariff_file`` (its price is replaced by a time series)."""
    cfg = copy.deepcopy(config)
    tariff = dict(cfg.get("tariff") or {})
    tariff.pop("tariff_file", None)
    cfg["tariff"] = tariff
    return cfg


def set_costs(config: dict, demand_charge_per_kw: float, battery_degradation_cost_per_kwh: float) -> dict:
    """Demand charge [currency/kW] and battery degradation cost [currency/kWh]."""
    cfg = copy.deepcopy(config)
    tariff = dict(cfg.get("tariff") or {})
    tariff["demand_charge_per_kw"] = float(demand_charge_per_kw)
    cfg["tariff"] = tariff
    cfg["battery_degradation_cost_per_kwh"] = float(battery_degradation_cost_per_kwh)
    return cfg


def set_horizon(config: dict, horizon_hours: float, step_minutes: int) -> dict:
    """Length of the plan [h] and its step [min] (replacing a ``horizon`` duration or an ``end``).

    A horizon chosen by hand may leave trips or sessions out on purpose: they are
    still counted and warned about, but never refused
    (``fleet.max_share_outside_horizon: 1.0``).
    """
    cfg = copy.deepcopy(config)
    cfg.pop("horizon", None)
    cfg.pop("end", None)
    cfg["horizon_hours"] = float(horizon_hours)
    cfg["fleet"] = {**(cfg.get("fleet") or {}), "max_share_outside_horizon": 1.0}
    cfg["step_minutes"] = int(step_minutes)
    return cfg


def set_solver(config: dict, time_limit_s: float, mip_rel_gap: float) -> dict:
    """Solver time limit [s] and relative gap [-]."""
    cfg = copy.deepcopy(config)
    cfg["solver"] = {"time_limit_s": float(time_limit_s), "mip_rel_gap": float(mip_rel_gap)}
    return cfg


# ---------------------------------------------------------------------------
# Table edits (pure: raw text tables in, new raw tables out)
# ---------------------------------------------------------------------------


def spread(n: int, k: int) -> np.ndarray:
    """``k`` of ``n`` positions spread evenly (0 <= k <= n), e.g. ``spread(10, 3) = [1, 5, 8]``."""
    if not 0 <= k <= n:
        raise ValueError(f"cannot pick {k} of {n}")
    return np.floor((np.arange(k) + 0.5) * n / k).astype(int) if k else np.zeros(0, dtype=int)


def _ids(table: pd.DataFrame) -> pd.Series:
    return table["vehicle_id"].astype("string").str.strip()


def scale_fleet(
    vehicles: pd.DataFrame,
    trips: pd.DataFrame | None,
    sessions: pd.DataFrame | None,
    n_vehicles: int,
) -> tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame | None]:
    """A fleet of ``n_vehicles`` made from the scenario's vehicles.

    Fewer vehicles keep an even spread of the scenario's (with their trips or
    sessions). More vehicles are whole copies of the fleet plus an even spread
    of further copies; copy ``k`` of vehicle ``BUS-01`` is ``BUS-01#k`` and has
    the same trips or sessions.

    Parameters
    ----------
    vehicles, trips, sessions : DataFrame
        Raw tables (text columns); ``trips``/``sessions`` may be None.
    n_vehicles : int
        Fleet size wanted, at least 1.
    """
    n0 = len(vehicles)
    if int(n_vehicles) != n_vehicles or n_vehicles < 1:
        raise ScenarioError(f"fleet size: at least 1 whole vehicle (got {n_vehicles})")
    n_vehicles = int(n_vehicles)
    full, extra = divmod(n_vehicles, n0)
    picks = [(i, k) for k in range(full) for i in range(n0)] + [(int(i), full) for i in spread(n0, extra)]
    if full == 0:
        picks.sort()
    ids = _ids(vehicles).tolist()
    taken = set(ids)
    rows, new_ids, origin = [], [], []
    for i, k in picks:
        vid = ids[i]
        if k > 0:
            vid = f"{ids[i]}#{k + 1}"
            while vid in taken:
                vid += "#"
            taken.add(vid)
        rows.append(i)
        new_ids.append(vid)
        origin.append(ids[i])
    out_v = vehicles.iloc[rows].copy()
    out_v["vehicle_id"] = new_ids
    out_v.index = np.arange(len(out_v)) + 2

    def events(table):
        if table is None:
            return None
        tid = _ids(table)
        parts = []
        for vid, src in zip(new_ids, origin, strict=True):
            part = table[tid == src].copy()
            part["vehicle_id"] = vid
            parts.append(part)
        out = pd.concat(parts) if parts else table.iloc[:0].copy()
        out.index = np.arange(len(out)) + 2
        return out

    return out_v, events(trips), events(sessions)


def _num_text(x: float) -> str:
    return repr(float(x))


def set_v2g_share(vehicles: pd.DataFrame, share: float) -> pd.DataFrame:
    """Make ``round(share * n)`` vehicles V2G-capable.

    Vehicles that already discharge stay so first (an even spread of them if
    fewer are wanted); further ones, spread evenly over the others, get
    ``max_discharge_kw = max_charge_kw`` (a bidirectional charger of the same
    rating). The rest get ``max_discharge_kw = 0``.
    """
    if not (0.0 <= share <= 1.0) or math.isnan(share):
        raise ScenarioError(f"V2G share must be within 0..1 (got {share})")
    out = vehicles.copy()
    charge = pd.to_numeric(out["max_charge_kw"], errors="coerce").to_numpy(dtype=float)
    discharge = pd.to_numeric(out["max_discharge_kw"], errors="coerce").to_numpy(dtype=float)
    n = len(out)
    want = int(round(share * n))
    v2g = np.flatnonzero(discharge > 0)
    other = np.flatnonzero(~(discharge > 0))
    new = discharge.copy()
    if want >= len(v2g):
        add = other[spread(len(other), want - len(v2g))]
        new[add] = charge[add]
    else:
        keep = v2g[spread(len(v2g), want)]
        drop = np.setdiff1d(v2g, keep)
        new[drop] = 0.0
    changed = new != discharge
    col = out["max_discharge_kw"].astype(object)
    col[changed] = [_num_text(x) for x in new[changed]]
    out["max_discharge_kw"] = col
    return out


def drop_columns(timeseries: pd.DataFrame, columns) -> pd.DataFrame | None:
    """The time series without ``columns``; None when only ``time`` is left."""
    out = timeseries.drop(columns=[c for c in columns if c in timeseries.columns])
    return None if list(out.columns) == ["time"] else out


def scale_column(timeseries: pd.DataFrame, column: str, factor: float) -> pd.DataFrame:
    """Multiply a numeric column of a raw time series by ``factor``."""
    if not (factor >= 0) or math.isinf(factor):
        raise ScenarioError(f"{column}: scale factor must be >= 0 (got {factor})")
    out = timeseries.copy()
    vals = pd.to_numeric(out[column], errors="coerce") * float(factor)
    out[column] = [_num_text(x) for x in vals]
    return out


def _parsed(raw: pd.DataFrame, tz: str, where: str) -> pd.DataFrame:
    times = parse_times(raw["time"], tz, where, "time")
    num = pd.DataFrame({c: numeric_column(raw, c, where) for c in raw.columns if c != "time"})
    num.index = pd.DatetimeIndex(times)
    return num


def _interval(index: pd.DatetimeIndex) -> pd.Timedelta:
    return pd.Series(index).diff().min() if len(index) > 1 else pd.Timedelta(hours=1)


def check_price_table(prices: pd.DataFrame, config: dict, where: str) -> pd.DataFrame:
    """Check a raw price table against the (edited) horizon of ``config``.

    Columns ``time`` and any of ``import_price``, ``export_price``; regular,
    sorted and covering the horizon (the same rules as the scenario's time
    series). Returns the table unchanged; raises :class:`ScenarioError`
    naming ``where`` and the line.
    """
    check_columns(prices, where, ("time",), PRICE_COLUMNS)
    if len(prices.columns) == 1:
        raise ScenarioError(f"{where}: no price column (expected import_price and/or export_price)")
    if prices.empty:
        raise ScenarioError(f"{where}: no rows")
    tz = config["timezone"]
    num = _parsed(prices, tz, where)
    lengths = {k: config.get(k) for k in ("horizon_hours", "horizon", "end")}
    grid, _ = horizon_grid(config["start"], tz, int(config["step_minutes"]), **lengths, where=where)
    align_to_grid(num, grid, where, prices.index.to_numpy())
    return prices


def merge_prices(
    timeseries: pd.DataFrame | None, prices: pd.DataFrame, tz: str, where: str = "timeseries.csv"
) -> pd.DataFrame:
    """One raw time series with the price columns of ``prices`` and the rest of ``timeseries``.

    The two may have different intervals (hourly day-ahead prices, 15-minute
    base load): both are put on the finest common interval over the span both
    cover, each holding its value over its own interval (stepped, as gridopt
    reads a coarse series anyway).
    """
    p = _parsed(prices, tz, "prices")
    if timeseries is None:
        rest = None
    else:
        rest = drop_columns(timeseries, [c for c in p.columns])
    if rest is None:
        out = prices.copy()
        out.index = np.arange(len(out)) + 2
        return out
    r = _parsed(rest, tz, where)
    dp, dr = _interval(p.index), _interval(r.index)
    step = pd.Timedelta(minutes=math.gcd(int(dp.total_seconds() // 60), int(dr.total_seconds() // 60)) or 1)
    begin = max(p.index[0], r.index[0])
    end = min(p.index[-1] + dp, r.index[-1] + dr)
    idx = pd.date_range(begin, end - step, freq=step) if end > begin else pd.DatetimeIndex([], tz=tz)
    merged = pd.concat([r.reindex(idx, method="ffill"), p.reindex(idx, method="ffill")], axis=1)
    out = pd.DataFrame({"time": [t.isoformat() for t in idx]})
    for c in merged.columns:
        out[c] = [_num_text(x) for x in merged[c].to_numpy()]
    out.index = np.arange(len(out)) + 2
    return out


# ---------------------------------------------------------------------------
# TOU tables as text (what an analyst types or pastes)
# ---------------------------------------------------------------------------

_TOU_LINE = re.compile(r"^\s*(\d{1,2}:\d{2})\s*[,;\t ]\s*([-+0-9.eE]+)\s*$")


def parse_tou(text: str, where: str = "TOU table") -> dict[str, float]:
    """A daily TOU table from lines ``HH:MM price`` (comma, semicolon, tab or space between).

    >>> parse_tou("00:00 0.10\\n16:00, 0.40\\n21:00\\t0.10")
    {'00:00': 0.1, '16:00': 0.4, '21:00': 0.1}
    """
    out: dict[str, float] = {}
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = _TOU_LINE.match(line)
        if not m:
            raise ScenarioError(f"{where} line {n}: {line.strip()!r} is not 'HH:MM price' (e.g. '16:00 0.40')")
        hhmm, price = m.groups()
        try:
            value = float(price)
        except ValueError:
            raise ScenarioError(f"{where} line {n}: price {price!r} is not a number") from None
        if not math.isfinite(value):
            raise ScenarioError(f"{where} line {n}: price must be finite")
        h, mi = (int(x) for x in hhmm.split(":"))
        if h > 23 or mi > 59:
            raise ScenarioError(f"{where} line {n}: {hhmm!r} is not a time of day")
        key = f"{h:02d}:{mi:02d}"
        if key in out:
            raise ScenarioError(f"{where} line {n}: {key} is given twice")
        out[key] = value
    if not out:
        raise ScenarioError(f"{where}: no 'HH:MM price' lines")
    return dict(sorted(out.items()))


def tou_text(table: dict) -> str:
    """Text form of a TOU table, one ``HH:MM price`` per line."""
    return "\n".join(f"{k} {float(v):g}" for k, v in sorted(table.items()))


def tou_from_series(price: pd.Series) -> dict[str, float]:
    """The first day of a price series as a TOU table (a row where the price changes)."""
    if price.empty:
        return {"00:00": 0.0}
    day = price[price.index < price.index[0] + pd.Timedelta(days=1)]
    out: dict[str, float] = {}
    last = None
    for t, v in day.items():
        v = round(float(v), 6)
        if v != last:
            out[f"{t.hour:02d}:{t.minute:02d}"] = v
            last = v
    if "00:00" not in out:  # a table must say what holds from midnight
        out = {"00:00": round(float(day.iloc[-1]), 6), **out}
    return dict(sorted(out.items()))


# ---------------------------------------------------------------------------
# Describing and applying edits
# ---------------------------------------------------------------------------


def _price_text(spec) -> str:
    if isinstance(spec, dict):
        return f"TOU table ({len(spec)} periods)"
    return f"{float(spec):g} per kWh"


def describe_changes(before: Edits, after: Edits) -> list[str]:
    """Short phrases for what ``after`` changes, e.g. ``['import limit 300 kW', 'V2G 50% of vehicles']``."""
    out = []
    b, a = before, after
    if a.import_limit_kw != b.import_limit_kw:
        out.append("no import limit" if a.import_limit_kw is None else f"import limit {a.import_limit_kw:g} kW")
    if a.export_limit_kw != b.export_limit_kw:
        out.append(f"export limit {a.export_limit_kw:g} kW")
    if (a.pv_peak_kw, a.pv_tilt_deg, a.pv_azimuth_deg) != (b.pv_peak_kw, b.pv_tilt_deg, b.pv_azimuth_deg):
        out.append(
            "no PV"
            if a.pv_peak_kw <= 0
            else f"PV {a.pv_peak_kw:g} kWp, tilt {a.pv_tilt_deg:g}°, azimuth {a.pv_azimuth_deg:g}°"
        )
    if a.pv_series_scale != b.pv_series_scale:
        out.append(f"PV ×{a.pv_series_scale:g}")
    if a.price_csv is not None:
        out.append("prices from CSV")
    if a.import_price is not None:
        out.append(f"import price {_price_text(a.import_price)}")
    if a.export_price is not None:
        out.append(f"export price {_price_text(a.export_price)}")
    if a.demand_charge_per_kw != b.demand_charge_per_kw:
        out.append(f"demand charge {a.demand_charge_per_kw:g} per kW")
    if a.n_vehicles != b.n_vehicles:
        out.append(f"{a.n_vehicles} vehicles")
    if a.v2g_share != b.v2g_share:
        out.append(f"V2G {100 * a.v2g_share:.0f}% of vehicles")
    if a.battery_degradation_cost_per_kwh != b.battery_degradation_cost_per_kwh:
        out.append(f"degradation {a.battery_degradation_cost_per_kwh:g} per kWh")
    if (a.horizon_hours, a.step_minutes) != (b.horizon_hours, b.step_minutes):
        out.append(f"{a.horizon_hours:g} h in {a.step_minutes}-min steps")
    if a.time_limit_s != b.time_limit_s:
        out.append(f"time limit {a.time_limit_s:g} s")
    if a.mip_rel_gap != b.mip_rel_gap:
        out.append(f"gap {100 * a.mip_rel_gap:g}%")
    return out


def edit_config(config: dict, before: Edits, after: Edits) -> dict:
    """``config`` with the YAML-level fields that ``after`` changes (no tables)."""
    cfg = copy.deepcopy(config)
    b, a = before, after
    if (a.import_limit_kw, a.export_limit_kw) != (b.import_limit_kw, b.export_limit_kw):
        cfg = set_grid_limits(cfg, a.import_limit_kw, a.export_limit_kw)
    pv_before = (b.pv_peak_kw, b.pv_tilt_deg, b.pv_azimuth_deg, b.pv_latitude, b.pv_longitude)
    if (a.pv_peak_kw, a.pv_tilt_deg, a.pv_azimuth_deg, a.pv_latitude, a.pv_longitude) != pv_before:
        cfg = set_pv(cfg, a.pv_peak_kw, a.pv_tilt_deg, a.pv_azimuth_deg, a.pv_latitude, a.pv_longitude)
    for col in PRICE_COLUMNS:
        spec = getattr(a, col)
        if spec is not None:
            cfg = set_price(cfg, col, spec)
    if (
        a.demand_charge_per_kw != b.demand_charge_per_kw
        or a.battery_degradation_cost_per_kwh != b.battery_degradation_cost_per_kwh
    ):
        cfg = set_costs(cfg, a.demand_charge_per_kw, a.battery_degradation_cost_per_kwh)
    if (a.horizon_hours, a.step_minutes) != (b.horizon_hours, b.step_minutes):
        cfg = set_horizon(cfg, a.horizon_hours, a.step_minutes)
    if (a.time_limit_s, a.mip_rel_gap) != (b.time_limit_s, b.mip_rel_gap):
        cfg = set_solver(cfg, a.time_limit_s, a.mip_rel_gap)
    return cfg


def apply_edits(sc: Scenario, edits: Edits, workdir: str | os.PathLike, *, confine: bool = False) -> Scenario:
    """``sc`` with ``edits`` applied, checked like a scenario file.

    Only what differs from :func:`current_edits` is changed. When a table
    changes (fleet size, V2G share, prices or PV in the time series), the edited
    scenario is written with all its files into a new subfolder of ``workdir``
    named by its content, so a folder once written never changes.

    Raises
    ------
    ScenarioError
        With the same kind of message a bad file gets.
    """
    from .io.read import read_table, scenario_from_dict
    from .io.save import get_path, stash_text, write_scenario_files

    before = current_edits(sc)
    where = f"{sc.name} (edited)"
    cfg = edit_config(sc.config, before, edits)
    base = Path(sc.base_dir)
    tables: dict[tuple[str, ...], pd.DataFrame | None] = {}

    def raw(field: tuple[str, ...]) -> pd.DataFrame | None:
        if field in tables:
            return tables[field]
        rel = get_path(sc.config, field)
        return None if rel is None else read_table(base / rel, Path(rel).name)

    # prices that move into or out of the time series
    ts_field = ("timeseries",)
    ts = raw(ts_field)
    ts_cols = set(ts.columns) if ts is not None else set()
    if edits.price_csv is not None:
        pwhere = edits.price_csv_name
        if len(edits.price_csv.encode("utf-8")) > MAX_PRICE_CSV_BYTES:
            raise ScenarioError(f"{pwhere}: larger than {MAX_PRICE_CSV_BYTES >> 20} MB")
        prices = read_table(stash_text(workdir, edits.price_csv, pwhere), pwhere)
        check_price_table(prices, cfg, pwhere)
        for col in PRICE_COLUMNS:
            if col in prices.columns:
                cfg = set_price(cfg, col, None)
        if "import_price" in prices.columns:
            cfg = drop_tariff_file(cfg)
        tables[ts_field] = merge_prices(ts, prices, cfg["timezone"])
    else:
        replaced = [c for c in PRICE_COLUMNS if getattr(edits, c) is not None and c in ts_cols]
        if replaced:
            tables[ts_field] = drop_columns(ts, replaced)
    if edits.pv_series_scale != before.pv_series_scale and "pv_kw" in ts_cols:
        tables[ts_field] = scale_column(raw(ts_field), "pv_kw", edits.pv_series_scale)

    # the fleet
    fleet_fields = (("fleet", "vehicles"), ("fleet", "trips"), ("fleet", "sessions"))
    fleet_edit = edits.n_vehicles != before.n_vehicles or abs(edits.v2g_share - before.v2g_share) > 1e-12
    if fleet_edit and (raw(fleet_fields[0]) is None or len(raw(fleet_fields[0])) != before.n_vehicles):
        raise ScenarioError(
            f"{where}: fleet size and V2G share edit vehicles.csv, but this scenario's visitors (energy_kwh "
            "sessions of vehicles not in it) are not there: edit its sessions file instead"
        )
    if edits.n_vehicles != before.n_vehicles:
        v, t, s = scale_fleet(*(raw(f) for f in fleet_fields), edits.n_vehicles)
        tables.update({fleet_fields[0]: v, fleet_fields[1]: t, fleet_fields[2]: s})
    if abs(edits.v2g_share - before.v2g_share) > 1e-12:
        tables[fleet_fields[0]] = set_v2g_share(raw(fleet_fields[0]), edits.v2g_share)

    # a tariff file that no longer sets the price still set the demand charge: keep it explicit
    if (sc.config.get("tariff") or {}).get("tariff_file") and not (cfg.get("tariff") or {}).get("tariff_file"):
        cfg = set_costs(cfg, edits.demand_charge_per_kw, edits.battery_degradation_cost_per_kwh)

    if not tables:
        return scenario_from_dict(cfg, base, where, confine=confine)
    if ts_field in tables and tables[ts_field] is None:
        cfg.pop("timeseries", None)
    texts = {f: df.to_csv(index=False) for f, df in tables.items() if df is not None}
    folder, new_cfg = write_scenario_files(cfg, base, workdir, texts)
    return scenario_from_dict(new_cfg, folder, where, confine=True)


# ---------------------------------------------------------------------------
# Scenario.replace: any field, checked as a file is
# ---------------------------------------------------------------------------

#: Fields of the ``site:`` block that :func:`replace_scenario` takes by their own name.
SITE_KEYS = (
    "import_limit_kw",
    "export_limit_kw",
    "base_load_kw",
    "pv_curtailable",
    "switching_penalty_per_kw",
    "prefer_early_charging",
)
#: Fields of the ``tariff:`` block taken by their own name.
TARIFF_KEYS = ("import_price", "export_price", "demand_charge_per_kw", "demand_charge_period", "tariff_file")
#: Fields of the ``solver:`` block taken by their own name.
SOLVER_KEYS = ("time_limit_s", "mip_rel_gap")
#: Fields of the ``fleet:`` block taken by their own name (the three tables as file paths).
FLEET_KEYS = ("vehicles", "trips", "sessions", "max_share_outside_horizon", "session_defaults")
#: Fields of the ``grid:`` block taken by their own name (``signals`` is the grid signals CSV).
GRID_KEYS = (
    "signals",
    "carbon_price_per_kg",
    "carbon_credit_export",
    "peak_weight_per_kw",
    "valley_fill_weight_per_kw",
    "tracking_penalty_per_kwh",
    "tracking",
    "renewable_use_bonus_per_kwh",
    "emissions_cap_kg",
    "grid_peak_cap_kw",
)
#: Fields of the ``pv:`` block, as ``pv_<field>`` (``pv_peak_kw=0`` removes the block).
PV_KEYS = (
    "pv_latitude",
    "pv_longitude",
    "pv_peak_kw",
    "pv_tilt_deg",
    "pv_azimuth_deg",
    "pv_altitude_m",
    "pv_inverter_kw",
    "pv_loss_fraction",
    "pv_weather",
)
#: Top-level YAML fields.
TOP_KEYS = (
    "name",
    "description",
    "currency",
    "timezone",
    "start",
    "horizon_hours",
    "horizon",
    "end",
    "date_format",
    "step_minutes",
    "site",
    "timeseries",
    "pv",
    "tariff",
    "battery_degradation_cost_per_kwh",
    "unmet_energy_penalty_per_kwh",
    "fleet",
    "solver",
    "grid",
    "events",
)
#: Edits that change tables (see :class:`Edits`): V2G share [0..1], fleet size, a price CSV
#: (``time`` + ``import_price``/``export_price``, e.g. day-ahead prices) merged into the time
#: series, and a factor on the time series' ``pv_kw``.
TABLE_KEYS = ("v2g_share", "n_vehicles", "price_file", "pv_series_scale")
#: Keys whose values are file paths (relative paths are taken from the current folder).
PATH_KEYS = ("timeseries", "tariff_file", "vehicles", "trips", "sessions", "signals", "pv_weather", "price_file")
#: Every key :func:`replace_scenario` accepts.
REPLACE_KEYS = tuple(
    dict.fromkeys(TOP_KEYS + SITE_KEYS + TARIFF_KEYS + SOLVER_KEYS + FLEET_KEYS + GRID_KEYS + PV_KEYS + TABLE_KEYS)
)
#: Fields of :class:`~gridopt.scenario.Scenario` that are built from the files, with what to change instead.
_BUILT = {
    "grid": "start, horizon_hours (or horizon, end) and step_minutes",
    "series": "timeseries (a CSV path), import_price, export_price, base_load_kw or price_file",
    "grid_terms": "the grid weights (carbon_price_per_kg=..., peak_weight_per_kw=..., ...) or grid={...}",
    "config": "the fields themselves",
    "base_dir": "paths (file fields take absolute paths or paths from the current folder)",
    "warnings": "nothing: warnings follow from the inputs",
}


def _default_workdir() -> Path:
    """Folder for the tables that table edits write: ``$GRIDOPT_EDIT_DIR`` or ``<tmp>/gridopt-edits-<uid>``."""
    import tempfile

    if os.environ.get("GRIDOPT_EDIT_DIR"):
        return Path(os.environ["GRIDOPT_EDIT_DIR"])
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    return Path(tempfile.gettempdir()) / f"gridopt-edits-{uid}"


def _as_path(value, where: str, key: str) -> str:
    if isinstance(value, pd.DataFrame):
        raise ScenarioError(
            f"{where}: field '{key}' takes a file path (a CSV as the YAML names it), not a DataFrame: write the "
            f"table with .to_csv() and give its path, or use v2g_share= / n_vehicles= for the fleet"
        )
    if not isinstance(value, (str, os.PathLike)):
        raise ScenarioError(f"{where}: field '{key}': must be a file path (got {value!r})")
    return str(Path(value).expanduser().absolute())


def _strict_number(value, where: str, key: str, *, integer: bool = False) -> float:
    """A number as the YAML reads one: not a boolean, not text, finite."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        kind = "a boolean" if isinstance(value, bool) else "text" if isinstance(value, str) else type(value).__name__
        raise ScenarioError(f"{where}: field '{key}': must be a number, not {kind} (got {value!r})")
    if not math.isfinite(float(value)):
        raise ScenarioError(f"{where}: field '{key}': must be a finite number (got {value!r})")
    if integer and float(value) != int(value):
        raise ScenarioError(f"{where}: field '{key}': must be a whole number (got {value!r})")
    return float(value)


def _plain(value):
    """numpy scalars as Python ones, so that pydantic sees what a YAML file would give."""
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _set(cfg: dict, block: str | None, key: str, value) -> None:
    """``cfg[block][key] = value`` (None removes the key, as a YAML file that leaves it out)."""
    if block is None:
        node = cfg
    else:
        node = cfg.get(block)
        node = dict(node) if isinstance(node, dict) else {}
        cfg[block] = node
    if value is None:
        node.pop(key, None)
    else:
        node[key] = value


def replace_config(config: dict, changes: dict, where: str = "replace") -> dict:
    """``config`` with the YAML-level ``changes`` (see :func:`replace_scenario`), unchecked.

    Pure: a new dict. ``None`` removes a field, as a YAML file that leaves it
    out (``import_limit_kw=None``: no import limit). Setting one of
    ``horizon_hours``, ``horizon`` or ``end`` removes the other two.

    >>> replace_config({"site": {"import_limit_kw": 400}, "horizon": "24h"}, {"horizon_hours": 48})
    {'site': {'import_limit_kw': 400}, 'horizon_hours': 48}
    """
    cfg = copy.deepcopy(config)
    lengths = [k for k in ("horizon_hours", "horizon", "end") if changes.get(k) is not None]
    if lengths:
        for k in ("horizon_hours", "horizon", "end"):
            if k not in changes:
                cfg.pop(k, None)
    for key, value in changes.items():
        value = _plain(value)
        if key in PATH_KEYS and value is not None:
            value = _as_path(value, where, key)
        if key == "solver" and isinstance(value, SolverOptions):
            value = {"time_limit_s": value.time_limit_s, "mip_rel_gap": value.mip_rel_gap}
        if key in TOP_KEYS and key not in FLEET_KEYS and key != "timeseries":
            _set(cfg, None, key, value)
        elif key == "timeseries":
            _set(cfg, None, key, value)
        elif key in SITE_KEYS:
            _set(cfg, "site", key, value)
        elif key in TARIFF_KEYS:
            _set(cfg, "tariff", key, value)
        elif key in SOLVER_KEYS:
            _set(cfg, "solver", key, value)
        elif key in FLEET_KEYS:
            _set(cfg, "fleet", key, value)
        elif key in GRID_KEYS:
            _set(cfg, "grid", key, value)
        elif key in PV_KEYS:
            field_name = key[len("pv_") :]
            if key == "pv_peak_kw" and value is not None and not isinstance(value, bool) and value == 0:
                cfg.pop("pv", None)
            else:
                _set(cfg, "pv", field_name, value)
        else:
            raise ScenarioError(f"{where}: unknown field {key!r}")
    if cfg.get("site") == {}:
        cfg.pop("site")
    return cfg


def c_in_series(sc: Scenario, columns) -> bool:
    """Whether the scenario's time series file has any of ``columns``."""
    from .io.read import read_table
    from .io.save import get_path

    rel = get_path(sc.config, ("timeseries",))
    if rel is None:
        return False
    raw = read_table(Path(sc.base_dir) / rel, Path(rel).name)
    return any(c in raw.columns for c in columns)


def replace_scenario(sc: Scenario, changes: dict, workdir: str | os.PathLike | None = None) -> Scenario:
    """``sc`` with ``changes``, checked exactly like a scenario file.

    The changes are written into the scenario's YAML-ready ``config``, which is
    then read again by :func:`gridopt.io.read.scenario_from_dict`: every value
    gets the checks and the messages a YAML file gets (types, ranges, units,
    the horizon, the tables against the new horizon). Table edits
    (:data:`TABLE_KEYS`) then go through :func:`apply_edits`.

    Parameters
    ----------
    sc : Scenario
    changes : dict
        Field names as in the YAML, without their block: the top-level fields
        (``name``, ``start``, ``horizon_hours``/``horizon``/``end``,
        ``step_minutes``, ``timeseries``, ``battery_degradation_cost_per_kwh``,
        ``unmet_energy_penalty_per_kwh``, whole blocks ``site``, ``tariff``,
        ``pv``, ``fleet``, ``grid``, ``events``; ``solver`` as a dict or
        :class:`~gridopt.scenario.SolverOptions`), the fields of ``site``
        (``import_limit_kw`` [kW], ...), ``tariff`` (``import_price`` a constant
        or TOU table, which replaces a price column of the time series,
        ``tariff_file``, ``demand_charge_per_kw``, ...),
        ``solver`` (``time_limit_s`` [s], ``mip_rel_gap``), ``fleet``
        (``vehicles``, ``trips``, ``sessions`` as CSV paths,
        ``max_share_outside_horizon``) and ``grid`` (every weight and cap,
        ``signals``), ``pv_<field>`` for the ``pv:`` block (``pv_peak_kw=0``
        removes it), and the table edits ``v2g_share`` [0..1], ``n_vehicles``,
        ``price_file`` (a CSV of ``time`` and ``import_price``/``export_price``)
        and ``pv_series_scale``. ``None`` removes a field where the YAML may
        leave it out (``import_limit_kw=None``: no limit).
    workdir : path-like, optional
        Where table edits write the edited tables (a subfolder per content,
        reused); default ``$GRIDOPT_EDIT_DIR`` or ``<tmp>/gridopt-edits-<uid>``.

    Returns
    -------
    Scenario

    Raises
    ------
    ScenarioError
        With the message a YAML file with the same value gets, or naming the
        field that cannot be replaced and what to change instead.
    """
    from .io.read import scenario_from_dict

    where = f"{sc.name} (replace)"
    if not changes:
        return sc
    for key, value in changes.items():
        if key in _BUILT:
            raise ScenarioError(f"{where}: field {key!r} is built from the scenario's files; change {_BUILT[key]}")
        if key == "events" and value is not None and not isinstance(value, (list, tuple)):
            raise ScenarioError(f"{where}: field 'events': must be a list of events as the YAML gives them")
        if key in ("vehicles", "trips", "sessions") and value is not None:
            _as_path(value, where, key)  # a DataFrame is refused with what to do instead
        if key not in REPLACE_KEYS:
            raise ScenarioError(
                f"{where}: unknown field {key!r}; replace takes the YAML's fields (import_limit_kw, step_minutes, "
                f"horizon_hours, import_price, time_limit_s, ...) and {', '.join(TABLE_KEYS)}"
            )
    yaml_changes = {k: v for k, v in changes.items() if k not in TABLE_KEYS}
    table_changes = {k: v for k, v in changes.items() if k in TABLE_KEYS}
    out = sc
    if yaml_changes:
        if not sc.config:
            raise ScenarioError(f"{where}: this scenario was built in code without a config; load it from a file")
        cfg = replace_config(sc.config, yaml_changes, where)
        out = scenario_from_dict(cfg, sc.base_dir, where)
    # a price given here replaces the time series' price column (which would win over the tariff)
    prices = {c: yaml_changes[c] for c in PRICE_COLUMNS if yaml_changes.get(c) is not None}
    if prices and c_in_series(out, prices):
        table_changes = {**table_changes, **prices}
    if table_changes:
        edits = current_edits(out)
        new: dict = {}
        for key, value in table_changes.items():
            if value is None:
                raise ScenarioError(f"{where}: field {key!r} cannot be None")
            if key == "v2g_share":
                new["v2g_share"] = _strict_number(value, where, key)
                if not 0.0 <= new["v2g_share"] <= 1.0:
                    raise ScenarioError(f"{where}: field 'v2g_share': must be within 0..1 (got {value!r})")
            elif key == "n_vehicles":
                new["n_vehicles"] = int(_strict_number(value, where, key, integer=True))
                if new["n_vehicles"] < 1:
                    raise ScenarioError(f"{where}: field 'n_vehicles': must be at least 1 (got {value!r})")
            elif key in PRICE_COLUMNS:
                new[key] = _plain(value)
            elif key == "pv_series_scale":
                new["pv_series_scale"] = _strict_number(value, where, key)
            elif key == "price_file":
                path = Path(_as_path(value, where, key))
                if not path.is_file():
                    raise ScenarioError(f"{where}: field 'price_file': file {str(value)!r} not found")
                if path.stat().st_size > MAX_PRICE_CSV_BYTES:
                    raise ScenarioError(f"{path.name}: larger than {MAX_PRICE_CSV_BYTES >> 20} MB")
                try:
                    text = path.read_text(encoding="utf-8-sig")
                except UnicodeDecodeError:
                    raise ScenarioError(f"{path.name}: not UTF-8 text") from None
                new["price_csv"], new["price_csv_name"] = text, path.name
        if "pv_series_scale" in new and "pv_kw" not in out.series.columns:
            raise ScenarioError(f"{where}: field 'pv_series_scale': the time series has no pv_kw column")
        out = apply_edits(out, dataclasses.replace(edits, **new), workdir or _default_workdir())
    if out is not sc and getattr(sc, "soft_checkpoints", None) is not None:  # Python-level, not in the config
        out = dataclasses.replace(out, soft_checkpoints=sc.soft_checkpoints)
    return out
