"""Features of a session known at plug-in.

======================  ====================================================
``arrival_hour``        local clock time of arrival [h]
``weekday``             0 = Monday .. 6 = Sunday (categorical)
``site``, ``station``   codes of the training history's sites and stations
                        (categorical; a station unseen in training is missing)
``claimed``             1 if a driver claimed the session, else 0
``est_dwell_h``         driver's estimated departure minus arrival [h]
``est_departure_hour``  ``arrival_hour + est_dwell_h`` [h]
``requested_kwh``       driver's requested energy [kWh]
``user_sessions``       the user's earlier sessions in the history [-]
``user_dwell_h``        mean dwell of those sessions [h]
``user_energy_kwh``     mean energy of those sessions [kWh]
======================  ====================================================

Estimates are missing (NaN) where the driver gave none, and on unclaimed
sessions (see :mod:`gridopt.forecast.history`). The three user
features exist only when the history has user ids (gridopt's ``vehicle_id``, an
ACN ``user_id`` column); ACN-Data as shipped has none, and none is made up.
For training rows they use only the user's *earlier* sessions, as at plug-in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .timezones import local_hour

#: HistGradientBoosting handles at most this many categories per feature.
MAX_CATEGORIES = 250


def dwell_h(frame: pd.DataFrame) -> np.ndarray:
    """Plug-in duration ``departure - arrival`` [h]."""
    return np.asarray((frame["departure"] - frame["arrival"]).dt.total_seconds() / 3600.0, dtype=float)


def _codes(values: pd.Series, categories: tuple) -> np.ndarray:
    lookup = {c: i for i, c in enumerate(categories)}
    return np.array([lookup.get(v, np.nan) for v in values], dtype=float)


@dataclass(frozen=True)
class FeatureEncoder:
    """Turns canonical sessions into a feature matrix, with categories learned from a history.

    Attributes
    ----------
    sites, stations : tuple of str
        Categories seen in training (the most frequent ``MAX_CATEGORIES`` stations).
    user_stats : pandas.DataFrame or None
        Per ``user_id``: ``n``, ``dwell_h`` [h], ``energy_kwh`` [kWh] over the
        whole history; None when the history has no user ids.
    """

    sites: tuple
    stations: tuple
    user_stats: pd.DataFrame | None
    dropped: tuple = ()

    @classmethod
    def fit(cls, history: pd.DataFrame) -> FeatureEncoder:
        """Learn categories (and per-user statistics) from canonical sessions.

        Features without any value in the history (no estimates, no stations)
        are left out.
        """
        sites = tuple(history["site"].value_counts().index[:MAX_CATEGORIES])
        stations = tuple(history["station_id"].dropna().value_counts().index[:MAX_CATEGORIES])
        stats = None
        if history["user_id"].notna().any():
            h = history[history["user_id"].notna()]
            stats = pd.DataFrame({"user_id": h["user_id"], "dwell_h": dwell_h(h), "energy_kwh": h["energy_kwh"]})
            stats = stats.groupby("user_id").agg(
                n=("dwell_h", "size"), dwell_h=("dwell_h", "mean"), energy_kwh=("energy_kwh", "mean")
            )
        enc = cls(sites=sites, stations=stations, user_stats=stats)
        X = enc.transform(history, training=True)
        empty = tuple(c for c in X.columns if X[c].isna().all())
        return cls(sites=sites, stations=stations, user_stats=stats, dropped=empty)

    @property
    def columns(self) -> list[str]:
        cols = [
            "arrival_hour",
            "weekday",
            "site",
            "station",
            "claimed",
            "est_dwell_h",
            "est_departure_hour",
            "requested_kwh",
        ]
        if self.user_stats is not None:
            cols += ["user_sessions", "user_dwell_h", "user_energy_kwh"]
        return [c for c in cols if c not in self.dropped]

    @property
    def categorical(self) -> list[bool]:
        """Which of :attr:`columns` are categorical."""
        return [c in ("weekday", "site", "station") for c in self.columns]

    def transform(self, sessions: pd.DataFrame, training: bool = False) -> pd.DataFrame:
        """Feature matrix of ``sessions`` (canonical sessions or arrivals).

        Parameters
        ----------
        sessions : pandas.DataFrame
            Needs ``arrival``, ``site``, ``station_id``, ``claimed``,
            ``estimated_departure``, ``requested_energy_kwh``, ``user_id``.
        training : bool
            True for the history itself: user features then come from each
            user's earlier sessions only (and need ``departure``, ``energy_kwh``).
        """
        a = sessions["arrival"]
        X = pd.DataFrame(index=sessions.index)
        est_dep = pd.to_datetime(sessions["estimated_departure"], utc=True)
        X["arrival_hour"] = local_hour(a)
        X["weekday"] = pd.DatetimeIndex(a).day_of_week.astype(float)
        X["site"] = _codes(sessions["site"], self.sites)
        X["station"] = _codes(sessions["station_id"], self.stations)
        X["claimed"] = sessions["claimed"].astype(float).to_numpy()
        est = np.array((est_dep - pd.to_datetime(a, utc=True)).dt.total_seconds() / 3600.0, dtype=float)
        est[~(est > 0)] = np.nan  # an estimate before arrival says nothing
        unclaimed = ~sessions["claimed"].to_numpy(bool)
        est[unclaimed] = np.nan  # see gridopt.forecast.history: not an estimate
        X["est_dwell_h"] = est
        X["est_departure_hour"] = X["arrival_hour"].to_numpy() + est
        X["requested_kwh"] = np.where(unclaimed, np.nan, sessions["requested_energy_kwh"].astype(float).to_numpy())
        if self.user_stats is not None:
            X = X.join(self._user_features(sessions, training))
        return X[self.columns]

    def _user_features(self, sessions: pd.DataFrame, training: bool) -> pd.DataFrame:
        uid = sessions["user_id"]
        out = pd.DataFrame(
            index=sessions.index, columns=["user_sessions", "user_dwell_h", "user_energy_kwh"], dtype=float
        )
        if training:
            order = sessions.sort_values("arrival", kind="stable")
            g = pd.DataFrame(
                {"u": order["user_id"], "d": dwell_h(order), "e": order["energy_kwh"].to_numpy()}, index=order.index
            )
            has = g["u"].notna()
            g = g[has]
            grp = g.groupby("u", sort=False)
            n = grp.cumcount().astype(float)
            prev_d = grp["d"].cumsum() - g["d"]
            prev_e = grp["e"].cumsum() - g["e"]
            out.loc[g.index, "user_sessions"] = n
            out.loc[g.index, "user_dwell_h"] = (prev_d / n.replace(0, np.nan)).to_numpy()
            out.loc[g.index, "user_energy_kwh"] = (prev_e / n.replace(0, np.nan)).to_numpy()
            out.loc[~uid.notna() | ~uid.index.isin(g.index), "user_sessions"] = np.nan
            return out
        st = self.user_stats.reindex(uid.to_numpy())
        out["user_sessions"] = st["n"].fillna(0.0).to_numpy()
        out.loc[uid.isna().to_numpy(), "user_sessions"] = np.nan
        out["user_dwell_h"] = st["dwell_h"].to_numpy()
        out["user_energy_kwh"] = st["energy_kwh"].to_numpy()
        return out
