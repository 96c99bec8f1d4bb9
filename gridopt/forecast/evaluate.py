"""Score per-session forecasts on a held-out period against the two baselines.

The test sessions are stripped to what is known at plug-in before any
forecaster sees them, so no outcome can leak into a forecast.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .baselines import DriverEstimate, HistoricalAverage
from .features import dwell_h
from .metrics import coverage, mae, pinball
from .sessions import SessionModel

#: Columns of a canonical session known at plug-in.
PLUGIN_COLUMNS = [
    "session_id",
    "arrival",
    "site",
    "station_id",
    "user_id",
    "claimed",
    "estimated_departure",
    "requested_energy_kwh",
]
FORECASTERS = ("gridopt", "drivers' estimate", "historical average")
METRICS = (
    ("departure MAE [h]", "d", "mae"),
    ("departure pinball q10 [h]", "d", "p10"),
    ("departure pinball q90 [h]", "d", "p90"),
    ("departure 10-90 % coverage", "d", "cov"),
    ("energy MAE [kWh]", "e", "mae"),
    ("energy pinball q10 [kWh]", "e", "p10"),
    ("energy pinball q90 [kWh]", "e", "p90"),
    ("energy 10-90 % coverage", "e", "cov"),
)


def plugin_view(sessions: pd.DataFrame) -> pd.DataFrame:
    """Only what is known when a session starts (no departure, no delivered energy)."""
    return sessions[PLUGIN_COLUMNS].copy()


def _hours(pred: pd.DataFrame, arrivals: pd.DataFrame, col: str) -> np.ndarray:
    return np.asarray((pred[col] - arrivals["arrival"]).dt.total_seconds() / 3600.0, dtype=float)


def score(pred: pd.DataFrame, truth: pd.DataFrame, mask: np.ndarray) -> dict:
    """Metrics of one forecaster on the rows ``mask`` of ``truth`` (canonical sessions)."""
    y_d, y_e = dwell_h(truth)[mask], truth["energy_kwh"].to_numpy(float)[mask]
    p = pred[mask]
    t = truth[mask]
    d = [_hours(p, t, c) for c in ("departure_q10", "departure", "departure_q90")]
    e = [p[c].to_numpy(float) for c in ("energy_kwh_q10", "energy_kwh", "energy_kwh_q90")]
    out = {}
    for key, y, q in (("d", y_d, d), ("e", y_e, e)):
        out[(key, "mae")] = mae(y, q[1])
        out[(key, "p10")] = pinball(y, q[0], 0.1)
        out[(key, "p90")] = pinball(y, q[2], 0.9)
        out[(key, "cov")] = coverage(y, q[0], q[2])
    return out


@dataclass
class Evaluation:
    """Scores of the forecasts on a test period.

    Attributes
    ----------
    tables : dict
        Subset name -> DataFrame (rows: metrics, columns: forecasters), with
        the number of sessions in ``counts``.
    counts : dict
        Subset name -> number of test sessions scored.
    by_month : pandas.DataFrame
        MAE of departure [h] and energy [kWh] per test month and forecaster,
        on the sessions with a driver's estimate.
    predictions : pandas.DataFrame
        gridopt's predictions of the test sessions.
    train_sessions : int
    """

    tables: dict
    counts: dict
    by_month: pd.DataFrame
    predictions: pd.DataFrame
    train_sessions: int

    def to_markdown(self) -> str:
        """The tables as Markdown."""
        parts = []
        for name, t in self.tables.items():
            parts.append(f"**{name}** ({self.counts[name]} sessions)\n")
            parts.append(_markdown(t.reset_index().rename(columns={"index": "metric"})))
            parts.append("")
        parts.append("**MAE by test month**, sessions with a driver's estimate\n")
        parts.append(_markdown(self.by_month))
        return "\n".join(parts) + "\n"


def _fmt(v) -> str:
    if isinstance(v, float):
        return "–" if np.isnan(v) else f"{v:.2f}"
    return str(v)


def _markdown(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    lines = [
        "| " + " | ".join(cols) + " |",
        "|" + "|".join("---" if i == 0 else "---:" for i in range(len(cols))) + "|",
    ]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(_fmt(v) for v in row) + " |")
    return "\n".join(lines)


def evaluate(train: pd.DataFrame, test: pd.DataFrame, model: SessionModel | None = None) -> Evaluation:
    """Fit on ``train``, forecast ``test`` from plug-in information, score against the baselines.

    Parameters
    ----------
    train, test : pandas.DataFrame
        Canonical sessions with outcomes (``departure``, ``energy_kwh``).
    model : SessionModel, optional
        An already fitted model (default: fitted on ``train``).

    Returns
    -------
    Evaluation
        Subsets: all test sessions (drivers' estimates not scored: many
        sessions have none), and the sessions with a driver's estimate.
    """
    test = test.reset_index(drop=True)
    arrivals = plugin_view(test)
    model = model or SessionModel.fit(train)
    preds = {
        "gridopt": model.predict(arrivals),
        "drivers' estimate": DriverEstimate.fit(train).predict(arrivals),
        "historical average": HistoricalAverage.fit(train).predict(arrivals),
    }
    has_est = arrivals["estimated_departure"].notna().to_numpy() & arrivals["requested_energy_kwh"].notna().to_numpy()
    subsets = {"all test sessions": np.ones(len(test), dtype=bool), "sessions with a driver's estimate": has_est}
    tables, counts = {}, {}
    for name, mask in subsets.items():
        cols = {}
        for f, pred in preds.items():
            if f == "drivers' estimate" and not has_est[mask].all():
                s = dict.fromkeys([(k, m) for _, k, m in METRICS], float("nan"))
            else:
                s = score(pred, test, mask)
            cols[f] = [s[(k, m)] for _, k, m in METRICS]
        tables[name] = pd.DataFrame(cols, index=[label for label, _, _ in METRICS])
        counts[name] = int(mask.sum())
    months = pd.DatetimeIndex(test["arrival"]).strftime("%Y-%m")
    rows = []
    for m in sorted(set(months)):
        sel = np.asarray(months == m) & has_est
        row = {"month": m, "sessions": int(sel.sum())}
        for what, key in (("departure MAE [h]", "d"), ("energy MAE [kWh]", "e")):
            for f, pred in preds.items():
                row[f"{what}, {f}"] = score(pred, test, sel)[(key, "mae")] if sel.any() else np.nan
        rows.append(row)
    by_month = pd.DataFrame(rows)
    return Evaluation(tables, counts, by_month, preds["gridopt"], len(train))
