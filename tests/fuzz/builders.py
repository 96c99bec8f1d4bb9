"""Small valid scenarios and the mutations the fuzz suite applies to them.

A :class:`Case` is a :class:`Base` (one of three small valid scenarios: trips,
sessions, or time series + TOU tariff + clear-sky PV; 4 h of 15-minute steps,
1-3 vehicles, on a normal or a daylight-saving day) and a tuple of mutations.
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
import gzip
import io
import json
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
    ("solver",),
)
PATHS = NUMERIC_PATHS + OTHER_PATHS
#: Column names of the tables gridopt reads.
TABLE_COLUMNS = (
    "vehicle_id battery_kwh max_charge_kw max_discharge_kw min_soc max_soc initial_soc final_soc charge_efficiency "
    "discharge_efficiency min_charge_kw model departure arrival energy_kwh departure_soc trip_id arrival_soc "
    "target_soc session_id time import_price export_price base_load_kw pv_kw ghi dni dhi temp_air wind_speed"
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
    byte_edits: dict[str, list] = field(default_factory=dict)  # file -> [(how, function bytes -> bytes)]
    expect_refusal: list[tuple[str, str]] = field(default_factory=list)  # (file, "category: detail")
    damaged: set[str] = field(default_factory=set)  # files whose content an edit may have cut

    def raw(self, text: str) -> str:
        """A placeholder that renders as the raw YAML ``text``."""
        token = f"__RAW{len(self.tokens)}__"
        self.tokens[token] = text
        return token


@dataclass(frozen=True)
class Base:
    """One of the three small valid scenarios."""

    kind: str = "trips"  # "trips" | "sessions" | "pv_tou"
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
    visitors = base.kind == "sessions"
    header = ["vehicle_id", "battery_kwh", "max_charge_kw", "max_discharge_kw", "min_soc", "max_soc"]
    header += [] if visitors else ["initial_soc", "final_soc"]
    header += ["charge_efficiency", "discharge_efficiency", "min_charge_kw"]
    rows = []
    for i in range(n):
        row = [f"EV{i + 1}", "50", "11", "7" if base.v2g and i % 2 == 0 else "0", "0.1", "0.95"]
        row += [] if visitors else ["0.4", "0.6" if i == 0 else ""]
        row += ["0.95", "0.9", "1.4" if base.min_charge else "0"]
        rows.append(row)
    spec.tables["vehicles.csv"] = Table(header, rows)
    if visitors:
        spec.tables["sessions.csv"] = Table(
            ["vehicle_id", "arrival", "departure", "arrival_soc", "target_soc", "session_id"],
            [
                [f"EV{i + 1}", at(spec, 0.25 * i), at(spec, 3 + 0.25 * i), _num(0.2 + 0.1 * i), "0.8", f"S{i + 1}"]
                for i in range(n)
            ],
        )
        cfg["fleet"]["sessions"] = "sessions.csv"
    else:
        spec.tables["trips.csv"] = Table(
            ["vehicle_id", "departure", "arrival", "energy_kwh", "trip_id"],
            [
                [f"EV{i + 1}", at(spec, 0.75 + 0.5 * i), at(spec, 2.25 + 0.5 * i), _num(5 + 2 * i), f"T{i + 1}"]
                for i in range(n)
            ],
        )
        cfg["fleet"]["trips"] = "trips.csv"
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


def _table(spec: Spec, index: int) -> tuple[str, Table] | None:
    names = sorted(spec.tables)
    if not names:
        return None
    name = names[index % len(names)]
    return name, spec.tables[name]


def _file(spec: Spec, index: int) -> str:
    names = [YAML_NAME, *sorted(spec.tables), *sorted(spec.json_files)]
    return names[index % len(names)]


@dataclass(frozen=True)
class Raw:
    """A value written verbatim into the YAML text (``.nan``, ``yes``, ``017``, ...)."""

    text: str


def _value(spec: Spec, value):
    if isinstance(value, Raw):
        return spec.raw(value.text)
    return value


# ---------------------------------------------------------------------------
# Mutations
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SetField:
    """Set a YAML field (creating its parents) to ``value``."""

    path: tuple
    value: Any
    phase = "config"

    def apply(self, spec: Spec) -> None:
        set_path(spec.config, self.path, _value(spec, self.value))


@dataclass(frozen=True)
class DropField:
    path: tuple
    phase = "config"

    def apply(self, spec: Spec) -> None:
        del_path(spec.config, self.path)


@dataclass(frozen=True)
class ExtraKey:
    """An unknown key (a typo of a real one, or junk) next to ``parent``'s keys."""

    parent: tuple
    key: str
    value: Any = 1
    phase = "config"

    def apply(self, spec: Spec) -> None:
        node = get_path(spec.config, self.parent) if self.parent else spec.config
        if isinstance(node, dict):
            node[self.key] = _value(spec, self.value)


