"""The one time contract of gridopt.

A plan lives on a tz-aware :class:`pandas.DatetimeIndex` of ``n_steps`` step
starts, ``step_minutes`` apart, beginning at ``start``. Inside the optimizer
time is an integer step number ``t = 0 .. n_steps - 1``; a *boundary* ``k`` is
the instant between step ``k - 1`` and step ``k`` (``k = 0 .. n_steps``).

Rounding rule (so that a vehicle is never counted as plugged in when it is not):

* an **arrival** is rounded *up* to the next step boundary,
* a **departure** is rounded *down* to the previous step boundary.

A vehicle that arrives at 17:05 with 15-minute steps is plugged in from 17:15;
one that leaves at 07:20 must be ready at 07:15.

Every time is read one way only, so that no date is silently misread:

* the timezone is a canonical IANA name (:func:`check_timezone`);
* ``start`` and ``end`` are ISO 8601 with the timezone's own UTC offset at that
  instant (:func:`parse_instant`); the horizon is a whole number of steps
  (:func:`horizon_grid`);
* times in tables are ISO 8601, or all in the scenario's ``date_format``
  (:func:`parse_times`); local times are read in the timezone, and a local time
  that is ambiguous or does not exist there is refused;
* every time lies within the years 1900..2200.
"""

from __future__ import annotations

import datetime as _dt
import functools
import importlib.resources
import math
import re
import zoneinfo
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import ScenarioError

_EARLIEST, _LATEST = 1900, 2200  # years a plan's times may fall in
#: Longest horizon [h] (as ``horizon_hours`` allows).
MAX_HORIZON_HOURS = 24 * 31
#: A horizon within this many seconds of a whole number of steps is rounded to it [s].
STEP_TOLERANCE_S = 1.0

#: ISO 8601 (extended form) as gridopt reads it: a date, optionally a time (``T`` or a space between),
#: optionally seconds and a fraction, optionally a UTC offset (``Z``, ``+02``, ``+0200``, ``+02:00``).
_ISO_RE = re.compile(
    r"(?P<year>\d{4})-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?P<offset>Z|[+-]\d{2}(?::?\d{2})?)?)?"
)
_ISO_HINT = "e.g. 2026-06-15T07:30:00+02:00 or 2026-06-15 07:30"


@dataclass(frozen=True)
class TimeGrid:
    """The horizon of a plan.

    Attributes
    ----------
    index : pandas.DatetimeIndex
        Step starts, tz-aware, length ``n_steps``.
    step_minutes : int
        Step length [min].
    """

    index: pd.DatetimeIndex
    step_minutes: int

    @property
    def n_steps(self) -> int:
        return len(self.index)

    @property
    def dt_h(self) -> float:
        """Step length [h]."""
        return self.step_minutes / 60.0

    @property
    def start(self) -> pd.Timestamp:
        return self.index[0]

    @property
    def end(self) -> pd.Timestamp:
        """Instant at which the horizon ends (end of the last step)."""
        return self.index[-1] + pd.Timedelta(minutes=self.step_minutes)

    @property
    def tz(self):
        return self.index.tz

    def boundary_time(self, k: int) -> pd.Timestamp:
        """Instant of boundary ``k`` (0 = start, ``n_steps`` = end)."""
        return self.start + pd.Timedelta(minutes=self.step_minutes * int(k))

    def steps_float(self, times: pd.Series | pd.DatetimeIndex) -> np.ndarray:
        """Position of instants on the grid in steps (float, may be outside 0..n)."""
        delta = (pd.DatetimeIndex(times) - self.start) / pd.Timedelta(minutes=self.step_minutes)
        return np.asarray(delta, dtype=float)

    def arrival_boundary(self, times) -> np.ndarray:
        """Boundary from which a vehicle arriving at ``times`` is plugged in (rounded up)."""
        return np.ceil(self.steps_float(times) - 1e-9).astype(np.int64)

    def departure_boundary(self, times) -> np.ndarray:
        """Boundary by which a vehicle leaving at ``times`` must be ready (rounded down)."""
        return np.floor(self.steps_float(times) + 1e-9).astype(np.int64)


# ---------------------------------------------------------------------------
# Timezones
# ---------------------------------------------------------------------------


