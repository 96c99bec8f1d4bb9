"""Hypothesis strategies: small valid bases and the mutations of :mod:`builders`."""

from __future__ import annotations

import math

from hypothesis import strategies as st

from .builders import (
    NUMERIC_PATHS,
    PATHS,
    SETUPS,
    Base,
    Case,
)
from .mutations import (
    TIME_FORMATS,
    AddTariffFile,
    AddWeather,
    DateFormat,
    DropField,
    DuplicateKey,
    EventEdit,
    ExtraKey,
    FileBytes,
    Length,
    Raw,
    RenameIds,
    Reorder,
    SetCell,
    SetField,
    ShiftTimes,
    StartEdit,
    TableBytes,
    TableEdit,
    TimeFormat,
    YamlStyle,
    YamlText,
)

bases = st.builds(
    Base,
    kind=st.sampled_from(["trips", "sessions", "mixed", "energy", "grid", "pv_tou"]),
    vehicles=st.integers(1, 3),
    setup=st.integers(0, len(SETUPS) - 1),
    hour=st.sampled_from([0, 0, 1, 6, 12, 20]),
    v2g=st.booleans(),
    min_charge=st.booleans(),
    series_minutes=st.sampled_from([15, 60]),
)

# --- YAML values ------------------------------------------------------------

RAW_SCALARS = [
    ".nan",
    ".NaN",
    ".inf",
    "-.inf",
    "yes",
    "no",
    "on",
    "off",
    "true",
    "~",
    "null",
    "017",
    "0o17",
    "0x1F",
    "0b101",
    "1_000",
    "16:00",
    "1:30:00",
    "1e3",
    "1.0e+3",
    "+4",
    "4.",
    ".5",
    "-0",
    "2026-06-15",
    "2026-06-15 00:00:00",
    "!!binary aGVsbG8=",
    "!!float 4",
    "!!str 4",
    "!!int '4'",
    "'4'",
    '"4 "',
    "[4]",
    "{a: 1}",
    "{16:00: 0.4, '16:00': 0.1, '00:00': 0.2}",
    "{'00:00': 0.1, '16:00': .nan}",
    "{'00:00': 0.1, '24:00': 0.2}",
    "{'00:00': 0.1, '7:00': 0.2}",
    "{'00:00': yes}",
    "{}",
    "[",
    "'unterminated",
    "*undefined_alias",
    "!!python/name:os.system",
]