@dataclass(frozen=True)
class StartEdit:
    """Rewrite ``start``: wrong offset, no offset, other formats, misaligned, far years."""

    how: str
    phase = "config"

    def apply(self, spec: Spec) -> None:
        s = spec.start
        local = s.tz_localize(None)
        forms = {
            "wrong_offset": local.isoformat() + "+05:00",
            "utc_offset_of_other_zone": local.isoformat() + "+00:00",
            "naive": local.isoformat(),
            "utc_z": s.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ"),
            "space": s.isoformat().replace("T", " "),
            "date_only": s.strftime("%Y-%m-%d"),
            "dmy": s.strftime("%d/%m/%Y %H:%M"),
            "mdy": s.strftime("%m/%d/%Y %H:%M"),
            "no_colon_offset": s.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "misaligned": (s + pd.Timedelta(minutes=7)).isoformat(),
            "seconds": (s + pd.Timedelta(seconds=30)).isoformat(),
            "year_9999": "9999-12-31T22:00:00+00:00",
            "year_1": "0001-01-01T00:00:00+00:00",
            "year_1899": "1899-12-31T23:00:00+00:00",
            "week_date": s.strftime("%G-W%V-%uT%H:%M:%S%z"),
            "nonsense": "tomorrow at noon",
            "unquoted": "RAW",
        }
        if self.how == "unquoted":  # YAML reads an unquoted ISO time as a datetime
            spec.config["start"] = spec.raw(s.isoformat())
        else:
            spec.config["start"] = forms.get(self.how, self.how)


@dataclass(frozen=True)
class SetCell:
    table: int
    row: int
    col: int
    value: str
    phase = "table"

    def apply(self, spec: Spec) -> None:
        t = _table(spec, self.table)
        if t and t[1].rows and t[1].header:
            rows = t[1].rows
            r = rows[self.row % len(rows)]
            if r:
                r[self.col % len(r)] = self.value


