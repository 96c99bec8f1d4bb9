"""The two forecasts a model must beat.

* :class:`DriverEstimate`: the driver's own ``estimated_departure`` and
  ``requested_energy``; its 10-90 % band is the estimate plus the 10 % and 90 %
  quantiles of the drivers' errors in the training history. Sessions without an
  estimate get none (NaN) and are not scored.
* :class:`HistoricalAverage`: the mean dwell time and energy of the training
  sessions of the same site, arrival hour and day type (weekday / weekend),
  falling back to hour x day type, then to all sessions, when a group has fewer
  than ``min_count`` sessions; its band is the group's 10 % and 90 % quantiles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .features import dwell_h
from .sessions import prediction_table
from .timezones import local_hour


def _est_dwell_h(frame: pd.DataFrame) -> np.ndarray:
    est = pd.to_datetime(frame["estimated_departure"], utc=True)
    d = np.array((est - pd.to_datetime(frame["arrival"], utc=True)).dt.total_seconds() / 3600.0, dtype=float)
    d[~(d > 0)] = np.nan
    d[~frame["claimed"].to_numpy(bool)] = np.nan
    return d


def _requested_kwh(frame: pd.DataFrame) -> np.ndarray:
    return np.where(frame["claimed"].to_numpy(bool), frame["requested_energy_kwh"].to_numpy(float), np.nan)


@dataclass
class DriverEstimate:
    """Drivers' estimates with an error band learned from history.

    Attributes
    ----------
    dwell_error_h : tuple
        10 % and 90 % quantiles of ``actual - estimated`` dwell [h].
    energy_error_kwh : tuple
        10 % and 90 % quantiles of ``delivered - requested`` energy [kWh].
    """

    dwell_error_h: tuple = (0.0, 0.0)
    energy_error_kwh: tuple = (0.0, 0.0)

    @classmethod
    def fit(cls, history: pd.DataFrame) -> DriverEstimate:
        rd = dwell_h(history) - _est_dwell_h(history)
        re = history["energy_kwh"].to_numpy(float) - _requested_kwh(history)
        rd, re = rd[~np.isnan(rd)], re[~np.isnan(re)]
        qd = tuple(np.quantile(rd, [0.1, 0.9])) if len(rd) else (0.0, 0.0)
        qe = tuple(np.quantile(re, [0.1, 0.9])) if len(re) else (0.0, 0.0)
        return cls(dwell_error_h=qd, energy_error_kwh=qe)

    def predict(self, arrivals: pd.DataFrame) -> pd.DataFrame:
        d = _est_dwell_h(arrivals)
        e = _requested_kwh(arrivals)
        dq = np.column_stack([d + self.dwell_error_h[0], d, d + self.dwell_error_h[1]])
        eq = np.column_stack([e + self.energy_error_kwh[0], e, e + self.energy_error_kwh[1]])
        return prediction_table(arrivals, dq, eq)


def _keys(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "site": frame["site"].to_numpy(),
            "hour": np.floor(local_hour(frame["arrival"])).astype(int),
            "weekend": pd.DatetimeIndex(frame["arrival"]).day_of_week >= 5,
        },
        index=frame.index,
    )


@dataclass
class HistoricalAverage:
    """Mean by site x arrival hour x day type, with fallbacks.

    Attributes
    ----------
    tables : list of (list of str, pandas.DataFrame)
        Group keys and per-group ``n``, means and quantiles, finest first.
    """

    tables: list
    min_count: int = 5

    LEVELS = (["site", "hour", "weekend"], ["hour", "weekend"], [])

    @classmethod
    def fit(cls, history: pd.DataFrame, min_count: int = 5) -> HistoricalAverage:
        k = _keys(history)
        k["d"] = dwell_h(history)
        k["e"] = history["energy_kwh"].to_numpy(float)
        tables = []
        for level in cls.LEVELS:
            g = k.groupby(level) if level else k.assign(_all=0).groupby("_all")
            t = pd.DataFrame(
                {
                    "n": g["d"].size(),
                    "d_mean": g["d"].mean(),
                    "d_q10": g["d"].quantile(0.1),
                    "d_q90": g["d"].quantile(0.9),
                    "e_mean": g["e"].mean(),
                    "e_q10": g["e"].quantile(0.1),
                    "e_q90": g["e"].quantile(0.9),
                }
            )
            tables.append((level, t[t["n"] >= (min_count if level else 1)]))
        return cls(tables=tables, min_count=min_count)

    def predict(self, arrivals: pd.DataFrame) -> pd.DataFrame:
        k = _keys(arrivals)
        cols = ["d_q10", "d_mean", "d_q90", "e_q10", "e_mean", "e_q90"]
        out = pd.DataFrame(np.nan, index=arrivals.index, columns=cols)
        for level, t in self.tables:
            todo = out["d_mean"].isna().to_numpy()
            if not todo.any():
                break
            if level:
                idx = (
                    pd.MultiIndex.from_frame(k.loc[todo, level]) if len(level) > 1 else pd.Index(k.loc[todo, level[0]])
                )
                vals = t.reindex(idx)[cols].to_numpy()
            else:
                vals = np.repeat(t[cols].to_numpy()[:1], todo.sum(), axis=0)
            out.loc[todo, cols] = vals
        return prediction_table(arrivals, out[cols[:3]].to_numpy(), out[cols[3:]].to_numpy())
