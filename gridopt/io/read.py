"""Read a scenario YAML and its CSV files into a :class:`~gridopt.scenario.Scenario`."""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import os
import re
import zlib
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from pydantic import ValidationError

from ..errors import ScenarioError
from ..fleet import check_outside_horizon
from ..grid import signals
from ..scenario import (
    EVENT_KINDS,
    SERIES_COLUMNS,
    SESSION_FILE_OPTIONAL,
    SESSION_FILE_REQUIRED,
    SITE_LIMIT_COLUMNS,
    TRIP_OPTIONAL,
    TRIP_REQUIRED,
    GridTerms,
    Scenario,
    ScenarioConfig,
    SessionDefaults,
    SolverOptions,
    check_column_limits,
    check_columns,
    check_fleet_roles,
    economic_warnings,
    empty_vehicles,
    numeric_column,
    resolve_session_forms,
    validate_sessions,
    validate_trips,
    validate_vehicles,
)
from ..tariffs import demand_charge_for_horizon, price_series, tariff_file_series
from ..timeindex import align_to_grid, check_timezone, horizon_grid, parse_times
from . import upload
from .write import FORMULA_START

#: Largest file gridopt reads [bytes]; a gzip table's text counts once decompressed.
MAX_FILE_BYTES = 200 * 1024 * 1024
#: Most cells (data rows x columns) of a table: bounds the reader's memory (at most ~70 bytes a cell).
MAX_TABLE_CELLS = 5_000_000
_MEMO_SIZE = 4096  # distinct values per column kept once while reading
_READ_LIMIT: ContextVar[int | None] = ContextVar("gridopt_read_limit_bytes", default=None)
#: Deepest nesting of a scenario YAML (a scenario needs 3: tariff > import_price > "HH:MM"); deeper is
#: refused before Python's recursion limit turns it into a traceback.
MAX_YAML_DEPTH = 32
_TYPE_TAGS = {"float", "int", "str", "bool"}
_MERGE_TAG = "tag:yaml.org,2002:merge"
_STR_TAG = "tag:yaml.org,2002:str"
_NUMBER_TYPES = {"float_type", "int_type"}


class _ScenarioLoader(yaml.SafeLoader):
    """PyYAML's safe loader (YAML 1.1) without the readings that silently change a scenario.

    - a key given twice in one mapping is an error (PyYAML keeps the last value);
    - mapping keys are text as written: an unquoted ``16:00`` is the key ``"16:00"``,
      not the number 960 (YAML 1.1 base 60), so it collides with a quoted ``'16:00'``;
    - integers with a leading zero (``017``, octal 15 in YAML 1.1, 17 in YAML 1.2),
      ``0x``/``0b`` integers and base-60 numbers (``1:30`` = 90) are refused as values;
    - ``1e5`` is a number, as in YAML 1.2 and JSON (YAML 1.1 reads it as text);
    - a date that does not exist (``2026-02-30``) is refused with its line;
    - nesting deeper than :data:`MAX_YAML_DEPTH` is refused.
    """

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise yaml.composer.ComposerError(
                    None, None, f"nested too deeply (more than {MAX_YAML_DEPTH} levels)", self.peek_event().start_mark
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE_TAG or not isinstance(key_node, yaml.ScalarNode):
                    continue
                if key_node.value in seen:
                    raise yaml.constructor.ConstructorError(
                        None,
                        None,
                        f"key {key_node.value!r} is given twice (first on line {seen[key_node.value] + 1})",
                        key_node.start_mark,
                    )
                seen[key_node.value] = key_node.start_mark.line
            self.flatten_mapping(node)
            for key_node, _ in node.value:
                if isinstance(key_node, yaml.ScalarNode):
                    key_node.tag = _STR_TAG  # keys as written
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node):
        text = str(node.value)
        digits = text.replace("_", "").lstrip("+-")
        problem = None
        if ":" in digits:
            problem = (
                f"{text} is read by YAML 1.1 as the number {super().construct_yaml_int(node)} (base 60): "
                "write a decimal number, or quote it if it is text"
            )
        elif digits[:2].lower() in ("0x", "0b"):
            problem = f"{text} is not a decimal number: write numbers in decimal"
        elif len(digits) > 1 and digits[0] == "0":
            problem = (
                f"{text} has a leading zero, which YAML 1.1 reads as octal ({super().construct_yaml_int(node)}) "
                "and YAML 1.2 as decimal: write it without the leading zero"
            )
        if problem:
            raise yaml.constructor.ConstructorError(None, None, problem, node.start_mark)
        return super().construct_yaml_int(node)

    def construct_yaml_float(self, node):
        if ":" in str(node.value):
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"{node.value} is read by YAML 1.1 as the number {super().construct_yaml_float(node):g} (base 60): "
                "write a decimal number, or quote it if it is text",
                node.start_mark,
            )
        return super().construct_yaml_float(node)

    def construct_yaml_timestamp(self, node):
        try:
            return super().construct_yaml_timestamp(node)
        except (ValueError, OverflowError) as exc:  # 2026-02-30 looks like a date to YAML
            raise yaml.constructor.ConstructorError(
                None, None, f"{node.value} is not a valid date or time ({exc})", node.start_mark
            ) from None


