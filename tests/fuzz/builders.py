"""Small valid scenarios, and rendering them with their mutations into files.

A :class:`Case` is a :class:`Base` (one of four small valid scenarios: trips,
sessions, trips and a visitor's session, or trips with a time series, a TOU
tariff and clear-sky PV; 4 h of 15-minute steps, 1-3 vehicles, on a normal or a
daylight-saving day) and a tuple of mutations (:mod:`mutations`).
:func:`render` turns a case into files (YAML, CSV, JSON) as bytes, plus the
expectations that follow from the mutations (input that must be refused, data
that must not be dropped silently).

Mutations act in four phases, in this order whatever order they were drawn in:
``config`` (the YAML data), ``table`` (CSV cells, rows and columns), ``text``
(the YAML text: duplicate keys, raw tokens) and ``bytes`` (encodings,
compression, damage). Indices into tables wrap around, so any drawn integer is
a valid target and hypothesis can shrink freely.
"""

from __future__ import annotations

import csv
import io
import math
import re
import zoneinfo
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import yaml

YAML_NAME = "scenario.yaml"

#: (timezone, day): a normal day and daylight-saving days in several zones.
SETUPS = (
    ("Europe/Amsterdam", "2026-06-15"),
    ("Europe/Amsterdam", "2026-03-29"),  # 02:00 -> 03:00
    ("Europe/Amsterdam", "2026-10-25"),  # 03:00 -> 02:00
    ("America/New_York", "2026-03-08"),
    ("America/New_York", "2026-11-01"),
    ("Australia/Lord_Howe", "2026-04-05"),  # half-hour DST change
    ("Asia/Kolkata", "2026-06-15"),
    ("UTC", "2026-06-15"),
)

#: YAML paths whose value is a number (a bool there must be refused).
NUMERIC_PATHS = (
    ("horizon_hours",),
    ("step_minutes",),
    ("site", "import_limit_kw"),
    ("site", "export_limit_kw"),
    ("site", "base_load_kw"),
    ("pv", "latitude"),
    ("pv", "longitude"),
    ("pv", "peak_kw"),
    ("pv", "tilt_deg"),
    ("pv", "azimuth_deg"),
    ("pv", "altitude_m"),
    ("pv", "inverter_kw"),
    ("pv", "loss_fraction"),
    ("tariff", "import_price"),
    ("tariff", "export_price"),
    ("tariff", "demand_charge_per_kw"),
    ("battery_degradation_cost_per_kwh",),
    ("unmet_energy_penalty_per_kwh",),
    ("solver", "time_limit_s"),
    ("solver", "mip_rel_gap"),
    ("fleet", "session_defaults", "max_charge_kw"),
    ("fleet", "session_defaults", "min_charge_kw"),
    ("fleet", "session_defaults", "charge_efficiency"),
    ("fleet", "max_share_outside_horizon"),
    ("grid", "carbon_price_per_kg"),
    ("grid", "peak_weight_per_kw"),
    ("grid", "valley_fill_weight_per_kw"),
    ("grid", "tracking_penalty_per_kwh"),
    ("grid", "renewable_use_bonus_per_kwh"),
    ("grid", "emissions_cap_kg"),
    ("grid", "grid_peak_cap_kw"),
)
OTHER_PATHS = (
    ("name",),
    ("description",),
    ("timezone",),
    ("start",),
    ("site",),
    ("site", "pv_curtailable"),
    ("timeseries",),
    ("pv",),
    ("pv", "weather"),
    ("tariff",),
    ("tariff", "tariff_file"),
    ("fleet",),
    ("fleet", "vehicles"),
    ("fleet", "trips"),
    ("fleet", "sessions"),
    ("fleet", "session_defaults"),
    ("solver",),
    ("currency",),
    ("horizon",),
    ("end",),
    ("date_format",),
    ("tariff", "demand_charge_period"),
    ("grid",),
    ("grid", "signals"),
    ("grid", "tracking"),
    ("grid", "carbon_credit_export"),
    ("events",),
)
PATHS = NUMERIC_PATHS + OTHER_PATHS
#: Column names of the tables gridopt reads.
TABLE_COLUMNS = (
    "vehicle_id battery_kwh max_charge_kw max_discharge_kw min_soc max_soc initial_soc final_soc charge_efficiency "
    "discharge_efficiency min_charge_kw model departure arrival energy_kwh departure_soc trip_id arrival_soc "
    "target_soc session_id station_id carbon_kg_per_kwh renewable_surplus_kw net_load_kw target_kw time import_price export_price base_load_kw pv_kw ghi dni dhi temp_air wind_speed"
).split()
#: Scalars YAML 1.1 reads as booleans.
YAML_BOOLS = {"yes", "no", "on", "off", "true", "false", "y", "n", "True", "False", "YES", "No", "ON", "Off"}
#: Zones whose meaning depends on the machine.
MACHINE_ZONES = {"localtime", "posixrules", "Factory"}


