"""Plan each plugged-in car against its expected shortfall, not a point estimate.

A plan that trusts a driver's estimate charges late and loses the cars that
leave early; a quantile rule (:mod:`gridopt.simulate.learned`) charges every car
at once. :class:`ExpectedShortfall` gives the optimizer the car's whole
(discrete) distribution instead and lets it weigh the expected unmet energy
against the tariff and the demand charge of a higher peak.

For each plugged-in session car, from what is known at ``now`` only:

* **departure points** ``D_1..D_K`` (``K`` = ``n_departures``, equal
  probability ``w_k = 1/K``): the midpoints ``(k - 1/2) / K`` of the
  distribution of

  - with a driver's estimate ``e``: ``e + error``, the errors ``actual -
    estimate`` [h] of the history's sessions and of the period's sessions that
    ended before now (learned online, as :class:`~gridopt.simulate.learned.LearnedDepartureMargin`
    records them), **conditioned on the car still being here** (``error > now - e``);
    with fewer than ``min_sessions`` such errors, the estimate alone;
  - without an estimate: the conditional dwell of the history's neighbours
    (:meth:`SessionForecaster._pool`: similar arrival time, stayed longer than
    this car has);

  each floored to a step boundary, at least the end of the current step
  (equal points merge, their weights add);
* **need points** ``N_1..N_J`` (``J`` = ``n_needs``, weights ``v_j = 1/J``)
  for a car that reported no target: its arrival SoC plus
  ``charge_efficiency`` times the ``(j - 1/2) / J`` quantiles of the
  neighbours' energies (at most ``max_soc``). A reported target is planned as
  told (one point): in the replay data it is what the car really took
  (``scenarios/build_simulation.py``), while the history's requested energies
  are another quantity (ACN's ``kWhRequested``), so their errors do not describe it.

The car is then planned as a session until its latest departure point with no
hard target, and one soft checkpoint (:mod:`gridopt.optimizer.checkpoints`)
per pair ``(k, j)``: SoC ``N_j`` at ``D_k``, at ``penalty * w_k * v_j`` per kWh
short, ``penalty`` the scenario's ``unmet_energy_penalty_per_kwh``. The plan's
cost of a power trajectory then includes exactly the expected unmet-energy
penalty under that distribution, if the car leaves with what it has at ``D_k``:
one trajectory for all outcomes (non-anticipative), no quantile, no margin. A
point past the plan's end becomes a checkpoint at the plan's end with the
need pro rata of the stay inside the plan (as :mod:`gridopt.simulate.planning`
does for targets).

Fleet vehicles and cars still to come are planned as before.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .learned import MIN_SESSIONS, LearnedDepartureMargin
from .world import Observation

#: Default number of departure points per car.
N_DEPARTURES = 5
#: Default number of need points per car that reported no target.
N_NEEDS = 3
CHECKPOINT_COLUMNS = ["v", "vehicle_id", "time", "soc_kwh", "penalty_per_kwh"]


def midpoints(n: int) -> np.ndarray:
    """``(k - 1/2) / n`` for ``k = 1..n``: the probabilities of ``n`` equal-probability points."""
    return (np.arange(n) + 0.5) / n


class ExpectedShortfall:
    """Departure and need points of the plugged-in cars, as soft checkpoints (see the module doc).

    Parameters
    ----------
    prior_errors_h : array-like
        Errors ``actual departure - estimate`` [h] known before the period (the history's).
    penalty_per_kwh : float
        Price of a kWh unmet [currency/kWh] (the scenario's).
    n_departures, n_needs : int
        Points per car (``K``, ``J``).
    min_sessions : int
        Fewest conditional errors before the estimate is spread.
    """

    def __init__(
        self,
        prior_errors_h,
        penalty_per_kwh: float,
        n_departures: int = N_DEPARTURES,
        n_needs: int = N_NEEDS,
        min_sessions: int = MIN_SESSIONS,
    ):
        if n_departures < 1 or n_needs < 1:
            raise ValueError("n_departures and n_needs must be at least 1")
        self.errors = LearnedDepartureMargin(prior_errors_h, 0.5, min_sessions=min_sessions)
        self.penalty = float(penalty_per_kwh)
        self.K = int(n_departures)
        self.J = int(n_needs)
        self.min_sessions = int(min_sessions)

    def observe(self, obs: Observation) -> None:
        """Record the sessions with an estimate that left since the last call; call at every boundary."""
        self.errors.observe(obs)

    def departure_points(
        self, estimate, arrival: pd.Timestamp, now: pd.Timestamp, pool: np.ndarray, forecaster, fallback
    ) -> list[tuple[pd.Timestamp, float]]:
        """``[(D_k, w_k)]`` of one car before flooring (see the module doc); ``fallback`` alone when nothing is known."""
        q = midpoints(self.K)
        if not pd.isna(estimate):
            err = pool[pool > (now - estimate).total_seconds() / 3600.0]
            if len(err) < self.min_sessions:
                return [(estimate, 1.0)]
            hours = np.quantile(err, q, method="inverted_cdf")
            return [(estimate + pd.Timedelta(hours=float(h)), 1.0 / self.K) for h in hours]
        if forecaster is not None:
            nb = forecaster._pool(arrival, now)
            if len(nb):
                hours = np.quantile(nb["dwell_h"].to_numpy(float), q, method="inverted_cdf")
                return [(arrival + pd.Timedelta(hours=float(h)), 1.0 / self.K) for h in hours]
        return [(fallback, 1.0)]

    def need_points(self, r, spec, arrival: pd.Timestamp, now: pd.Timestamp, forecaster, target_kwh: float):
        """``[(N_j, v_j)]`` of one car [kWh] (see the module doc)."""
        U = spec["max_soc"] * spec["battery_kwh"]
        if math.isnan(r["reported_target_kwh"]) and forecaster is not None:
            nb = forecaster._pool(arrival, now)
            if len(nb):
                e = np.quantile(nb["energy_kwh"].to_numpy(float), midpoints(self.J), method="inverted_cdf")
                socs = np.minimum(U, r["arrival_soc_kwh"] + spec["charge_efficiency"] * e)
                return [(float(s), 1.0 / self.J) for s in socs]
        return [(float(min(target_kwh, U)), 1.0)]

    def future_points(self, r, forecaster) -> tuple[list, list, float]:
        """A forecast arrival ``r`` (``arrival, departure, energy_kwh``): its departure and energy points and the penalty.

        Departures: the dwell of its history neighbours at the midpoints (as a
        car without an estimate that has just arrived); energies: their
        energies' midpoint quantiles [kWh drawn]; else the point forecast.
        """
        deps = self.departure_points(pd.NaT, r.arrival, r.arrival, np.zeros(0), forecaster, r.departure)
        energies = [(float(r.energy_kwh), 1.0)]
        if forecaster is not None:
            nb = forecaster._pool(r.arrival, r.arrival)
            if len(nb):
                e = np.quantile(nb["energy_kwh"].to_numpy(float), midpoints(self.J), method="inverted_cdf")
                energies = [(float(x), 1.0 / self.J) for x in e]
        return deps, energies, self.penalty

    def apply(self, sessions: pd.DataFrame, obs: Observation, ctx) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The sessions planned until their latest departure point, no hard target, and their checkpoints.

        Parameters
        ----------
        sessions : DataFrame
            :func:`~gridopt.simulate.picture.present_sessions` (its departures
            and targets are the fallbacks).
        obs : Observation
        ctx : Context

        Returns
        -------
        (DataFrame, DataFrame)
            The sessions (``departure`` the latest point, ``target_kwh`` the SoC
            now) and the checkpoints (:data:`CHECKPOINT_COLUMNS`, times on step
            boundaries after now).
        """
        cps = pd.DataFrame(columns=CHECKPOINT_COLUMNS)
        if not len(sessions):
            return sessions, cps
        site = ctx.site
        step = ctx.step
        now = obs.now
        soon = now + step
        pool = self.errors.pool()
        present = obs.present.set_index("v")
        out = sessions.copy()
        deps, targets, rows = [], [], []
        for s in out.itertuples():
            r = present.loc[s.v]
            spec = site.vehicles.loc[s.vehicle_id]
            points = self.departure_points(
                r["estimated_departure"], r["arrival"], now, pool, ctx.forecaster, s.departure
            )
            merged: dict = {}
            for d, w in points:
                d = max(now + step * math.floor((d - now) / step), soon)
                merged[d] = merged.get(d, 0.0) + w
            needs = self.need_points(r, spec, r["arrival"], now, ctx.forecaster, s.target_kwh)
            for d, w in sorted(merged.items()):
                for n, u in needs:
                    if n > s.soc_kwh + 1e-9 and w * u * self.penalty > 0:
                        rows.append((s.v, s.vehicle_id, d, n, self.penalty * w * u))
            deps.append(max(merged))
            targets.append(s.soc_kwh)
        out["departure"] = pd.DatetimeIndex(deps).tz_convert(site.timezone)
        out["target_kwh"] = np.asarray(targets, float)
        if rows:
            cps = pd.DataFrame(rows, columns=CHECKPOINT_COLUMNS)
        return out, cps


__all__ = ["CHECKPOINT_COLUMNS", "N_DEPARTURES", "N_NEEDS", "ExpectedShortfall", "midpoints"]