@dataclass(frozen=True)
class TableEdit:
    """Structural edits: drop/duplicate/rename columns, drop/duplicate/shuffle rows, header only."""

    table: int
    how: str
    index: int = 0
    name: str = ""
    phase = "table"

    def apply(self, spec: Spec) -> None:
        found = _table(spec, self.table)
        if not found:
            return
        fname, t = found
        ncol = len(t.header)
        c = self.index % ncol if ncol else 0
        if self.how == "drop_column" and ncol:
            del t.header[c]
            for r in t.rows:
                del r[c]
        elif self.how == "duplicate_column" and ncol:
            t.header.append(t.header[c] if not self.name else self.name.replace("{}", t.header[c]))
            for r in t.rows:
                r.append(r[c])
        elif self.how == "rename_column" and ncol:
            t.header[c] = self.name.replace("{}", t.header[c])
        elif self.how == "add_column":
            t.header.append(self.name)
            for r in t.rows:
                r.append("1")
        elif self.how == "swap_columns" and ncol > 1:
            d = (c + 1) % ncol
            t.header[c], t.header[d] = t.header[d], t.header[c]
        elif self.how == "drop_row" and t.rows:
            del t.rows[self.index % len(t.rows)]
        elif self.how == "duplicate_row" and t.rows:
            i = self.index % len(t.rows)
            t.rows.insert(i, list(t.rows[i]))
        elif self.how == "shuffle_rows" and t.rows:
            k = self.index % len(t.rows)
            t.rows[:] = t.rows[k:][::-1] + t.rows[:k]
        elif self.how == "header_only":
            t.rows.clear()
        elif self.how == "blank_lines" and t.rows:
            t.rows.insert(self.index % len(t.rows), [])
            t.rows.append([])
        elif self.how == "short_row" and t.rows:
            t.rows[self.index % len(t.rows)] = t.rows[self.index % len(t.rows)][:-1]
        elif self.how == "long_row" and t.rows:
            t.rows[self.index % len(t.rows)] = t.rows[self.index % len(t.rows)] + ["x"]
        elif self.how == "multiline_cell" and t.rows:
            r = t.rows[self.index % len(t.rows)]
            r[0] = r[0] + "\n" + "continued"


#: Time formats a spreadsheet or another tool may write. ``iso`` forms are allowed.
TIME_FORMATS = (
    "naive",  # local time without offset (allowed, read in the scenario's zone)
    "utc_z",
    "space",
    "millis",
    "no_colon_offset",
    "wrong_offset",
    "dmy",
    "mdy",
    "dmy_dots",
    "rfc2822",
    "epoch",
    "date_only",
    "year_typo",
    "compact",
)


def reformat_time(text: str, how: str, zone: str) -> str:
    try:
        ts = pd.Timestamp(text)
    except (ValueError, TypeError, OverflowError):
        return text
    if ts is pd.NaT or ts.tzinfo is None:
        return text
    ts = ts.tz_convert(zone)
    local = ts.tz_localize(None)
    return {
        "naive": local.strftime("%Y-%m-%d %H:%M:%S"),
        "utc_z": ts.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ"),
        "space": ts.isoformat().replace("T", " "),
        "millis": ts.strftime("%Y-%m-%dT%H:%M:%S.000") + ts.strftime("%z")[:3] + ":" + ts.strftime("%z")[3:],
        "no_colon_offset": ts.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "wrong_offset": local.isoformat() + "+05:00",
        "dmy": local.strftime("%d/%m/%Y %H:%M:%S"),
        "mdy": local.strftime("%m/%d/%Y %H:%M"),
        "dmy_dots": local.strftime("%d.%m.%Y %H:%M"),
        "rfc2822": ts.strftime("%a, %d %b %Y %H:%M:%S %z"),
        "epoch": str(int(ts.timestamp())),
        "date_only": local.strftime("%Y-%m-%d"),
        "year_typo": ts.isoformat().replace(str(ts.year), str(ts.year + 36), 1),
        "compact": ts.strftime("%Y%m%dT%H%M%S%z"),
    }.get(how, text)


@dataclass(frozen=True)
class TimeFormat:
    """Rewrite every time of a table's time column (or one row: ``row`` >= 0) in another format."""

    table: int
    col: int
    how: str
    row: int = -1
    phase = "table"

    def apply(self, spec: Spec) -> None:
        found = _table(spec, self.table)
        if not found:
            return
        fname, t = found
        cols = [i for i, h in enumerate(t.header) if h in ("time", "arrival", "departure")]
        if not cols:
            return
        c = cols[self.col % len(cols)]
        rows = t.rows if self.row < 0 or not t.rows else [t.rows[self.row % len(t.rows)]]
        for r in rows:
            if c < len(r):
                r[c] = reformat_time(r[c], self.how, spec.zone)