# ---------------------------------------------------------------------------
# The spec being mutated
# ---------------------------------------------------------------------------


@dataclass
class Table:
    """A CSV table as text cells."""

    header: list[str]
    rows: list[list[str]]

    def text(self) -> str:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(self.header)
        w.writerows(self.rows)
        return buf.getvalue()


@dataclass
class Spec:
    """Everything a case writes, before rendering."""

    config: dict
    tables: dict[str, Table]
    start: pd.Timestamp
    zone: str
    json_files: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)  # placeholder -> raw YAML text
    text_edits: list = field(default_factory=list)  # functions str -> str on the YAML text
    byte_edits: dict[str, list] = field(default_factory=dict)  # file -> functions bytes -> bytes
    dump: dict = field(default_factory=lambda: {"sort_keys": False, "default_flow_style": False})
    expect_refusal: list[tuple[str, str]] = field(default_factory=list)  # (file, "category: detail")
    damaged: set[str] = field(default_factory=set)  # files whose content an edit may have cut

    def raw(self, text: str) -> str:
        """A placeholder that renders as the raw YAML ``text``."""
        token = f"__RAW{len(self.tokens)}__"
        self.tokens[token] = text
        return token


@dataclass(frozen=True)
class Base:
    """One of the four small valid scenarios."""

    #: "trips" | "sessions" | "mixed" (trips and a visitor's session) | "energy" (ACN-style energy_kwh
    #: sessions of visitors, no vehicles.csv) | "grid" (trips, grid signals and utility events) | "pv_tou"
    kind: str = "trips"
    vehicles: int = 1
    setup: int = 0  # index into SETUPS
    hour: int = 0  # local start hour
    v2g: bool = False
    min_charge: bool = False
    series_minutes: int = 60  # interval of the timeseries CSV (pv_tou)


@dataclass(frozen=True)
class Case:
    base: Base
    mutations: tuple = ()


def at(spec: Spec, hours: float) -> str:
    """ISO 8601 time with the zone's offset, ``hours`` after the start."""
    return (spec.start + pd.Timedelta(hours=hours)).tz_convert(spec.zone).isoformat()


def local_start(zone: str, day: str, hour: int) -> pd.Timestamp:
    naive = pd.Timestamp(f"{day}T{hour:02d}:00:00")
    return naive.tz_localize(zone, ambiguous=True, nonexistent="shift_forward")


def _num(x: float) -> str:
    return f"{x:g}"