def _tz_sources() -> list:
    """Folders that may hold the tz database's tables: the tzdata package, then the system's."""
    out = []
    try:
        out.append(importlib.resources.files("tzdata").joinpath("zoneinfo"))
    except (ModuleNotFoundError, TypeError):
        pass
    out += [Path(p) for p in zoneinfo.TZPATH]
    return out


@functools.lru_cache(maxsize=1)
def _tz_tables() -> tuple[frozenset, dict] | None:
    """Canonical zone names (``zone.tab`` and ``zone1970.tab``) and backward links (``tzdata.zi``).

    None when no copy of the tables is found (then any loadable Area/Location name is accepted).
    """
    for folder in _tz_sources():
        try:
            tabs = [folder.joinpath(f).read_text(encoding="utf-8") for f in ("zone.tab", "zone1970.tab")]
            zi = folder.joinpath("tzdata.zi").read_text(encoding="utf-8")
        except (OSError, ValueError):
            continue
        canonical = set()
        for text in tabs:
            for line in text.splitlines():
                parts = line.split("\t")
                if len(parts) >= 3 and not line.startswith("#"):
                    canonical.add(parts[2].strip())
        links = {}
        for line in zi.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0] == "L":
                links[parts[2]] = parts[1]
        if canonical:
            return frozenset(canonical), links
    return None


def _loads(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError, OSError):
        return False
    return True


def _is_canonical(name: str, canonical: frozenset) -> bool:
    return name == "UTC" or name.startswith("Etc/") or name in canonical


def check_timezone(name: str, where: str, warnings: list[str] | None = None) -> str:
    """Return ``name`` if it is a canonical IANA timezone, else raise :class:`ScenarioError`.

    Accepted: the zones of the tz database's ``zone.tab``/``zone1970.tab``
    (``Area/Location``, e.g. ``Europe/Amsterdam``), ``UTC`` and ``Etc/*``. A
    deprecated alias that links to one of them (``US/Pacific``, ``Asia/Calcutta``)
    is accepted with a warning naming the canonical zone, appended to
    ``warnings`` if given. Refused: names that mean different things on
    different machines (``localtime``, ``posixrules``, ``Factory``,
    ``posix/...``, ``right/...``) and unknown names.

    Parameters
    ----------
    name : str
        The timezone as written.
    where : str
        File and field for messages, e.g. ``"scenario.yaml: field 'timezone'"``.
    warnings : list of str, optional
        Receives the warning for a deprecated alias.
    """
    text = str(name)
    if not isinstance(name, str) or not _loads(text):
        tables = _tz_tables()
        close = [z for z in (tables[0] if tables else ()) if z.lower() == text.lower()]
        hint = f"did you mean {close[0]!r}?" if close else "use an IANA name such as 'Europe/Amsterdam'"
        raise ScenarioError(f"{where}: unknown timezone {name!r} ({hint})")
    tables = _tz_tables()
    if tables is None:  # no tz tables on this machine: refuse what is known to vary, accept the rest
        if "/" in text and not text.startswith(("posix/", "right/", "SystemV/")):
            return text
        if text == "UTC":
            return text
        canonical, links = frozenset(), {}
    else:
        canonical, links = tables
    if _is_canonical(text, canonical):
        return text
    target = text
    for _ in range(8):  # follow a chain of links
        if target not in links:
            break
        target = links[target]
    if target != text and _is_canonical(target, canonical) and _loads(target):
        if warnings is not None:
            warnings.append(f"{where}: {text!r} is a deprecated alias of {target!r}; write {target!r}")
        return text
    meant = text.split("/", 1)[1] if text.startswith(("posix/", "right/")) else None
    if meant and (_is_canonical(meant, canonical) or meant in links):
        hint = f"use {meant!r}" + (" (right/ zones count leap seconds)" if text.startswith("right/") else "")
    else:
        hint = "use the site's Area/Location name, e.g. 'Europe/Amsterdam', or 'UTC'"
    raise ScenarioError(
        f"{where}: timezone {name!r} is not a canonical IANA zone (it can mean different things on different "
        f"machines): {hint}"
    )


# ---------------------------------------------------------------------------
# The horizon: start, and its length in hours, as a duration or an end
# ---------------------------------------------------------------------------


