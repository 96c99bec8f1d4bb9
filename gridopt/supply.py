"""PV supply on the time grid, computed with pvlib.

This is the only module that imports pvlib. Power leaves it in kW (pvlib works
in W and W/m2): the conversion happens once, here.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd


def pv_power_kw(*args, **kwargs) -> pd.Series:
    """See :func:`_pv_power_kw` (this wrapper silences pvlib's pandas deprecation notices)."""
    with warnings.catch_warnings():
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

    Returns
    -------
    Series
        On ``index``, [kW], >= 0.
    """
    import pvlib

    if index.tz is None:
        raise ValueError("index must be tz-aware")
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
    poa_global = poa["poa_global"].fillna(0.0).clip(lower=0)
    temp_cell = pvlib.temperature.faiman(poa_global, temp_air, wind)
    pdc0_w = peak_kw * 1000.0
    dc_w = pvlib.pvsystem.pvwatts_dc(poa_global, temp_cell, pdc0_w, gamma_pdc=-0.004) * (1 - loss_fraction)
    ac_rating_w = (inverter_kw if inverter_kw is not None else peak_kw / 1.1) * 1000.0
    ac_w = pvlib.inverter.pvwatts(dc_w, ac_rating_w / 0.96, eta_inv_nom=0.96).clip(lower=0)
    ac_kw = ac_w / 1000.0
    mean_kw = ac_kw.fillna(0.0).to_numpy().reshape(len(index), sub).mean(axis=1)
    return pd.Series(mean_kw, index=index)