def build(base: Base) -> Spec:
    """The valid scenario of ``base`` (4 h of 15-minute steps)."""
    zone, day = SETUPS[base.setup % len(SETUPS)]
    start = local_start(zone, day, base.hour)
    n = max(1, min(3, base.vehicles))
    cfg: dict[str, Any] = {
        "name": f"fuzz-{base.kind}",
        "timezone": zone,
        "start": start.isoformat(),
        "horizon_hours": 4,
        "step_minutes": 15,
        "site": {"import_limit_kw": 60, "export_limit_kw": 20, "base_load_kw": 2},
        "tariff": {"import_price": 0.25, "export_price": 0.05},
        "fleet": {"vehicles": "vehicles.csv"},
        "solver": {"time_limit_s": 10, "mip_rel_gap": 0.0001},
    }
    spec = Spec(config=cfg, tables={}, start=start, zone=zone)
    # fleet vehicles (trips) and visitors (sessions); "mixed" has both kinds of vehicle
    fleet_ids = [] if base.kind in ("sessions", "energy") else [f"EV{i + 1}" for i in range(n)]
    visitor_ids = {"sessions": [f"EV{i + 1}" for i in range(n)], "mixed": ["V1"]}.get(base.kind, [])
    header = ["vehicle_id", "battery_kwh", "max_charge_kw", "max_discharge_kw", "min_soc", "max_soc"]
    header += ["initial_soc", "final_soc"] if fleet_ids else []
    header += ["charge_efficiency", "discharge_efficiency", "min_charge_kw"]
    rows = []
    for i, vid in enumerate(fleet_ids + visitor_ids):
        row = [vid, "50", "11", "7" if base.v2g and i % 2 == 0 else "0", "0.1", "0.95"]
        if fleet_ids:
            row += ["0.4", "0.6" if i == 0 else ""] if vid in fleet_ids else ["", ""]
        row += ["0.95", "0.9", "1.4" if base.min_charge else "0"]
        rows.append(row)
    spec.tables["vehicles.csv"] = Table(header, rows)
    if visitor_ids:
        spec.tables["sessions.csv"] = Table(
            ["vehicle_id", "arrival", "departure", "arrival_soc", "target_soc", "session_id"],
            [
                [vid, at(spec, 0.25 * i), at(spec, 3 + 0.25 * i), _num(0.2 + 0.1 * i), "0.8", f"S{i + 1}"]
                for i, vid in enumerate(visitor_ids)
            ],
        )
        cfg["fleet"]["sessions"] = "sessions.csv"
    if fleet_ids:
        spec.tables["trips.csv"] = Table(
            ["vehicle_id", "departure", "arrival", "energy_kwh", "trip_id"],
            [
                [vid, at(spec, 0.75 + 0.5 * i), at(spec, 2.25 + 0.5 * i), _num(5 + 2 * i), f"T{i + 1}"]
                for i, vid in enumerate(fleet_ids)
            ],
        )
        cfg["fleet"]["trips"] = "trips.csv"
    if base.kind == "energy":
        del cfg["fleet"]["vehicles"], spec.tables["vehicles.csv"]
        spec.tables["sessions.csv"] = Table(
            ["session_id", "station_id", "arrival", "departure", "energy_kwh"],
            [
                [f"S{i + 1}", f"CS-{i + 1}", at(spec, 0.25 * i), at(spec, 2.5 + 0.5 * i), _num(4 + 3.5 * i)]
                for i in range(n)
            ],
        )
        cfg["fleet"]["sessions"] = "sessions.csv"
        cfg["fleet"]["session_defaults"] = {"max_charge_kw": 7.4, "min_charge_kw": 1.4, "charge_efficiency": 1.0}
    if base.kind == "grid":
        k_max = 4 * 60 // base.series_minutes if base.series_minutes in (15, 60) else 16
        step_h = base.series_minutes / 60 if base.series_minutes in (15, 60) else 0.25
        spec.tables["grid_signals.csv"] = Table(
            ["time", "carbon_kg_per_kwh", "renewable_surplus_kw", "net_load_kw", "target_kw"],
            [
                [
                    at(spec, k * step_h),
                    _num(0.2 + 0.05 * (k % 4)),
                    _num(10 * (k % 3)),
                    _num(500 + 40 * k),
                    "" if k % 2 else "5",
                ]
                for k in range(k_max)
            ],
        )
        cfg["grid"] = {
            "signals": "grid_signals.csv",
            "carbon_price_per_kg": 0.05,
            "peak_weight_per_kw": 0.01,
            "tracking_penalty_per_kwh": 0.1,
            "renewable_use_bonus_per_kwh": 0.02,
        }
        cfg["events"] = [
            {"kind": "import_cap", "start": at(spec, 1), "end": at(spec, 2), "kw": 40},
            {
                "kind": "export_request",
                "start": at(spec, 2),
                "end": at(spec, 3),
                "kw": 5,
                "payment_per_kwh": 0.5,
                "penalty_per_kwh": 2.0,
            },
            {"kind": "shift_away", "start": at(spec, 0.5), "end": at(spec, 1.5), "extra_price_per_kwh": 0.3},
        ]
    if base.kind == "pv_tou":
        step_h = (15 if base.series_minutes < 60 else 60) / 60
        k_max = math.ceil(4 / step_h)
        spec.tables["timeseries.csv"] = Table(
            ["time", "export_price", "base_load_kw"],
            [[at(spec, k * step_h), _num(0.04 + 0.01 * (k % 3)), _num(2 + k % 4)] for k in range(k_max)],
        )
        cfg["timeseries"] = "timeseries.csv"
        del cfg["site"]["base_load_kw"]
        cfg["tariff"] = {"import_price": {"00:00": 0.12, "07:00": 0.3, "21:00": 0.12}, "export_price": 0.05}
        cfg["pv"] = {"latitude": 52.37, "longitude": 4.9, "peak_kw": 15, "tilt_deg": 30, "azimuth_deg": 180}
        # the timeseries' export_price wins over the tariff's: say so once, not as noise
        del cfg["tariff"]["export_price"]
    return spec


# ---------------------------------------------------------------------------
# Helpers for mutations
# ---------------------------------------------------------------------------