def _offset_text(delta: _dt.timedelta | None) -> str:
    minutes = int(round(delta.total_seconds() / 60)) if delta is not None else 0
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def parse_instant(text, timezone: str, where: str) -> pd.Timestamp:
    """An instant written in the scenario YAML (``start``, ``end``), in ``timezone``.

    It must be ISO 8601 with a UTC offset, the offset must be the one
    ``timezone`` has at that instant (``+02:00`` in ``Europe/London`` is
    refused: it shifts the plan by an hour), and the year must lie within
    1900..2200.

    Parameters
    ----------
    text : str
        The time as written.
    timezone : str
        IANA name (already checked).
    where : str
        File and field for messages.

    Returns
    -------
    pandas.Timestamp
        tz-aware, in ``timezone``.
    """
    raw = str(text).strip()
    m = _ISO_RE.fullmatch(raw)
    if not m:
        raise ScenarioError(
            f"{where}: {text!r} is not a time (ISO 8601 with a UTC offset, e.g. 2026-06-15T00:00:00+02:00)"
        )
    year = int(m["year"])
    if not _EARLIEST <= year <= _LATEST:
        raise ScenarioError(f"{where}: {text!r} is out of range (a plan's times lie within {_EARLIEST}..{_LATEST})")
    try:
        ts = pd.Timestamp(raw)
    except (ValueError, OverflowError):
        raise ScenarioError(f"{where}: {text!r} is not a valid time") from None
    if ts.tzinfo is None:
        try:
            local = ts.tz_localize(timezone, ambiguous="raise", nonexistent="raise").isoformat()
            fix = f"in {timezone} that is {local}"
        except Exception:
            fix = f"that clock time is ambiguous or does not exist in {timezone} (daylight-saving change)"
        raise ScenarioError(f"{where}: {text!r} needs a UTC offset: {fix}")
    in_zone = ts.tz_convert(timezone)
    if in_zone.utcoffset() != ts.utcoffset():
        try:
            same_clock = ts.tz_localize(None).tz_localize(timezone, ambiguous="raise", nonexistent="raise")
            fix = f"write {same_clock.isoformat()} for that clock time in {timezone}"
        except Exception:
            fix = f"write the time with {timezone}'s offset"
        raise ScenarioError(
            f"{where}: the offset {_offset_text(ts.utcoffset())} of {text!r} is not {timezone}'s offset at that "
            f"instant ({_offset_text(in_zone.utcoffset())}): {fix}, or name the timezone the offset belongs to"
        )
    return in_zone


_DURATION_UNITS = {
    "w": "W",
    "week": "W",
    "weeks": "W",
    "d": "D",
    "day": "D",
    "days": "D",
    "h": "h",
    "hr": "h",
    "hrs": "h",
    "hour": "h",
    "hours": "h",
    "min": "min",
    "mins": "min",
    "minute": "min",
    "minutes": "min",
    "s": "s",
    "sec": "s",
    "secs": "s",
    "second": "s",
    "seconds": "s",
}
_NUM = r"\d+(?:\.\d+)?"
_ISO_DURATION_RE = re.compile(
    rf"P(?:(?P<W>{_NUM})W)?(?:(?P<D>{_NUM})D)?(?:T(?:(?P<h>{_NUM})H)?(?:(?P<min>{_NUM})M)?(?:(?P<s>{_NUM})S)?)?"
)
_PART_RE = re.compile(rf"\s*({_NUM})\s*([A-Za-z]+)\s*")


def parse_duration(text, where: str) -> pd.Timedelta:
    """A duration: units (``"10h10min"``, ``"2d"``, ``"1 day 6 hours"``) or ISO 8601 (``"PT10H10M"``).

    Units are ``w``, ``d``, ``h``, ``min``, ``s`` (and their words). Months and
    years are refused (not a fixed length), and so is ``m`` (minute or month?).

    Raises
    ------
    ScenarioError
        Naming ``where`` (file and field).
    """
    raw = str(text).strip()
    if raw.startswith("-"):
        raise ScenarioError(f"{where}: {text!r}: a horizon must be positive")
    if raw.upper().startswith("P"):
        m = _ISO_DURATION_RE.fullmatch(raw.upper())
        if not m or raw.upper() in ("P", "PT") or raw.upper().endswith("T"):
            month = re.fullmatch(r"P[^T]*[YM].*", raw.upper())
            why = "months and years are not a fixed length" if month else "not an ISO 8601 duration"
            raise ScenarioError(f"{where}: {text!r}: {why} (write e.g. 'PT24H', 'P2D' or '10h10min')")
        parts = {u: float(v) for u, v in m.groupdict().items() if v is not None}
    else:
        pos, parts = 0, {}
        for m in _PART_RE.finditer(raw):
            if m.start() != pos:
                break
            pos = m.end()
            word = m.group(2)
            unit = _DURATION_UNITS.get(word.lower()) if word not in ("M", "m", "Y", "y") else None
            if unit is None:
                what = {"m": "minutes or months? write 'min'", "M": "months are not a fixed length"}.get(word)
                what = what or ("years are not a fixed length" if word.lower() == "y" else f"unknown unit {word!r}")
                raise ScenarioError(f"{where}: {text!r}: {what} (units: w, d, h, min, s)")
            parts[unit] = parts.get(unit, 0.0) + float(m.group(1))
        if pos != len(raw) or not parts:
            hint = "a duration needs a unit" if re.fullmatch(_NUM, raw) else "not a duration"
            raise ScenarioError(f"{where}: {text!r}: {hint} (e.g. '24h', '10h10min', '2d', 'PT10H10M')")
    return sum((pd.Timedelta(v, unit=u) for u, v in parts.items()), pd.Timedelta(0))


