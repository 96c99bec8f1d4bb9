"""Times in histories: parse instants, infer the IANA timezone, local clock hours.

A history's times carry a UTC offset (ACN-Data: ``2019-05-01 07:08:58-07:00``)
or are local times of a timezone the user names. Forecasts work on the *local
clock* (arrivals at 08:00 on a Monday), so the timezone matters: when the user
gives none, it is inferred as a zone whose offsets match every row's offset.
"""

from __future__ import annotations

import zoneinfo

import numpy as np
import pandas as pd

from ..errors import ScenarioError
from ..timeindex import check_timezone, parse_times

_OFFSET_RE = r"(?P<sign>[+-])(?P<hh>\d\d):?(?P<mm>\d\d)$|(?P<z>Z)$"

#: Zones tried first when inferring a timezone from offsets, in this order.
PREFERRED_ZONES = (
    "America/Los_Angeles",
    "America/Denver",
    "America/Phoenix",
    "America/Chicago",
    "America/New_York",
    "Europe/London",
    "Europe/Amsterdam",
    "Europe/Helsinki",
    "Asia/Tokyo",
    "Asia/Shanghai",
    "Australia/Sydney",
    "UTC",
)


def parse_instants(
    values: pd.Series, where: str, column: str, timezone: str | None = None, required: bool = True
) -> tuple[pd.Series, np.ndarray]:
    """Parse a column of times.

    Parameters
    ----------
    values : pandas.Series
        Text, indexed by file line (header = line 1).
    where : str
        File name for messages.
    column : str
        Column name for messages.
    timezone : str, optional
        IANA name. Without it every time must carry a UTC offset.
    required : bool
        If False, blank cells give ``NaT``.

    Returns
    -------
    times : pandas.Series
        tz-aware: in ``timezone`` if given, else in UTC.
    offset_min : numpy.ndarray
        The UTC offset written in each row [min] (NaN where none or blank).

    Raises
    ------
    ScenarioError
        Naming the file, line and column of the first bad time.
    """
    s = values.astype("string").str.strip()
    blank = s.isna() | (s == "")
    if required and blank.any():
        raise ScenarioError(f"{where} line {blank.idxmax()}: '{column}' is empty")
    found = s.str.extract(_OFFSET_RE).astype(object).where(lambda f: f.notna(), None)
    sign = np.where((found["sign"] == "-").to_numpy(bool), -1.0, 1.0)
    hh = pd.to_numeric(found["hh"], errors="coerce").to_numpy(float)
    mm = pd.to_numeric(found["mm"], errors="coerce").to_numpy(float)
    offset = np.where(found["z"].notna().to_numpy(bool), 0.0, sign * (hh * 60 + mm))
    filled = s[~blank]
    if timezone is not None:
        parsed = parse_times(filled, timezone, where, column) if len(filled) else pd.Series([], dtype=object)
        out = pd.Series(pd.NaT, index=s.index, dtype=f"datetime64[ns, {timezone}]")
        out.loc[filled.index] = parsed.to_numpy()
        return out, offset
    missing = ~blank & np.isnan(offset)
    if missing.any():
        i = missing.idxmax()
        raise ScenarioError(
            f"{where} line {i}: '{column}' = {s[i]!r} has no UTC offset: give the history's timezone "
            "(--timezone, e.g. America/Los_Angeles) or write times with an offset"
        )
    out = pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns, UTC]")
    try:
        out.loc[filled.index] = pd.to_datetime(filled, format="ISO8601", utc=True).to_numpy()
    except (ValueError, TypeError):
        for i, raw in filled.items():
            try:
                out.loc[i] = pd.Timestamp(str(raw)).tz_convert("UTC")
            except (ValueError, TypeError):
                raise ScenarioError(
                    f"{where} line {i}: '{column}' = {raw!r} is not a time (use ISO 8601, e.g. 2019-05-01T07:08:58-07:00)"
                ) from None
    return out, offset


def _fits(zone: str, utc: pd.DatetimeIndex, offset_min: np.ndarray) -> bool:
    local = utc.tz_convert(zone)
    got = np.asarray(local.tz_localize(None) - utc.tz_localize(None), dtype="timedelta64[m]").astype(float)
    return bool(np.all(got == offset_min))


def infer_timezone(utc: pd.Series, offset_min: np.ndarray, where: str) -> str:
    """An IANA zone whose UTC offsets match every row's written offset.

    Parameters
    ----------
    utc : pandas.Series
        tz-aware instants (UTC), NaT allowed.
    offset_min : numpy.ndarray
        The offset written in each row [min].
    where : str
        File name(s) for the message.

    Returns
    -------
    str
        The first match among :data:`PREFERRED_ZONES`, else the first of all
        known zones in alphabetical order.

    Raises
    ------
    ScenarioError
        If no zone fits (times from several zones): the user must name one.
    """
    ok = utc.notna().to_numpy() & ~np.isnan(offset_min)
    if not ok.any():
        raise ScenarioError(f"{where}: no times to infer a timezone from; give --timezone")
    # one row per (UTC hour, offset) is enough: offsets change at most hourly
    key = pd.DataFrame({"h": utc[ok].dt.floor("h").to_numpy(), "o": offset_min[ok]}).drop_duplicates()
    idx = pd.DatetimeIndex(key["h"])
    off = key["o"].to_numpy()
    candidates = list(PREFERRED_ZONES) + sorted(zoneinfo.available_timezones() - set(PREFERRED_ZONES))
    for zone in candidates:
        try:
            if _fits(zone, idx, off):
                return zone
        except Exception:  # a zone the platform cannot load
            continue
    raise ScenarioError(
        f"{where}: the times' UTC offsets fit no single timezone; give the history's timezone with --timezone"
    )


def resolve_timezone(name: str, where: str) -> str:
    """Check an IANA timezone name given by the user."""
    return check_timezone(name, where)


def local_hour(times: pd.Series) -> np.ndarray:
    """Local clock time of day [h], 0 <= h < 24, of tz-aware ``times``."""
    t = pd.DatetimeIndex(times)
    return np.asarray(t.hour + t.minute / 60.0 + t.second / 3600.0, dtype=float)


def at_local_hours(dates: pd.DatetimeIndex | list, hours: np.ndarray, timezone: str) -> pd.DatetimeIndex:
    """Instants at local clock ``hours`` [h] after midnight of local ``dates``.

    Clock times that do not exist (spring-forward gap) move forward; ambiguous
    ones (autumn fold) take the first (summer-time) instant.
    """
    naive = pd.DatetimeIndex(pd.to_datetime(pd.Series(dates)).dt.tz_localize(None)).normalize()
    naive = naive + pd.to_timedelta(np.asarray(hours, dtype=float) * 3600.0, unit="s").round("s")
    return naive.tz_localize(timezone, ambiguous=np.ones(len(naive), dtype=bool), nonexistent="shift_forward")