def get_path(cfg: dict, path: tuple):
    node: Any = cfg
    for k in path:
        if not isinstance(node, dict) or k not in node:
            return None
        node = node[k]
    return node


def set_path(cfg: dict, path: tuple, value) -> None:
    node = cfg
    for k in path[:-1]:
        if not isinstance(node.get(k), dict):
            node[k] = {}
        node = node[k]
    node[path[-1]] = value


def del_path(cfg: dict, path: tuple) -> None:
    node = get_path(cfg, path[:-1]) if len(path) > 1 else cfg
    if isinstance(node, dict):
        node.pop(path[-1], None)


def table_at(spec: Spec, index: int) -> tuple[str, Table] | None:
    names = sorted(spec.tables)
    if not names:
        return None
    name = names[index % len(names)]
    return name, spec.tables[name]


def file_at(spec: Spec, index: int) -> str:
    names = [YAML_NAME, *sorted(spec.tables), *sorted(spec.json_files)]
    return names[index % len(names)]


PHASES = ("config", "table", "text", "bytes")


# ---------------------------------------------------------------------------
# Rendering and expectations
# ---------------------------------------------------------------------------


@dataclass
class Rendered:
    files: dict[str, bytes]
    expect_refusal: list[str]  # "category: detail"
    outside_events: list[str]


def _ambiguous_values(cfg: dict, spec: Spec) -> list[tuple[str, str]]:
    """Values that must be refused: a bool or a non-finite number for a number, a machine-dependent zone."""
    out = []
    for p in NUMERIC_PATHS:
        v = get_path(cfg, p)
        raw = spec.tokens.get(v, "").strip() if isinstance(v, str) else ""
        if isinstance(v, bool) or raw in YAML_BOOLS:
            out.append((YAML_NAME, f"bool given for a number: {'.'.join(p)}"))
        elif (isinstance(v, float) and not math.isfinite(v)) or any(x in raw.lower() for x in (".nan", ".inf")):
            out.append((YAML_NAME, f"non-finite number: {'.'.join(p)}"))
    tz = cfg.get("timezone")
    if isinstance(tz, str) and tz in MACHINE_ZONES:
        out.append((YAML_NAME, f"machine-dependent timezone: {tz!r}"))
    return out


def _zone(name) -> zoneinfo.ZoneInfo | None:
    try:
        return zoneinfo.ZoneInfo(str(name))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        return None


def _start_offset_mismatch(cfg: dict, spec: Spec) -> list[tuple[str, str]]:
    """``start`` (or ``end``) with a UTC offset that is not the timezone's at that instant."""
    tz = cfg.get("timezone")
    if not isinstance(tz, str) or _zone(tz) is None or tz in MACHINE_ZONES:
        return []
    out = []
    for key in ("start", "end"):
        value = cfg.get(key)
        if not isinstance(value, str) or value in spec.tokens:
            continue
        try:
            ts = pd.Timestamp(value)
        except (ValueError, TypeError, OverflowError):
            continue
        if ts is pd.NaT or ts.tzinfo is None or not (1900 <= ts.year <= 2200):
            continue
        if ts.utcoffset() != ts.tz_convert(tz).utcoffset():
            out.append((YAML_NAME, f"start offset is not the zone's: {key} {value} in {tz}"))
    return out


def _horizon(cfg: dict) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """The horizon the YAML asks for, if it is plain (ISO start with offset, numeric horizon)."""
    start, hours = cfg.get("start"), cfg.get("horizon_hours")
    if not isinstance(start, str) or isinstance(hours, bool) or not isinstance(hours, (int, float)):
        return None
    try:
        ts = pd.Timestamp(start)
    except (ValueError, TypeError, OverflowError):
        return None
    if ts is pd.NaT or ts.tzinfo is None or not (0 < hours < 10_000) or not (1900 <= ts.year <= 2200):
        return None
    return ts, ts + pd.Timedelta(hours=hours)