def count_steps(length: pd.Timedelta | float, step_minutes: int, where: str, shown: str) -> tuple[int, str | None]:
    """Number of whole steps in a horizon of ``length``.

    A length within :data:`STEP_TOLERANCE_S` of a whole number of steps is
    rounded to it (``10.1667`` h is 61 ten-minute steps), with a warning when
    it is off by more than 1e-9 steps.

    Parameters
    ----------
    length : pandas.Timedelta or float
        The horizon; a float is in hours [h].
    step_minutes : int
        Step length [min].
    where : str
        File and field, for messages.
    shown : str
        The horizon as the user wrote it, for messages.

    Returns
    -------
    (int, str or None)
        The step count (at least 1) and a warning (None if exact).
    """
    hours = length / pd.Timedelta(hours=1) if isinstance(length, pd.Timedelta) else float(length)
    steps = hours * 60.0 / step_minutes
    if not math.isfinite(steps):
        raise ScenarioError(f"{where}: {shown} is not a length")
    n = int(round(steps))
    if n < 1:
        raise ScenarioError(
            f"{where}: {shown} is zero steps of {step_minutes} min ({steps:.3g} steps): "
            "the horizon needs at least one step"
        )
    if hours > MAX_HORIZON_HOURS + STEP_TOLERANCE_S / 3600:
        raise ScenarioError(f"{where}: {shown} is longer than 31 days ({MAX_HORIZON_HOURS} h), the longest horizon")
    off_s = abs(steps - n) * step_minutes * 60.0
    if off_s > STEP_TOLERANCE_S:
        lo, hi = math.floor(steps), math.ceil(steps)
        raise ScenarioError(
            f"{where}: {shown} is not a whole number of {step_minutes}-minute steps ({steps:.4f} steps; "
            f"{lo * step_minutes / 60:g} h or {hi * step_minutes / 60:g} h would be)"
        )
    warning = None
    if abs(steps - n) > 1e-9:
        warning = (
            f"{where}: {shown} is {steps:.6f} steps of {step_minutes} min ({off_s:.2g} s off): "
            f"rounded to {n} steps ({_duration_text(n * step_minutes)})"
        )
    return n, warning


def _duration_text(minutes: int) -> str:
    h, m = divmod(int(minutes), 60)
    return f"{h} h {m} min" if m else f"{h} h"


