"""Per-session forecasts at plug-in: departure and energy, with 10-90 % quantiles.

:class:`SessionModel` learns from a history of sessions (canonical, see
:mod:`gridopt.forecast.history`) two targets, the dwell time
``departure - arrival`` [h] and the energy delivered [kWh], each with a
:class:`~gridopt.forecast.quantile.QuantileModel` on the plug-in features of
:mod:`gridopt.forecast.features`. The point forecast is the median (it
minimises the absolute error).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import ScenarioError
from .features import FeatureEncoder, dwell_h
from .quantile import QuantileModel

#: Columns of a per-session prediction table.
PREDICTION_COLUMNS = [
    "session_id",
    "departure",
    "energy_kwh",
    "departure_q10",
    "departure_q90",
    "energy_kwh_q10",
    "energy_kwh_q90",
]
#: Shortest predicted stay [h].
MIN_DWELL_H = 1.0 / 60.0
#: Fewest sessions to learn from.
MIN_HISTORY = 20


def prediction_table(arrivals: pd.DataFrame, dwell_q: np.ndarray, energy_q: np.ndarray) -> pd.DataFrame:
    """Prediction table from dwell [h] and energy [kWh] quantiles, arrays (n, 3) of q10, q50, q90."""
    a = arrivals["arrival"]
    dq = np.clip(np.asarray(dwell_q, dtype=float), MIN_DWELL_H, None)
    eq = np.clip(np.asarray(energy_q, dtype=float), 0.0, None)

    def dep(col):
        return a + pd.to_timedelta(np.round(dq[:, col] * 3600.0), unit="s")

    return pd.DataFrame(
        {
            "session_id": arrivals["session_id"].to_numpy(),
            "departure": dep(1),
            "energy_kwh": eq[:, 1],
            "departure_q10": dep(0),
            "departure_q90": dep(2),
            "energy_kwh_q10": eq[:, 0],
            "energy_kwh_q90": eq[:, 2],
        },
        index=arrivals.index,
    )


@dataclass
class SessionModel:
    """Gradient-boosted quantile model of dwell time and energy.

    Attributes
    ----------
    encoder : FeatureEncoder
    dwell : QuantileModel
        Dwell time [h].
    energy : QuantileModel
        Energy delivered [kWh].
    """

    encoder: FeatureEncoder
    dwell: QuantileModel
    energy: QuantileModel

    @classmethod
    def fit(cls, history: pd.DataFrame, calib_fraction: float = 0.2) -> SessionModel:
        """Learn from canonical sessions (any order; time order is used for recalibration).

        Parameters
        ----------
        history : pandas.DataFrame
            Canonical sessions with outcomes.
        calib_fraction : float
            Share of the most recent sessions that recalibrate q10/q90 [-].
        """
        if len(history) < MIN_HISTORY:
            raise ScenarioError(f"history: {len(history)} sessions; at least {MIN_HISTORY} are needed to learn from")
        h = history.reset_index(drop=True)
        enc = FeatureEncoder.fit(h)
        X = enc.transform(h, training=True)
        order = np.argsort(h["arrival"].to_numpy(), kind="stable")
        dwell = QuantileModel(enc.categorical, calib_fraction).fit(X, dwell_h(h), order)
        energy = QuantileModel(enc.categorical, calib_fraction).fit(X, h["energy_kwh"].to_numpy(float), order)
        return cls(encoder=enc, dwell=dwell, energy=energy)

    def predict(self, arrivals: pd.DataFrame) -> pd.DataFrame:
        """Departure and energy forecasts of sessions known at plug-in.

        Parameters
        ----------
        arrivals : pandas.DataFrame
            Canonical arrivals (``session_id``, ``arrival`` and whatever
            plug-in information there is; outcome columns are not used).

        Returns
        -------
        pandas.DataFrame
            :data:`PREDICTION_COLUMNS`, times tz-aware, energies [kWh].
        """
        if len(arrivals) == 0:
            return prediction_table(arrivals, np.zeros((0, 3)), np.zeros((0, 3)))
        X = self.encoder.transform(arrivals)
        return prediction_table(arrivals, self.dwell.predict(X), self.energy.predict(X))


def fit_session_model(history: pd.DataFrame, **kwargs) -> SessionModel:
    """Shortcut for :meth:`SessionModel.fit`."""
    return SessionModel.fit(history, **kwargs)
