"""Forecast scores: absolute error, pinball loss, interval coverage.

All take arrays of equal length; NaN rows are skipped.
"""

from __future__ import annotations

import numpy as np


def _ok(*arrays) -> np.ndarray:
    mask = np.ones(len(arrays[0]), dtype=bool)
    for a in arrays:
        mask &= ~np.isnan(np.asarray(a, dtype=float))
    return mask


def mae(y: np.ndarray, f: np.ndarray) -> float:
    """Mean absolute error ``mean(|y - f|)`` in the unit of ``y``."""
    y, f = np.asarray(y, float), np.asarray(f, float)
    m = _ok(y, f)
    return float(np.mean(np.abs(y[m] - f[m]))) if m.any() else float("nan")


def pinball(y: np.ndarray, f: np.ndarray, q: float) -> float:
    """Mean pinball (quantile) loss of forecast ``f`` of quantile ``q``.

    ``mean(max(q * (y - f), (q - 1) * (y - f)))``, in the unit of ``y``; for
    ``q = 0.5`` it is half the absolute error.
    """
    y, f = np.asarray(y, float), np.asarray(f, float)
    m = _ok(y, f)
    d = y[m] - f[m]
    return float(np.mean(np.maximum(q * d, (q - 1.0) * d))) if m.any() else float("nan")


def coverage(y: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> float:
    """Share of ``y`` inside ``[lo, hi]`` [-]; 0.8 is right for a 10-90 % interval."""
    y, lo, hi = np.asarray(y, float), np.asarray(lo, float), np.asarray(hi, float)
    m = _ok(y, lo, hi)
    return float(np.mean((y[m] >= lo[m]) & (y[m] <= hi[m]))) if m.any() else float("nan")
