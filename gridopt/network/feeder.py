"""Feeder scenarios: a SimBench network, dates, and the sites (fleets) attached to its buses.

A feeder file (``scenarios/feeders/*.yaml``)::

    name: lv-rural2-homes
    network: 1-LV-rural2--0-sw          # a SimBench code
    timezone: Europe/Berlin
    start: "2026-01-14T12:00:00+01:00"
    horizon_hours: 24
    step_minutes: 15
    sites:                              # gridopt site scenarios at named buses
      - {name: depot, bus: "MV1.101 Bus 4", level: MV, scenario: depot.yaml}
    homes:                              # home chargers spread over residential loads
      ev_share: 0.4                     # share of homes with an EV [-]
      seed: 1
      profiles: [H0]                    # SimBench load profiles that count as homes
      vehicle: {battery_kwh: 60, max_charge_kw: 11}
      import_price: {"00:00": 0.22, "06:00": 0.30, "17:00": 0.42, "21:00": 0.30}
    network_options: {vm_margin_pu: 0.002, flow_margin_pct: 1.0, power_factor: 1.0, max_ac_iterations: 4}
    solver: {time_limit_s: 120, mip_rel_gap: 1e-4}

Every site scenario must have the feeder's start, step and horizon (it is
refused otherwise, not shifted). A site's net load at its bus (its meter's
import minus export, its own base load and PV included) adds to the network's
own loads of SimBench's profiles for those dates. Homes: every load whose
SimBench profile starts with one of ``profiles`` is one home; ``ev_share`` of
them (rounded, chosen with ``seed``) get one EV each, with a session from an
evening arrival to a morning departure (:func:`home_sessions`); the EVs at one
bus form one site ``homes@<bus>`` (base load 0, no PV: the household's own load
is in the network's profile).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import ScenarioError
from ..scenario import Scenario, SolverOptions
from .plan import Site


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False)


Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Share = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]


class SiteSpec(_Strict):
    name: Annotated[str, Field(min_length=1, max_length=80)]
    bus: str
    scenario: str
    level: Literal["LV", "MV", "HV"] = "LV"


class HomeVehicle(_Strict):
    battery_kwh: Positive = 60.0
    max_charge_kw: Positive = 11.0
    min_charge_kw: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0
    max_discharge_kw: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0
    charge_efficiency: Annotated[float, Field(ge=0.5, le=1)] = 0.92
    discharge_efficiency: Annotated[float, Field(ge=0.5, le=1)] = 0.92
    min_soc: Share = 0.1
    max_soc: Share = 1.0


class Homes(_Strict):
    ev_share: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)]
    seed: int = 0
    profiles: list[str] = Field(default_factory=lambda: ["H0"])
    vehicle: HomeVehicle = Field(default_factory=HomeVehicle)
    arrival_hour: tuple[float, float] = (18.0, 1.5)  # mean, standard deviation [h]
    departure_hour: tuple[float, float] = (7.5, 1.0)  # next morning
    daily_kwh: tuple[float, float] = (12.0, 5.0)  # energy to replace [kWh]
    import_price: float | dict[str, float] = 0.30
    export_price: float = 0.0
    unmet_energy_penalty_per_kwh: Positive = 2.0


class NetworkOptions(_Strict):
    vm_margin_pu: Annotated[float, Field(ge=0, le=0.05)] = 0.002
    flow_margin_pct: Annotated[float, Field(ge=0, le=50)] = 1.0
    power_factor: Annotated[float, Field(gt=0, le=1)] = 1.0
    max_ac_iterations: Annotated[int, Field(ge=1, le=20)] = 4


class SolverBlock(_Strict):
    time_limit_s: Positive = 120.0
    mip_rel_gap: Annotated[float, Field(gt=0, lt=1)] = 1e-4


class FeederConfig(_Strict):
    name: Annotated[str, Field(min_length=1, max_length=120)]
    description: str = ""
    network: str
    timezone: str
    start: str
    horizon_hours: Positive = 24.0
    step_minutes: Annotated[int, Field(gt=0, le=1440)] = 15
    sites: list[SiteSpec] = Field(default_factory=list)
    homes: Homes | None = None
    network_options: NetworkOptions = Field(default_factory=NetworkOptions)
    solver: SolverBlock = Field(default_factory=SolverBlock)


@dataclass
class Feeder:
    """A loaded feeder scenario.

    Attributes
    ----------
    name : str
    config : FeederConfig
    path : Path
    network : NetworkData
    profiles : BusProfiles
        The network's own loads and generators on the feeder's steps.
    sites : list of Site
        ``Site.bus`` indexes :attr:`ev_buses`.
    ev_buses : list of str
        Buses with at least one site.
    options : SolverOptions
    warnings : list of str
    """

    name: str
    config: FeederConfig
    path: Path
    network: object
    profiles: object
    sites: list
    ev_buses: list
    options: SolverOptions
    warnings: list = field(default_factory=list)

    @property
    def index(self) -> pd.DatetimeIndex:
        return self.profiles.index

    @property
    def n_vehicles(self) -> int:
        return sum(len(s.fleet_plan().vehicle_ids) for s in self.sites)


def _steps(cfg: FeederConfig, where: str) -> tuple[pd.Timestamp, int]:
    try:
        start = pd.Timestamp(cfg.start)
    except (ValueError, TypeError):
        raise ScenarioError(f"{where}: field 'start': {cfg.start!r} is not an ISO date and time") from None
    if start.tzinfo is None:
        raise ScenarioError(f"{where}: field 'start': {cfg.start!r} has no UTC offset (write e.g. +01:00)")
    try:
        start = start.tz_convert(cfg.timezone)
    except Exception:  # noqa: BLE001 - pytz/zoneinfo raise several kinds
        raise ScenarioError(f"{where}: field 'timezone': {cfg.timezone!r} is not an IANA time zone") from None
    n = cfg.horizon_hours * 60 / cfg.step_minutes
    if abs(n - round(n)) > 1e-9:
        raise ScenarioError(
            f"{where}: field 'horizon_hours': {cfg.horizon_hours:g} h is not a whole number of {cfg.step_minutes}-minute steps"
        )
    return start, int(round(n))


def _check_site_grid(sc: Scenario, start: pd.Timestamp, n: int, step: int, where: str, i: int, spec: SiteSpec) -> None:
    g = sc.grid
    what = f"{where}: field 'sites.{i}.scenario': site '{spec.name}' ({Path(spec.scenario).name})"
    if g.start != start:
        raise ScenarioError(f"{what} starts at {g.start.isoformat()}, the feeder at {start.isoformat()}")
    if g.step_minutes != step:
        raise ScenarioError(f"{what} has {g.step_minutes}-minute steps, the feeder {step}-minute steps")
    if g.n_steps != n:
        raise ScenarioError(f"{what} has {g.n_steps} steps, the feeder {n}")


def home_sessions(
    n: int, rng: np.random.Generator, start: pd.Timestamp, homes: Homes, battery_kwh: float
) -> pd.DataFrame:
    """Evening-to-morning sessions of ``n`` home EVs (seeded): arrival, departure, arrival and target SoC.

    Arrival ``N(arrival_hour)`` clipped to 14:00-23:30 on the start's day, departure ``N(departure_hour)``
    clipped to 05:00-10:30 the next day (both local, rounded to the minute), energy ``N(daily_kwh)``
    clipped to 2-40 kWh, arrival SoC uniform in 0.25-0.6 and target ``arrival + energy / battery``
    (at most ``max_soc``).
    """
    day = start.normalize()
    arr = np.clip(rng.normal(*homes.arrival_hour, n), 14.0, 23.5)
    dep = 24.0 + np.clip(rng.normal(*homes.departure_hour, n), 5.0, 10.5)
    energy = np.clip(rng.normal(*homes.daily_kwh, n), 2.0, 40.0)
    soc0 = rng.uniform(0.25, 0.6, n)
    target = np.minimum(homes.vehicle.max_soc, soc0 + energy / battery_kwh)

    def at(h):
        return [(day + pd.Timedelta(minutes=int(round(x * 60)))).isoformat() for x in h]

    return pd.DataFrame(
        {"arrival": at(arr), "departure": at(dep), "arrival_soc": soc0.round(4), "target_soc": target.round(4)}
    )


def _home_sites(cfg: FeederConfig, network, start: pd.Timestamp, n_steps: int, where: str, folder: Path):
    """Write one site scenario per bus with home EVs into ``folder``; (bus, yaml path) pairs."""
    homes = cfg.homes
    net = network.net
    load = net.load[net.load.in_service.astype(bool)]
    prof = load["profile"].astype(str) if "profile" in load else pd.Series("", index=load.index)
    is_home = prof.str.startswith(tuple(homes.profiles))
    name_of = dict(zip(network.buses.pp_index, network.buses.index, strict=True))
    home_bus = [name_of[b] for b in load.bus[is_home] if b in name_of]
    if not home_bus:
        raise ScenarioError(
            f"{where}: field 'homes.profiles': no load of network {network.name} has a profile starting with "
            f"{', '.join(homes.profiles)}"
        )
    rng = np.random.default_rng(homes.seed)
    n_ev = int(round(homes.ev_share * len(home_bus)))
    if n_ev == 0:
        raise ScenarioError(f"{where}: field 'homes.ev_share': {homes.ev_share:g} of {len(home_bus)} homes is no EV")
    chosen = np.sort(rng.choice(len(home_bus), size=n_ev, replace=False))
    buses = pd.Series([home_bus[i] for i in chosen])
    v = homes.vehicle
    sess = home_sessions(n_ev, rng, start, homes, v.battery_kwh)
    out = []
    for j, bus in enumerate(dict.fromkeys(buses)):
        idx = np.flatnonzero(buses.to_numpy() == bus)
        d = folder / f"homes{j:03d}"
        d.mkdir(parents=True)
        ids = [f"EV{int(chosen[i]):03d}" for i in idx]
        pd.DataFrame([{"vehicle_id": k, **v.model_dump()} for k in ids]).to_csv(d / "vehicles.csv", index=False)
        s = sess.iloc[idx].copy()
        s.insert(0, "vehicle_id", ids)
        s.to_csv(d / "sessions.csv", index=False)
        sc_cfg = {
            "name": f"homes@{bus}",
            "timezone": cfg.timezone,
            "start": start.isoformat(),
            "horizon_hours": cfg.horizon_hours,
            "step_minutes": cfg.step_minutes,
            "site": {
                "import_limit_kw": float(len(ids) * v.max_charge_kw),
                "export_limit_kw": float(len(ids) * v.max_discharge_kw),
                "base_load_kw": 0.0,
            },
            "tariff": {"import_price": homes.import_price, "export_price": homes.export_price},
            "unmet_energy_penalty_per_kwh": homes.unmet_energy_penalty_per_kwh,
            "fleet": {"vehicles": "vehicles.csv", "sessions": "sessions.csv"},
        }
        (d / "scenario.yaml").write_text(yaml.safe_dump(sc_cfg, sort_keys=False))
        out.append((bus, d / "scenario.yaml"))
    return out


#: Networks loaded in this process, by SimBench code (a :class:`NetworkData` is not changed once loaded).
_NETWORKS: dict = {}


def _network(code: str, where: str):
    """:func:`gridopt.network.data.load_network`, once per code and process (SimBench's files take seconds)."""
    from .data import load_network

    if code not in _NETWORKS:
        nd = load_network(code, source=where, field="network")
        _NETWORKS.clear()  # keep one: a network with its profiles is tens of MB
        _NETWORKS[code] = nd
    return _NETWORKS[code]


def load_feeder(path) -> Feeder:
    """Read and check a feeder file, its network (SimBench) and every site.

    Raises
    ------
    ScenarioError
        One line naming the file, the field and what is wrong: an unknown key or SimBench code, a bus
        the network does not have, a site on a bus of another voltage level than its ``level``, a site
        scenario whose start, step or horizon differ from the feeder's, two sites with one name.
    """
    from ..io.read import _pydantic_message, _read_yaml, load_scenario

    path = Path(path)
    where = path.name
    data = _read_yaml(path)
    try:
        cfg = FeederConfig.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(_pydantic_message(where, exc)) from None
    if not cfg.sites and cfg.homes is None:
        raise ScenarioError(f"{where}: no sites and no homes: name at least one site or a homes block")
    start, n_steps = _steps(cfg, where)
    network = _network(cfg.network, where)
    profiles = network.profiles(start, n_steps, cfg.step_minutes, cfg.timezone, source=where)
    names = [s.name for s in cfg.sites]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise ScenarioError(f"{where}: field 'sites': two sites are named '{sorted(dup)[0]}'")
    pairs = []  # (name, bus, Scenario)
    for i, spec in enumerate(cfg.sites):
        network.bus(spec.bus, source=where, field=f"sites.{i}.bus", level=spec.level)
        if network.buses.at[spec.bus, "is_slack"]:
            raise ScenarioError(f"{where}: field 'sites.{i}.bus': bus '{spec.bus}' is the external grid's (slack) bus")
        sc_path = (path.parent / spec.scenario).resolve()
        if not sc_path.is_file():
            raise ScenarioError(f"{where}: field 'sites.{i}.scenario': {spec.scenario} not found")
        sc = load_scenario(sc_path)
        _check_site_grid(sc, start, n_steps, cfg.step_minutes, where, i, spec)
        pairs.append((spec.name, spec.bus, sc))
    warnings: list[str] = []
    if cfg.homes is not None:
        with tempfile.TemporaryDirectory(prefix="gridopt-homes-") as tmp:
            for bus, p in _home_sites(cfg, network, start, n_steps, where, Path(tmp)):
                sc = load_scenario(p)
                pairs.append((sc.name, bus, sc))
    ev_buses = list(dict.fromkeys(b for _, b, _ in pairs))
    pos = {b: i for i, b in enumerate(ev_buses)}
    sites = [Site(name, pos[bus], sc) for name, bus, sc in pairs]
    for s in sites:
        warnings += [f"site {s.name}: {w}" for w in s.scenario.warnings]
    return Feeder(
        name=cfg.name,
        config=cfg,
        path=path,
        network=network,
        profiles=profiles,
        sites=sites,
        ev_buses=ev_buses,
        options=SolverOptions(time_limit_s=float(cfg.solver.time_limit_s), mip_rel_gap=float(cfg.solver.mip_rel_gap)),
        warnings=warnings,
    )


# ------------------------------------------------------------------------------------------ planning


@dataclass
class Case:
    """One way of charging on the feeder, checked by AC power flow.

    Attributes
    ----------
    name : str
        ``baseline`` (uncontrolled until each need is met), ``alone`` (each site's own optimum,
        network ignored) or ``plan`` (the feeder-aware plan).
    net_kw : ndarray, shape (S, T)
        Each site's net load [kW].
    bus_kw : DataFrame
        Net load of the sites per EV bus, ``T x N`` [kW].
    ac : ACResult
    frames : list of (schedule, site, unmet)
        Per site, re-checked by :func:`gridopt.check.check_schedule`.
    kpis : list of dict
        Per site (:func:`gridopt.analysis.kpis`).
    """

    name: str
    net_kw: np.ndarray
    bus_kw: pd.DataFrame
    ac: object
    frames: list
    kpis: list

    @property
    def cost(self) -> float:
        """Sum of the sites' objectives [currency] (cost plus weighted grid terms, from the written flows)."""
        return float(sum(k["objective"] for k in self.kpis))

    def violations(self) -> dict:
        """Steps and elements over their limits, max loadings and the voltage range, from the AC check."""
        el = self.ac.elements
        bad = el[el["violated"]]
        st = self.ac.steps
        return {
            "steps_with_violations": int((st["n_violations"] > 0).sum()),
            "violations": int(len(bad)),
            "elements_violated": sorted(bad["element"].unique().tolist()),
            "trafo_steps_over": int(bad[bad["kind"] == "trafo"]["time"].nunique()),
            "line_steps_over": int(bad[bad["kind"] == "line"]["time"].nunique()),
            "voltage_steps_out": int(bad[bad["kind"] == "bus"]["time"].nunique()),
            "max_trafo_loading_percent": _f(st["max_trafo_loading_percent"].max()),
            "max_line_loading_percent": _f(st["max_line_loading_percent"].max()),
            "min_vm_pu": _f(st["min_vm_pu"].min()),
            "max_vm_pu": _f(st["max_vm_pu"].max()),
            "converged_all_steps": bool(st["converged"].all()),
            "first_violations": list(self.ac.violations[:5]),
        }


def _f(x) -> float | None:
    x = float(x)
    return None if np.isnan(x) else x


@dataclass
class FeederOutcome:
    """Baseline, sites-alone and feeder plan of a feeder, with the AC iterations of the plan."""

    feeder: Feeder
    baseline: Case
    alone: Case
    plan: Case
    solution: object  # FeederPlan of the last iteration
    iterations: list
    warnings: list
    seconds: float


def _bus_frame(fd: Feeder, net_kw: np.ndarray) -> pd.DataFrame:
    from .plan import bus_load_kw

    return pd.DataFrame(bus_load_kw(fd.sites, net_kw, len(fd.ev_buses)), index=fd.index, columns=fd.ev_buses)


def _case(fd: Feeder, name: str, frames: list) -> Case:
    from .. import analysis
    from .ac import ac_check

    net = np.array([f[1]["grid_import_kw"].to_numpy(float) - f[1]["grid_export_kw"].to_numpy(float) for f in frames])
    bus = _bus_frame(fd, net)
    ac = ac_check(fd.network, fd.profiles, bus, power_factor=fd.config.network_options.power_factor)
    kp = [analysis.kpis(s.scenario, *f) for s, f in zip(fd.sites, frames, strict=True)]
    return Case(name, net, bus, ac, frames, kp)


def baseline_frames(fd: Feeder) -> list:
    """Uncontrolled charging until each need is met, per site (checked without the site limits)."""
    from ..check import check_schedule
    from ..optimizer.baseline import uncontrolled

    out = []
    for s in fd.sites:
        f = uncontrolled(s.scenario, s.fleet_plan(), until="requirement")
        check_schedule(s.scenario, *f, site_limits=False)
        out.append(f)
    return out


def _runner(fd: Feeder, client):
    from .decompose import _Dask, _Local

    return _Dask(client, fd.sites) if client is not None else _Local()


#: Feeders with more vehicles than this are planned by decomposition unless told otherwise.
CENTRAL_MAX_VEHICLES = 3000


def plan_feeder(fd: Feeder, *, client=None, method: str = "auto", log=None) -> FeederOutcome:
    """Baseline, each site alone, and the feeder-aware plan iterated until pandapower's AC power flow holds.

    Each round linearises the network (:func:`gridopt.network.linear.linearise`: at no EV load first,
    then at the last plan), solves the coupled program (:func:`gridopt.network.plan.solve_central`, or
    :func:`gridopt.network.decompose.decompose` on Dask with ``method="decompose"``, or ``"auto"`` for
    large feeders or when a client is given), and runs the AC check. If a limit breaks, the rows of each
    element or bus that broke one get an extra margin of the excess found (plus 0.5 % / 0.0005 pu) and
    the next round re-linearises at the plan; after ``network_options.max_ac_iterations`` rounds (or a
    round the tightened rows make infeasible) the last plan is kept and its violations reported.

    Rows that the network breaks whatever the sites do (its own loads and generators) are relaxed to the
    least the sites can make them, with a warning.
    """
    import dataclasses
    import time

    from ..errors import InfeasibleError
    from .decompose import decompose, price_site
    from .linear import linearise
    from .plan import ranges, relax_unreachable, rows_from_linear, site_frames, solve_central

    if method not in ("auto", "central", "decompose"):
        raise ValueError(f"method must be auto, central or decompose, not {method!r}")
    t0 = time.monotonic()
    say = log or (lambda msg: None)
    warnings = list(fd.warnings)
    opts = fd.config.network_options
    say(f"{len(fd.sites)} sites, {fd.n_vehicles} vehicles on {len(fd.ev_buses)} buses of {fd.network.name}")
    baseline = _case(fd, "baseline", baseline_frames(fd))
    say(f"baseline (uncontrolled): {len(baseline.ac.violations)} violations")
    runner = _runner(fd, client)
    alone_p = runner.map_sites(price_site, fd.sites, [(None, fd.options, None, None, True)] * len(fd.sites))
    bad = [s.name for s, p in zip(fd.sites, alone_p, strict=True) if p.values is None]
    if bad:
        from ..errors import InfeasibleError

        raise InfeasibleError(f"sites {', '.join(bad[:5])} have no plan even without the network")
    alone = _case(fd, "alone", [site_frames(s, p.values) for s, p in zip(fd.sites, alone_p, strict=True)])
    say(f"sites alone: cost {alone.cost:.2f}, {len(alone.ac.violations)} violations")
    if method == "auto":
        method = "decompose" if (client is not None or fd.n_vehicles > CENTRAL_MAX_VEHICLES) else "central"
    p_lo, p_hi = ranges(fd.sites)
    buses = np.array([s.bus for s in fd.sites])
    vm_m, fl_m = float(opts.vm_margin_pu), float(opts.flow_margin_pct)
    op = None
    extra: dict = {}  # element or bus -> extra margin [% or pu]
    iterations = []
    plan = sol = None
    for it in range(1, opts.max_ac_iterations + 1):
        span = np.zeros(len(fd.ev_buses))
        np.add.at(span, buses, np.maximum(np.abs(p_lo), np.abs(p_hi)).max(axis=1) * 2.0)
        lin = linearise(
            fd.network,
            fd.profiles,
            fd.ev_buses,
            ev_p_kw=op,
            power_factor=opts.power_factor,
            ev_range_kw=span,
            vm_margin_pu=vm_m,
            flow_margin_pct=fl_m,
        )
        rows = rows_from_linear(lin)
        if extra:  # the elements and buses that broke a limit under AC get their own extra margin
            add = np.array([extra.get(e, 0.0) for e in rows.elements])
            rows = dataclasses.replace(rows, hi=rows.hi - add[None, :])
        rows, relaxed = relax_unreachable(rows, buses, p_lo, p_hi)
        for name, n, ex in relaxed:
            msg = f"the network breaks {name} on its own in {n} steps (by up to {ex:.3g}); the plan keeps it as low as it can"
            if msg not in warnings:
                warnings.append(msg)
        try:
            if method == "central":
                new_sol = solve_central(fd.sites, rows, fd.options)
            else:
                new_sol = decompose(fd.sites, rows, fd.options, client=client, initial=alone_p)
        except InfeasibleError as exc:
            if plan is None:
                raise
            iterations.append({"iteration": it, "infeasible": str(exc)})
            warnings.append(
                f"round {it}: with the margins tightened the network rows admit no plan; the plan of round {it - 1} "
                f"is kept with its {len(plan.ac.violations)} AC violations"
            )
            say(f"round {it}: infeasible with the tightened margins; keeping round {it - 1}")
            break
        sol = new_sol
        plan = _case(fd, "plan", [site_frames(s, v) for s, v in zip(fd.sites, sol.values, strict=True)])
        v = plan.violations()
        rec = {
            "iteration": it,
            "vm_margin_pu": vm_m,
            "flow_margin_pct": fl_m,
            "extra_margins": dict(extra),
            "operating_step": int(lin.operating_step),
            "rows_kept": int(sol.info.get("rows_kept", 0)),
            "cost": plan.cost,
            "solve_seconds": sol.seconds,
            "ac_violations": v["violations"],
            "max_trafo_loading_percent": v["max_trafo_loading_percent"],
            "max_line_loading_percent": v["max_line_loading_percent"],
            "min_vm_pu": v["min_vm_pu"],
            "max_vm_pu": v["max_vm_pu"],
        }
        iterations.append(rec)
        say(
            f"round {it}: cost {plan.cost:.2f}, {v['violations']} AC violations "
            f"(trafo max {v['max_trafo_loading_percent']:.1f}%, vm {v['min_vm_pu']:.4f}-{v['max_vm_pu']:.4f} pu)"
        )
        if plan.ac.ok:
            break
        el = plan.ac.elements[plan.ac.elements["violated"]]
        br = el[el["kind"] != "bus"]
        for name, ex in (br["loading_percent"] - br["limit_high"]).groupby(br["element"]).max().items():
            extra[name] = extra.get(name, 0.0) + float(ex) + 0.5
        vb = el[el["kind"] == "bus"]
        deficit = np.maximum(vb["limit_low"] - vb["vm_pu"], vb["vm_pu"] - vb["limit_high"])
        for name, ex in deficit.groupby(vb["element"]).max().items():
            extra[name] = extra.get(name, 0.0) + float(ex) + 0.0005
        op = plan.bus_kw
    return FeederOutcome(fd, baseline, alone, plan, sol, iterations, warnings, time.monotonic() - t0)
