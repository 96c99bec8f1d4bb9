"""Gradient-boosted quantile regression with recalibrated outer quantiles.

One :class:`~sklearn.ensemble.HistGradientBoostingRegressor` per quantile
(pinball loss), native handling of missing values and categorical features.
The 10 % and 90 % quantiles are then *recalibrated* on the most recent part of
the history (split-conformal, one side at a time): models fitted on the first
``1 - calib_fraction`` of the rows (in time) predict the rest, and each outer
quantile is shifted by the amount that makes its empirical level there right:

    q10' = q10 - Q_{0.9}(q10_cal - y_cal),     q90' = q90 + Q_{0.9}(y_cal - q90_cal)

so a q10 that is too high on recent data moves down, and vice versa. Boosted
quantiles are overconfident out of sample; this brings the 10-90 % interval's
coverage back toward 80 % when the future resembles the recent past.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

QUANTILES = (0.1, 0.5, 0.9)


def _regressor(q: float, categorical: list[bool], n: int):
    from sklearn.ensemble import HistGradientBoostingRegressor

    return HistGradientBoostingRegressor(
        loss="quantile",
        quantile=q,
        learning_rate=0.1,
        max_iter=100,
        max_leaf_nodes=31 if n >= 5000 else 15,
        min_samples_leaf=int(np.clip(n // 50, 5, 40)),
        categorical_features=categorical,
        early_stopping=n >= 1000,
        random_state=0,
    )


@dataclass
class QuantileModel:
    """Predicts the 10 %, 50 % and 90 % quantiles of one target.

    Parameters
    ----------
    categorical : list of bool
        Which feature columns are categorical (integer codes, NaN = missing).
    calib_fraction : float
        Share of the most recent rows used to recalibrate q10 and q90 [-];
        0 turns recalibration off. Skipped below ``min_calib_rows`` rows.
    """

    categorical: list
    calib_fraction: float = 0.2
    min_calib_rows: int = 200
    models: dict = field(default_factory=dict)
    shift: tuple = (0.0, 0.0)

    def fit(self, X: pd.DataFrame, y: np.ndarray, order: np.ndarray | None = None) -> QuantileModel:
        """Fit on features ``X`` and target ``y``; ``order`` sorts rows in time (default: as given)."""
        import sklearn.ensemble  # noqa: F401  (load OpenMP before limiting its threads)
        from threadpoolctl import threadpool_limits

        y = np.asarray(y, dtype=float)
        n = len(y)
        with threadpool_limits(limits=1):  # small data: threads cost more than they save
            self.models = {q: _regressor(q, self.categorical, n).fit(X, y) for q in QUANTILES}
            n_cal = int(n * self.calib_fraction)
            if self.calib_fraction > 0 and n_cal >= self.min_calib_rows:
                idx = np.arange(n) if order is None else np.asarray(order)
                fit_i, cal_i = idx[: n - n_cal], idx[n - n_cal :]
                lo = _regressor(0.1, self.categorical, len(fit_i)).fit(X.iloc[fit_i], y[fit_i])
                hi = _regressor(0.9, self.categorical, len(fit_i)).fit(X.iloc[fit_i], y[fit_i])
                yc = y[cal_i]
                down = float(np.quantile(lo.predict(X.iloc[cal_i]) - yc, 0.9))
                up = float(np.quantile(yc - hi.predict(X.iloc[cal_i]), 0.9))
                self.shift = (down, up)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Array (n, 3) of q10, q50, q90, non-decreasing along each row."""
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1):
            out = np.column_stack([self.models[q].predict(X) for q in QUANTILES])
        out[:, 0] -= self.shift[0]
        out[:, 2] += self.shift[1]
        return np.sort(out, axis=1)