generic_values = st.one_of(
    st.sampled_from([None, True, False, 0, 1, -1, 0.5, -0.0, "", "abc", "4", " 4 ", "4h", [], [1, 2], {}, {"a": 1}]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([1e-300, 5e-324, 1e300, 1e16, 1e20, 9.3e9, 2**63, -(2**63) - 1]),
    st.text(max_size=8),
    st.sampled_from(RAW_SCALARS).map(Raw),
)

SPECIFIC = {
    ("timezone",): st.sampled_from(
        [
            "Europe/London",
            "America/New_York",
            "UTC",
            "Etc/GMT-2",
            "Asia/Kathmandu",
            "Mars/Base",
            "",
            "europe/amsterdam",
            "Europe/Amsterdam ",
            "../../etc/passwd",
            "+02:00",
            "CEST",
            "CET",
            "EST5EDT",
            "US/Pacific",
            "GB",
            "Asia/Calcutta",
            "Europe/Kiev",
            "UCT",
            "Zulu",
            "localtime",
            "posixrules",
            "Factory",
        ]
    ),
    ("horizon_hours",): st.sampled_from(
        [0.25, 0.1, 1e-300, 4.0000001, 10.1667, 10.166666666666666, 1, 24, 48, 744, 745, 1e6, -4]
    ),
    ("step_minutes",): st.sampled_from([1, 5, 7, 15, 16, 60, 90, 240, 1440, 1441, 0, -15, 15.5, 15.0, "15"]),
    ("fleet", "vehicles"): st.sampled_from(["trips.csv", "missing.csv", "", ".", "/etc/passwd", "../vehicles.csv"]),
    ("fleet", "trips"): st.sampled_from(["sessions.csv", "vehicles.csv", "missing.csv", None]),
    ("fleet", "sessions"): st.sampled_from(["trips.csv", "vehicles.csv", "missing.csv", "sessions.csv"]),
    ("timeseries",): st.sampled_from(["vehicles.csv", "trips.csv", "missing.csv", "scenario.yaml"]),
    ("solver", "time_limit_s"): st.sampled_from([1e-9, 0.001, 0.5, 9.3e9, 1e300, 1e19]),
    ("pv", "altitude_m"): st.sampled_from([1e9, -1e9, -500, 9000, 1e300]),
    ("horizon",): st.sampled_from(
        ["4h", "240min", "PT4H", "4", "4 h", "1 day", "2d", "1m", "1 month", "4h30", "-4h", "0h", "10h10min", "P1Y"]
        + ["PT0.25H", "4h 15min", "1w", "32d", "0.5h", "4H", "4 hours", "four hours", "1e3h", "nanh", "infh"]
    ),
    ("end",): st.sampled_from(
        ["2026-06-15T04:00:00+02:00", "2026-06-15T04:00:00", "2026-06-15T04:00:00+05:00", "2026-06-14T20:00:00+02:00"]
        + ["2026-06-15T04:07:00+02:00", "2026-06-15", "2199-12-31T23:00:00+00:00", "15/06/2026 04:00"]
    ),
    ("tariff", "demand_charge_period"): st.sampled_from(["horizon", "day", "month", "year", "week", "", "Month"]),
    ("currency",): st.sampled_from(["EUR", "eur", "\u20ac", "EURO", "", "XYZ", "US$"]),
    ("date_format",): st.sampled_from(
        ["%d/%m/%Y %H:%M", "%Y-%m-%dT%H:%M:%S%z", "%Y", "%s", "", "%m/%d/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%Q"]
    ),
    ("fleet", "max_share_outside_horizon"): st.sampled_from([0, 0.5, 1, 1.5, -0.1]),
    ("grid", "tracking"): st.sampled_from(["soft", "exact", "Exact", "", "hard"]),
    ("grid", "signals"): st.sampled_from(["trips.csv", "missing.csv", "grid_signals.csv"]),
    ("grid", "grid_peak_cap_kw"): st.sampled_from([0, 1, 500, 520, 700, 1e6]),
    ("grid", "emissions_cap_kg"): st.sampled_from([0, 0.001, 1, 10, 1e6]),
}


@st.composite
def set_fields(draw):
    path = draw(st.sampled_from(PATHS))
    specific = SPECIFIC.get(path)
    if path in NUMERIC_PATHS:
        near = st.sampled_from([0, -1, 1e-9, 1e-6, 0.001, 0.5, 2, 1000, 1e6, 1e9, 1e12, 1e15])
        value = draw(
            st.one_of(generic_values, near, specific) if specific is not None else st.one_of(generic_values, near)
        )
    else:
        value = draw(st.one_of(generic_values, specific) if specific is not None else generic_values)
    if isinstance(value, float) and math.isnan(value):
        value = Raw(".nan")  # safe_dump writes .nan anyway; keep the repr readable
    return SetField(path, value)


start_edits = st.builds(
    StartEdit,
    st.sampled_from(
        [
            "wrong_offset",
            "utc_offset_of_other_zone",
            "naive",
            "utc_z",
            "space",
            "date_only",
            "dmy",
            "mdy",
            "no_colon_offset",
            "misaligned",
            "seconds",
            "year_9999",
            "year_1",
            "year_1899",
            "week_date",
            "nonsense",
            "unquoted",
        ]
    ),
)

config_mutations = st.one_of(
    set_fields(),
    st.builds(DropField, st.sampled_from(PATHS)),
    st.builds(
        Length,
        st.sampled_from(["horizon", "end", "end_naive", "end_utc", "end_wrong_offset"]),
        st.sampled_from(["4", "0.25", "0.1", "-1", "0", "48", "744", "745", "1e6", "4h", "PT4H", "1 day", "2d", "1m"]),
    ),
    st.builds(
        EventEdit,
        st.integers(0, 3),
        st.sampled_from(["start", "end"]),
        st.sampled_from([-24.0, -1.0, 0.0, 0.1, 1 / 6, 0.5, 1.0, 3.0, 4.0, 5.0, 100.0]),
    ),
    st.builds(
        EventEdit,
        st.integers(0, 3),
        st.sampled_from(["kind", "kw", "payment_per_kwh", "penalty_per_kwh", "extra_price_per_kwh", "hard", "extra"]),
        st.one_of(
            generic_values, st.sampled_from(["import_cap", "export_request", "shift_away", "curtail", 0, 25, 1e7])
        ),
    ),
    st.builds(EventEdit, st.integers(0, 3), st.sampled_from(["duplicate", "drop"])),
    st.builds(EventEdit, st.integers(0, 3), st.just("delete"), st.sampled_from(["kind", "start", "end", "kw"])),
    st.builds(DateFormat, st.sampled_from(["%d/%m/%Y %H:%M", "%Y-%m-%d", "%H:%M", "%s", "", "%d/%m/%Y %H:%M:%S%z"])),
    st.builds(
        ExtraKey,
        st.sampled_from([(), ("site",), ("tariff",), ("pv",), ("fleet",), ("solver",)]),
        st.sampled_from(["horizon_hour", "import_limit_kW", "Start", "extra", "timezone ", "0", "null"]),
        st.sampled_from([1, "x", None, Raw(".nan")]),
    ),
    start_edits,
    st.builds(
        AddWeather,
        st.sampled_from(["good", "header_only", "unsorted", "duplicate_times", "short", "negative", "huge", "nan"]),
    ),
    st.builds(
        AddTariffFile,
        st.sampled_from(
            [
                "good",
                "no_cover",
                "mismatch",
                "nan",
                "strings",
                "unsorted",
                "empty",
                "list",
                "junk",
                "bad_mask",
                "negative_demand",
            ]
        ),
    ),
)

# --- CSV cells and tables ---------------------------------------------------

JUNK_CELLS = [
    "",
    " ",
    "abc",
    "nan",
    "NaN",
    "inf",
    "-inf",
    "Infinity",
    "1e400",
    "-1e400",
    "1e-320",
    "-5",
    "-0",
    "0",
    "1e300",
    "99999999999999999999",
    "0x10",
    "1_000",
    "1,5",
    "1.5.2",
    "TRUE",
    "=1+1",
    "+cmd|' /C calc'!A0",
    "@SUM(A1)",
    "\uff11\uff12",  # fullwidth 12
    "\u0663",  # arabic-indic 3
    "12\u00a0",
    '"',
    "None",
    "null",
    "2026-06-15T01:00:00+02:00",
    "2026-02-30T01:00:00+01:00",
    "10/03/2026 06:00:00",
    "10000-01-01T00:00:00+00:00",
    "\x00",
]

#: Numbers that parse but stretch the model: tiny and huge batteries and powers, SoC past 1, zero efficiency.
EDGE_NUMBERS = [
    "1e-9",
    "1e-6",
    "0.001",
    "0.05",
    "0.5",
    "0.999999",
    "1",
    "1.0000001",
    "1.5",
    "2",
    "100",
    "1e6",
    "1e9",
    "1e12",
]

cells = st.one_of(
    st.sampled_from(JUNK_CELLS),
    st.sampled_from(EDGE_NUMBERS),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.text(max_size=6),
)

table_mutations = st.one_of(
    st.builds(SetCell, st.integers(0, 5), st.integers(0, 5), st.integers(0, 12), cells),
    st.builds(
        TableEdit,
        st.integers(0, 5),
        st.sampled_from(
            [
                "drop_column",
                "duplicate_column",
                "rename_column",
                "add_column",
                "swap_columns",
                "drop_row",
                "duplicate_row",
                "shuffle_rows",
                "header_only",
                "blank_lines",
                "short_row",
                "long_row",
                "multiline_cell",
            ]
        ),
        st.integers(0, 12),
        st.sampled_from(["{}", " {}", "{} ", "{}".upper(), "", "extra", "time", "vehicle_id", "Vehicle_ID", "{}_2"]),
    ),
    st.builds(TimeFormat, st.integers(0, 5), st.integers(0, 2), st.sampled_from(TIME_FORMATS), st.integers(-1, 3)),
    st.builds(
        ShiftTimes,
        st.integers(0, 5),
        st.integers(0, 3),
        st.sampled_from(
            [-24.0, -5.0, -1.0, -0.1, -1 / 60, 1 / 60, 5 / 60, 0.125, 0.1, 0.25, 1.0, 1.5, 3.9, 4.0, 24.0, 87600.0]
        ),
        st.integers(-1, 2),
    ),
    st.builds(
        RenameIds,
        st.integers(0, 5),
        st.sampled_from(["lower", "padded", "nbsp", "fullwidth", "formula", "number", "float_like"]),
    ),
)

# --- YAML text and file bytes -----------------------------------------------

text_mutations = st.one_of(
    st.builds(
        DuplicateKey,
        st.sampled_from(
            [
                ("horizon_hours",),
                ("step_minutes",),
                ("timezone",),
                ("start",),
                ("name",),
                ("site", "import_limit_kw"),
                ("site", "export_limit_kw"),
                ("tariff", "import_price"),
                ("fleet", "vehicles"),
                ("solver", "time_limit_s"),
                ("pv", "peak_kw"),
            ]
        ),
        st.sampled_from(["8", "1", "0.5", "'x'", "Europe/London"]),
    ),
    st.builds(
        YamlText,
        st.sampled_from(
            [
                "tabs",
                "truncate",
                "deep_nest",
                "alias",
                "document_marker",
                "comment_only",
                "list",
                "merge_key",
                "python_tag",
                "junk_line",
            ]
        ),
        st.integers(0, 400),
    ),
)

ENCODINGS = [
    "bom",
    "double_bom",
    "utf16",
    "utf16le",
    "latin1",
    "cp1252_quotes",
    "crlf",
    "cr",
    "gzip",
    "gzip_truncated",
    "gzip_corrupt",
    "gzip_twice",
    "empty",
    "whitespace",
    "nul",
    "truncate",
    "garbage",
    "binary",
    "trailing_comma",
    "semicolon",
    "no_final_newline",
]
byte_mutations = st.builds(FileBytes, st.integers(0, 6), st.sampled_from(ENCODINGS), st.integers(0, 2000))

any_mutation = st.one_of(config_mutations, table_mutations, text_mutations, byte_mutations)

#: The main property's input: a base and 0-3 mutations of any kind.
cases = st.builds(Case, bases, st.lists(any_mutation, max_size=3).map(tuple))
#: Encodings and damage only.
encoded_cases = st.builds(Case, bases, st.lists(byte_mutations, min_size=1, max_size=2).map(tuple))
#: Time zones, starts, horizons, steps and time formats.
time_cases = st.builds(
    Case,
    bases,
    st.lists(
        st.one_of(
            st.builds(
                SetField,
                st.sampled_from([("timezone",), ("horizon_hours",), ("step_minutes",)]),
                st.one_of(SPECIFIC[("timezone",)], SPECIFIC[("horizon_hours",)], SPECIFIC[("step_minutes",)]),
            ),
            start_edits,
            st.builds(
                TimeFormat, st.integers(0, 5), st.integers(0, 2), st.sampled_from(TIME_FORMATS), st.integers(-1, 3)
            ),
            st.builds(ShiftTimes, st.integers(0, 5), st.integers(0, 3), st.sampled_from([-24.0, -0.1, 4.0, 87600.0])),
        ),
        min_size=1,
        max_size=2,
    ).map(tuple),
)

#: The same scenario written another way: gridopt must plan the same ...
keeps_content = st.one_of(
    st.builds(YamlStyle, st.sampled_from(["sorted", "flow", "comments", "document_markers", "floats"])),
    st.builds(Reorder, st.sampled_from(["columns", "rows"])),
    st.builds(Length, st.just("horizon"), st.sampled_from(["4h", "240min", "PT4H"])),
    st.builds(Length, st.just("end"), st.just("4")),
    st.builds(TableBytes, st.integers(0, 5), st.sampled_from(["bom", "crlf", "gzip", "no_final_newline"])),
)
#: ... or, for these spellings, refuse them with a proper message.
other_spellings = st.one_of(
    st.builds(FileBytes, st.integers(0, 6), st.sampled_from(["bom", "crlf", "cr", "gzip", "gzip_twice", "utf16"])),
    st.builds(
        TimeFormat,
        st.integers(0, 5),
        st.integers(0, 2),
        st.sampled_from(["utc_z", "space", "millis", "naive", "no_colon_offset", "compact"]),
        st.just(-1),
    ),
    st.builds(TableEdit, st.integers(0, 5), st.just("blank_lines"), st.integers(0, 12)),
    st.builds(RenameIds, st.integers(0, 5), st.just("padded")),
    st.builds(Length, st.just("horizon"), st.sampled_from(["4 hours", "4H", "240 min", "PT240M", "4h0min"])),
    st.builds(Length, st.sampled_from(["end_naive", "end_utc"]), st.just("4")),
    st.builds(
        DateFormat, st.sampled_from(["%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S%z", "%Y-%m-%d %H:%M", "%m/%d/%Y %I:%M %p"])
    ),
)
#: Each kind of rewriting at most once: the same rewriting twice is another input (a second BOM is
#: refused on purpose, gzip twice is not a CSV, two sets of document markers make two YAML documents).
equivalent_cases = st.builds(
    Case,
    bases,
    st.lists(
        st.one_of(keeps_content, other_spellings),
        min_size=1,
        max_size=3,
        # byte rewritings once per case whatever their kind (gzip then BOM on one file is not UTF-8 text)
        unique_by=lambda m: (
            type(m).__name__ if type(m).__name__.endswith("Bytes") else (type(m).__name__, getattr(m, "how", None))
        ),
    ).map(tuple),
)

#: Several numbers at their edges at once: tiny and huge values in any table cell, numeric YAML
#: fields from 1e-9 to 1e6 and negative, event powers and prices, single time columns moved.
numeric_cases = st.builds(
    Case,
    bases,
    st.lists(
        st.one_of(
            st.builds(
                SetCell,
                st.integers(0, 5),
                st.integers(0, 5),
                st.integers(0, 12),
                st.sampled_from(EDGE_NUMBERS + ["0", "0.0001", "0.9999", "0.1", "3", "7.4", "22", "150", "1e5"]),
            ),
            st.builds(
                SetField,
                st.sampled_from(NUMERIC_PATHS),
                st.sampled_from([0, 1e-9, 1e-6, 0.001, 0.1, 0.5, 1, 2, 5, 15, 40, 100, 1000, 1e4, 1e6, -0.5, -5]),
            ),
            st.builds(
                ShiftTimes,
                st.integers(0, 5),
                st.integers(0, 3),
                st.sampled_from([-1.0, -0.25, 0.125, 0.25, 1.0, 2.0, 3.0]),
                st.integers(-1, 2),
            ),
            st.builds(
                EventEdit,
                st.integers(0, 3),
                st.sampled_from(["kw", "payment_per_kwh", "penalty_per_kwh", "extra_price_per_kwh"]),
                st.sampled_from([0, 0.001, 1, 5, 20, 60, 500, 1e4, -1]),
            ),
        ),
        min_size=2,
        max_size=6,
    ).map(tuple),
)

__all__ = ["bases", "cases", "encoded_cases", "equivalent_cases", "numeric_cases", "time_cases"]
