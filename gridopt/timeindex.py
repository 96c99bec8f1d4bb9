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
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .errors import ScenarioError

_OFFSET_RE = r"(?:[+-]\d\d:?\d\d|Z)$"
_EARLIEST, _LATEST = 1900, 2200  # years a plan's times may fall in


def check_timezone(name: str, where: str) -> str:
    """Return ``name`` if it is a known IANA timezone, else raise :class:`ScenarioError`."""
    try:
        zoneinfo.ZoneInfo(str(name))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        raise ScenarioError(
            f"{where}: unknown timezone {name!r} (use an IANA name such as 'Europe/Amsterdam')"
        ) from None
    return str(name)


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


def make_grid(start: pd.Timestamp, horizon_hours: float, step_minutes: int, timezone: str) -> TimeGrid:
    """Build the :class:`TimeGrid` for a scenario.

    Parameters
    ----------
    start : pandas.Timestamp
        First step start, tz-aware.
    horizon_hours : float
        Length of the horizon [h]; must be a whole number of steps.
    step_minutes : int
        Step length [min].
    timezone : str
        IANA timezone the index is expressed in.
    """
    if start.tzinfo is None:
        raise ScenarioError("start must carry a UTC offset, e.g. 2026-06-15T00:00:00+02:00")
    n = horizon_hours * 60.0 / step_minutes
    if abs(n - round(n)) > 1e-9 or round(n) < 1:
        raise ScenarioError(f"horizon_hours={horizon_hours} is not a whole number of {step_minutes}-minute steps")
    idx = pd.date_range(start.tz_convert(timezone), periods=int(round(n)), freq=f"{step_minutes}min")
    return TimeGrid(index=idx, step_minutes=int(step_minutes))


def parse_times(values: pd.Series, timezone: str, where: str, column: str) -> pd.Series:
    """Parse a column of times into tz-aware timestamps in ``timezone``.

    Accepts ISO 8601 strings with a UTC offset (offsets may differ between rows,
    e.g. across a DST change) or local times without offset, read in ``timezone``.
    Raises :class:`ScenarioError` naming the first bad line (header = line 1).
    """
    s = values.astype("string")
    stripped = s.str.strip()
    if len(s) and stripped.notna().all() and stripped.str.contains(_OFFSET_RE, regex=True).all():
        try:  # fast path: every row carries an offset
            parsed = pd.to_datetime(stripped, format="ISO8601", utc=True).dt.tz_convert(timezone)
            if parsed.dt.year.between(_EARLIEST, _LATEST).all():
                return parsed
        except (ValueError, TypeError, OverflowError):
            pass  # fall through to the row-by-row parse, which names the bad line
    out = pd.Series(pd.NaT, index=values.index, dtype=f"datetime64[ns, {timezone}]")
    for pos, (idx, raw) in enumerate(s.items()):
        line = pos + 2
        if raw is pd.NA or str(raw).strip() == "":
            raise ScenarioError(f"{where} line {line}: '{column}' is empty")
        try:
            ts = pd.Timestamp(str(raw).strip())
            if ts is not pd.NaT and not (_EARLIEST <= ts.year <= _LATEST):
                raise ValueError("out of range")
        except (ValueError, TypeError, OverflowError):
            raise ScenarioError(
                f"{where} line {line}: '{column}' = {raw!r} is not a time (use ISO 8601, e.g. 2026-06-15T07:30:00+02:00)"
            ) from None
        if ts is pd.NaT:
            raise ScenarioError(f"{where} line {line}: '{column}' is empty")
        if ts.tzinfo is None:
            try:
                ts = ts.tz_localize(timezone, ambiguous="raise", nonexistent="raise")
            except Exception:
                raise ScenarioError(
                    f"{where} line {line}: '{column}' = {raw!r} is ambiguous or does not exist in {timezone} "
                    "(daylight-saving change); give it with a UTC offset"
                ) from None
        try:
            out.loc[idx] = ts.tz_convert(timezone)
        except (ValueError, OverflowError, AssertionError):
            raise ScenarioError(f"{where} line {line}: '{column}' = {raw!r} is out of range") from None
    return out


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
