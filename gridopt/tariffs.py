"""Prices on the time grid: constants, daily time-of-use tables, utility tariff files.

All prices are per kWh (currency of the scenario); the demand charge is per kW of
the horizon's peak import. Functions return :class:`pandas.Series` on the grid's
index.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Mapping

import numpy as np
import pandas as pd

from .errors import ScenarioError
from .scenario import MAX_DEMAND_CHARGE_PER_KW, MAX_PRICE_PER_KWH

_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
#: Hours of a billing month: the mean Gregorian month (365.2425 days / 12 = 730.485 h).
MONTH_HOURS = 365.2425 * 24 / 12
#: Length of the billing periods a demand charge may state [h] (``horizon``: the plan's own).
PERIOD_HOURS = {"day": 24.0, "month": MONTH_HOURS}


def _minutes(label: str, where: str) -> int:
    m = _HHMM.match(str(label).strip())
    if not m:
        raise ScenarioError(f"{where}: time-of-use key {label!r} is not a time of day HH:MM")
    return int(m.group(1)) * 60 + int(m.group(2))


def tou_series(table: Mapping[str, float], index: pd.DatetimeIndex, where: str) -> pd.Series:
    """Daily time-of-use price on ``index``.

    Parameters
    ----------
    table : mapping of "HH:MM" to price [currency/kWh]
        Each price holds from its local time of day until the next one; the last
        one wraps around midnight until the first.
    index : DatetimeIndex
        tz-aware step starts; the local time of day of each step start decides.
    """
    if not table:
        raise ScenarioError(f"{where}: time-of-use table is empty")
    starts = sorted((_minutes(k, where), float(v)) for k, v in table.items())
    for (m0, _), (m1, _) in zip(starts, starts[1:], strict=False):
        if m0 == m1:
            same = [k for k in table if _minutes(k, where) == m1]
            raise ScenarioError(
                f"{where}: time {m1 // 60:02d}:{m1 % 60:02d} is given twice ({same[0]!r} and {same[1]!r}): "
                "one of its prices would be lost"
            )
    mins = np.array([s for s, _ in starts])
    prices = np.array([p for _, p in starts])
    local = index.hour * 60 + index.minute
    pos = np.searchsorted(mins, np.asarray(local), side="right") - 1  # -1 wraps to the last entry
    return pd.Series(prices[pos], index=index)


def price_series(spec, index: pd.DatetimeIndex, where: str) -> pd.Series:
    """A constant or a daily TOU table (see :func:`tou_series`) as a series on ``index``."""
    if isinstance(spec, Mapping):
        return tou_series(spec, index, where)
    return pd.Series(float(spec), index=index)


_DOW = {"WEEKDAYS": {0, 1, 2, 3, 4}, "WEEKENDS": {5, 6}, "ALL": set(range(7))}


def _in_season(day: _dt.date, start: str, end: str) -> bool:
    s = tuple(int(x) for x in start.split("-"))
    e = tuple(int(x) for x in end.split("-"))
    d = (day.month, day.day)
    return s <= d <= e if s <= e else (d >= s or d <= e)


def tariff_file_series(schedule: dict, index: pd.DatetimeIndex, where: str) -> tuple[pd.Series, float]:
    """Import price and demand charge from an acnportal-style tariff schedule.

    The schedule (JSON) holds ``schedule``: a list of blocks with ``effective_start``
    and ``effective_end`` ("MM-DD", inclusive, may wrap the year end), ``dow_mask``
    (``WEEKDAYS``, ``WEEKENDS`` or ``ALL``), ``times`` (start hours, local) and
    ``tariffs`` (price per kWh for each start hour), and ``demand_charge`` per kW.

    Returns
    -------
    (Series, float)
        Import price on ``index`` [currency/kWh] and the largest demand charge of
        the blocks in force over the horizon [currency/kW].
    """
    try:
        blocks = schedule["schedule"]
        price = np.full(len(index), np.nan)
        demand = 0.0
        for day in sorted(set(index.date)):
            dow = day.weekday()
            match = [
                b
                for b in blocks
                if _in_season(day, b["effective_start"], b["effective_end"]) and dow in _DOW[b["dow_mask"].upper()]
            ]
            if not match:
                raise ScenarioError(f"{where}: no tariff block covers {day.isoformat()}")
            b = match[0]
            times = [float(t) for t in b["times"]]
            rates = [float(r) for r in b["tariffs"]]
            for name, values in (
                ("times", times),
                ("tariffs", rates),
                ("demand_charge", [float(b.get("demand_charge", 0.0))]),
            ):
                if not np.isfinite(values).all():
                    raise ScenarioError(
                        f"{where}: block {b.get('id', '?')!r}: '{name}' holds a value that is not a finite number"
                    )
            if len(times) != len(rates) or not times:
                raise ScenarioError(f"{where}: block {b.get('id', '?')!r} needs as many 'times' as 'tariffs'")
            if max(abs(r) for r in rates) > MAX_PRICE_PER_KWH:
                raise ScenarioError(
                    f"{where}: block {b.get('id', '?')!r}: 'tariffs' holds {max(rates, key=abs):g}, outside "
                    f"-{MAX_PRICE_PER_KWH:.15g}..{MAX_PRICE_PER_KWH:.15g} per kWh, the range gridopt accepts"
                )
            charge = float(b.get("demand_charge", 0.0))
            if not 0 <= charge <= MAX_DEMAND_CHARGE_PER_KW:
                raise ScenarioError(
                    f"{where}: block {b.get('id', '?')!r}: 'demand_charge' {charge:g} is outside "
                    f"0..{MAX_DEMAND_CHARGE_PER_KW:.15g} per kW, the range gridopt accepts"
                )
            mask = index.date == day
            hours = index.hour[mask] + index.minute[mask] / 60.0
            pos = np.searchsorted(np.array(times), np.asarray(hours), side="right") - 1
            price[mask] = np.array(rates)[pos]
            demand = max(demand, float(b.get("demand_charge", 0.0)))
    except ScenarioError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ScenarioError(f"{where}: not a tariff schedule ({type(exc).__name__}: {exc})") from None
    return pd.Series(price, index=index), demand


def demand_charge_for_horizon(
    stated_per_kw: float,
    period: str | None,
    horizon_h: float,
    where: str,
    *,
    from_tariff_file: bool = False,
) -> tuple[float, list[str]]:
    """The demand charge to apply to the horizon's peak import, and warnings about it.

    gridopt charges one peak per horizon. A charge billed per ``day`` or
    ``month`` on a shorter horizon is prorated: ``stated_per_kw * horizon_h /
    period_h``, with a day of 24 h and a month of :data:`MONTH_HOURS`. A horizon
    longer than the period would need one peak per period: refused.

    Parameters
    ----------
    stated_per_kw : float
        The charge as the tariff states it [currency/kW per period].
    period : {"horizon", "day", "month"} or None
        Its billing period; None: not stated (applied as ``horizon``).
    horizon_h : float
        Length of the plan [h].
    where : str
        Scenario file name for messages.
    from_tariff_file : bool
        The charge comes from an acnportal ``tariff_file``, whose demand charges
        are monthly: without a stated period it is applied in full, with a warning.

    Returns
    -------
    (float, list of str)
        The charge on the horizon's peak [currency/kW] and the warnings.
    """
    if stated_per_kw == 0:
        return 0.0, []
    if period in (None, "horizon"):
        warnings = []
        if from_tariff_file and period is None:
            warnings.append(
                f"the tariff_file's demand charge ({stated_per_kw:g} per kW) is billed per month, but is applied in "
                f"full to the peak of this {horizon_h:g} h horizon; state tariff.demand_charge_period: month to "
                "prorate it (or demand_charge_period: horizon to keep it in full)"
            )
        return float(stated_per_kw), warnings
    period_h = PERIOD_HOURS[period]
    if horizon_h > period_h + 1e-9:
        raise ScenarioError(
            f"{where}: field 'tariff.demand_charge_period': the {horizon_h:g} h horizon is longer than one {period} "
            f"({period_h:g} h); gridopt charges one peak per horizon, so a demand charge billed per {period} needs "
            "a horizon of at most one period (or state demand_charge_period: horizon)"
        )
    share = horizon_h / period_h
    if share > 1 - 1e-9:
        return float(stated_per_kw), []
    effective = float(stated_per_kw) * share
    source = "the tariff_file's demand charge" if from_tariff_file else "tariff.demand_charge_per_kw"
    return effective, [
        f"{source} {stated_per_kw:g} per kW per {period} is prorated to {effective:.4g} per kW for the "
        f"{horizon_h:g} h horizon ({horizon_h:g} h of a {period_h:g} h {period}) and applied to the horizon's peak "
        "import"
    ]
