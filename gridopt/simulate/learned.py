"""A departure margin learned online from the drivers' own estimate errors.

The drivers' estimated departures are optimistic: on the ACN history a tenth of
the claimed sessions leave 2.4 h or more before their estimate. A plan that
trusts them charges late and loses the cars that leave early. Instead of a
fixed margin (tuned on some week), :class:`LearnedDepartureMargin` plans each
plugged-in car with an estimate for

    planning departure = max(estimate + Q_q(errors), end of the current step)

where ``errors`` are ``actual departure - estimate`` [h] of

* the history's sessions (:attr:`SessionForecaster.estimate_error_h`; the
  history ends before the simulated period, checked when it is read), and
* the sessions of the simulated period **that ended before now** (seen by the
  policy itself: a session with an estimate that was plugged in at the
  previous boundary and is gone now left at ``now``),

and ``Q_q`` is their empirical ``q``-quantile. With fewer than
``min_sessions`` errors there is no margin (the estimate is trusted).

**The quantile: a newsvendor critical ratio.** Planning a departure ``D``
while the car really leaves at ``A``:

* ``A < D`` (planned too late): the energy scheduled after ``A`` is unmet and
  costs the scenario's ``unmet_energy_penalty_per_kwh`` ``p`` per kWh;
* ``A > D`` (planned too early): the energy is charged earlier than needed,
  at worst at the dearest instead of the cheapest price of the period, the
  price spread ``s = max(import_price) - min(import_price)`` per kWh.

The expected cost is minimal where ``P(A < D) = s / (s + p)``, so
``q = s / (s + p)`` of the error distribution. Both come from the scenario
(known in advance), never from the replayed outcomes; the demand charge is
left out of ``s`` (charging earlier may raise the peak), which makes the rule
err towards early charging. On the ACN week (SCE TOU-EV-4, spread 0.026,
penalty 10 USD/kWh) ``q`` is 0.0026.

**Energy.** A car that reported no need is planned for the ``q_energy``
quantile of its history neighbours' energies
(:meth:`SessionForecaster.energy_quantile`): a kWh planned too little costs
``p``, one too many about the mean import price ``c``, so
``q_energy = p / (p + c)`` (:func:`energy_ratio`). A car without an estimate
is planned for the ``q`` quantile of its neighbours' conditional dwell
(:meth:`SessionForecaster.stay_quantile`).

Fleet timetables are planned as before, so a fleet (no drivers' estimates,
no unreported needs) is unchanged. Measured results: ``docs/simulation.md``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..scenario import Scenario
from .world import Observation

#: Fewest errors (history + ended sessions) before a margin is used.
MIN_SESSIONS = 20


def energy_ratio(site: Scenario) -> float:
    """``p / (p + c)``: unmet-energy penalty ``p`` and mean import price ``c`` of ``site`` [-] (see the module doc)."""
    c = float(np.mean(site.series["import_price"].to_numpy(float))) if len(site.series) else 0.0
    p = float(site.unmet_energy_penalty_per_kwh)
    if p + c <= 0:
        return 0.5
    return p / (p + max(c, 0.0))


def critical_ratio(site: Scenario) -> float:
    """``s / (s + p)``: price spread ``s`` and unmet-energy penalty ``p`` of ``site`` [-] (see the module doc)."""
    price = site.series["import_price"].to_numpy(float)
    s = float(np.max(price) - np.min(price)) if len(price) else 0.0
    p = float(site.unmet_energy_penalty_per_kwh)
    if s + p <= 0:
        return 0.5
    return s / (s + p)


class LearnedDepartureMargin:
    """Online quantile of the drivers' estimate errors (see the module doc).

    Parameters
    ----------
    prior_errors_h : array-like
        Errors ``actual departure - estimate`` [h] known before the period
        (the history's), possibly empty.
    q : float
        Quantile in (0, 1) (:func:`critical_ratio`).
    min_sessions : int
        Fewest errors before a margin is used.
    """

    def __init__(self, prior_errors_h, q: float, min_sessions: int = MIN_SESSIONS, q_energy: float = 0.5):
        if not 0.0 < q < 1.0:
            raise ValueError(f"q must be within (0, 1), not {q}")
        self.prior = np.asarray(prior_errors_h, float)
        self.q = float(q)
        self.q_energy = float(q_energy)
        self.min_sessions = int(min_sessions)
        self.online: list[float] = []
        #: ``(time, error_h)`` of every session seen ending, in order.
        self.ended: list[tuple[pd.Timestamp, float]] = []
        self._here: dict[int, int] = {}

    def observe(self, obs: Observation) -> None:
        """Record the sessions with an estimate that left since the last observation; call at every boundary."""
        p = obs.plugged
        est = obs.reported.estimate_ns
        here = {int(i): int(est[i]) for i in p.session[p.is_session] if est[int(i)] >= 0}
        for i, e in self._here.items():
            if i not in here:
                err = (obs.now.value - e) / 3.6e12
                self.online.append(err)
                self.ended.append((obs.now, err))
        self._here = here

    def pool(self) -> np.ndarray:
        """Sorted errors known now [h]: the prior's and those of the sessions seen ending."""
        return np.sort(np.concatenate([self.prior, np.asarray(self.online, float)]))

    def planned(self, estimate: pd.Timestamp, now: pd.Timestamp, pool: np.ndarray | None = None) -> pd.Timestamp:
        """The planning departure of a car estimated to leave at ``estimate`` and still here at ``now``.

        The ``q``-quantile of the errors larger than ``now - estimate`` (the car
        has not left yet), added to the estimate; the estimate itself with fewer
        than ``min_sessions`` such errors.
        """
        pool = self.pool() if pool is None else pool
        pool = pool[pool > (now - estimate).total_seconds() / 3600.0]
        if len(pool) < self.min_sessions:
            return estimate
        return estimate + pd.Timedelta(hours=float(np.quantile(pool, self.q, method="inverted_cdf"))).floor("s")

    def apply(self, sessions: pd.DataFrame, obs: Observation, site: Scenario, forecaster=None) -> pd.DataFrame:
        """``sessions`` (:func:`~gridopt.simulate.picture.present_sessions`) with estimated departures shifted.

        A shifted departure is never before the time the car needs at its
        charger's full power to reach its target from now (whole steps, at
        least one): earlier than that the plan could not serve it anyway, and a
        deadline of one step would make it weigh one step's energy against a
        whole peak's demand charge.
        """
        if not len(sessions):
            return sessions
        pool = self.pool()
        present = obs.present.set_index("v")
        est = present["estimated_departure"]
        arrival = present["arrival"]
        veh = site.vehicles
        dt_h = site.grid.dt_h
        step = pd.Timedelta(minutes=site.grid.step_minutes)
        out = sessions.copy()
        deps, targets = [], []
        for r in out.itertuples():
            spec = veh.loc[r.vehicle_id]
            target = r.target_kwh
            if forecaster is not None and math.isnan(present.at[r.v, "reported_target_kwh"]):
                energy = forecaster.energy_quantile(arrival[r.v], obs.now, self.q_energy)
                if not math.isnan(energy):
                    target = min(
                        present.at[r.v, "arrival_soc_kwh"] + spec["charge_efficiency"] * energy,
                        spec["max_soc"] * spec["battery_kwh"],
                    )
            targets.append(target)
            e = est.get(r.v, pd.NaT)
            if not pd.isna(e):
                planned = self.planned(e, obs.now, pool)
            elif forecaster is not None:
                planned = forecaster.stay_quantile(arrival[r.v], obs.now, self.q)
                if planned is None:
                    deps.append(r.departure)
                    continue
            else:
                deps.append(r.departure)
                continue
            need_h = max(target - r.soc_kwh, 0.0) / (spec["charge_efficiency"] * spec["max_charge_kw"])
            floor = obs.now + step * max(1, int(np.ceil(need_h / dt_h - 1e-9)))
            deps.append(max(planned, floor))
        out["departure"] = pd.DatetimeIndex(deps).tz_convert(site.timezone)
        out["target_kwh"] = np.asarray(targets, float)
        return out


__all__ = ["MIN_SESSIONS", "LearnedDepartureMargin", "critical_ratio", "energy_ratio"]
