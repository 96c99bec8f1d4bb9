"""The forecast package's only file access: read histories, write forecasts.

Tables are read as text columns indexed by the file line each record starts
on (header = line 1), so messages name the file and line as everywhere in
gridopt. Gzip-compressed files (``.csv.gz``, as ACN-Data is often kept) are
read as they are.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import ScenarioError
from ..io.read import read_table
from ..scenario import validate_vehicles
from .history import (
    Parsed,
    arrivals_from_table,
    detect_kind,
    localize,
    schedule_from_table,
    sessions_from_acn,
    sessions_from_gridopt,
    trips_from_table,
)
from .timezones import infer_timezone, resolve_timezone

#: Largest history file read [bytes].
MAX_FILE_BYTES = 500 * 1024 * 1024


@dataclass(frozen=True)
class History:
    """A history read from one or more files.

    Attributes
    ----------
    kind : str
        ``"sessions"`` or ``"trips"``.
    frame : pandas.DataFrame
        Canonical table (see :mod:`gridopt.forecast.history`), times in ``timezone``,
        sorted by arrival (sessions) or departure (trips).
    timezone : str
        IANA name, given or inferred from the times' UTC offsets.
    sources : tuple of str
        File names read.
    """

    kind: str
    frame: pd.DataFrame
    timezone: str
    sources: tuple[str, ...]


def _table(path: str | os.PathLike) -> tuple[pd.DataFrame, str]:
    p = Path(path)
    where = p.name
    if not p.is_file():
        raise ScenarioError(f"{path}: file not found")
    if p.stat().st_size > MAX_FILE_BYTES:
        raise ScenarioError(f"{where}: file is larger than {MAX_FILE_BYTES >> 20} MB")
    return read_table(p, where, max_bytes=MAX_FILE_BYTES), where  # text counted after gunzip too


def _vehicles(path: str | os.PathLike | None) -> tuple[pd.DataFrame | None, str]:
    if path is None:
        return None, "vehicles.csv"
    raw, where = _table(path)
    return validate_vehicles(raw, where), where


def read_history(paths, timezone: str | None = None, vehicles: str | os.PathLike | None = None) -> History:
    """Read a session or trip history from one or more files.

    Parameters
    ----------
    paths : path-like or list of path-like
        ACN-Data session files, gridopt sessions.csv files or trips.csv files
        (all of one kind; ``.csv.gz`` allowed).
    timezone : str, optional
        IANA name of the site's clock. Inferred from the UTC offsets when omitted.
    vehicles : path-like, optional
        vehicles.csv of a gridopt sessions.csv history (its battery sizes turn
        SoC into kWh).

    Returns
    -------
    History

    Raises
    ------
    ScenarioError
        One message naming the file, line and column of the first problem.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    if not paths:
        raise ScenarioError("no history file given")
    if timezone is not None:
        timezone = resolve_timezone(timezone, "--timezone")
    veh, vwhere = _vehicles(vehicles)
    parsed: list[Parsed] = []
    for path in paths:
        raw, where = _table(path)
        kind = detect_kind(raw.columns, where)
        if kind == "acn":
            parsed.append(sessions_from_acn(raw, where, timezone))
        elif kind == "gridopt_sessions":
            parsed.append(sessions_from_gridopt(raw, where, veh, vwhere, timezone))
        else:
            parsed.append(trips_from_table(raw, where, timezone))
    kinds = {p.kind for p in parsed}
    if len(kinds) > 1:
        raise ScenarioError(
            f"{', '.join(p.where for p in parsed)}: mixes session and trip histories; forecast one kind at a time"
        )
    tz = timezone or _infer(parsed)
    frame = pd.concat([localize(p.frame, tz) for p in parsed], ignore_index=True)
    kind = parsed[0].kind
    frame = frame.sort_values("arrival" if kind == "sessions" else "departure", kind="stable").reset_index(drop=True)
    return History(kind=kind, frame=frame, timezone=tz, sources=tuple(p.where for p in parsed))


def _infer(parsed: list[Parsed]) -> str:
    utc, off = [], []
    for p in parsed:
        for col, o in p.offsets_min.items():
            utc.append(pd.to_datetime(p.frame[col], utc=True).reset_index(drop=True))
            off.append(np.asarray(o, dtype=float))
    return infer_timezone(pd.concat(utc, ignore_index=True), np.concatenate(off), ", ".join(p.where for p in parsed))


def read_arrivals(path: str | os.PathLike, timezone: str, vehicles: str | os.PathLike | None = None) -> pd.DataFrame:
    """Sessions known at plug-in (see :func:`gridopt.forecast.history.arrivals_from_table`), times in ``timezone``.

    ``vehicles`` (a vehicles.csv) turns a ``reported_target_soc`` column into
    the requested energy [kWh].
    """
    veh, vwhere = _vehicles(vehicles)
    raw, where = _table(path)
    return localize(arrivals_from_table(raw, where, timezone, veh, vwhere).frame, timezone)


def read_schedule(path: str | os.PathLike, timezone: str) -> pd.DataFrame:
    """Planned trips (``vehicle_id``, ``planned_departure``, [``planned_arrival``, ``route``, ``trip_id``])."""
    raw, where = _table(path)
    return localize(schedule_from_table(raw, where, timezone).frame, timezone)


def iso(times: pd.Series) -> pd.Series:
    """ISO 8601 text with UTC offset, seconds resolution; empty for NaT."""
    return times.map(lambda t: "" if pd.isna(t) else pd.Timestamp(t).floor("s").isoformat())


def table_csv(df: pd.DataFrame) -> str:
    """CSV text of ``df``: tz-aware columns as ISO 8601 with offset, floats to 6 significant digits."""
    out = df.copy()
    for col in out.columns:
        if isinstance(out[col].dtype, pd.DatetimeTZDtype):
            out[col] = iso(out[col])
    return out.to_csv(index=False, float_format="%.6g", na_rep="")


def write_texts(files: dict) -> None:
    """Write ``{path: text}``: every file complete, or none replaced if one cannot be written."""
    staged = []
    try:
        for path, text in files.items():
            p = Path(path)
            if p.parent and not p.parent.exists():
                raise ScenarioError(f"{path}: folder {str(p.parent)!r} does not exist")
            fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", dir=p.parent or ".")
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
                fh.write(text)
            staged.append((tmp, p))
        for tmp, p in staged:
            os.replace(tmp, p)
        staged = []
    except OSError as exc:
        raise ScenarioError(f"cannot write output ({exc})") from None
    finally:
        for tmp, _ in staged:
            try:
                os.unlink(tmp)
            except OSError:
                pass
