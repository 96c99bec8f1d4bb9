"""The mutations of the fuzz suite, each a frozen dataclass with a ``phase`` and ``apply(spec)``.

Phases (see :func:`builders.render`): ``config`` edits the YAML data, ``table``
the CSV tables, ``text`` the YAML text, ``bytes`` the bytes of one file. Table,
row, column and file indices wrap around, so every drawn integer is a target.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from typing import Any

import pandas as pd

from .builders import YAML_NAME, Spec, Table, at, del_path, file_at, get_path, set_path, table_at


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
        t = table_at(spec, self.table)
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
        found = table_at(spec, self.table)
        if not found:
            return
        fname, t = found
        ncol = len(t.header)
        c = self.index % ncol if ncol else 0
        # rows shorter than the column (the blank lines of "blank_lines", a "short_row") keep their cells
        if self.how == "drop_column" and ncol:
            del t.header[c]
            for r in t.rows:
                if c < len(r):
                    del r[c]
        elif self.how == "duplicate_column" and ncol:
            t.header.append(t.header[c] if not self.name else self.name.replace("{}", t.header[c]))
            for r in t.rows:
                if c < len(r):
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
        found = table_at(spec, self.table)
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
    """Move one row's times by ``hours``: all its time columns, or only the ``column``-th (>= 0)."""

    table: int
    row: int
    hours: float
    column: int = -1
    phase = "table"

    def apply(self, spec: Spec) -> None:
        found = table_at(spec, self.table)
        if not found or not found[1].rows:
            return
        t = found[1]
        r = t.rows[self.row % len(t.rows)]
        cols = [c for c, h in enumerate(t.header) if h in ("time", "arrival", "departure") and c < len(r)]
        if self.column >= 0 and cols:
            cols = [cols[self.column % len(cols)]]
        for c in cols:
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
        found = table_at(spec, self.table)
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
        name = file_at(spec, self.file)
        spec.byte_edits.setdefault(name, []).append(_bytes_edit(self.how, self.index))
        if self.how not in CONTENT_KEPT:
            spec.damaged.add(name)


#: Byte edits after which a file still holds the same content (if gridopt can read it).
CONTENT_KEPT = {"bom", "crlf", "cr", "gzip", "gzip_twice", "utf16", "utf16le", "no_final_newline"}


# ---------------------------------------------------------------------------
# Mutations that keep the content: the plan must not change
# ---------------------------------------------------------------------------

#: Number fields that take floats: ``4`` may be written ``4.0``.
_FLOAT_FIELDS = (
    ("horizon_hours",),
    ("site", "import_limit_kw"),
    ("site", "export_limit_kw"),
    ("site", "base_load_kw"),
    ("pv", "peak_kw"),
    ("pv", "tilt_deg"),
    ("pv", "azimuth_deg"),
    ("solver", "time_limit_s"),
)


@dataclass(frozen=True)
class YamlStyle:
    """The same YAML written another way: sorted keys, flow style, comments, document markers, floats."""

    how: str
    phase = "config"

    def apply(self, spec: Spec) -> None:
        if self.how == "sorted":
            spec.dump["sort_keys"] = True
        elif self.how == "flow":
            spec.dump["default_flow_style"] = None
        elif self.how == "comments":
            spec.text_edits.append(
                lambda text: "# a scenario\n" + "".join(f"{line}  # note\n\n" for line in text.splitlines())
            )
        elif self.how == "document_markers":
            spec.text_edits.append(lambda text: "%YAML 1.1\n---\n" + text + "...\n")
        elif self.how == "floats":
            for path in _FLOAT_FIELDS:
                v = get_path(spec.config, path)
                if isinstance(v, int) and not isinstance(v, bool):
                    set_path(spec.config, path, float(v))


@dataclass(frozen=True)
class Reorder:
    """Reverse the column order of every table, or the rows of the fleet tables (not of time series)."""

    how: str
    phase = "table"

    def apply(self, spec: Spec) -> None:
        for name, t in spec.tables.items():
            if self.how == "columns":
                t.header.reverse()
                for r in t.rows:
                    r.reverse()
            elif self.how == "rows" and name in ("vehicles.csv", "trips.csv", "sessions.csv"):
                t.rows.reverse()


@dataclass(frozen=True)
class TableBytes:
    """Re-encode one CSV table in a way gridopt reads (BOM, CRLF, gzip, no final newline)."""

    table: int
    how: str
    phase = "bytes"

    def apply(self, spec: Spec) -> None:
        found = table_at(spec, self.table)
        if found:
            spec.byte_edits.setdefault(found[0], []).append(_bytes_edit(self.how, 0))


@dataclass(frozen=True)
class Length:
    """The horizon as ``horizon`` (a duration text) or ``end`` (a time ``value`` hours after the start).

    ``how``: ``horizon``; ``end`` (ISO with the zone's offset), ``end_naive``,
    ``end_utc`` (``Z``) or ``end_wrong_offset``. ``horizon_hours`` is removed.
    """

    how: str
    value: str = "4h"
    phase = "config"

    def apply(self, spec: Spec) -> None:
        spec.config.pop("horizon_hours", None)
        if self.how == "horizon":
            spec.config["horizon"] = self.value
            return
        try:
            end = spec.start + pd.Timedelta(hours=float(self.value))
        except ValueError:
            return
        local = end.tz_convert(spec.zone)
        spec.config["end"] = {
            "end": local.isoformat(),
            "end_naive": local.tz_localize(None).isoformat(),
            "end_utc": end.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ"),
            "end_wrong_offset": local.tz_localize(None).isoformat() + "+05:00",
        }.get(self.how, local.isoformat())


@dataclass(frozen=True)
class DateFormat:
    """State ``date_format`` and write every time of every table in it."""

    fmt: str
    phase = "table"

    def apply(self, spec: Spec) -> None:
        spec.config["date_format"] = self.fmt
        for t in spec.tables.values():
            cols = [c for c, h in enumerate(t.header) if h in ("time", "arrival", "departure")]
            for r in t.rows:
                for c in cols:
                    if c < len(r):
                        try:
                            ts = pd.Timestamp(r[c])
                        except (ValueError, TypeError, OverflowError):
                            continue
                        if ts is not pd.NaT and ts.tzinfo is not None:
                            r[c] = ts.tz_convert(spec.zone).strftime(self.fmt)


@dataclass(frozen=True)
class EventEdit:
    """Change one utility event (``events[index]``): a key's value, its window, or a copy of it."""

    index: int
    key: str
    value: Any = None
    phase = "config"

    def apply(self, spec: Spec) -> None:
        events = spec.config.get("events")
        if not isinstance(events, list) or not events:
            return
        i = self.index % len(events)
        event = events[i]
        if not isinstance(event, dict):
            return
        if self.key == "duplicate":
            events.insert(i, dict(event))
        elif self.key == "drop":
            del events[i]
        elif self.key in ("start", "end") and isinstance(self.value, (int, float)) and not isinstance(self.value, bool):
            event[self.key] = at(spec, float(self.value))  # hours after the scenario's start
        elif self.key == "delete" and isinstance(self.value, str):
            event.pop(self.value, None)
        else:
            event[self.key] = _value(spec, self.value)