@dataclass(frozen=True)
class ShiftTimes:
    """Move one row's times (all time columns) by ``hours``."""

    table: int
    row: int
    hours: float
    phase = "table"

    def apply(self, spec: Spec) -> None:
        found = _table(spec, self.table)
        if not found or not found[1].rows:
            return
        t = found[1]
        r = t.rows[self.row % len(t.rows)]
        for c, h in enumerate(t.header):
            if h in ("time", "arrival", "departure") and c < len(r):
                try:
                    ts = pd.Timestamp(r[c])
                    if ts.tzinfo is not None:
                        r[c] = (ts + pd.Timedelta(hours=self.hours)).tz_convert(spec.zone).isoformat()
                except (ValueError, TypeError, OverflowError):
                    pass


@dataclass(frozen=True)
class RenameIds:
    """Give the vehicle ids another spelling in one table only (case, spaces, unicode, injection)."""

    table: int
    how: str
    phase = "table"

    def apply(self, spec: Spec) -> None:
        found = _table(spec, self.table)
        if not found or "vehicle_id" not in found[1].header:
            return
        t = found[1]
        c = t.header.index("vehicle_id")
        for r in t.rows:
            if c < len(r):
                r[c] = {
                    "lower": r[c].lower(),
                    "padded": f" {r[c]} ",
                    "nbsp": r[c] + "\u00a0",
                    "fullwidth": r[c].translate({ord(ch): ord(ch) + 0xFEE0 for ch in "EV0123456789"}),
                    "formula": "=" + r[c],
                    "number": r[c].replace("EV", ""),
                    "float_like": r[c].replace("EV", "") + ".0",
                }.get(self.how, r[c])


@dataclass(frozen=True)
class AddWeather:
    """Point ``pv.weather`` at a weather CSV (good, header only, unsorted, duplicate times, short)."""

    how: str
    phase = "config"

    def apply(self, spec: Spec) -> None:
        if not isinstance(spec.config.get("pv"), dict):
            return
        spec.config["pv"]["weather"] = "weather.csv"
        times = [at(spec, h) for h in range(-1, 6)]
        ghi = ["0", "120", "350", "500", "420", "200", "0"]
        rows = [[t, g] for t, g in zip(times, ghi, strict=True)]
        if self.how == "header_only":
            rows = []
        elif self.how == "unsorted":
            rows = rows[::-1]
        elif self.how == "duplicate_times":
            rows.insert(3, [rows[3][0], "999"])
        elif self.how == "short":
            rows = rows[:2]
        elif self.how == "negative":
            rows[3][1] = "-500"
        elif self.how == "huge":
            rows[3][1] = "1e300"
        elif self.how == "nan":
            rows[3][1] = "nan"
        spec.tables["weather.csv"] = Table(["time", "ghi"], rows)


#: An acnportal-style tariff schedule (valid) and broken variants.
_TARIFF = {
    "schedule": [
        {
            "id": "all",
            "effective_start": "01-01",
            "effective_end": "12-31",
            "dow_mask": "ALL",
            "times": [0, 8, 20],
            "tariffs": [0.1, 0.3, 0.1],
            "demand_charge": 2.0,
        }
    ]
}


@dataclass(frozen=True)
class AddTariffFile:
    how: str
    phase = "config"

    def apply(self, spec: Spec) -> None:
        spec.config.setdefault("tariff", {})
        if isinstance(spec.config["tariff"], dict):
            spec.config["tariff"]["tariff_file"] = "tariff.json"
            spec.config["tariff"].pop("import_price", None)
        sched = json.loads(json.dumps(_TARIFF))
        block = sched["schedule"][0]
        text = None
        if self.how == "no_cover":
            block["effective_start"], block["effective_end"] = "02-30", "02-30"
        elif self.how == "mismatch":
            block["tariffs"] = [0.1]
        elif self.how == "nan":
            text = json.dumps(sched).replace("0.3", "NaN")
        elif self.how == "strings":
            block["times"] = ["zero", "eight", "twenty"]
        elif self.how == "unsorted":
            block["times"] = [20, 0, 8]
        elif self.how == "empty":
            sched = {}
        elif self.how == "list":
            sched = []
        elif self.how == "junk":
            text = "{not json"
        elif self.how == "bad_mask":
            block["dow_mask"] = "MONDAYS"
        elif self.how == "negative_demand":
            block["demand_charge"] = -5
        spec.json_files["tariff.json"] = text if text is not None else json.dumps(sched)