def horizon_grid(
    start,
    timezone: str,
    step_minutes: int,
    *,
    horizon_hours: float | None = None,
    horizon=None,
    end=None,
    where: str = "scenario",
) -> tuple[TimeGrid, list[str]]:
    """The :class:`TimeGrid` of a scenario's ``start`` and exactly one of its horizon fields.

    Parameters
    ----------
    start : str
        ISO 8601 with the timezone's UTC offset (see :func:`parse_instant`).
    timezone : str
        IANA name (already checked by :func:`check_timezone`).
    step_minutes : int
        Step length [min].
    horizon_hours : float, optional
        Length [h]; within 1 s of a whole number of steps.
    horizon : str, optional
        Length as a duration (see :func:`parse_duration`).
    end : str, optional
        End of the last step, ISO 8601 with the timezone's offset.
    where : str
        File name for messages.

    Returns
    -------
    (TimeGrid, list of str)
        The grid and warnings (a rounded ``horizon_hours``).
    """
    t0 = parse_instant(start, timezone, f"{where}: field 'start'")
    given = {k: v for k, v in (("horizon_hours", horizon_hours), ("horizon", horizon), ("end", end)) if v is not None}
    if len(given) != 1:
        raise ScenarioError(f"{where}: give exactly one of horizon_hours, horizon (a duration) or end (a time)")
    (field, value), warnings = next(iter(given.items())), []
    fwhere = f"{where}: field '{field}'"
    if field == "horizon_hours":
        n, warning = count_steps(float(value), step_minutes, fwhere, f"{float(value)!r} h")
    elif field == "horizon":
        n, warning = count_steps(parse_duration(value, fwhere), step_minutes, fwhere, repr(str(value)))
    else:
        t1 = parse_instant(value, timezone, fwhere)
        if t1 < t0:
            raise ScenarioError(f"{fwhere}: {value!r} is before start ({t0.isoformat()})")
        n, warning = count_steps(
            t1 - t0, step_minutes, fwhere, f"{value!r} ({_duration_text((t1 - t0).total_seconds() // 60)} after start)"
        )
    if warning:
        warnings.append(warning)
    return _grid(t0, n, step_minutes, timezone, where), warnings


def _grid(start: pd.Timestamp, n_steps: int, step_minutes: int, timezone: str, where: str) -> TimeGrid:
    end = start + pd.Timedelta(minutes=step_minutes * n_steps)
    if not (_EARLIEST <= start.year and end.year <= _LATEST):
        raise ScenarioError(
            f"{where}: fields 'start' and horizon: the horizon {start.isoformat()} to {end.isoformat()} leaves "
            f"the years {_EARLIEST}..{_LATEST}"
        )
    idx = pd.date_range(start.tz_convert(timezone), periods=n_steps, freq=f"{step_minutes}min")
    return TimeGrid(index=idx, step_minutes=int(step_minutes))


def make_grid(start: pd.Timestamp, horizon_hours: float, step_minutes: int, timezone: str) -> TimeGrid:
    """Build the :class:`TimeGrid` of ``horizon_hours`` from ``start`` (for code; files use :func:`horizon_grid`).

    Parameters
    ----------
    start : pandas.Timestamp
        First step start, tz-aware.
    horizon_hours : float
        Length of the horizon [h]; within 1 s of a whole number of steps.
    step_minutes : int
        Step length [min].
    timezone : str
        IANA timezone the index is expressed in.
    """
    if start.tzinfo is None:
        raise ScenarioError("start must carry a UTC offset, e.g. 2026-06-15T00:00:00+02:00")
    n, _ = count_steps(float(horizon_hours), step_minutes, "horizon", f"horizon_hours={horizon_hours}")
    return _grid(start, n, step_minutes, timezone, "horizon")


# ---------------------------------------------------------------------------
# Times in tables
# ---------------------------------------------------------------------------


#: strftime directives of a ``date_format`` that give the date (one of each group is needed).
_DATE_PARTS = {"day": ("%d", "%j"), "month": ("%m", "%b", "%B", "%j"), "year": ("%Y", "%y")}


def date_format_problem(fmt) -> str | None:
    """What is wrong with a scenario's ``date_format`` (None if it is usable).

    It must be a strftime format with a day (``%d``), a month (``%m``, ``%b``,
    ``%B``) and a year (``%Y``, ``%y``), e.g. ``"%d/%m/%Y %H:%M"``; ``%Z`` (zone
    abbreviations such as CST are ambiguous) is refused: use ``%z``.
    """
    if fmt is None:
        return None
    if not isinstance(fmt, str) or not fmt.strip():
        return "date_format must be a strftime format such as '%d/%m/%Y %H:%M'"
    missing = [part for part, codes in _DATE_PARTS.items() if not any(c in fmt for c in codes)]
    if missing:
        return f"no {', '.join(missing)} in the format: it needs %d, %m and %Y (e.g. '%d/%m/%Y %H:%M')"
    if "%Z" in fmt:
        return "%Z (a zone abbreviation such as CST) is ambiguous; use %z for a UTC offset"
    sample = _dt.datetime(2026, 3, 10, 6, 30, 15, tzinfo=_dt.timezone.utc)
    try:
        pd.to_datetime(sample.strftime(fmt), format=fmt)
    except (ValueError, TypeError) as exc:
        return f"not a usable format ({exc})"
    return None