_ISO_DATE = re.compile(r"^\s*\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def _times(t: Table, *cols: str) -> list[tuple[pd.Timestamp, ...]] | None:
    """The rows' times in ``cols``, for rows whose times are all ISO 8601 with an offset."""
    if any(t.header.count(c) != 1 for c in cols):
        return None
    pos = [t.header.index(c) for c in cols]
    out = []
    for r in t.rows:
        try:
            if not all(_ISO_DATE.match(r[p]) for p in pos):
                continue
            ts = tuple(pd.Timestamp(r[p]) for p in pos)
        except (ValueError, TypeError, OverflowError, IndexError):
            continue
        if all(x is not pd.NaT and x.tzinfo is not None for x in ts):
            out.append(ts)
    return out


def _outside(spec: Spec) -> list[tuple[str, str]]:
    """Trips and sessions that lie wholly outside the horizon (gridopt must say it drops them)."""
    h = _horizon(spec.config)
    if h is None or "date_format" in spec.config:
        return []
    start, end = h
    out = []
    fleet = spec.config.get("fleet")
    if not isinstance(fleet, dict):
        return []
    if fleet.get("sessions") == "sessions.csv" and "sessions.csv" in spec.tables:
        for arr, dep in _times(spec.tables["sessions.csv"], "arrival", "departure") or []:
            if dep <= start or arr >= end:
                out.append(("sessions.csv", f"session {arr.isoformat()} to {dep.isoformat()}"))
    if fleet.get("trips") == "trips.csv" and "trips.csv" in spec.tables:
        for dep, arr in _times(spec.tables["trips.csv"], "departure", "arrival") or []:
            if arr <= start or dep >= end:
                out.append(("trips.csv", f"trip {dep.isoformat()} to {arr.isoformat()}"))
    return out


_NON_ISO = re.compile(r"^\d{1,2}[/.]\d{1,2}[/.]\d{2,4}|^[A-Za-z]{3},? |^\d{9,11}$")


def _referenced(cfg: dict) -> dict[str, str]:
    """File name -> the YAML field that names it, for the tables the scenario reads."""
    out = {}
    for path in (
        ("fleet", "vehicles"),
        ("fleet", "trips"),
        ("fleet", "sessions"),
        ("timeseries",),
        ("pv", "weather"),
        ("grid", "signals"),
    ):
        v = get_path(cfg, path)
        if isinstance(v, str):
            out[v] = ".".join(path)
    if not isinstance(cfg.get("pv"), dict):
        out = {k: v for k, v in out.items() if v != "pv.weather"}
    return out


def _table_expectations(spec: Spec) -> list[tuple[str, str]]:
    """Times in a non-ISO format, and a time series with the same time twice, must be refused."""
    out = []
    if "date_format" in spec.config:
        return out
    for name, field_name in _referenced(spec.config).items():
        t = spec.tables.get(name)
        if t is None:
            continue
        for c, h in enumerate(t.header):
            if h not in ("time", "arrival", "departure"):
                continue
            cells = [r[c].strip() for r in t.rows if c < len(r)]
            bad = [x for x in cells if _NON_ISO.match(x)]
            if bad:
                out.append((name, f"time in a non-ISO format: {name} {h} {bad[0]!r}"))
            if field_name in ("timeseries", "pv.weather", "grid.signals") and len(set(cells)) < len(cells):
                out.append((name, f"the same time twice in a time series: {name}"))
    return out


def render(case: Case) -> Rendered:
    """The files of ``case`` (name -> bytes) and what its mutations demand of gridopt."""
    spec = build(case.base)
    for phase in PHASES:
        for m in case.mutations:
            if m.phase == phase:
                m.apply(spec)
        if phase == "table":
            spec.expect_refusal += _ambiguous_values(spec.config, spec) + _start_offset_mismatch(spec.config, spec)
            spec.expect_refusal += _table_expectations(spec)
            outside = _outside(spec)
    text = yaml.safe_dump(spec.config, allow_unicode=True, **spec.dump)
    for token, raw in spec.tokens.items():
        text = text.replace(f"'{token}'", raw).replace(token, raw)
    for edit in spec.text_edits:
        text = edit(text)
    files = {YAML_NAME: text.encode("utf-8")}
    files.update({name: t.text().encode("utf-8") for name, t in spec.tables.items()})
    files.update({name: s.encode("utf-8") for name, s in spec.json_files.items()})
    for name, edits in spec.byte_edits.items():
        for edit in edits:
            files[name] = edit(files[name])
    # what a mutation demands holds only while its file still says it
    cut = spec.damaged
    return Rendered(
        files=files,
        expect_refusal=[why for f, why in spec.expect_refusal if f not in cut],
        outside_events=[what for f, what in outside if f not in cut and YAML_NAME not in cut],
    )


def show(files: dict[str, bytes]) -> str:
    """The files as text for a report (undecodable bytes escaped)."""
    parts = []
    for name, data in files.items():
        text = data.decode("utf-8", errors="backslashreplace")
        if len(text) > 3000:
            text = text[:3000] + f"... ({len(data)} bytes)"
        parts.append(f"--- {name} ---\n{text}")
    return "\n".join(parts)
