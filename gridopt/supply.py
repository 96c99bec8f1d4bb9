"""PV supply on the time grid, computed with pvlib.

This is the only module that imports pvlib. Power leaves it in kW (pvlib works
in W and W/m2): the conversion happens once, here. Numbers pvlib cannot use are
refused by name before it runs, and a NaN that pvlib returns anyway is an
error, never zero power.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

from .errors import ScenarioError

#: Physical ranges of the PV parameters: (lowest, highest, highest included).
PV_BOUNDS = {
    "latitude": (-90.0, 90.0, True),
    "longitude": (-180.0, 180.0, True),
    "peak_kw": (0.0, math.inf, False),
    "tilt_deg": (0.0, 90.0, True),
    "azimuth_deg": (0.0, 360.0, True),
    "altitude_m": (-500.0, 9000.0, True),  # Dead Sea shore to above Everest [m]
    "inverter_kw": (0.0, math.inf, False),
    "loss_fraction": (0.0, 1.0, False),
}


def pv_power_kw(*args, **kwargs) -> pd.Series:
    """See :func:`_pv_power_kw` (this wrapper silences pvlib's pandas deprecation notices)."""
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.filterwarnings("ignore", message=".*dayofyear is deprecated")
        return _pv_power_kw(*args, **kwargs)


def _pv_power_kw(
    index: pd.DatetimeIndex,
    step_minutes: int,
    *,
    latitude: float,
    longitude: float,
    peak_kw: float,
    tilt_deg: float = 20.0,
    azimuth_deg: float = 180.0,
    altitude_m: float = 0.0,
    inverter_kw: float | None = None,
    loss_fraction: float = 0.14,
    weather: pd.DataFrame | None = None,
    where: str = "scenario",
    weather_where: str | None = None,
) -> pd.Series:
    """Mean AC power of a PV system over each step [kW].

    Parameters
    ----------
    index : DatetimeIndex
        tz-aware step starts.
    step_minutes : int
        Step length [min]; power is averaged over sub-steps of at most 5 minutes.
    latitude, longitude : float
        Site position [deg].
    peak_kw : float
        DC rating at standard test conditions [kWp].
    tilt_deg, azimuth_deg : float
        Module orientation [deg]; azimuth 180 = south.
    altitude_m : float
        Site altitude [m] (clear-sky model).
    inverter_kw : float, optional
        AC rating [kW]; default ``peak_kw / 1.1``.
    loss_fraction : float
        System losses (soiling, wiring, mismatch) as a fraction [-].
    weather : DataFrame, optional
        Measured weather on a tz-aware index: ``ghi`` [W/m2], optionally ``dni``
        and ``dhi`` [W/m2] (else split from GHI with the Erbs model),
        ``temp_air`` [C] and ``wind_speed`` [m/s]. Without it, Ineichen clear sky
        with climatological turbidity is used.
    where : str
        The scenario's file name, for messages about the ``pv`` fields.
    weather_where : str, optional
        The weather file's name, for messages about the weather.

    Returns
    -------
    Series
        On ``index``, [kW], >= 0.

    Raises
    ------
    ScenarioError
        A parameter outside :data:`PV_BOUNDS` (or not finite), or NaN power from
        pvlib (naming the first step), which would otherwise read as no PV.
    """
    import pvlib

    if index.tz is None:
        raise ValueError("index must be tz-aware")
    given = {
        "latitude": latitude,
        "longitude": longitude,
        "peak_kw": peak_kw,
        "tilt_deg": tilt_deg,
        "azimuth_deg": azimuth_deg,
        "altitude_m": altitude_m,
        "inverter_kw": inverter_kw,
        "loss_fraction": loss_fraction,
    }
    for name, value in given.items():
        _check_bound(name, value, where)
    if peak_kw <= 0:
        return pd.Series(0.0, index=index)
    sub = max(1, int(np.ceil(step_minutes / 5)))
    sub_minutes = step_minutes / sub
    offsets = pd.to_timedelta((np.arange(sub) + 0.5) * sub_minutes, unit="min")
    stamps = (index.as_unit("ns").asi8[:, None] + offsets.as_unit("ns").asi8[None, :]).ravel()  # step-major, so sorted
    times = pd.DatetimeIndex(stamps.astype("datetime64[ns]")).tz_localize("UTC")  # solar geometry in UTC
    loc = pvlib.location.Location(latitude, longitude, tz="UTC", altitude=altitude_m)
    solpos = loc.get_solarposition(times)
    temp_air = pd.Series(20.0, index=times)
    wind = pd.Series(1.0, index=times)
    if weather is None:
        cs = loc.get_clearsky(times, model="ineichen", solar_position=solpos)
        ghi, dni, dhi = cs["ghi"], cs["dni"], cs["dhi"]
    else:
        w = weather.tz_convert("UTC").sort_index()
        w = w[~w.index.duplicated()]
        w = w.reindex(w.index.union(times)).interpolate(method="time", limit_direction="both").reindex(times)
        ghi = w["ghi"].clip(lower=0)
        if "dni" in w and "dhi" in w:
            dni, dhi = w["dni"].clip(lower=0), w["dhi"].clip(lower=0)
        else:
            parts = pvlib.irradiance.erbs(ghi, solpos["zenith"], times)
            dni, dhi = parts["dni"], parts["dhi"]
        if "temp_air" in w:
            temp_air = w["temp_air"]
        if "wind_speed" in w:
            wind = w["wind_speed"]
    dni_extra = pvlib.irradiance.get_extra_radiation(times)
    poa = pvlib.irradiance.get_total_irradiance(
        tilt_deg,
        azimuth_deg,
        solpos["apparent_zenith"],
        solpos["azimuth"],
        dni,
        ghi,
        dhi,
        dni_extra=dni_extra,
        model="haydavies",
    )
    poa_global = poa["poa_global"].clip(lower=0)
    temp_cell = pvlib.temperature.faiman(poa_global, temp_air, wind)
    pdc0_w = peak_kw * 1000.0
    dc_w = pvlib.pvsystem.pvwatts_dc(poa_global, temp_cell, pdc0_w, gamma_pdc=-0.004) * (1 - loss_fraction)
    ac_rating_w = (inverter_kw if inverter_kw is not None else peak_kw / 1.1) * 1000.0
    ac_w = pvlib.inverter.pvwatts(dc_w, ac_rating_w / 0.96, eta_inv_nom=0.96).clip(lower=0)
    ac_kw = (ac_w / 1000.0).to_numpy()
    bad = ~np.isfinite(ac_kw)
    if bad.any():
        first = index[int(np.argmax(bad)) // sub].isoformat()
        steps = int(bad.reshape(len(index), sub).any(axis=1).sum())
        if weather_where:
            head, check = f"{weather_where}: with the pv block of {where}, pvlib", "the weather and the pv values"
        else:
            head, check = f"{where}: field 'pv': pvlib", "the pv values"
        raise ScenarioError(
            f"{head} gives no PV power (NaN) from {first} on ({steps} of {len(index)} steps): check {check}"
        )
    mean_kw = ac_kw.reshape(len(index), sub).mean(axis=1)
    return pd.Series(mean_kw, index=index)


def _check_bound(name: str, value: float | None, where: str) -> None:
    """Refuse a PV parameter that is not a finite number within :data:`PV_BOUNDS`."""
    if value is None:
        return
    lo, hi, hi_included = PV_BOUNDS[name]
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = math.nan
    if name == "inverter_kw" and v == 0:
        raise ScenarioError(f"{where}: field 'pv.inverter_kw': must be > 0 kW; leave it out for peak_kw / 1.1 (got 0)")
    if not (math.isfinite(v) and lo <= v and (v < hi or (hi_included and v == hi))):
        upper = "" if math.isinf(hi) else f" and {'at most' if hi_included else 'below'} {hi:g}"
        raise ScenarioError(
            f"{where}: field 'pv.{name}': must be a finite number of at least {lo:g}{upper} (got {value!r})"
        )
