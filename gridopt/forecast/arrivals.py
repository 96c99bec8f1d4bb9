"""How many sessions arrive, when, and how long they stay and how much they take.

:class:`ArrivalModel` learns, per site, from a history of sessions:

* **how many**: the number of arrivals on each calendar day of the history
  (days without any session count as 0), pooled by weekday; a weekday seen on
  fewer than ``min_days`` days borrows the pool of its day type (weekday or
  weekend);
* **when**: the local clock times of arrival, pooled by day type (weekend
  falls back to all days when it has fewer than ``min_sessions`` arrivals);
* **how long and how much**, *given the arrival time*: the ``k`` history
  sessions of the same day type whose arrival clock time is nearest (on the
  24 h circle). Their (dwell [h], energy [kWh]) pairs are the conditional
  distribution: its quantiles give the forecast's band, and sampling a whole
  pair keeps the joint shape (a late arrival stays shorter; a long stay takes
  more energy).

The median forecast of a day has ``round(mean count)`` sessions arriving at the
``(i + 0.5) / n`` quantiles of the arrival-time distribution, each with the
conditional median dwell and energy. A sampled day draws its count from the
pool, its arrival times from the pooled times (jittered by up to
``jitter_h / 2``), and for each arrival one neighbour's (dwell, energy) pair.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import ScenarioError
from .features import dwell_h
from .timezones import at_local_hours, local_hour

#: Columns of a forecast of sessions (canonical, before SoC is assigned).
FORECAST_COLUMNS = [
    "site",
    "day",
    "arrival",
    "departure",
    "energy_kwh",
    "departure_q10",
    "departure_q90",
    "energy_kwh_q10",
    "energy_kwh_q90",
]


def _circular_distance_h(a: np.ndarray, b: float) -> np.ndarray:
    d = np.abs(a - b) % 24.0
    return np.minimum(d, 24.0 - d)


@dataclass
class SitePool:
    """What :class:`ArrivalModel` keeps of one site.

    Attributes
    ----------
    counts : dict
        Weekday (0 = Monday) -> array of daily arrival counts.
    sessions : dict
        Day type (``"weekday"``, ``"weekend"``) -> DataFrame of ``hour`` [h],
        ``dwell_h`` [h], ``energy_kwh`` [kWh], sorted by ``hour``.
    """

    counts: dict
    sessions: dict


@dataclass
class ArrivalModel:
    """Arrival counts, times and conditional (dwell, energy) per site.

    Parameters
    ----------
    k : int
        Neighbours in arrival time that make the conditional distribution.
    min_days : int
        Fewest days of a weekday for its own count pool.
    min_sessions : int
        Fewest weekend sessions for a weekend time pool.
    jitter_h : float
        Width of the uniform jitter of sampled arrival times [h].
    """

    timezone: str
    sites: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)
    k: int = 50
    min_days: int = 3
    min_sessions: int = 20
    jitter_h: float = 0.25

    @classmethod
    def fit(cls, history: pd.DataFrame, timezone: str, **kwargs) -> ArrivalModel:
        """Learn from canonical sessions whose times are in ``timezone``."""
        model = cls(timezone=timezone, **kwargs)
        if len(history) == 0:
            raise ScenarioError("history: no sessions to learn arrivals from")
        for site, h in history.groupby("site", sort=True):
            model.sites[site] = model._fit_site(h)
        return model

    def _fit_site(self, h: pd.DataFrame) -> SitePool:
        arr = pd.DatetimeIndex(h["arrival"])
        days = arr.normalize().tz_localize(None)
        span = pd.date_range(days.min(), days.max(), freq="D")
        per_day = pd.Series(1, index=days).groupby(level=0).size().reindex(span, fill_value=0)
        wd = span.day_of_week
        counts = {}
        pooled, unseen = [], []
        for w in range(7):
            own = per_day.to_numpy()[wd == w]
            same = (wd >= 5) if w >= 5 else (wd < 5)
            if len(own) >= self.min_days:
                counts[w] = own
            elif same.any():
                counts[w] = per_day.to_numpy()[same]
                pooled.append(w)
            else:
                counts[w] = per_day.to_numpy()
                unseen.append(w)
        site = h["site"].iloc[0]
        if pooled:
            self.warnings.append(
                f"site {site}: fewer than {self.min_days} of each of {_day_names(pooled)} in the history "
                f"({len(span)} days): their arrival counts pool all {'weekend days' if pooled[0] >= 5 else 'weekdays'}"
                if len({w >= 5 for w in pooled}) == 1
                else f"site {site}: fewer than {self.min_days} of each of {_day_names(pooled)} in the history "
                f"({len(span)} days): their arrival counts pool their day type (weekday or weekend)"
            )
        if unseen:
            self.warnings.append(
                f"site {site}: no {_day_names(unseen)} in the history ({len(span)} days): "
                "their arrival counts come from all days"
            )
        frame = pd.DataFrame(
            {"hour": local_hour(h["arrival"]), "dwell_h": dwell_h(h), "energy_kwh": h["energy_kwh"].to_numpy(float)}
        )
        weekend = arr.day_of_week >= 5
        pools = {"weekday": frame[~weekend], "weekend": frame[weekend]}
        for name, p in pools.items():
            if len(p) < self.min_sessions:
                pools[name] = frame
        pools = {n: p.sort_values("hour", kind="stable").reset_index(drop=True) for n, p in pools.items()}
        return SitePool(counts=counts, sessions=pools)

    # --- per arrival -----------------------------------------------------
    def neighbours(self, site: str, weekend: bool, hour: float) -> pd.DataFrame:
        """The ``k`` sessions of the day type whose arrival clock time is nearest ``hour`` [h]."""
        pool = self.sites[site].sessions["weekend" if weekend else "weekday"]
        return pool.iloc[self._nearest(pool["hour"].to_numpy(), hour)]

    def _nearest(self, hours: np.ndarray, hour: float) -> np.ndarray:
        """Positions of the ``k`` nearest of sorted ``hours`` to ``hour`` on the 24 h circle."""
        n = len(hours)
        k = min(self.k, n)
        if n <= 4 * k:
            d = _circular_distance_h(hours, hour)
            return np.argsort(d, kind="stable")[:k]
        # the k nearest lie within k places of where ``hour`` would go, wrapping around midnight
        pos = int(np.searchsorted(hours, hour))
        cand = np.arange(pos - k, pos + k) % n
        d = _circular_distance_h(hours[cand], hour)
        return cand[np.argsort(d, kind="stable")[:k]]

    def conditional_quantiles(self, site: str, weekend: bool, hours: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """q10, q50, q90 of dwell [h] and of energy [kWh] given arrival ``hours``: two arrays (n, 3)."""
        dq = np.zeros((len(hours), 3))
        eq = np.zeros((len(hours), 3))
        for i, h in enumerate(hours):
            nb = self.neighbours(site, weekend, float(h))
            dq[i] = np.quantile(nb["dwell_h"], [0.1, 0.5, 0.9])
            eq[i] = np.quantile(nb["energy_kwh"], [0.1, 0.5, 0.9])
        return dq, eq

    # --- per day ---------------------------------------------------------
    def daily_counts(self, start: pd.Timestamp, days: int) -> pd.DataFrame:
        """Expected arrivals per site and day: ``site, day, mean, q10, q90`` [sessions]."""
        rows = []
        for site, pool in self.sites.items():
            for d in _days(start, days):
                c = pool.counts[d.day_of_week]
                rows.append(
                    {
                        "site": site,
                        "day": d.date().isoformat(),
                        "mean": float(np.mean(c)),
                        "q10": float(np.quantile(c, 0.1)),
                        "q90": float(np.quantile(c, 0.9)),
                    }
                )
        return pd.DataFrame(rows)

    def median_day(self, site: str, day: pd.Timestamp) -> pd.DataFrame:
        """The median forecast of one local ``day`` at ``site`` (see the module doc)."""
        pool = self.sites[site]
        n = int(round(float(np.mean(pool.counts[day.day_of_week]))))
        weekend = day.day_of_week >= 5
        times = pool.sessions["weekend" if weekend else "weekday"]["hour"].to_numpy()
        hours = np.quantile(times, (np.arange(n) + 0.5) / n) if n else np.zeros(0)
        dq, eq = self.conditional_quantiles(site, weekend, hours)
        return self._frame(site, day, hours, dq, eq)

    def sample_day(self, site: str, day: pd.Timestamp, rng: np.random.Generator) -> pd.DataFrame:
        """One sampled day (count, arrival times and joint dwell/energy drawn from history)."""
        pool = self.sites[site]
        n = int(rng.choice(pool.counts[day.day_of_week]))
        weekend = day.day_of_week >= 5
        times = pool.sessions["weekend" if weekend else "weekday"]["hour"].to_numpy()
        hours = rng.choice(times, size=n) + rng.uniform(-self.jitter_h / 2, self.jitter_h / 2, size=n)
        hours = np.sort(np.clip(hours, 0.0, 24.0 - 1.0 / 3600.0))
        pool_df = pool.sessions["weekend" if weekend else "weekday"]
        ph, pd_, pe = (pool_df[c].to_numpy() for c in ("hour", "dwell_h", "energy_kwh"))
        dwell = np.zeros(n)
        energy = np.zeros(n)
        for i, h in enumerate(hours):
            near = self._nearest(ph, float(h))
            j = near[int(rng.integers(len(near)))]
            dwell[i], energy[i] = pd_[j], pe[j]
        dq = np.repeat(dwell[:, None], 3, axis=1)
        eq = np.repeat(energy[:, None], 3, axis=1)
        return self._frame(site, day, hours, dq, eq)

    def _frame(self, site, day, hours, dq, eq) -> pd.DataFrame:
        arrival = pd.Series(at_local_hours([day] * len(hours), hours, self.timezone))

        def after(col):
            return arrival + pd.to_timedelta(np.round(np.clip(col, 1.0 / 60.0, None) * 3600.0), unit="s")

        return pd.DataFrame(
            {
                "site": site,
                "day": day.date().isoformat(),
                "arrival": arrival,
                "departure": after(dq[:, 1]),
                "energy_kwh": eq[:, 1],
                "departure_q10": after(dq[:, 0]),
                "departure_q90": after(dq[:, 2]),
                "energy_kwh_q10": eq[:, 0],
                "energy_kwh_q90": eq[:, 2],
            },
            columns=FORECAST_COLUMNS,
        )

    def forecast(
        self, start: pd.Timestamp, days: int, samples: int = 0, seed: int = 0, sites: list | None = None
    ) -> pd.DataFrame:
        """Sessions arriving in ``days`` local days from ``start``.

        Parameters
        ----------
        start : pandas.Timestamp
            First day (its local date in the model's timezone is used).
        days : int
            Number of days [d].
        samples : int
            0 for the median forecast; N > 0 for N sampled scenarios
            (column ``sample`` = 0 .. N-1).
        seed : int
            Seed of the sampler.
        sites : list of str, optional
            Sites to forecast (default: all of the history).

        Returns
        -------
        pandas.DataFrame
            :data:`FORECAST_COLUMNS` (plus ``sample``), sorted by arrival.
        """
        chosen = list(self.sites) if sites is None else list(sites)
        for s in chosen:
            if s not in self.sites:
                raise ScenarioError(f"--site: unknown site {s!r} (the history has {', '.join(map(str, self.sites))})")
        rng = np.random.default_rng(seed)
        parts = []
        for d in _days(start, days):
            for s in chosen:
                if samples:
                    for k in range(samples):
                        parts.append(self.sample_day(s, d, rng).assign(sample=k))
                else:
                    parts.append(self.median_day(s, d))
        cols = FORECAST_COLUMNS + (["sample"] if samples else [])
        out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=cols)
        keys = (["sample"] if samples else []) + ["arrival", "site"]
        return out[cols].sort_values(keys, kind="stable").reset_index(drop=True)


def _day_names(weekdays: list) -> str:
    return ", ".join(pd.Timestamp(2024, 1, 1 + w).day_name()[:3] for w in weekdays)


def _days(start: pd.Timestamp, days: int) -> list:
    first = pd.Timestamp(start).tz_localize(None).normalize() if start.tzinfo else pd.Timestamp(start).normalize()
    return list(pd.date_range(first, periods=int(days), freq="D"))