@dataclass(frozen=True)
class DuplicateKey:
    """Write ``path`` a second time in the YAML text, with another value."""

    path: tuple
    value: str
    phase = "text"

    def apply(self, spec: Spec) -> None:
        path, value = self.path, self.value

        def edit(text: str) -> str:
            if len(path) == 1:
                if not any(line.startswith(f"{path[0]}:") for line in text.splitlines()):
                    return text
                spec.expect_refusal.append((YAML_NAME, f"duplicate YAML key: {path[0]}"))
                return text + f"{path[0]}: {value}\n"
            parent, child = path[0], path[1]
            lines = text.splitlines(keepends=True)
            for i, line in enumerate(lines):
                if line.rstrip("\n") == f"{parent}:" and any(
                    x.startswith(f"  {child}:") for x in lines[i + 1 : i + 12]
                ):
                    lines.insert(i + 1, f"  {child}: {value}\n")
                    spec.expect_refusal.append((YAML_NAME, f"duplicate YAML key: {parent}.{child}"))
                    return "".join(lines)
            return text

        spec.text_edits.append(edit)


@dataclass(frozen=True)
class YamlText:
    """Edits of the YAML text: tabs, truncation, deep nesting, aliases, junk lines."""

    how: str
    index: int = 0
    phase = "text"

    def apply(self, spec: Spec) -> None:
        how, index = self.how, self.index
        if how == "truncate":
            spec.damaged.add(YAML_NAME)

        def edit(text: str) -> str:
            if how == "tabs":
                return text.replace("\n  ", "\n\t")
            if how == "truncate":
                return text[: index % max(1, len(text))]
            if how == "deep_nest":
                depth = (50, 500, 5000)[index % 3]
                return text + "description: " + "[" * depth + "]" * depth + "\n"
            if how == "alias":
                return text.replace("name:", "x-anchor: &a 4\nname:", 1) + "horizon_hours: *a\n"
            if how == "document_marker":
                return "---\n" + text + "---\nname: second\n"
            if how == "comment_only":
                return "# nothing here\n"
            if how == "list":
                return "- " + text.replace("\n", "\n  ")
            if how == "merge_key":
                return text.replace("site:\n", "site:\n  <<: {import_limit_kw: 5}\n", 1)
            if how == "python_tag":
                return text + "extra: !!python/object/apply:os.getcwd []\n"
            if how == "junk_line":
                lines = text.splitlines(keepends=True)
                lines.insert(index % (len(lines) + 1), ": : :\n")
                return "".join(lines)
            return text

        spec.text_edits.append(edit)


