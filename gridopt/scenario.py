"""The typed scenario: what gridopt plans for.

A scenario file (YAML) is parsed into :class:`ScenarioConfig` (structure, types
and ranges of the YAML fields, checked by pydantic), and its tables into
validated DataFrames by :func:`validate_vehicles`, :func:`validate_trips` and
:func:`validate_sessions`. :func:`gridopt.io.load_scenario` ties them together
into one immutable :class:`Scenario` whose time series all live on the
scenario's :class:`~gridopt.timeindex.TimeGrid`.

Units: powers in kW, energies in kWh, prices per kWh (demand charge per kW),
state of charge (SoC) as a fraction 0..1 of ``battery_kwh``.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from typing import Annotated, Literal, Union

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, Strict, StrictBool, field_validator, model_validator

from .errors import ScenarioError
from .timeindex import TimeGrid, date_format_problem

# ---------------------------------------------------------------------------
# YAML structure
# ---------------------------------------------------------------------------

# Bounds of the numbers a scenario may hold. Each is far beyond any real site, vehicle
# or tariff, in any currency, yet small enough to keep the solver's numbers well scaled
# (HiGHS takes costs of 1e20 as infinite; a 1e10 price beside 0.1 already loses digits).
# A value outside is a typo or a unit mistake, refused with the field's name.

#: Largest power of a grid connection, PV system, load or charger [kW]: 1 GW.
MAX_POWER_KW = 1e6
#: Largest battery [kWh]: 100 MWh, twenty times an electric ferry's.
MAX_BATTERY_KWH = 1e5
#: Largest magnitude of an energy price [currency/kWh]. Real prices stay far below in any
#: currency: wholesale caps are 4-5 EUR or USD/kWh (17.5 AUD in Australia), Japan's spot
#: price peaked at 251 JPY/kWh (January 2021), retail prices in VND or IDR are 1,500-3,500.
MAX_PRICE_PER_KWH = 1e4
#: Largest demand charge [currency/kW]: US monthly charges reach about 50 USD/kW,
#: Korean ones about 10,000 KRW/kW.
MAX_DEMAND_CHARGE_PER_KW = 1e5
#: Largest battery degradation cost [currency/kWh]: a price of energy like the others.
MAX_DEGRADATION_COST_PER_KWH = MAX_PRICE_PER_KWH
#: Largest unmet-energy penalty [currency/kWh]: 100 times the largest price, so that it can
#: always be set above every price.
MAX_PENALTY_PER_KWH = 1e6
#: Longest solver time limit a scenario may state [s]: 11.6 days; more is a typo. (Code and the
#: command line may pass any limit to :class:`SolverOptions`.)
MAX_TIME_LIMIT_S = 1e6
#: Lowest and highest site altitude [m]: the Dead Sea shore (-430 m) to above Everest.
MIN_ALTITUDE_M, MAX_ALTITUDE_M = -500.0, 9000.0

# Strict types: a YAML boolean (true, yes, on) is not a number, quoted text ("5") is not a
# number, a number is not a boolean; an int is a fine float. Every float is finite.
Number = Annotated[float, Strict(), Field(allow_inf_nan=False)]
NonNeg = Annotated[Number, Field(ge=0)]
Fraction = Annotated[Number, Field(ge=0, le=1)]
Power = Annotated[Number, Field(ge=0, le=MAX_POWER_KW)]
Price = Annotated[Number, Field(ge=-MAX_PRICE_PER_KWH, le=MAX_PRICE_PER_KWH)]
#: A price given as a constant per kWh, or as a daily time-of-use table
#: ``{"HH:MM": price}`` (each price holds from its time until the next one).
PriceSpec = Union[Price, dict[str, Price]]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SiteConfig(_Strict):
    """Grid connection of the site."""

    import_limit_kw: Power | None = Field(None, description="largest grid import [kW]; none = unlimited")
    export_limit_kw: Power = Field(0.0, description="largest grid export [kW]")
    base_load_kw: Power | None = Field(
        None, description="constant non-EV site load [kW]; or the timeseries column base_load_kw"
    )
    switching_penalty_per_kw: Annotated[NonNeg, Field(le=MAX_DEMAND_CHARGE_PER_KW)] = Field(
        0.0,
        description="cost of each kW a vehicle's power changes by, switching on and off included "
        "(gridopt.optimizer.switching); fewer, steadier charging blocks; not part of total_cost [currency/kW]",
    )
    prefer_early_charging: StrictBool = Field(
        False,
        description="among plans of equal cost, charge as early as possible (gridopt.optimizer.early: a "
        "lexicographic polish of the plan; the cost never rises)",
    )
    pv_curtailable: StrictBool = Field(
        True, description="PV can be curtailed; if false all PV must be used or exported"
    )
    chargers: str | None = Field(None, description="chargers.csv (gridopt.chargers); none: one per vehicle")
    circuit: str | list[dict[str, Union[str, Number, None]]] | None = Field(
        None, description="circuit tree: a CSV file or a list of nodes (gridopt.chargers)"
    )
    reassign_at: list[str] | None = Field(
        None, description="daily clock times ('HH:MM') at which vehicles may move to another charger"
    )


class PVConfig(_Strict):
    """A PV system, turned into ``pv_kw`` by pvlib (see :mod:`gridopt.supply`)."""

    latitude: Annotated[Number, Field(ge=-90, le=90)]
    longitude: Annotated[Number, Field(ge=-180, le=180)]
    peak_kw: Power = Field(description="DC peak power [kWp]")
    tilt_deg: Annotated[Number, Field(ge=0, le=90)] = 20.0
    azimuth_deg: Annotated[Number, Field(ge=0, le=360)] = 180.0
    altitude_m: Annotated[Number, Field(ge=MIN_ALTITUDE_M, le=MAX_ALTITUDE_M)] = Field(
        0.0, description="site altitude above sea level [m]"
    )
    inverter_kw: Power | None = Field(None, description="AC rating [kW]; default peak_kw / 1.1")
    loss_fraction: Annotated[Number, Field(ge=0, lt=1)] = 0.14
    weather: str | None = Field(
        None,
        description="CSV with time, ghi [W/m2] and optional dni, dhi [W/m2], temp_air [C], wind_speed [m/s]; clear sky if absent",
    )


_HMM_KEY = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")


def _unsexagesimal(v):
    """Time-of-use keys as ``"HH:MM"``, refusing a time given twice.

    YAML 1.1 reads an unquoted ``16:00`` as the number 960 (base 60), which
    ``yaml.safe_load`` hands over as such: it is turned back into ``"16:00"``
    (gridopt's own loader keeps keys as written). ``"4:00"`` becomes ``"04:00"``.
    Two keys for one time (``16:00`` and ``'16:00'``, ``4:00`` and ``04:00``)
    would silently drop a price: refused.
    """
    if not isinstance(v, dict):
        return v
    out: dict = {}
    first: dict = {}
    for k, p in v.items():
        key = k
        if isinstance(k, int) and not isinstance(k, bool) and 0 <= k < 1440:
            key = f"{k // 60:02d}:{k % 60:02d}"
        elif isinstance(k, str) and (m := _HMM_KEY.match(k)) and int(m.group(1)) < 24 and int(m.group(2)) < 60:
            key = f"{int(m.group(1)):02d}:{m.group(2)}"
        if key in out:
            raise ValueError(f"time {key} is given twice ({first[key]!r} and {k!r}): one of its prices would be lost")
        out[key] = p
        first[key] = k
    return out


class TariffConfig(_Strict):
    """Energy prices and the demand charge."""

    @field_validator("import_price", "export_price", mode="before")
    @classmethod
    def _tou_keys(cls, v):
        return _unsexagesimal(v)

    import_price: PriceSpec | None = None
    export_price: PriceSpec | None = None
    demand_charge_per_kw: Annotated[Number, Field(ge=0, le=MAX_DEMAND_CHARGE_PER_KW)] | None = Field(
        None, description="charge on the peak import of each billing period [currency/kW]"
    )
    demand_charge_period: Literal["horizon", "day", "month"] | None = Field(
        None,
        description="billing period of the demand charge: horizon (default; applied in full to the horizon's "
        "peak), day or month (prorated by horizon length / period length)",
    )
    tariff_file: str | None = Field(
        None, description="acnportal tariff schedule JSON: seasons, weekday masks, TOU prices, demand charge"
    )


#: Largest ``energy_kwh`` one session may request [kWh]: the largest battery.
SESSION_MAX_ENERGY_KWH = MAX_BATTERY_KWH
#: Largest per-session charging power [kW]: the largest charger power.
SESSION_MAX_POWER_KW = MAX_POWER_KW
#: Charging efficiency of a visitor when neither the session nor ``fleet.session_defaults`` gives one [-].
SESSION_DEFAULT_EFFICIENCY = 0.95
#: Lowest one-way efficiency accepted [-]. Real charger-plus-battery efficiencies are 0.8-0.98; a value
#: far below is a typo (a percentage read as a fraction, 0.09 for 0.9), and near 0 it multiplies the
#: solver's tolerances by 1/efficiency (1e-9 turned a 1e-6 kW discharge into a 1,000 kWh SoC error).
MIN_EFFICIENCY = 0.5


class SessionDefaults(_Strict):
    """Limits of *visitors*: ``energy_kwh`` sessions of vehicles not in vehicles.csv.

    A session's own ``max_charge_kw``/``min_charge_kw`` cells win over these.
    """

    max_charge_kw: Annotated[Number, Field(gt=0, le=SESSION_MAX_POWER_KW)] | None = Field(
        None, description="charging power of a visitor's charger [kW]; else each session gives max_charge_kw"
    )
    min_charge_kw: Annotated[Number, Field(ge=0, le=SESSION_MAX_POWER_KW)] = Field(
        0.0, description="lowest power when charging at all [kW]"
    )
    charge_efficiency: Annotated[Number, Field(ge=MIN_EFFICIENCY, le=1)] = Field(
        SESSION_DEFAULT_EFFICIENCY, description="energy into the battery per kWh drawn [-]"
    )

    @model_validator(mode="after")
    def _min_below_max(self):
        if self.max_charge_kw is not None and self.min_charge_kw > self.max_charge_kw:
            raise ValueError(f"min_charge_kw {self.min_charge_kw:g} is above max_charge_kw {self.max_charge_kw:g}")
        return self


class FleetConfig(_Strict):
    vehicles: str | None = Field(None, description="vehicles.csv; optional when every session gives energy_kwh")
    trips: str | None = None
    sessions: str | None = None
    session_defaults: SessionDefaults | None = None
    max_share_outside_horizon: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False, strict=True)] | None = Field(
        None,
        description="largest share of a trips or sessions file that may fall wholly outside the horizon "
        "(counted and warned about); more is refused as a likely date error; 1.0 allows all; default 0.5 [-]",
    )


class SolverConfig(_Strict):
    time_limit_s: Annotated[Number, Field(gt=0, le=MAX_TIME_LIMIT_S)] = Field(60.0, description="time limit [s]")
    mip_rel_gap: Fraction = Field(1e-4, description="relative gap at which the search stops [-]")


#: Largest magnitude of a feeder's or region's net load, and of its renewable surplus [kW]: 100 GW.
MAX_GRID_POWER_KW = 1e8
#: Largest marginal emission rate [kg/kWh]: ten times a lignite plant's (about 1.1 kg/kWh).
MAX_CARBON_KG_PER_KWH = 10.0
#: Largest carbon price [currency/kg]: like an energy price.
MAX_CARBON_PRICE_PER_KG = MAX_PRICE_PER_KWH
#: Largest magnitude of an emissions cap [kg]: 1 Mt.
MAX_EMISSIONS_KG = 1e9


def _as_text(v):
    """YAML turns an unquoted ISO time into a datetime; keep the text form."""
    return v.isoformat() if hasattr(v, "isoformat") else v


class GridConfig(_Strict):
    """The ``grid:`` block: grid signals and the weights of the grid objectives (see :mod:`gridopt.grid.signals`)."""

    signals: str | None = Field(
        None,
        description="CSV with time and any of carbon_kg_per_kwh [kg/kWh], renewable_surplus_kw, net_load_kw, "
        "target_kw [kW]",
    )
    carbon_price_per_kg: Annotated[NonNeg, Field(le=MAX_CARBON_PRICE_PER_KG)] = Field(
        0.0, description="price of each kg of CO2 of net import [currency/kg]"
    )
    carbon_credit_export: StrictBool = Field(False, description="credit exported energy at the same carbon rate")
    peak_weight_per_kw: Annotated[NonNeg, Field(le=MAX_DEMAND_CHARGE_PER_KW)] = Field(
        0.0, description="weight of the peak of net_load_kw + import - export [currency/kW]"
    )
    valley_fill_weight_per_kw: Annotated[NonNeg, Field(le=MAX_DEMAND_CHARGE_PER_KW)] = Field(
        0.0, description="weight of the largest deviation of net_load_kw + import - export from its mean [currency/kW]"
    )
    tracking_penalty_per_kwh: Annotated[NonNeg, Field(le=MAX_PENALTY_PER_KWH)] = Field(
        0.0, description="price of each kWh of |import - export - target_kw| [currency/kWh]"
    )
    tracking: Literal["soft", "exact"] = Field(
        "soft", description="exact: import - export == target_kw in every step that has a target"
    )
    renewable_use_bonus_per_kwh: Annotated[NonNeg, Field(le=MAX_PRICE_PER_KWH)] = Field(
        0.0, description="bonus per kWh of EV charging within renewable_surplus_kw [currency/kWh]"
    )
    emissions_cap_kg: Annotated[Number, Field(ge=-MAX_EMISSIONS_KG, le=MAX_EMISSIONS_KG)] | None = Field(
        None, description="largest emissions over the horizon, as the emissions_kg KPI counts them [kg]"
    )
    grid_peak_cap_kw: Annotated[Number, Field(ge=-MAX_GRID_POWER_KW, le=MAX_GRID_POWER_KW)] | None = Field(
        None, description="largest net_load_kw + import - export in any step [kW]"
    )


class _EventConfig(_Strict):
    start: str = Field(description="start of the window, ISO 8601 with the timezone's offset (inclusive)")
    end: str = Field(description="end of the window (exclusive)")

    @field_validator("start", "end", mode="before")
    @classmethod
    def _time_as_text(cls, v):
        return _as_text(v)


class ImportCapEvent(_EventConfig):
    """Site import limited to ``kw`` in the window."""

    kind: Literal["import_cap"]
    kw: Power = Field(description="import limit in the window [kW]")


class ExportRequestEvent(_EventConfig):
    """The site is asked to export at least ``kw`` in the window."""

    kind: Literal["export_request"]
    kw: Power = Field(description="requested export [kW]")
    payment_per_kwh: Annotated[NonNeg, Field(le=MAX_PRICE_PER_KWH)] = Field(
        0.0, description="paid per kWh exported up to the request [currency/kWh]"
    )
    penalty_per_kwh: Annotated[NonNeg, Field(le=MAX_PENALTY_PER_KWH)] = Field(
        0.0, description="charged per kWh the export falls short of the request [currency/kWh]"
    )
    hard: StrictBool = Field(False, description="export >= kw is a constraint, not a price")


class ShiftAwayEvent(_EventConfig):
    """Demand response: import in the window priced extra."""

    kind: Literal["shift_away"]
    extra_price_per_kwh: Price = Field(description="added to the import price in the window [currency/kWh]")


EVENT_KINDS = {"import_cap": ImportCapEvent, "export_request": ExportRequestEvent, "shift_away": ShiftAwayEvent}
EventConfig = Annotated[Union[ImportCapEvent, ExportRequestEvent, ShiftAwayEvent], Field(discriminator="kind")]


class ScenarioConfig(_Strict):
    """The YAML scenario, field by field (units in the names)."""

    name: Annotated[str, Field(min_length=1)]
    description: str = ""
    currency: str | None = Field(
        None, description="ISO 4217 code of every price and cost, e.g. EUR or USD; unstated if absent"
    )
    timezone: str
    start: str
    horizon_hours: Annotated[Number, Field(gt=0, le=24 * 31)] = None  # or horizon, or end
    horizon: str | None = Field(None, description="length of the plan as a duration: '24h', '10h10min', '2d', 'PT10H'")
    end: str | None = Field(None, description="end of the plan, ISO 8601 with the timezone's UTC offset")
    date_format: str | None = Field(
        None, description="strftime format of every CSV time, e.g. '%d/%m/%Y %H:%M'; default ISO 8601 only"
    )
    step_minutes: Annotated[int, Strict(), Field(gt=0, le=24 * 60)]
    site: SiteConfig = SiteConfig()
    timeseries: str | None = None
    pv: PVConfig | None = None
    tariff: TariffConfig = TariffConfig()
    battery_degradation_cost_per_kwh: Annotated[NonNeg, Field(le=MAX_DEGRADATION_COST_PER_KWH)] = 0.0
    unmet_energy_penalty_per_kwh: Annotated[NonNeg, Field(le=MAX_PENALTY_PER_KWH)] = 10.0
    fleet: FleetConfig
    solver: SolverConfig = SolverConfig()
    grid: GridConfig | None = None
    events: list[EventConfig] | None = None

    @field_validator("currency")
    @classmethod
    def _iso_4217(cls, v):
        if v is not None and not re.fullmatch(r"[A-Z]{3}", v):
            raise ValueError("must be an ISO 4217 currency code, three capital letters such as EUR or USD")
        return v

    @field_validator("start", mode="before")
    @classmethod
    def _start_as_text(cls, v):
        # YAML turns an unquoted ISO time into a datetime; keep the text form.
        if hasattr(v, "isoformat"):
            return v.isoformat()
        return v

    @field_validator("end", mode="before")
    @classmethod
    def _end_as_text(cls, v):
        return v.isoformat() if hasattr(v, "isoformat") else v

    @field_validator("horizon", mode="before")
    @classmethod
    def _horizon_has_a_unit(cls, v):
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            raise ValueError("a duration needs a unit, e.g. '24h', '90min' or '2d' (or give horizon_hours)")
        return v

    @field_validator("date_format")
    @classmethod
    def _date_format_reads_dates(cls, v):
        problem = date_format_problem(v)
        if problem:
            raise ValueError(problem)
        return v

    @model_validator(mode="after")
    def _one_horizon(self):
        # the step count (whole, at least one) is checked with the start by gridopt.timeindex.horizon_grid
        given = [f for f in ("horizon_hours", "horizon", "end") if getattr(self, f) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of horizon_hours, horizon (a duration) or end (a time)"
                + (f"; got {' and '.join(given)}" if given else "")
            )
        return self


@dataclass(frozen=True)
class SolverOptions:
    """Options for the MIP solve.

    Attributes
    ----------
    time_limit_s : float
        Wall-clock limit of the solver [s].
    mip_rel_gap : float
        Relative gap at which the search stops, measured as
        ``(cost - bound) / max(|bound|, 1)``.
    """

    time_limit_s: float = 60.0
    mip_rel_gap: float = 1e-4


# ---------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------

VEHICLE_REQUIRED = ("vehicle_id", "battery_kwh", "max_charge_kw", "max_discharge_kw", "min_soc")
VEHICLE_DEFAULTS: dict[str, float] = {
    "initial_soc": math.nan,
    "max_soc": 1.0,
    "final_soc": math.nan,
    "charge_efficiency": 0.95,
    "discharge_efficiency": 0.95,
    "min_charge_kw": 0.0,
}
VEHICLE_TEXT_OPTIONAL = ("model", "charger_id")  # charger_id: the bay it always uses (gridopt.chargers)
TRIP_REQUIRED = ("vehicle_id", "departure", "arrival", "energy_kwh")
TRIP_OPTIONAL = ("departure_soc", "trip_id", "charger_id")  # charger_id: of the plug-in after the trip
#: Columns of a sessions table in SoC form (the form the simulator's actual sessions use).
SESSION_REQUIRED = ("vehicle_id", "arrival", "departure", "arrival_soc", "target_soc")
SESSION_OPTIONAL = ("session_id",)
#: Columns of a scenario's sessions.csv: times, and per row either ``arrival_soc`` + ``target_soc``
#: or ``energy_kwh`` (see :func:`resolve_session_forms`).
SESSION_FILE_REQUIRED = ("arrival", "departure")
SESSION_FILE_OPTIONAL = (
    "vehicle_id",
    "arrival_soc",
    "target_soc",
    "energy_kwh",
    "session_id",
    "station_id",
    "max_charge_kw",
    "min_charge_kw",
)


def _line(df: pd.DataFrame, i) -> str:
    """File line of DataFrame label ``i`` (tables keep their file line as the index)."""
    return f"line {i}"


def check_columns(df: pd.DataFrame, where: str, required, optional) -> None:
    """Raise if a required column is missing or an unknown column is present."""
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ScenarioError(f"{where}: missing column {missing[0]!r} (required: {', '.join(required)})")
    known = set(required) | set(optional)
    unknown = [c for c in df.columns if c not in known]
    if unknown:
        raise ScenarioError(
            f"{where}: unknown column {unknown[0]!r} (allowed: {', '.join(list(required) + list(optional))})"
        )


def numeric_column(df: pd.DataFrame, col: str, where: str, required: bool = True) -> pd.Series:
    """Column ``col`` as float, naming the first line that is not a number."""
    raw = df[col]
    num = pd.to_numeric(raw, errors="coerce").astype(float)
    blank = raw.isna() | (raw.astype("string").str.strip() == "")
    bad = num.isna() & ~blank
    if bad.any():
        i = bad.idxmax()
        raise ScenarioError(f"{where} {_line(df, i)}: '{col}' = {raw[i]!r} is not a number")
    if required and blank.any():
        i = blank.idxmax()
        raise ScenarioError(f"{where} {_line(df, i)}: '{col}' is empty")
    if np.isinf(num).any():
        i = np.isinf(num).idxmax()
        raise ScenarioError(f"{where} {_line(df, i)}: '{col}' must be finite")
    return num


#: Largest magnitude of each numeric table column a scenario may hold, with its unit (see the
#: bounds above); e.g. prices in a timeseries CSV are bounded like those in the YAML.
COLUMN_LIMITS: dict[str, tuple[float, str]] = {
    "battery_kwh": (MAX_BATTERY_KWH, "kWh"),
    "max_charge_kw": (MAX_POWER_KW, "kW"),
    "max_discharge_kw": (MAX_POWER_KW, "kW"),
    "min_charge_kw": (MAX_POWER_KW, "kW"),
    "import_price": (MAX_PRICE_PER_KWH, "per kWh"),
    "export_price": (MAX_PRICE_PER_KWH, "per kWh"),
    "base_load_kw": (MAX_POWER_KW, "kW"),
    "pv_kw": (MAX_POWER_KW, "kW"),
    "import_limit_kw": (MAX_POWER_KW, "kW"),
    "export_limit_kw": (MAX_POWER_KW, "kW"),
}


def check_column_limits(df: pd.DataFrame, where: str, columns=None) -> None:
    """Refuse a value beyond its column's limit in :data:`COLUMN_LIMITS`, naming the file line.

    Parameters
    ----------
    df : DataFrame
        Numeric columns, index = file line numbers.
    where : str
        File name for messages.
    columns : iterable of str, optional
        Columns to check (default: every column of ``df`` that has a limit).
    """
    for col in df.columns if columns is None else columns:
        if col not in COLUMN_LIMITS:
            continue
        limit, unit = COLUMN_LIMITS[col]
        values = df[col]
        signed = col.endswith("_price")
        _require(
            df,
            values.abs() > limit,
            where,
            lambda i, c=col, v=values, lim=limit, u=unit, sg=signed: (
                f"'{c}' = {v[i]:g} is outside -{lim:.15g}..{lim:.15g} {u}, the range gridopt accepts"
                if sg
                else f"'{c}' = {v[i]:g} is above {lim:.15g} {u}, the largest gridopt accepts"
            ),
        )


def _first(mask: pd.Series):
    return mask.idxmax() if mask.any() else None


def _require(df, mask, where, message):
    i = _first(mask)
    if i is not None:
        raise ScenarioError(f"{where} {_line(df, i)}: {message(i)}")


def _ids(df: pd.DataFrame, where: str) -> pd.Series:
    ids = df["vehicle_id"].astype("string").str.strip()
    _require(df, ids.isna() | (ids == ""), where, lambda i: "'vehicle_id' is empty")
    return ids


def validate_vehicles(raw: pd.DataFrame, where: str) -> pd.DataFrame:
    """Check and complete the vehicles table.

    Parameters
    ----------
    raw : DataFrame
        Table as read, index = file line numbers.
    where : str
        File name for messages.

    Returns
    -------
    DataFrame
        Indexed by ``vehicle_id`` with float columns ``battery_kwh`` [kWh],
        ``max_charge_kw``, ``max_discharge_kw``, ``min_charge_kw`` [kW], SoC
        fractions ``min_soc``, ``max_soc``, ``initial_soc``, ``final_soc`` (NaN if
        absent), ``charge_efficiency``, ``discharge_efficiency`` [-], and ``line``.
    """
    check_columns(raw, where, VEHICLE_REQUIRED, list(VEHICLE_DEFAULTS) + list(VEHICLE_TEXT_OPTIONAL))
    if raw.empty:
        raise ScenarioError(f"{where}: no vehicles")
    df = pd.DataFrame(index=raw.index)
    df["vehicle_id"] = _ids(raw, where)
    dup = df["vehicle_id"].duplicated()
    _require(raw, dup, where, lambda i: f"duplicate vehicle_id {df.at[i, 'vehicle_id']!r}")
    for col in VEHICLE_REQUIRED[1:]:
        df[col] = numeric_column(raw, col, where)
    for col, default in VEHICLE_DEFAULTS.items():
        df[col] = numeric_column(raw, col, where, required=False).fillna(default) if col in raw else default
    if "model" in raw:
        df["model"] = raw["model"].astype("string").fillna("")
    if "charger_id" in raw:  # the charger it always uses (checked against chargers.csv in gridopt.chargers)
        df["charger_id"] = raw["charger_id"].astype("string").str.strip().fillna("").astype(object)
    for col in ("battery_kwh",):
        _require(raw, df[col] <= 0, where, lambda i, c=col: f"'{c}' must be > 0 (got {df.at[i, c]})")
    for col in ("max_charge_kw", "max_discharge_kw", "min_charge_kw"):
        _require(raw, df[col] < 0, where, lambda i, c=col: f"'{c}' must be >= 0 (got {df.at[i, c]})")
    check_column_limits(df, where, ("battery_kwh", "max_charge_kw", "max_discharge_kw", "min_charge_kw"))
    for col in ("min_soc", "max_soc", "initial_soc", "final_soc"):
        bad = (df[col] < 0) | (df[col] > 1)
        _require(raw, bad, where, lambda i, c=col: f"'{c}' = {df.at[i, c]} is outside 0..1 (SoC is a fraction)")
    _require(
        raw,
        df["min_soc"] > df["max_soc"],
        where,
        lambda i: f"min_soc {df.at[i, 'min_soc']} is above max_soc {df.at[i, 'max_soc']}",
    )
    for col in ("charge_efficiency", "discharge_efficiency"):
        bad = (df[col] < MIN_EFFICIENCY) | (df[col] > 1)
        _require(
            raw,
            bad,
            where,
            lambda i, c=col: (
                f"'{c}' = {df.at[i, c]} must be in [{MIN_EFFICIENCY}, 1] (a fraction: 0.95, not 95 or 0.095)"
            ),
        )
    _require(
        raw,
        df["min_charge_kw"] > df["max_charge_kw"],
        where,
        lambda i: f"min_charge_kw {df.at[i, 'min_charge_kw']} is above max_charge_kw {df.at[i, 'max_charge_kw']}",
    )
    _require(
        raw,
        df["final_soc"] > df["max_soc"],
        where,
        lambda i: f"final_soc {df.at[i, 'final_soc']} is above max_soc {df.at[i, 'max_soc']}: it can never be reached",
    )
    df["line"] = raw.index
    return df.set_index("vehicle_id")


def empty_vehicles() -> pd.DataFrame:
    """A vehicles table without rows, as :func:`validate_vehicles` returns (for a fleet of visitors only)."""
    cols = list(VEHICLE_REQUIRED[1:]) + list(VEHICLE_DEFAULTS)
    df = pd.DataFrame({c: pd.Series(dtype=float) for c in cols})
    df["line"] = pd.Series(dtype=np.int64)
    df.index = pd.Index([], dtype=object, name="vehicle_id")
    return df


def _check_known(df: pd.DataFrame, vehicles: pd.DataFrame, where: str, vehicles_where: str) -> None:
    unknown = ~df["vehicle_id"].isin(vehicles.index)
    _require(
        df,
        unknown,
        where,
        lambda i: f"unknown vehicle_id {df.at[i, 'vehicle_id']!r} (not in {vehicles_where})",
    )


def _check_overlap(df: pd.DataFrame, start: str, end: str, where: str, what: str) -> None:
    srt = df.sort_values(["vehicle_id", start])
    prev_end = srt.groupby("vehicle_id")[end].shift()
    prev_line = pd.Series(srt.index, index=srt.index).groupby(srt["vehicle_id"]).shift()
    overlap = srt[start] < prev_end
    if overlap.any():
        i = overlap.idxmax()
        raise ScenarioError(
            f"{where} {_line(df, i)}: {what} of vehicle {srt.at[i, 'vehicle_id']!r} starting "
            f"{srt.at[i, start].isoformat()} overlaps the one on line {int(prev_line[i])} "
            f"(ends {prev_end[i].isoformat()})"
        )


def _check_unique_events(df: pd.DataFrame, col: str, where: str) -> None:
    dup = df.duplicated(["vehicle_id", col])
    _require(df, dup, where, lambda i: f"duplicate {col} {df.at[i, col]!r} for vehicle {df.at[i, 'vehicle_id']!r}")


def validate_trips(df: pd.DataFrame, vehicles: pd.DataFrame, where: str, vehicles_where: str) -> pd.DataFrame:
    """Check a trips table whose times are already parsed (index = file lines).

    Columns: ``vehicle_id``, ``departure``, ``arrival`` (tz-aware), ``energy_kwh``
    [kWh], ``departure_soc`` (fraction, NaN if absent), ``trip_id``.
    """
    _check_known(df, vehicles, where, vehicles_where)
    _require(
        df,
        df["arrival"] <= df["departure"],
        where,
        lambda i: (
            f"vehicle {df.at[i, 'vehicle_id']!r} returns ({df.at[i, 'arrival'].isoformat()}) "
            f"before it departs ({df.at[i, 'departure'].isoformat()})"
        ),
    )
    _require(df, df["energy_kwh"] < 0, where, lambda i: f"'energy_kwh' must be >= 0 (got {df.at[i, 'energy_kwh']})")
    dsoc = df["departure_soc"]
    _require(df, (dsoc < 0) | (dsoc > 1), where, lambda i: f"'departure_soc' = {dsoc[i]} is outside 0..1")
    veh = vehicles.loc[df["vehicle_id"]]
    battery = veh["battery_kwh"].to_numpy()
    covers = ~(dsoc.to_numpy() * battery + 1e-9 < df["energy_kwh"].to_numpy())
    _require(
        df,
        pd.Series(~covers, index=df.index),
        where,
        lambda i: (
            f"departure_soc {dsoc[i]} of vehicle {df.at[i, 'vehicle_id']!r} "
            f"({dsoc[i] * vehicles.at[df.at[i, 'vehicle_id'], 'battery_kwh']:.1f} kWh) does not cover the trip's "
            f"energy_kwh {df.at[i, 'energy_kwh']}"
        ),
    )
    above = dsoc.to_numpy() > veh["max_soc"].to_numpy() + 1e-12
    _require(
        df,
        pd.Series(above, index=df.index),
        where,
        lambda i: (
            f"departure_soc {dsoc[i]} is above max_soc "
            f"{vehicles.at[df.at[i, 'vehicle_id'], 'max_soc']} of vehicle {df.at[i, 'vehicle_id']!r}"
        ),
    )
    _check_unique_events(df, "trip_id", where)
    _check_overlap(df, "departure", "arrival", where, "trip")
    return df


def validate_sessions(df: pd.DataFrame, vehicles: pd.DataFrame, where: str, vehicles_where: str) -> pd.DataFrame:
    """Check a sessions table whose times are already parsed (index = file lines).

    Columns: ``vehicle_id``, ``arrival``, ``departure`` (tz-aware), ``arrival_soc``,
    ``target_soc`` (fractions), ``session_id``.
    """
    _check_known(df, vehicles, where, vehicles_where)
    _require(
        df,
        df["departure"] <= df["arrival"],
        where,
        lambda i: (
            f"vehicle {df.at[i, 'vehicle_id']!r} departs ({df.at[i, 'departure'].isoformat()}) "
            f"before it arrives ({df.at[i, 'arrival'].isoformat()})"
        ),
    )
    for col in ("arrival_soc", "target_soc"):
        bad = (df[col] < 0) | (df[col] > 1)
        _require(df, bad, where, lambda i, c=col: f"'{c}' = {df.at[i, c]} is outside 0..1")
    max_soc = vehicles.loc[df["vehicle_id"], "max_soc"].to_numpy()
    above = pd.Series(df["target_soc"].to_numpy() > max_soc + 1e-12, index=df.index)
    _require(
        df,
        above,
        where,
        lambda i: (
            f"target_soc {df.at[i, 'target_soc']} is above max_soc "
            f"{vehicles.at[df.at[i, 'vehicle_id'], 'max_soc']} of vehicle {df.at[i, 'vehicle_id']!r}"
        ),
    )
    _check_unique_events(df, "session_id", where)
    _check_overlap(df, "arrival", "departure", where, "session")
    if "station_id" in df:
        _check_stations(df, where)
    return df


def _check_stations(df: pd.DataFrame, where: str) -> None:
    """One vehicle at a time on a station: refuse two sessions on one ``station_id`` that overlap."""
    on = df[df["station_id"].notna() & (df["station_id"].astype(str) != "")]
    srt = on.sort_values(["station_id", "arrival"], kind="stable")
    prev_end = srt.groupby("station_id")["departure"].shift()
    prev_line = pd.Series(srt.index, index=srt.index).groupby(srt["station_id"]).shift()
    clash = srt["arrival"] < prev_end
    if clash.any():
        i = clash.idxmax()
        raise ScenarioError(
            f"{where} {_line(df, i)}: station {srt.at[i, 'station_id']!r} is taken until {prev_end[i].isoformat()} "
            f"by the session on line {int(prev_line[i])}, but this session arrives {srt.at[i, 'arrival'].isoformat()}: "
            "one station charges one vehicle at a time"
        )


def _given(df: pd.DataFrame, col: str) -> pd.Series:
    """Cells of ``col`` that hold a value (all False if the column is absent)."""
    if col not in df:
        return pd.Series(False, index=df.index)
    return df[col].notna() & (df[col].astype("string").str.strip() != "").fillna(False).astype(bool)


def _visitor_ids(df: pd.DataFrame, visitor: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Vehicle id of each visitor session, and where it came from.

    ``vehicle_id`` if given (``vehicle_id/session_id`` when that visitor has several
    sessions), else ``session_id``, else ``station_id@arrival``, else ``session-N``
    (N = file line - 1, as generated session ids are).
    """
    vid = df["vehicle_id"].where(_given(df, "vehicle_id"))
    sid = df["session_id"].where(_given(df, "session_id"))
    station = df["station_id"].where(_given(df, "station_id")) if "station_id" in df else pd.Series(np.nan, df.index)
    repeat = vid.where(visitor).duplicated(keep=False) & vid.notna() & visitor
    ids, source = {}, {}
    for i in df.index[visitor]:
        if pd.notna(vid[i]):
            if repeat[i]:
                own = sid[i] if pd.notna(sid[i]) else f"session-{i - 1}"
                ids[i], source[i] = f"{vid[i]}/{own}", "vehicle_id/session_id"
            else:
                ids[i], source[i] = str(vid[i]), "vehicle_id"
        elif pd.notna(sid[i]):
            ids[i], source[i] = str(sid[i]), "session_id"
        elif pd.notna(station[i]):
            ids[i], source[i] = f"{station[i]}@{df.at[i, 'arrival'].isoformat()}", "station_id@arrival"
        else:
            ids[i], source[i] = f"session-{i - 1}", "the line"
    return pd.Series(ids, dtype=object), pd.Series(source, dtype=object)


def resolve_session_forms(
    df: pd.DataFrame,
    vehicles: pd.DataFrame,
    where: str,
    vehicles_where: str | None,
    defaults: SessionDefaults | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Turn a sessions table with either form per row into SoC form plus visitor vehicles.

    Each row gives either ``arrival_soc`` and ``target_soc`` (a vehicle in
    vehicles.csv), or ``energy_kwh``, the energy the driver wants **into the
    battery** [kWh]:

    * a vehicle in vehicles.csv also gives ``arrival_soc``; its target is
      ``arrival_soc + energy_kwh / battery_kwh`` (at most ``max_soc``);
    * any other session is a **visitor** with an unknown battery: its own vehicle
      with ``battery_kwh = energy_kwh``, arriving empty (``arrival_soc = 0``), target
      full (``target_soc = 1``), no V2G, ``min_soc = 0``; so its SoC in kWh is the
      energy delivered so far. Its ``max_charge_kw``, ``min_charge_kw`` [kW] come
      from the row, else from ``defaults``; ``charge_efficiency`` from ``defaults``
      (else 0.95). A session of 0 kWh is a 1 kWh battery with ``max_soc = 0``.

    Parameters
    ----------
    df : DataFrame
        Parsed table, index = file lines: ``vehicle_id``, ``session_id``,
        ``station_id`` (text or NaN), ``arrival``, ``departure`` (tz-aware), and the
        numeric columns the file has among ``arrival_soc``, ``target_soc``,
        ``energy_kwh`` [kWh], ``max_charge_kw``, ``min_charge_kw`` [kW] (NaN = empty cell).
    vehicles : DataFrame
        Validated vehicles table (may be empty).
    where, vehicles_where : str
        File names for messages; ``vehicles_where`` None when the scenario has no vehicles table.
    defaults : SessionDefaults, optional

    Returns
    -------
    sessions : DataFrame
        ``vehicle_id`` (a visitor's own id, see :func:`_visitor_ids`), ``arrival``,
        ``departure``, ``arrival_soc``, ``target_soc``, ``session_id``, and
        ``energy_kwh``, ``station_id`` if the file has them.
    visitors : DataFrame
        Vehicles table (as :func:`validate_vehicles` returns) of the visitors, ``line``
        = their session's line.
    """
    vtable = vehicles_where if vehicles_where is not None else "the scenario (it has no fleet.vehicles)"
    has_t, has_e = "target_soc" in df, "energy_kwh" in df
    if not has_t and not has_e:
        raise ScenarioError(
            f"{where}: missing column 'target_soc' (with arrival_soc) or 'energy_kwh' (kWh the driver requests): "
            "each session says what it needs"
        )
    t, e, a = _given(df, "target_soc"), _given(df, "energy_kwh"), _given(df, "arrival_soc")
    _require(
        df,
        t & e,
        where,
        lambda i: "gives both target_soc and energy_kwh: give one (target_soc with arrival_soc, or energy_kwh)",
    )
    if has_t and has_e:
        _require(df, ~t & ~e, where, lambda i: "gives neither target_soc (with arrival_soc) nor energy_kwh")
    else:
        col = "target_soc" if has_t else "energy_kwh"
        _require(
            df,
            ~(t | e),
            where,
            lambda i: f"'{col}' is empty (a session gives target_soc with arrival_soc, or energy_kwh)",
        )
    if t.any() and "arrival_soc" not in df:
        raise ScenarioError(f"{where}: missing column 'arrival_soc' (sessions with target_soc need it)")
    _require(df, t & ~a, where, lambda i: "'arrival_soc' is empty (a session with target_soc needs it)")
    energy = df["energy_kwh"] if has_e else pd.Series(np.nan, index=df.index)
    _require(df, energy < 0, where, lambda i: f"'energy_kwh' must be >= 0 (got {energy[i]:g})")
    _require(
        df,
        energy > SESSION_MAX_ENERGY_KWH,
        where,
        lambda i: f"'energy_kwh' = {energy[i]:g} is not one session's energy (at most {SESSION_MAX_ENERGY_KWH:g} kWh)",
    )
    for col in ("max_charge_kw", "min_charge_kw"):
        if col in df:
            low = df[col] <= 0 if col == "max_charge_kw" else df[col] < 0
            sign = "> 0" if col == "max_charge_kw" else ">= 0"
            _require(df, low, where, lambda i, c=col, s=sign: f"'{c}' must be {s} (got {df.at[i, c]:g})")
            _require(
                df,
                df[col] > SESSION_MAX_POWER_KW,
                where,
                lambda i, c=col: (
                    f"'{c}' = {df.at[i, c]:g} is not a charger's power (at most {SESSION_MAX_POWER_KW:g} kW)"
                ),
            )

    vid = df["vehicle_id"].where(_given(df, "vehicle_id"))
    known = vid.isin(vehicles.index) & vid.notna()
    _require(df, t & vid.isna(), where, lambda i: "'vehicle_id' is empty (a session with target_soc is a vehicle's)")
    _require(
        df,
        t & ~known,
        where,
        lambda i: (
            f"unknown vehicle_id {vid[i]!r} (not in {vehicles_where})"
            if vehicles_where is not None
            else f"unknown vehicle_id {vid[i]!r}: the scenario has no fleet.vehicles, so a session gives "
            "energy_kwh instead of arrival_soc/target_soc"
        ),
    )
    limits = _given(df, "max_charge_kw") | _given(df, "min_charge_kw")
    _require(
        df,
        known & limits,
        where,
        lambda i: (
            f"vehicle {vid[i]!r} takes its charging limits from {vehicles_where}: max_charge_kw and "
            "min_charge_kw in sessions are for visitors (vehicles not in it)"
        ),
    )
    # energy sessions of known vehicles: from arrival_soc, energy_kwh more
    mine = e & known
    _require(
        df,
        mine & ~a,
        where,
        lambda i: (
            f"vehicle {vid[i]!r} is in {vehicles_where}: its session with energy_kwh needs arrival_soc (its SoC "
            "at plug-in), or leave the vehicle out of it to make it a visitor"
        ),
    )
    out = pd.DataFrame(index=df.index)
    out["vehicle_id"] = vid.astype(object)
    out["arrival"] = df["arrival"]
    out["departure"] = df["departure"]
    out["arrival_soc"] = df["arrival_soc"] if "arrival_soc" in df else np.nan
    out["target_soc"] = df["target_soc"] if has_t else np.nan
    if mine.any():
        asoc = out["arrival_soc"]
        _require(df, mine & ((asoc < 0) | (asoc > 1)), where, lambda i: f"'arrival_soc' = {asoc[i]} is outside 0..1")
        veh = vehicles.reindex(vid.where(mine))
        battery = veh["battery_kwh"].to_numpy()
        target = asoc.to_numpy() + energy.to_numpy() / battery
        over = pd.Series(mine.to_numpy() & (target > veh["max_soc"].to_numpy() + 1e-9), index=df.index)
        _require(
            df,
            over,
            where,
            lambda i: (
                f"energy_kwh {energy[i]:g} from arrival_soc {asoc[i]:g} would fill vehicle {vid[i]!r} to "
                f"{asoc[i] * vehicles.at[vid[i], 'battery_kwh'] + energy[i]:.1f} kWh, above its max_soc "
                f"{vehicles.at[vid[i], 'max_soc']:g} of {vehicles.at[vid[i], 'battery_kwh']:g} kWh"
            ),
        )
        out.loc[mine, "target_soc"] = np.minimum(target[mine.to_numpy()], veh["max_soc"].to_numpy()[mine.to_numpy()])

    # visitors: energy sessions of vehicles not in the vehicles table
    visitor = e & ~known
    _require(
        df,
        visitor & a,
        where,
        lambda i: (
            f"{f'vehicle {vid[i]!r}' if pd.notna(vid[i]) else 'the vehicle of this session'} is not in {vtable}: a "
            "visitor's battery is unknown, so its session gives energy_kwh without arrival_soc"
        ),
    )
    given_visitors = df[visitor & vid.notna()].assign(vehicle_id=vid)
    _check_overlap(given_visitors, "arrival", "departure", where, "session")
    ids, source = _visitor_ids(df, visitor)
    if len(ids):
        clash = ids.isin(vehicles.index)
        _require(
            df,
            clash.reindex(df.index, fill_value=False),
            where,
            lambda i: (
                f"visitor id {ids[i]!r} (from {source[i]}) is also a vehicle in {vehicles_where}: give this "
                "session its own vehicle_id"
            ),
        )
        dup = ids.duplicated(keep="first")
        first = {v: i for i, v in ids[~dup].items()}
        _require(
            df,
            dup.reindex(df.index, fill_value=False),
            where,
            lambda i: (
                f"visitor id {ids[i]!r} (from {source[i]}) is also the id of the session on line {first[ids[i]]}: "
                "give each visitor session its own vehicle_id or session_id"
            ),
        )
    d = defaults or SessionDefaults()
    pmax = (df["max_charge_kw"] if "max_charge_kw" in df else pd.Series(np.nan, index=df.index)).fillna(
        np.nan if d.max_charge_kw is None else d.max_charge_kw
    )
    pmin = (df["min_charge_kw"] if "min_charge_kw" in df else pd.Series(np.nan, index=df.index)).fillna(d.min_charge_kw)
    _require(
        df,
        visitor & pmax.isna(),
        where,
        lambda i: (
            f"visitor {ids[i]!r} has no max_charge_kw (its vehicle is not in {vtable}): give a max_charge_kw "
            "column in the sessions or fleet.session_defaults.max_charge_kw"
        ),
    )
    _require(
        df,
        visitor & (pmin > pmax),
        where,
        lambda i: f"min_charge_kw {pmin[i]:g} is above max_charge_kw {pmax[i]:g}",
    )
    E = energy[visitor]
    visitors = pd.DataFrame(
        {
            "battery_kwh": E.where(E > 0, 1.0),
            "max_charge_kw": pmax[visitor],
            "max_discharge_kw": 0.0,
            "min_soc": 0.0,
            "initial_soc": np.nan,
            "max_soc": (E > 0).astype(float),
            "final_soc": np.nan,
            "charge_efficiency": d.charge_efficiency,
            "discharge_efficiency": SESSION_DEFAULT_EFFICIENCY,
            "min_charge_kw": pmin[visitor],
            "line": df.index[visitor],
        },
        index=df.index[visitor],
    )
    if "model" in vehicles:
        visitors["model"] = ""
    visitors.index = pd.Index(ids.reindex(visitors.index).astype(object).to_numpy(), name=vehicles.index.name)
    visitors = visitors.reindex(columns=vehicles.columns)
    out.loc[visitor, "vehicle_id"] = ids
    out.loc[visitor, "arrival_soc"] = 0.0
    out.loc[visitor, "target_soc"] = (E > 0).astype(float)
    sid = df["session_id"].where(_given(df, "session_id"))
    out["session_id"] = [str(s) if pd.notna(s) else f"session-{i - 1}" for i, s in sid.items()]
    if has_e:
        out["energy_kwh"] = energy
    if "station_id" in df:
        out["station_id"] = df["station_id"].where(_given(df, "station_id")).astype(object)
    return out, visitors


def check_fleet_roles(
    vehicles: pd.DataFrame,
    trips: pd.DataFrame,
    sessions: pd.DataFrame,
    where: str,
    trips_where: str = "trips",
    sessions_where: str = "sessions",
) -> None:
    """A vehicle has trips or sessions, never both; trip vehicles need ``initial_soc``."""
    both = sessions["vehicle_id"].isin(set(trips["vehicle_id"]))
    if both.any():
        i = both.idxmax()
        vid = sessions.at[i, "vehicle_id"]
        trip_line = trips.index[trips["vehicle_id"] == vid][0]
        raise ScenarioError(
            f"{sessions_where} line {i}: vehicle {vid!r} has both trips and sessions (trips in {trips_where} line "
            f"{trip_line}); a vehicle is either a fleet vehicle (trips) or a visitor (sessions)"
        )
    session_ids = set(sessions["vehicle_id"])
    for vid, row in vehicles.iterrows():
        if vid not in session_ids and math.isnan(row["initial_soc"]):
            raise ScenarioError(
                f"{where} line {int(row['line'])}: vehicle {vid!r} has no sessions, so it is at the site whenever "
                "it is not on a trip and needs 'initial_soc'"
            )


# ---------------------------------------------------------------------------
# The resolved scenario
# ---------------------------------------------------------------------------

SERIES_COLUMNS = ("import_price", "export_price", "base_load_kw", "pv_kw")
#: Optional timeseries columns: time-varying grid limits (a column overrides the site's constant) [kW].
SITE_LIMIT_COLUMNS = ("import_limit_kw", "export_limit_kw")
#: Columns of ``Scenario.series`` that only scenarios with a ``grid:`` block, ``events`` or limit
#: columns have (see :func:`step_inputs` for their defaults).
GRID_SERIES_COLUMNS = (
    "import_limit_kw",
    "export_limit_kw",
    "carbon_kg_per_kwh",
    "renewable_surplus_kw",
    "net_load_kw",
    "target_kw",
    "export_request_kw",
    "export_payment_per_kwh",
    "export_penalty_per_kwh",
    "export_request_hard",
    "shift_away_price_per_kwh",
)


@dataclass(frozen=True)
class GridTerms:
    """Weights of the grid objectives and the epsilon-constraint caps (the ``grid:`` block).

    All zero / None (the default) adds nothing to the model.

    Attributes
    ----------
    carbon_price_per_kg : float
        Price of emissions [currency/kg]: ``sum_t carbon(t) (imp(t) - [credit] exp(t)) dt``.
    carbon_credit_export : bool
        Export is credited at the same carbon rate.
    peak_weight_per_kw : float
        Weight of ``max_t (net_load_kw + imp - exp)`` [currency/kW].
    valley_fill_weight_per_kw : float
        Weight of ``max_t |L(t) - mean(L)|``, ``L = net_load_kw + imp - exp`` [currency/kW].
    tracking_penalty_per_kwh : float
        Price of ``sum_t |imp - exp - target_kw| dt`` [currency/kWh] (``tracking`` soft).
    tracking : {"soft", "exact"}
        exact: ``imp - exp == target_kw`` in every step with a target.
    renewable_use_bonus_per_kwh : float
        Bonus on ``sum_t min(sum_v charge_kw, renewable_surplus_kw) dt`` [currency/kWh].
    emissions_cap_kg : float or None
        Emissions as the ``emissions_kg`` KPI counts them at most this [kg].
    grid_peak_cap_kw : float or None
        ``net_load_kw + imp - exp`` at most this in every step [kW].
    """

    carbon_price_per_kg: float = 0.0
    carbon_credit_export: bool = False
    peak_weight_per_kw: float = 0.0
    valley_fill_weight_per_kw: float = 0.0
    tracking_penalty_per_kwh: float = 0.0
    tracking: str = "soft"
    renewable_use_bonus_per_kwh: float = 0.0
    emissions_cap_kg: float | None = None
    grid_peak_cap_kw: float | None = None

    @property
    def exact_tracking(self) -> bool:
        return self.tracking == "exact"


@dataclass(frozen=True)
class StepInputs:
    """The effective per-step grid inputs of a scenario, arrays of shape (n_steps,).

    Attributes
    ----------
    import_limit_kw, export_limit_kw : ndarray
        Grid limits after the timeseries columns and ``import_cap`` events [kW]; ``inf`` = none.
    carbon_kg_per_kwh : ndarray or None
        Marginal emission rate [kg/kWh]; None without the signal.
    renewable_surplus_kw : ndarray or None
        Renewable supply that would be curtailed [kW]; None without the signal.
    net_load_kw : ndarray
        The grid's load without the fleet's site [kW]; zeros without the signal.
    has_net_load : bool
        Whether ``net_load_kw`` came from the signals.
    target_kw : ndarray or None
        Requested net import (import - export) [kW], NaN in steps without a target; None without the signal.
    export_request_kw, export_payment_per_kwh, export_penalty_per_kwh : ndarray
        ``export_request`` events per step [kW, currency/kWh]; 0 outside them.
    export_request_hard : ndarray of bool
        The request is a constraint (``hard: true``).
    shift_away_price_per_kwh : ndarray
        Extra import price of ``shift_away`` events, already inside ``series["import_price"]`` [currency/kWh].
    """

    import_limit_kw: np.ndarray
    export_limit_kw: np.ndarray
    carbon_kg_per_kwh: np.ndarray | None
    renewable_surplus_kw: np.ndarray | None
    net_load_kw: np.ndarray
    has_net_load: bool
    target_kw: np.ndarray | None
    export_request_kw: np.ndarray
    export_payment_per_kwh: np.ndarray
    export_penalty_per_kwh: np.ndarray
    export_request_hard: np.ndarray
    shift_away_price_per_kwh: np.ndarray

    @property
    def target_steps(self) -> np.ndarray:
        """Steps that have a target (int array)."""
        if self.target_kw is None:
            return np.zeros(0, np.int64)
        return np.flatnonzero(~np.isnan(self.target_kw))

    @property
    def request_steps(self) -> np.ndarray:
        """Steps with an export request of more than 0 kW (int array)."""
        return np.flatnonzero(self.export_request_kw > 0)

    @property
    def hard_request_steps(self) -> np.ndarray:
        """Steps with a hard export request of more than 0 kW (int array)."""
        return np.flatnonzero((self.export_request_kw > 0) & self.export_request_hard)


def step_inputs(sc: Scenario) -> StepInputs:
    """The effective per-step grid inputs of ``sc`` (see :class:`StepInputs`).

    Read from ``sc.series``' grid columns where present (empty cells, as in a
    series a planner stitched together, take the default), else the defaults:
    the site's constant limits, no signal, no event.
    """
    s = sc.series
    T = len(s)

    def signal(name: str) -> np.ndarray | None:
        return s[name].to_numpy(dtype=float, na_value=np.nan) if name in s else None

    def filled(name: str, default: float) -> np.ndarray:
        a = signal(name)
        return np.full(T, float(default)) if a is None else np.where(np.isnan(a), float(default), a)

    carbon = signal("carbon_kg_per_kwh")
    surplus = signal("renewable_surplus_kw")
    return StepInputs(
        import_limit_kw=filled("import_limit_kw", sc.import_limit_kw),
        export_limit_kw=filled("export_limit_kw", sc.export_limit_kw),
        carbon_kg_per_kwh=None if carbon is None else np.nan_to_num(carbon, nan=0.0),
        renewable_surplus_kw=None if surplus is None else np.nan_to_num(surplus, nan=0.0),
        net_load_kw=filled("net_load_kw", 0.0),
        has_net_load="net_load_kw" in s,
        target_kw=signal("target_kw"),
        export_request_kw=filled("export_request_kw", 0.0),
        export_payment_per_kwh=filled("export_payment_per_kwh", 0.0),
        export_penalty_per_kwh=filled("export_penalty_per_kwh", 0.0),
        export_request_hard=filled("export_request_hard", 0.0) > 0,
        shift_away_price_per_kwh=filled("shift_away_price_per_kwh", 0.0),
    )


@dataclass(frozen=True)
class Scenario:
    """Everything gridopt needs to plan, on one time grid.

    Attributes
    ----------
    name, description : str
    grid : TimeGrid
        The horizon (tz-aware step starts, step length).
    import_limit_kw, export_limit_kw : float
        Grid connection limits [kW]; ``inf`` when unlimited.
    pv_curtailable : bool
        PV may be curtailed (``0 <= pv_used_kw <= pv_kw``); else ``pv_used_kw = pv_kw``.
    series : DataFrame
        Index ``grid.index``; columns ``import_price``, ``export_price`` [currency/kWh],
        ``base_load_kw``, ``pv_kw`` [kW] (mean power over each step).
    demand_charge_per_kw : float
        Charge on the horizon's peak import [currency/kW]: the tariff's rate,
        prorated to the horizon when it is billed per day or month (see
        :func:`gridopt.tariffs.demand_charge_for_horizon`).
    battery_degradation_cost_per_kwh : float
        Cost of each kWh discharged to the site (V2G) [currency/kWh].
    unmet_energy_penalty_per_kwh : float
        Price of each kWh a requirement falls short [currency/kWh].
    vehicles, trips, sessions : DataFrame
        Validated tables (see :func:`validate_vehicles` and friends).
    solver : SolverOptions
    config : dict
        The scenario as YAML-ready data (paths relative to ``base_dir``).
    base_dir : str
        Folder the scenario's relative paths refer to.
    warnings : tuple of str
        Things that are valid but probably unintended.
    currency : str or None
        ISO 4217 code of every price and cost (``EUR``); None when the scenario does not say.
    demand_charge_period : {"horizon", "day", "month"}
        Billing period of the demand charge as the tariff states it.
    demand_charge_stated_per_kw : float or None
        The demand charge as the tariff states it, per ``demand_charge_period``
        [currency/kW]; None: as ``demand_charge_per_kw``.
    grid_terms : GridTerms
        Weights of the grid objectives and the caps (the ``grid:`` block); all zero without it.
    events : tuple of dict
        The utility events as read (``kind``, ``start``, ``end`` as tz-aware
        Timestamps, ``first_step``, ``end_step``, and the event's own fields), for
        display; their effect is in ``series``' grid columns.
    chargers, circuit : DataFrame or None
        The site's chargers and circuit tree (:mod:`gridopt.chargers`); None without
        ``site.chargers`` / ``site.circuit``.
    reassign_at : tuple of (int, int)
        Daily clock times at which a vehicle may move to another charger (``site.reassign_at``).

    With a ``grid:`` block, ``events`` or limit columns, ``series`` also has the
    columns of :data:`GRID_SERIES_COLUMNS` that apply (``import_price`` then
    includes any ``shift_away`` extra); :func:`step_inputs` reads them with their
    defaults. ``import_limit_kw`` / ``export_limit_kw`` stay the site's constants.
    """

    name: str
    description: str
    grid: TimeGrid
    import_limit_kw: float
    export_limit_kw: float
    series: pd.DataFrame
    demand_charge_per_kw: float
    battery_degradation_cost_per_kwh: float
    unmet_energy_penalty_per_kwh: float
    vehicles: pd.DataFrame
    trips: pd.DataFrame
    sessions: pd.DataFrame
    solver: SolverOptions = SolverOptions()
    pv_curtailable: bool = True
    switching_penalty_per_kw: float = 0.0  # site.switching_penalty_per_kw (gridopt.optimizer.switching)
    prefer_early_charging: bool = False  # site.prefer_early_charging (gridopt.optimizer.early)
    config: dict = field(default_factory=dict, compare=False, repr=False)
    base_dir: str = "."
    warnings: tuple[str, ...] = ()
    currency: str | None = None
    demand_charge_period: str = "horizon"
    demand_charge_stated_per_kw: float | None = None
    grid_terms: GridTerms = GridTerms()
    events: tuple = ()
    # chargers and the circuit tree (gridopt.chargers); None: a charger per vehicle, no circuit
    chargers: pd.DataFrame | None = field(default=None, compare=False)
    circuit: pd.DataFrame | None = field(default=None, compare=False)
    reassign_at: tuple = ()  # daily (hour, minute) at which vehicles may change chargers
    # soft SoC checkpoints (Python level; gridopt.optimizer.checkpoints); None: none
    soft_checkpoints: pd.DataFrame | None = field(default=None, compare=False)

    @property
    def timezone(self) -> str:
        return str(self.grid.tz)

    def replace(self, **changes) -> Scenario:
        """A copy with some fields changed, checked exactly like a scenario file.

        The scenario itself is immutable. Fields are named as in the YAML,
        without their block, and go through the same checks and messages as a
        file (:class:`~gridopt.errors.ScenarioError`, exit 2 in the CLI);
        ``None`` leaves a field out where the YAML may (``import_limit_kw=None``:
        no import limit). Besides the YAML's fields: ``v2g_share`` [0..1],
        ``n_vehicles``, ``price_file`` (a CSV of prices) and ``pv_series_scale``
        edit the tables (see :func:`gridopt.edit.replace_scenario` for the list).

        >>> sc.replace(import_limit_kw=300, step_minutes=30, v2g_share=0.5)  # doctest: +SKIP
        """
        from .edit import replace_scenario

        return replace_scenario(self, changes)

    def with_built(self, **parts) -> Scenario:
        """A copy with already-built parts swapped in, **without** checks (low level).

        For gridopt's own code that builds validated parts itself (the
        simulator's tables and time grids, the reader's warnings). Anything a
        user changes goes through :meth:`replace`.
        """
        return dataclasses.replace(self, **parts)


def economic_warnings(sc: Scenario) -> list[str]:
    """Warn when the unmet-energy penalty is too low to protect vehicles' needs.

    Shortfall is a price, not a promise: if a kWh of unmet need costs less than
    buying that kWh (highest import price) or than the best value a kWh can earn
    by discharging (export price plus degradation is the value of keeping it), the
    optimizer may leave needs unmet on purpose.
    """
    out = []
    pen = sc.unmet_energy_penalty_per_kwh
    if len(sc.vehicles) == 0:
        return out
    max_import = float(sc.series["import_price"].max())
    if pen < max_import:
        out.append(
            f"unmet_energy_penalty_per_kwh {pen:g} is below the highest import price {max_import:g}: "
            "the plan may leave vehicles short on purpose rather than buy energy"
        )
    v2g = (sc.vehicles["max_discharge_kw"] > 0).any()
    if v2g:
        best = float(sc.series["export_price"].max()) + sc.battery_degradation_cost_per_kwh
        if pen < best:
            out.append(
                f"unmet_energy_penalty_per_kwh {pen:g} is below the largest export price plus degradation "
                f"cost {best:g}: the plan may discharge vehicles and leave their needs unmet on purpose"
            )
    return out