_ScenarioLoader.add_constructor("tag:yaml.org,2002:int", _ScenarioLoader.construct_yaml_int)
_ScenarioLoader.add_constructor("tag:yaml.org,2002:timestamp", _ScenarioLoader.construct_yaml_timestamp)
_ScenarioLoader.add_constructor("tag:yaml.org,2002:float", _ScenarioLoader.construct_yaml_float)
_ScenarioLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _shown(got) -> str:
    """``got`` for a message: short, and nothing for containers."""
    if isinstance(got, (dict, list)) or got is None:
        return ""
    text = repr(got)
    return f" (got {text if len(text) <= 40 else text[:37] + '...'})"


def _loc(e: dict) -> tuple:
    """Where an error is, without union members' tags ("float", "dict[str,...]")."""
    return tuple(
        p
        for p in e["loc"]
        if not (
            isinstance(p, str)
            and (p in _TYPE_TAGS or p in EVENT_KINDS or "[" in p or p.startswith(("constrained-", "function-")))
        )
    )


def _pydantic_message(where: str, err: ValidationError) -> str:
    errors = err.errors()
    # a union (a price or a TOU table) fails once per member: report the deepest failure under
    # the first one's field ("tariff.import_price.16:00"), not "not a number" for the whole table
    first = _loc(errors[0])
    e = max((x for x in errors if _loc(x)[: len(first)] == first), key=lambda x: len(_loc(x)))
    loc = ".".join(str(p) for p in _loc(e))
    kind = e["type"]
    if kind == "missing":
        return f"{where}: missing key '{loc}'"
    if kind == "extra_forbidden":
        return f"{where}: unknown key '{loc}'"
    msg = e["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    got = e.get("input")
    shown = _shown(got)
    if kind == "bool_type":
        msg = "must be true or false"
    elif kind in _NUMBER_TYPES and isinstance(got, bool):
        msg = "must be a number, not a boolean (YAML reads true/false, yes/no and on/off as booleans)"
    elif kind in _NUMBER_TYPES and isinstance(got, str):
        try:
            float(got)
        except ValueError:
            msg = "must be a number"
        else:
            msg = "must be a number, not text: write it without quotes"
    elif kind == "int_type" and isinstance(got, float):
        msg = "must be a whole number (an integer, without a decimal point)"
    elif kind == "string_type" and isinstance(got, bool):
        msg = "must be text, but YAML reads true/false, yes/no and on/off as booleans: put it in quotes"
    elif kind == "string_type" and isinstance(got, (int, float)):
        msg = "must be text, not a number: put it in quotes"
    elif kind == "finite_number":
        msg = "must be a finite number"
    return f"{where}: field '{loc}': {msg}{shown}" if loc else f"{where}: {msg}{shown}"


def _resolve(base: Path, rel: str, where: str, field: str, confine: bool) -> Path:
    p = Path(rel)
    full = p if p.is_absolute() else base / p
    if confine:
        root = base.resolve()
        real = full.resolve()
        if p.is_absolute() or (root != real and root not in real.parents):
            raise ScenarioError(f"{where}: field '{field}': path {rel!r} points outside the scenario's folder")
    if not full.is_file():
        raise ScenarioError(f"{where}: field '{field}': file {rel!r} not found")
    limit = _byte_limit()
    if full.stat().st_size > limit:
        raise ScenarioError(f"{where}: field '{field}': file {rel!r} is larger than {_mb(limit)}")
    return full


@contextmanager
def read_limit(max_bytes: int) -> Iterator[None]:
    """Read every table inside the ``with`` block with at most ``max_bytes`` of text each [bytes].

    The text is counted as it is read, after decompression for gzip tables, so a
    small compressed file cannot inflate past the limit. Nested limits keep the
    smaller one. ``load_scenario(..., confine=True)`` (uploads) reads under the
    uploads' unpacked limit, :data:`gridopt.io.upload.MAX_UNPACKED_BYTES`.

    Parameters
    ----------
    max_bytes : int
        Largest text of one table [bytes].
    """
    outer = _READ_LIMIT.get()
    token = _READ_LIMIT.set(max_bytes if outer is None else min(outer, max_bytes))
    try:
        yield
    finally:
        _READ_LIMIT.reset(token)


def _byte_limit() -> int:
    """The byte limit in force: :data:`MAX_FILE_BYTES`, or a smaller one set by :func:`read_limit` [bytes]."""
    inner = _READ_LIMIT.get()
    return MAX_FILE_BYTES if inner is None else min(inner, MAX_FILE_BYTES)


def _mb(n_bytes: int) -> str:
    return f"{n_bytes / 2**20:.3g} MB"


class _TooLarge(Exception):
    """Raised by :class:`_Capped` when a table's text passes its limit."""


class _Capped(io.RawIOBase):
    """A binary stream that raises :class:`_TooLarge` once more than ``limit`` bytes were read from ``src``."""

    def __init__(self, src, limit: int):
        self._src, self._left = src, limit

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        n = self._src.readinto(buf)
        self._left -= n
        if self._left < 0:
            raise _TooLarge
        return n


def _check_header(header: list[str], where: str, line: int) -> None:
    if "\x00" in "".join(header):
        raise ScenarioError(f"{where}: cannot read as CSV (binary data)")
    if header[0].startswith("\ufeff"):
        raise ScenarioError(
            f"{where}: the file starts with a byte-order mark twice (an editor added a second one): "
            "save it as UTF-8 with at most one"
        )
    first: dict[str, int] = {}
    for j, name in enumerate(header):
        if name in first:
            raise ScenarioError(
                f"{where} line {line}: column {name!r} appears twice (columns {first[name] + 1} and {j + 1}): "
                "which one holds the data?"
            )
        first[name] = j


def _parse_csv(fh, where: str, max_cells: int) -> tuple[list[str], dict[str, np.ndarray], np.ndarray]:
    """Header, stripped text columns (NaN when empty) and the file line each record starts on."""
    reader = csv.reader(fh, skipinitialspace=True)
    header: list[str] | None = None
    columns: list[list] = []
    memos: list[dict] = []  # a repeated value is kept once: memory grows with what is new
    lines: list[int] = []
    last, cells = 0, 0
    for rec in reader:
        first_line = last + 1
        last = reader.line_num
        if not rec or all(not cell.strip() for cell in rec):
            continue
        if header is None:
            header = [c.strip() for c in rec]
            _check_header(header, where, first_line)
            columns = [[] for _ in header]
            memos = [{} for _ in header]
            continue
        if len(rec) != len(header):
            raise ScenarioError(
                f"{where} line {first_line}: cannot read as CSV: {len(rec)} fields, but the header has {len(header)}"
            )
        cells += len(rec)
        if cells > max_cells:
            raise ScenarioError(
                f"{where}: more than {max_cells:,} cells ({len(header)} columns, {len(lines):,} rows read): "
                "too large a table for gridopt"
            )
        for col, memo, cell in zip(columns, memos, rec, strict=True):
            value = cell.strip()
            if not value:
                col.append(np.nan)
                continue
            if len(memo) < _MEMO_SIZE:
                value = memo.setdefault(value, value)
            col.append(value)
        lines.append(first_line)
    if header is None:
        raise ScenarioError(f"{where}: file is empty")
    data = {}
    for name, col in zip(header, columns, strict=True):
        data[name] = np.array(col, dtype=object)
        col.clear()
    return header, data, np.array(lines, dtype=np.int64)


def read_table(
    path: str | os.PathLike, where: str, *, max_bytes: int | None = None, max_cells: int | None = None
) -> pd.DataFrame:
    """Read a CSV (plain or gzip) as text columns, indexed by the file line each record starts on.

    The header is line 1. Blank lines are skipped; a quoted cell may span lines.
    Cells are stripped; empty cells are NaN. A column named twice, a second
    byte-order mark, a damaged gzip stream and a table over its limits are bad
    input.

    Parameters
    ----------
    path : path-like
        The CSV file, plain or gzip-compressed (recognised by its first bytes).
    where : str
        The file's name for messages.
    max_bytes : int, optional
        Largest text read [bytes], counted while reading (after decompression);
        default :data:`MAX_FILE_BYTES` or the smaller limit of :func:`read_limit`.
    max_cells : int, optional
        Most cells (data rows x columns); default :data:`MAX_TABLE_CELLS`.

    Returns
    -------
    pandas.DataFrame
        Object columns named by the stripped header.

    Raises
    ------
    ScenarioError
        Naming ``where``, the line where there is one, and the problem.
    """
    limit = _byte_limit() if max_bytes is None else max_bytes
    gz = False
    try:
        with open(path, "rb") as fh:
            gz = fh.read(2) == b"\x1f\x8b"
        raw = gzip.open(path, "rb") if gz else open(path, "rb", buffering=0)
        with raw, io.TextIOWrapper(io.BufferedReader(_Capped(raw, limit)), encoding="utf-8-sig", newline="") as fh:
            header, data, lines = _parse_csv(fh, where, MAX_TABLE_CELLS if max_cells is None else max_cells)
    except _TooLarge:
        raise ScenarioError(
            f"{where}: more than {_mb(limit)} of text{' once decompressed' if gz else ''}: too large a table for gridopt"
        ) from None
    except UnicodeDecodeError:
        raise ScenarioError(f"{where}: cannot read as CSV (not UTF-8 text)") from None
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise ScenarioError(f"{where}: cannot read as CSV (damaged gzip: {exc})") from None
    except csv.Error as exc:
        raise ScenarioError(f"{where}: cannot read as CSV ({exc})") from None
    except OSError as exc:
        raise ScenarioError(f"{where}: cannot read ({exc.strerror or exc})") from None
    return pd.DataFrame(data, index=lines, columns=header)


#: Columns whose text gridopt writes into its outputs (schedule.csv, summary.json).
ID_COLUMNS = ("vehicle_id", "trip_id", "session_id", "station_id", "charger_id")
_FORMULA_WHY = "starts with a sign that spreadsheets read as a formula (= + - @)"


def _refuse_formulas(raw: pd.DataFrame, where: str) -> pd.DataFrame:
    """Refuse ids that would start a spreadsheet cell with a formula (OWASP CSV injection); ``raw`` as given.

    Ids are identifiers that charger back-ends read too, so they are refused
    rather than changed with a ``'`` on export (which is what
    :func:`gridopt.io.write.spreadsheet_safe` does for results built in Python).
    """
    for col in ID_COLUMNS:
        if col in raw:
            bad = raw[col].map(lambda v: isinstance(v, str) and v.startswith(FORMULA_START))
            if bad.any():
                i = bad.idxmax()
                raise ScenarioError(
                    f"{where} line {i}: '{col}' = {raw.at[i, col]!r} {_FORMULA_WHY}: ids may not start so, rename it"
                )
    return raw


def _read_yaml(path: Path) -> dict:
    where = path.name or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(f"{where}: file not found") from None
    except UnicodeDecodeError:
        raise ScenarioError(f"{where}: cannot read (not UTF-8 text)") from None
    except OSError as exc:  # its text holds the absolute path: name the file as the other messages do
        raise ScenarioError(f"{where}: cannot read ({exc.strerror or type(exc).__name__})") from None
    try:
        data = yaml.load(text, Loader=_ScenarioLoader)
    except yaml.reader.ReaderError as exc:  # a character YAML may not hold: no mark, but its position
        pos = int(getattr(exc, "position", 0) or 0)
        line = text.count("\n", 0, pos) + 1
        col = pos - (text.rfind("\n", 0, pos) + 1) + 1
        char = getattr(exc, "character", "")
        if isinstance(char, str) and len(char) == 1:
            char = ord(char)
        code = f"U+{char:04X}" if isinstance(char, int) else repr(char)
        raise ScenarioError(
            f"{where} line {line} column {col}: character {code} is not allowed in YAML "
            "(is the file saved as UTF-8 text? UTF-16 or binary files are not read)"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or getattr(exc, "reason", None) or "invalid YAML"
        raise ScenarioError(f"{where}{at}: {problem}") from None
    except RecursionError:
        raise ScenarioError(f"{where}: nested too deeply") from None
    if not isinstance(data, dict):
        raise ScenarioError(f"{where}: a scenario is a YAML mapping of keys (name, timezone, start, ...)")
    return data


def load_scenario(path: str | os.PathLike, *, confine: bool = False) -> Scenario:
    """Read and check a scenario YAML and every file it names.

    Parameters
    ----------
    path : path-like
        The scenario YAML; the paths inside it are relative to its folder.
    confine : bool
        Reject paths that leave the scenario's folder (used for uploads), and read
        each table under the uploads' unpacked limit (see :func:`read_limit`).

    Returns
    -------
    Scenario

    Raises
    ------
    ScenarioError
        With one message naming the file, the field or line, and the problem.
    """
    path = Path(path)
    data = _read_yaml(path)
    with read_limit(upload.MAX_UNPACKED_BYTES) if confine else nullcontext():
        return scenario_from_dict(data, path.parent, path.name, confine=confine)


def scenario_from_dict(
    data: dict, base_dir: str | os.PathLike, where: str = "scenario", *, confine: bool = False
) -> Scenario:
    """Build a :class:`Scenario` from YAML-like data whose paths are relative to ``base_dir``."""
    base = Path(base_dir)
    try:
        cfg = ScenarioConfig.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(_pydantic_message(where, exc)) from None
    except RecursionError:
        raise ScenarioError(f"{where}: nested too deeply") from None
    if cfg.name.startswith(FORMULA_START):
        raise ScenarioError(f"{where}: field 'name': {cfg.name!r} {_FORMULA_WHY}; the name may not start so")
    warnings: list[str] = []
    tz = check_timezone(cfg.timezone, f"{where}: field 'timezone'", warnings)
    grid, horizon_warnings = horizon_grid(
        cfg.start,
        tz,
        cfg.step_minutes,
        horizon_hours=cfg.horizon_hours,
        horizon=cfg.horizon,
        end=cfg.end,
        where=where,
    )
    warnings += horizon_warnings
    date_format = cfg.date_format

    # --- time series -----------------------------------------------------
    columns: dict[str, pd.Series] = {}
    if cfg.timeseries:
        tpath = _resolve(base, cfg.timeseries, where, "timeseries", confine)
        twhere = tpath.name
        raw = read_table(tpath, twhere)
        check_columns(raw, twhere, ("time",), SERIES_COLUMNS + SITE_LIMIT_COLUMNS)
        if len(raw.columns) == 1:
            raise ScenarioError(f"{twhere}: no data column (expected any of {', '.join(SERIES_COLUMNS)})")
        times = parse_times(raw["time"], tz, twhere, "time", date_format)
        num = pd.DataFrame({c: numeric_column(raw, c, twhere) for c in raw.columns if c != "time"})
        check_column_limits(num, twhere)
        for c in ("base_load_kw", "pv_kw") + SITE_LIMIT_COLUMNS:
            if c in num and (num[c] < 0).any():
                i = (num[c] < 0).idxmax()
                raise ScenarioError(f"{twhere} line {i}: '{c}' must be >= 0 (got {num.at[i, c]})")
        limits = num[[c for c in SITE_LIMIT_COLUMNS if c in num]]
        num = num.drop(columns=limits.columns)
        lines = num.index.to_numpy()
        num.index = pd.DatetimeIndex(times)
        if len(num.columns):
            aligned = align_to_grid(num, grid, twhere, lines)
            columns.update({c: aligned[c] for c in aligned.columns})
        if len(limits.columns):
            aligned = signals.align_limits(limits, times, grid, twhere)
            columns.update({c: aligned[c] for c in aligned.columns})

    tariff = cfg.tariff
    demand = 0.0
    file_price = None
    if tariff.tariff_file:
        fpath = _resolve(base, tariff.tariff_file, where, "tariff.tariff_file", confine)
        try:
            sched = json.loads(fpath.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ScenarioError(f"{fpath.name}: cannot read as JSON ({exc})") from None
        file_price, demand = tariff_file_series(sched, grid.index, fpath.name)
    if tariff.demand_charge_per_kw is not None:
        demand = float(tariff.demand_charge_per_kw)
    stated_demand = demand
    demand, demand_warnings = demand_charge_for_horizon(
        stated_demand,
        tariff.demand_charge_period,
        grid.n_steps * grid.dt_h,
        where,
        from_tariff_file=bool(tariff.tariff_file) and tariff.demand_charge_per_kw is None,
    )
    warnings += demand_warnings

    def pick(name: str, spec, fallback, default=None) -> pd.Series:
        if name in columns:
            if spec is not None or fallback is not None:
                warnings.append(f"{name}: the timeseries column is used; the tariff's {name} is ignored")
            return columns[name]
        if spec is not None:
            if fallback is not None:
                warnings.append(f"{name}: tariff.{name} is used; the tariff_file's price is ignored")
            return price_series(spec, grid.index, f"{where}: field 'tariff.{name}'")
        if fallback is not None:
            return fallback
        if default is None:
            raise ScenarioError(
                f"{where}: no {name}: give tariff.{name}, tariff.tariff_file or an {name} column in the timeseries"
            )
        return pd.Series(float(default), index=grid.index)

    import_price = pick("import_price", tariff.import_price, file_price)
    export_price = pick("export_price", tariff.export_price, None, default=0.0)

    if "base_load_kw" in columns:
        if cfg.site.base_load_kw is not None:
            warnings.append("base_load_kw: the timeseries column is used; site.base_load_kw is ignored")
        base_load = columns["base_load_kw"]
    else:
        base_load = pd.Series(float(cfg.site.base_load_kw or 0.0), index=grid.index)

    if "pv_kw" in columns:
        if cfg.pv is not None:
            warnings.append("pv_kw: the timeseries column is used; the pv block is ignored")
        pv = columns["pv_kw"]
    elif cfg.pv is not None:
        pv = _pv_from_config(cfg, grid, base, where, confine)
    else:
        pv = pd.Series(0.0, index=grid.index)

    series = pd.DataFrame(
        {"import_price": import_price, "export_price": export_price, "base_load_kw": base_load, "pv_kw": pv},
        index=grid.index,
    ).astype(float)

    # --- fleet -----------------------------------------------------------
    fleet = cfg.fleet
    if fleet.trips and not fleet.vehicles:
        raise ScenarioError(
            f"{where}: field 'fleet.trips': trips need fleet.vehicles (each vehicle's battery and initial_soc)"
        )
    if not fleet.vehicles and not fleet.sessions:
        raise ScenarioError(
            f"{where}: missing key 'fleet.vehicles': give fleet.vehicles (with trips or sessions), or "
            "fleet.sessions whose sessions give energy_kwh"
        )
    vname = None
    vehicles = empty_vehicles()
    if fleet.vehicles:
        vpath = _resolve(base, fleet.vehicles, where, "fleet.vehicles", confine)
        vname = vpath.name
        vehicles = validate_vehicles(_refuse_formulas(read_table(vpath, vname), vname), vname)
    trips = _empty_trips(tz)
    sessions = _empty_sessions(tz)
    if fleet.trips:
        tp = _resolve(base, fleet.trips, where, "fleet.trips", confine)
        trips = _read_trips(tp, vehicles, tz, vname, date_format)
    visitors = empty_vehicles()
    if fleet.sessions:
        sp = _resolve(base, fleet.sessions, where, "fleet.sessions", confine)
        sessions, visitors = _read_sessions(sp, vehicles, tz, vname, fleet.session_defaults, date_format)
        if not len(vehicles) and not len(visitors):
            raise ScenarioError(f"{sp.name}: no sessions, and the scenario has no fleet.vehicles: nothing to plan")
        vehicles = _with_visitors(vehicles, visitors)
    if fleet.session_defaults is not None and not len(visitors):
        warnings.append(
            "fleet.session_defaults is not used: no session is a visitor's (every session's vehicle is in "
            f"{vname or 'vehicles.csv'})"
        )
    check_fleet_roles(
        vehicles,
        trips,
        sessions,
        vname or "vehicles",
        Path(cfg.fleet.trips).name if cfg.fleet.trips else "trips",
        Path(cfg.fleet.sessions).name if cfg.fleet.sessions else "sessions",
    )
    warnings += check_outside_horizon(
        grid,
        trips,
        sessions,
        Path(cfg.fleet.trips).name if cfg.fleet.trips else "trips",
        Path(cfg.fleet.sessions).name if cfg.fleet.sessions else "sessions",
        cfg.fleet.max_share_outside_horizon,
    )

    from ..chargers import load_site_chargers

    chargers, circuit, reassign_at = load_site_chargers(
        cfg.site,
        base,
        where,
        lambda rel, field: _resolve(base, rel, where, field, confine),
        sessions,
        Path(cfg.fleet.sessions).name if cfg.fleet.sessions else "sessions",
        named=(vehicles, trips, grid.start, grid.end, _fleet_files(cfg, vname)),  # charger_id of vehicles, trips
    )
    import_limit = math.inf if cfg.site.import_limit_kw is None else float(cfg.site.import_limit_kw)
    series, terms, events, grid_warnings = _grid_block(
        cfg, series, columns, import_limit, grid, tz, base, where, confine
    )
    warnings += grid_warnings
    sc = Scenario(
        name=cfg.name,
        description=cfg.description,
        grid=grid,
        import_limit_kw=import_limit,
        export_limit_kw=float(cfg.site.export_limit_kw),
        series=series,
        demand_charge_per_kw=float(demand),
        battery_degradation_cost_per_kwh=float(cfg.battery_degradation_cost_per_kwh),
        unmet_energy_penalty_per_kwh=float(cfg.unmet_energy_penalty_per_kwh),
        vehicles=vehicles,
        trips=trips,
        sessions=sessions,
        solver=SolverOptions(time_limit_s=cfg.solver.time_limit_s, mip_rel_gap=cfg.solver.mip_rel_gap),
        pv_curtailable=cfg.site.pv_curtailable,
        switching_penalty_per_kw=float(cfg.site.switching_penalty_per_kw),
        prefer_early_charging=cfg.site.prefer_early_charging,
        config=cfg.model_dump(mode="json", exclude_none=True),
        base_dir=str(base),
        currency=cfg.currency,
        demand_charge_period=tariff.demand_charge_period or "horizon",
        demand_charge_stated_per_kw=float(stated_demand),
        grid_terms=terms,
        events=events,
        chargers=chargers,
        circuit=circuit,
        reassign_at=reassign_at,
    )
    warnings += economic_warnings(sc)
    warnings += _fleet_warnings(sc)
    return sc.with_built(warnings=tuple(warnings))


def _grid_block(
    cfg: ScenarioConfig,
    series: pd.DataFrame,
    columns: dict[str, pd.Series],
    import_limit: float,
    grid,
    tz: str,
    base: Path,
    where: str,
    confine: bool,
) -> tuple[pd.DataFrame, GridTerms, tuple, list[str]]:
    """The ``grid:`` block, ``events`` and the timeseries' limit columns (see :mod:`gridopt.grid.signals`).

    Returns the series with the grid columns that apply, the grid terms, the
    events as records, and warnings. Without any of them the series comes back
    as it was.
    """
    warnings: list[str] = []
    limit_cols = {c: columns[c] for c in SITE_LIMIT_COLUMNS if c in columns}
    for c in limit_cols:
        if c in cfg.site.model_fields_set:
            warnings.append(f"{c}: the timeseries column is used; site.{c} is ignored")
    sig = None
    gcfg = cfg.grid
    if gcfg is not None and gcfg.signals:
        spath = _resolve(base, gcfg.signals, where, "grid.signals", confine)
        swhere = spath.name
        raw = read_table(spath, swhere)
        signals.check_signal_columns(list(raw.columns), swhere)
        times = parse_times(raw["time"], tz, swhere, "time", cfg.date_format)
        num = pd.DataFrame(
            {c: numeric_column(raw, c, swhere, required=c != "target_kw") for c in raw.columns if c != "time"}
        )
        signals.check_signal_values(num, swhere)
        sig = signals.align_signals(num, times, grid, swhere)
    terms = signals.grid_terms(gcfg)
    if gcfg is not None:
        warnings += signals.check_terms(terms, sig, where)
    ev_cols, events = None, ()
    if cfg.events:
        ev_cols, events, ev_warnings = signals.resolve_events(cfg.events, grid, tz, where)
        warnings += ev_warnings
    if sig is None and ev_cols is None and not limit_cols:
        return series, terms, events, warnings
    out = signals.grid_columns(
        series,
        limit_cols.get("import_limit_kw", import_limit),
        limit_cols.get("export_limit_kw", float(cfg.site.export_limit_kw)),
        sig,
        ev_cols,
    )
    return out, terms, events, warnings


def _pv_from_config(cfg: ScenarioConfig, grid, base: Path, where: str, confine: bool) -> pd.Series:
    from ..supply import pv_power_kw

    pv = cfg.pv
    weather, wwhere = None, None
    if pv.weather:
        wpath = _resolve(base, pv.weather, where, "pv.weather", confine)
        wwhere = wpath.name
        raw = read_table(wpath, wwhere)
        check_columns(raw, wwhere, ("time", "ghi"), ("dni", "dhi", "temp_air", "wind_speed"))
        times = parse_times(raw["time"], str(grid.tz), wwhere, "time", cfg.date_format)
        weather = pd.DataFrame({c: numeric_column(raw, c, wwhere) for c in raw.columns if c != "time"})
        _check_weather(weather, times, wwhere)
        weather.index = pd.DatetimeIndex(times)
        if weather.index[0] > grid.start or weather.index[-1] < grid.end - pd.Timedelta(hours=1):
            raise ScenarioError(
                f"{wwhere}: covers {weather.index[0].isoformat()} to {weather.index[-1].isoformat()}, "
                f"but the horizon is {grid.start.isoformat()} to {grid.end.isoformat()}"
            )
    return pv_power_kw(
        grid.index,
        grid.step_minutes,
        latitude=pv.latitude,
        longitude=pv.longitude,
        peak_kw=pv.peak_kw,
        tilt_deg=pv.tilt_deg,
        azimuth_deg=pv.azimuth_deg,
        altitude_m=pv.altitude_m,
        inverter_kw=pv.inverter_kw,
        loss_fraction=pv.loss_fraction,
        weather=weather,
        where=where,
        weather_where=wwhere,
    )


#: Physical ranges of weather columns: irradiance [W/m2] (small negative offsets of
#: night-time sensors are clipped to 0), air temperature [C], wind speed [m/s].
WEATHER_BOUNDS = {
    "ghi": (-50.0, 2000.0),
    "dni": (-50.0, 2000.0),
    "dhi": (-50.0, 2000.0),
    "temp_air": (-90.0, 70.0),
    "wind_speed": (0.0, 100.0),
}


def _check_weather(weather: pd.DataFrame, times: pd.Series, where: str) -> None:
    """Refuse a weather table without rows, out of time order, with a time twice, or with values outside physics."""
    if not len(weather):
        raise ScenarioError(f"{where}: no rows (a header and no data)")
    lines = weather.index.to_numpy()
    for col, (lo, hi) in WEATHER_BOUNDS.items():
        if col in weather:
            out = (weather[col] < lo) | (weather[col] > hi)
            if out.any():
                i = out.idxmax()
                raise ScenarioError(f"{where} line {i}: '{col}' = {weather.at[i, col]:g} is outside {lo:g}..{hi:g}")
    t = times.to_numpy()
    back = np.flatnonzero(t[1:] < t[:-1])
    if len(back):
        k = back[0] + 1
        raise ScenarioError(
            f"{where} line {lines[k]}: time {times.iloc[k].isoformat()} comes before the one on line {lines[k - 1]} "
            f"({times.iloc[k - 1].isoformat()}): the file is not sorted by time"
        )
    same = np.flatnonzero(t[1:] == t[:-1])
    if len(same):
        k = same[0] + 1
        raise ScenarioError(
            f"{where} lines {lines[k - 1]} and {lines[k]}: the same time {times.iloc[k].isoformat()} twice"
        )


def _empty_trips(tz: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "vehicle_id": pd.Series(dtype=object),
            "departure": pd.Series(dtype=f"datetime64[ns, {tz}]"),
            "arrival": pd.Series(dtype=f"datetime64[ns, {tz}]"),
            "energy_kwh": pd.Series(dtype=float),
            "departure_soc": pd.Series(dtype=float),
            "trip_id": pd.Series(dtype=object),
        }
    )


def _empty_sessions(tz: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "vehicle_id": pd.Series(dtype=object),
            "arrival": pd.Series(dtype=f"datetime64[ns, {tz}]"),
            "departure": pd.Series(dtype=f"datetime64[ns, {tz}]"),
            "arrival_soc": pd.Series(dtype=float),
            "target_soc": pd.Series(dtype=float),
            "session_id": pd.Series(dtype=object),
        }
    )


def _text_ids(raw: pd.DataFrame, where: str) -> pd.Series:
    ids = raw["vehicle_id"].astype("string").str.strip()
    if (ids.isna() | (ids == "")).any():
        i = (ids.isna() | (ids == "")).idxmax()
        raise ScenarioError(f"{where} line {i}: 'vehicle_id' is empty")
    return ids.astype(object)


def _fleet_files(cfg, vname) -> dict:
    """File names of the fleet tables, for messages."""
    fleet = cfg.fleet
    return {
        "vehicles": vname or "vehicles",
        "trips": Path(fleet.trips).name if fleet.trips else "trips",
        "sessions": Path(fleet.sessions).name if fleet.sessions else "sessions",
    }


def _read_trips(
    path: Path, vehicles: pd.DataFrame, tz: str, vwhere: str, date_format: str | None = None
) -> pd.DataFrame:
    where = path.name
    raw = _refuse_formulas(read_table(path, where), where)
    check_columns(raw, where, TRIP_REQUIRED, TRIP_OPTIONAL)
    df = pd.DataFrame(index=raw.index)
    df["vehicle_id"] = _text_ids(raw, where)
    df["departure"] = parse_times(raw["departure"], tz, where, "departure", date_format)
    df["arrival"] = parse_times(raw["arrival"], tz, where, "arrival", date_format)
    df["energy_kwh"] = numeric_column(raw, "energy_kwh", where)
    df["departure_soc"] = (
        numeric_column(raw, "departure_soc", where, required=False) if "departure_soc" in raw else np.nan
    )
    if "trip_id" in raw:
        df["trip_id"] = raw["trip_id"].astype("string").fillna("").astype(object)
    else:
        df["trip_id"] = [f"trip-{i - 1}" for i in raw.index]
    if "charger_id" in raw:  # the charger of the plug-in after the trip (checked in gridopt.chargers)
        df["charger_id"] = raw["charger_id"].astype("string").str.strip().fillna("").astype(object)
    return validate_trips(df, vehicles, where, vwhere)


def _read_sessions(
    path: Path,
    vehicles: pd.DataFrame,
    tz: str,
    vwhere: str | None,
    defaults: SessionDefaults | None,
    date_format: str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Sessions in SoC form and the visitors' vehicles (see :func:`~gridopt.scenario.resolve_session_forms`)."""
    where = path.name
    raw = _refuse_formulas(read_table(path, where), where)
    check_columns(raw, where, SESSION_FILE_REQUIRED, SESSION_FILE_OPTIONAL)
    df = pd.DataFrame(index=raw.index)
    for col in ("vehicle_id", "session_id", "station_id"):  # text; NaN where empty or absent
        if col in raw:
            df[col] = raw[col].astype(object)
        elif col != "station_id":  # no station_id column: the scenario has no stations
            df[col] = np.nan
    df["arrival"] = parse_times(raw["arrival"], tz, where, "arrival", date_format)
    df["departure"] = parse_times(raw["departure"], tz, where, "departure", date_format)
    for col in ("arrival_soc", "target_soc", "energy_kwh", "max_charge_kw", "min_charge_kw"):
        if col in raw:
            df[col] = numeric_column(raw, col, where, required=False)
    sessions, visitors = resolve_session_forms(df, vehicles, where, vwhere, defaults)
    return validate_sessions(sessions, _with_visitors(vehicles, visitors), where, vwhere or "vehicles"), visitors


def _with_visitors(vehicles: pd.DataFrame, visitors: pd.DataFrame) -> pd.DataFrame:
    """The vehicles table followed by the visitors' vehicles."""
    if not len(visitors):
        return vehicles
    return pd.concat([vehicles, visitors]) if len(vehicles) else visitors


def _fleet_warnings(sc: Scenario) -> list[str]:
    out = []
    if len(sc.trips):
        usable = sc.vehicles.loc[sc.trips["vehicle_id"], "battery_kwh"].to_numpy() * (
            sc.vehicles.loc[sc.trips["vehicle_id"], "max_soc"].to_numpy()
            - sc.vehicles.loc[sc.trips["vehicle_id"], "min_soc"].to_numpy()
        )
        need = sc.trips["energy_kwh"].to_numpy()
        big = need > usable + 1e-9
        if big.any():
            i = int(np.argmax(big))
            out.append(
                f"trip {sc.trips['trip_id'].iloc[i]} of vehicle {sc.trips['vehicle_id'].iloc[i]!r} needs "
                f"{need[i]:g} kWh, more than the {usable[i]:.1f} kWh between min_soc and max_soc"
                + (f" ({int(big.sum())} such trips)" if big.sum() > 1 else "")
                + ": part of it will be reported unmet"
            )
    return out