def _decode(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _bytes_edit(how: str, index: int):
    def edit(data: bytes) -> bytes:
        text = _decode(data)
        if how == "bom":
            return b"\xef\xbb\xbf" + data
        if how == "double_bom":
            return b"\xef\xbb\xbf\xef\xbb\xbf" + data
        if how == "utf16" and text is not None:
            return text.encode("utf-16")
        if how == "utf16le" and text is not None:
            return text.encode("utf-16-le")
        if how == "latin1" and text is not None:
            return text.replace("EV1", "EV\u00e91").replace("fuzz", "f\u00fczz").encode("latin-1", errors="replace")
        if how == "cp1252_quotes" and text is not None:
            return text.replace("EV1", "EV\u20191").encode("cp1252", errors="replace")
        if how == "crlf":
            return data.replace(b"\n", b"\r\n")
        if how == "cr":
            return data.replace(b"\n", b"\r")
        if how == "gzip":
            return gzip.compress(data, mtime=0)
        if how == "gzip_truncated":
            z = gzip.compress(data, mtime=0)
            return z[: max(3, (index % len(z)) if z else 3)]
        if how == "gzip_corrupt":
            z = bytearray(gzip.compress(data, mtime=0))
            pos = 10 + index % max(1, len(z) - 18)
            z[pos] ^= 0xFF
            return bytes(z)
        if how == "gzip_twice":
            return gzip.compress(gzip.compress(data, mtime=0), mtime=0)
        if how == "empty":
            return b""
        if how == "whitespace":
            return b" \n\n\t\n"
        if how == "nul":
            pos = index % (len(data) + 1)
            return data[:pos] + b"\x00" + data[pos:]
        if how == "truncate":
            return data[: index % (len(data) + 1)]
        if how == "garbage":
            return data + b"\xff\xfe\x00\x81garbage\n"
        if how == "binary":
            return bytes(range(256)) * 4
        if how == "trailing_comma":
            return data.replace(b"\n", b",\n")
        if how == "semicolon":
            return data.replace(b",", b";")
        if how == "no_final_newline":
            return data.rstrip(b"\n")
        return data

    return edit


@dataclass(frozen=True)
class FileBytes:
    """Re-encode, compress or damage one file (the YAML, a CSV or the tariff JSON)."""

    file: int
    how: str
    index: int = 0
    phase = "bytes"

    def apply(self, spec: Spec) -> None:
        name = _file(spec, self.file)
        spec.byte_edits.setdefault(name, []).append(_bytes_edit(self.how, self.index))
        if self.how not in CONTENT_KEPT:
            spec.damaged.add(name)


#: Byte edits after which a file still holds the same content (if gridopt can read it).
CONTENT_KEPT = {"bom", "crlf", "cr", "gzip", "gzip_twice", "utf16", "utf16le", "no_final_newline"}
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
    start, tz = cfg.get("start"), cfg.get("timezone")
    if not isinstance(start, str) or not isinstance(tz, str) or start in spec.tokens or _zone(tz) is None:
        return []
    if tz in MACHINE_ZONES:
        return []
    try:
        ts = pd.Timestamp(start)
    except (ValueError, TypeError, OverflowError):
        return []
    if ts is pd.NaT or ts.tzinfo is None or not (1900 <= ts.year <= 2200):
        return []
    if ts.utcoffset() != ts.tz_convert(tz).utcoffset():
        return [(YAML_NAME, f"start offset is not the zone's: {start} in {tz}")]
    return []


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


def _times(t: Table, *cols: str) -> list[tuple[pd.Timestamp, ...]] | None:
    if any(t.header.count(c) != 1 for c in cols):
        return None
    pos = [t.header.index(c) for c in cols]
    out = []
    for r in t.rows:
        try:
            ts = tuple(pd.Timestamp(r[p]) for p in pos)
        except (ValueError, TypeError, OverflowError, IndexError):
            continue
        if all(x is not pd.NaT and x.tzinfo is not None for x in ts):
            out.append(ts)
    return out


def _outside(spec: Spec) -> list[tuple[str, str]]:
    """Trips and sessions that lie wholly outside the horizon (gridopt must say it drops them)."""
    h = _horizon(spec.config)
    if h is None:
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
    for path in (("fleet", "vehicles"), ("fleet", "trips"), ("fleet", "sessions"), ("timeseries",), ("pv", "weather")):
        v = get_path(cfg, path)
        if isinstance(v, str):
            out[v] = ".".join(path)
    if not isinstance(cfg.get("pv"), dict):
        out = {k: v for k, v in out.items() if v != "pv.weather"}
    return out


def _table_expectations(spec: Spec) -> list[tuple[str, str]]:
    """Times in a non-ISO format, and a time series with the same time twice, must be refused."""
    out = []
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
            if field_name in ("timeseries", "pv.weather") and len(set(cells)) < len(cells):
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
    text = yaml.safe_dump(spec.config, sort_keys=False, default_flow_style=False, allow_unicode=True)
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