def _iso_problem(raw: str) -> str:
    """Why an ISO-looking time could not be read."""
    m = _ISO_RE.fullmatch(raw)
    if m and not _EARLIEST <= int(m["year"]) <= _LATEST:
        return f"is out of range (a plan's times lie within {_EARLIEST}..{_LATEST})"
    if m:
        return "is not a time (no such date or time of day)"
    return (
        f"is not a time in ISO 8601 ({_ISO_HINT}); for other forms set the scenario's date_format "
        "(e.g. '%d/%m/%Y %H:%M')"
    )


def _format_problem(raw: str, fmt: str) -> str:
    """Why a time could not be read with ``fmt``."""
    try:
        got = _dt.datetime.strptime(raw, fmt)
    except ValueError:
        return f"is not a time in the scenario's date_format {fmt!r}"
    if not _EARLIEST <= got.year <= _LATEST:
        return f"is out of range (a plan's times lie within {_EARLIEST}..{_LATEST})"
    return f"cannot be read with date_format {fmt!r}"


def parse_times(values: pd.Series, timezone: str, where: str, column: str, date_format: str | None = None) -> pd.Series:
    """Parse a column of times into tz-aware timestamps in ``timezone``.

    Without ``date_format`` only ISO 8601 is read: a date, a time (``T`` or a
    space between) and optionally a UTC offset (``Z``, ``+02:00``, ``+0200``);
    offsets may differ between rows (e.g. across a DST change). With
    ``date_format`` (a strftime format, e.g. ``"%d/%m/%Y %H:%M"``) every cell must
    match it, and nothing else is guessed. Times without an offset are local
    times in ``timezone``; one that is ambiguous or does not exist there
    (daylight-saving change) is refused. Years must lie within 1900..2200.

    Parameters
    ----------
    values : pandas.Series
        Text cells, indexed by file line (header = line 1), as
        :func:`gridopt.io.read.read_table` gives them.
    timezone : str
        IANA name.
    where : str
        File name for messages.
    column : str
        Column name for messages.
    date_format : str, optional
        The scenario's ``date_format``.

    Returns
    -------
    pandas.Series
        ``datetime64[ns, timezone]`` on the index of ``values``.

    Raises
    ------
    ScenarioError
        Naming the file, the line and the column of the first bad cell.
    """
    s = values.astype("string").str.strip()
    out = pd.Series(pd.NaT, index=values.index, dtype=f"datetime64[ns, {timezone}]")
    if not len(s):
        return out

    def fail(mask, why) -> None:
        pos = int(np.argmax(np.asarray(mask, dtype=bool)))
        raw = s.iloc[pos]
        reason = why(str(raw)) if callable(why) else why
        raise ScenarioError(f"{where} line {values.index[pos]}: '{column}' = {raw!r} {reason}")

    blank = (s.isna() | (s == "")).to_numpy(bool)
    if blank.any():
        pos = int(np.argmax(blank))
        raise ScenarioError(f"{where} line {values.index[pos]}: '{column}' is empty")
    if date_format is None:
        found = s.str.extract(f"^(?:{_ISO_RE.pattern})$")
        matched = found["year"].notna().to_numpy(bool)
        if not matched.all():
            fail(~matched, _iso_problem)
        aware = found["offset"].notna().to_numpy(bool)
        parsed = pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns, UTC]")
        local = pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns]")
        if aware.any():
            parsed[aware] = _to_ns(pd.to_datetime(s[aware], format="ISO8601", utc=True, errors="coerce"))
        if (~aware).any():
            local[~aware] = _to_ns(pd.to_datetime(s[~aware], format="ISO8601", errors="coerce"))
        why = _iso_problem
    else:
        zoned = "%z" in date_format
        try:
            got = _to_ns(pd.to_datetime(s, format=date_format, utc=zoned, errors="coerce"))
        except (ValueError, TypeError) as exc:
            raise ScenarioError(
                f"{where}: column '{column}': cannot read with date_format {date_format!r} ({exc})"
            ) from None
        aware = np.full(len(s), zoned)
        parsed = got if zoned else pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns, UTC]")
        local = pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns]") if zoned else got

        def why(raw: str) -> str:
            return _format_problem(raw, date_format)

    bad = np.where(aware, parsed.isna().to_numpy(bool), local.isna().to_numpy(bool))
    if bad.any():
        fail(bad, why)
    years = np.where(aware, parsed.dt.year.fillna(2000).to_numpy(), local.dt.year.fillna(2000).to_numpy())
    out_of_range = (years < _EARLIEST) | (years > _LATEST)
    if out_of_range.any():
        fail(out_of_range, f"is out of range (a plan's times lie within {_EARLIEST}..{_LATEST})")
    if aware.any():
        out[aware] = parsed[aware].dt.tz_convert(timezone)
    if (~aware).any():
        naive = local[~aware]
        placed = naive.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
        lost = placed.isna().to_numpy(bool)
        if lost.any():
            pos = int(np.argmax(lost))
            when = naive.iloc[pos]
            kind = (
                "does not exist"
                if pd.isna(when.tz_localize(timezone, ambiguous=True, nonexistent="NaT"))
                else "is ambiguous"
            )
            label = naive.index[pos]
            raise ScenarioError(
                f"{where} line {label}: '{column}' = {s[label]!r} {kind} in {timezone} (daylight-saving change); "
                "give it with a UTC offset"
            )
        out[~aware] = placed
    return out


def _to_ns(parsed):
    """Times in nanoseconds (pandas may pick a coarser unit); out-of-range values become NaT first."""
    years = parsed.dt.year
    keep = years.between(_EARLIEST - 1, _LATEST + 1) | years.isna()
    return parsed.where(keep).dt.as_unit("ns")


def align_to_grid(df: pd.DataFrame, grid: TimeGrid, where: str, lines: np.ndarray | None = None) -> pd.DataFrame:
    """Put a regular time series on the grid.

    Parameters
    ----------
    df : DataFrame
        Numeric columns on a tz-aware index of interval starts, one fixed interval.
    grid : TimeGrid
    where : str
        File name for messages.
    lines : array of int, optional
        File line of each row, for messages.

    Returns
    -------
    DataFrame on ``grid.index``. A series coarser than (or as fine as) the grid
    is *stepped*: each step takes the value of the interval its start falls in
    (hourly prices hold for all four quarter-hours, never interpolated). A finer
    series is *averaged* over each step.

    Raises :class:`ScenarioError` for unsorted or duplicate times, gaps or an
    irregular interval, and for data that do not cover the horizon.
    """
    if lines is None:
        lines = np.arange(len(df)) + 2
    if len(df) == 0:
        raise ScenarioError(f"{where}: no rows")
    idx = pd.DatetimeIndex(df.index).as_unit("ns")
    diffs = np.diff(idx.asi8) if len(idx) > 1 else np.array([], dtype=np.int64)
    if (diffs <= 0).any():
        i = int(np.argmax(diffs <= 0)) + 1
        raise ScenarioError(f"{where} line {lines[i]}: time {idx[i].isoformat()} is not after the row before it")
    if len(idx) > 1:
        step_ns = int(np.min(diffs))
        if (diffs != step_ns).any():
            i = int(np.argmax(diffs != step_ns))
            raise ScenarioError(
                f"{where} line {lines[i + 1]}: gap or irregular interval after {idx[i].isoformat()} "
                f"(expected rows every {pd.Timedelta(step_ns).total_seconds() / 60:g} minutes, next is {idx[i + 1].isoformat()})"
            )
        src_step = pd.Timedelta(step_ns)
    else:
        src_step = pd.Timedelta(minutes=grid.step_minutes)
    if idx[0] > grid.start or idx[-1] + src_step < grid.end:
        raise ScenarioError(
            f"{where}: covers {idx[0].isoformat()} to {(idx[-1] + src_step).isoformat()}, "
            f"but the horizon is {grid.start.isoformat()} to {grid.end.isoformat()}"
        )
    step = pd.Timedelta(minutes=grid.step_minutes)
    if src_step >= step:
        pos = idx.searchsorted(grid.index, side="right") - 1
        out = df.iloc[pos].set_axis(grid.index)
    else:
        k = np.floor(grid.steps_float(idx) + 1e-9).astype(np.int64)
        inside = (k >= 0) & (k < grid.n_steps)
        out = df[inside].groupby(k[inside]).mean()
        out = out.reindex(range(grid.n_steps)).set_axis(grid.index)
    for col in out.columns:
        if out[col].isna().any():
            pos = int(np.argmax(out[col].isna().to_numpy()))
            raise ScenarioError(f"{where}: column '{col}' has no value for {grid.index[pos].isoformat()}")
    return out
