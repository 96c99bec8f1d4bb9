"""Distribution networks from SimBench: buses, limits and the network's own load profiles.

Only this package imports pandapower and simbench, and only when a function
needs them (the ``grid`` extra; pandapower pins pandas 2.3, so it lives in its
own virtual environment, see ``docs/network.md``).

Sign convention (all of :mod:`gridopt.network`): a bus power is **consumption**
positive (load convention), in kW and kvar; a PV generator is a negative bus
power, an EV that charges a positive one, an EV that discharges (V2G) a negative
one.

Profiles and dates
------------------
SimBench's profiles are one reference year, 2016, at 15-minute resolution:
35,136 rows whose time column is the local time of Germany (the spring hour is
missing, the autumn hour repeated), i.e. row ``i`` starts at
``2016-01-01T00:00+01:00 + i * 15 min``. A scenario's start is mapped to the row
with the same month, day and local wall-clock time (in the scenario's own time
zone) in 2016, Europe/Berlin (a wall-clock time that 2016 skips moves forward
an hour, a repeated one takes the first); from there steps run on in elapsed
time, and a horizon past 31 December wraps to 1 January of the same reference
year. The weekday is not matched (``reference_start`` picks another 2016 row,
e.g. to align weekdays). A horizon that crosses a daylight-saving change in one
year but not the other drifts by that hour against the local clock.

A step that is a multiple of 15 minutes is the mean of its rows (the mean power
over the step). Any other step (5, 10, 20 minutes ...), or a start off the
15-minute grid, is refused unless ``resample="mean"`` is given: each step is
then the time-weighted mean of the 15-minute values it overlaps.
"""

from __future__ import annotations

import copy
import datetime as _dt
import functools
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import ScenarioError

#: Minutes per SimBench profile row.
PROFILE_MINUTES = 15
#: The year SimBench's profiles describe.
REFERENCE_YEAR = 2016
#: Local time of SimBench's profile time column.
REFERENCE_TZ = "Europe/Berlin"
#: Voltage band [pu] used where SimBench gives no bus limits.
DEFAULT_VM_PU = (0.95, 1.05)
#: Loading limit [%] used where SimBench gives no ``max_loading_percent``.
DEFAULT_MAX_LOADING_PERCENT = 100.0

#: Voltage levels by nominal voltage [kV]: upper bound of each level (inclusive).
_LEVELS = (("LV", 1.0), ("MV", 60.0), ("HV", 150.0), ("EHV", float("inf")))


def voltage_level(vn_kv: float) -> str:
    """Voltage level of a nominal voltage.

    Parameters
    ----------
    vn_kv : float
        Nominal line-to-line voltage [kV].

    Returns
    -------
    str
        ``"LV"`` (up to 1 kV), ``"MV"`` (up to 60 kV), ``"HV"`` (up to 150 kV) or ``"EHV"``.
    """
    for name, upper in _LEVELS:
        if vn_kv <= upper:
            return name
    return "EHV"  # pragma: no cover - inf bound


def import_pandapower():
    """Import pandapower, or say how to install it (a :class:`GridoptError`)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pandapower
    except ImportError as exc:  # a missing extra: exit 2 with the install command, as gridopt sweep does
        raise ScenarioError(
            "the network layer needs pandapower and simbench: pip install -e '.[grid]' "
            "(pandapower pins pandas 2.3: use a separate venv, e.g. .venv-grid)"
        ) from exc
    return pandapower


def runpp(net, init: str = "auto", recycle: bool = False) -> bool:
    """Run pandapower's AC power flow on ``net`` in place; True when it converged.

    Newton-Raphson, voltage angles on, numba off (not a dependency), all other
    options pandapower's defaults (``trafo_loading="current"``). ``recycle``: only
    the loads' and generators' powers changed since the last converged run, so
    pandapower reuses its internal model (``recycle={"bus_pq": True}``, started
    from the last results).
    """
    pp = import_pandapower()
    kw = {"recycle": {"bus_pq": True, "trafo": False, "gen": False}} if recycle else {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pp.runpp(net, init=init, numba=False, calculate_voltage_angles=True, **kw)
    except pp.LoadflowNotConverged:
        return False
    return bool(net.converged)


@dataclass(frozen=True)
class BusProfiles:
    """The network's own loads and generators on a scenario's time index.

    Attributes
    ----------
    index : pandas.DatetimeIndex
        Step starts (tz-aware), length ``T``.
    step_minutes : int
        Step length [min].
    reference_start : pandas.Timestamp
        The SimBench row (2016, Europe/Berlin) the first step starts at.
    load_p_kw, load_q_kvar : pandas.DataFrame
        ``T x n_load``: each pandapower load's power [kW], [kvar] (columns: pandapower load index).
    sgen_p_kw, sgen_q_kvar : pandas.DataFrame
        ``T x n_sgen``: each static generator's generation [kW], [kvar] (positive = generating).
    storage_p_kw : pandas.DataFrame
        ``T x n_storage``: storage power [kW], load convention (empty for SimBench's LV and MV grids).
    bus_p_kw, bus_q_kvar : pandas.DataFrame
        ``T x n_bus`` (columns: bus names): net consumption per bus, loads minus generation [kW], [kvar].
    """

    index: pd.DatetimeIndex
    step_minutes: int
    reference_start: pd.Timestamp
    load_p_kw: pd.DataFrame
    load_q_kvar: pd.DataFrame
    sgen_p_kw: pd.DataFrame
    sgen_q_kvar: pd.DataFrame
    storage_p_kw: pd.DataFrame
    bus_p_kw: pd.DataFrame
    bus_q_kvar: pd.DataFrame

    @property
    def n_steps(self) -> int:
        return len(self.index)


@dataclass(frozen=True, eq=False)
class NetworkData:
    """A distribution network: the pandapower net, its buses, elements and limits.

    Do not change ``net``: power flows run on copies (:func:`gridopt.network.ac_check`,
    :func:`gridopt.network.linearise`).

    Attributes
    ----------
    name : str
        SimBench code (or the name given to :meth:`from_pandapower`).
    net : pandapowerNet
        The network with SimBench's profiles in ``net.profiles``.
    buses : pandas.DataFrame
        Index: bus name. Columns ``pp_index`` (pandapower bus index), ``vn_kv`` [kV], ``level``
        (``LV``, ``MV``, ``HV``, ``EHV``), ``vm_min_pu``, ``vm_max_pu`` [pu], ``vm_limits`` (``"simbench"``
        where the net gives the bus's ``min_vm_pu``/``max_vm_pu``, ``"default"`` for 0.95-1.05),
        ``is_slack`` (an external grid's bus, voltage fixed at ``slack_vm_pu``), ``slack_vm_pu``.
        In-service buses only.
    elements : pandas.DataFrame
        Index: element name. Columns ``kind`` (``trafo``, ``line``), ``pp_index``, ``from_bus``,
        ``to_bus`` (bus names; a transformer's hv and lv side), ``rating_kva`` (rated apparent
        power at nominal voltage [kVA]: ``sqrt(3) * vn_kv * max_i_ka * df * parallel`` for a line,
        ``sn_mva * parallel`` for a transformer), ``max_loading_percent`` (the net's where given,
        else 100). In-service branches only.
    """

    name: str
    net: object
    buses: pd.DataFrame
    elements: pd.DataFrame
    _profile_cache: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_pandapower(cls, net, name: str = "network") -> NetworkData:
        """Wrap a pandapower net (bus, line and transformer names must be unique).

        Parameters
        ----------
        net : pandapowerNet
            A net with ``bus``, ``line``, ``trafo`` and ``ext_grid`` tables. Buses without a
            name are named ``bus <index>``.
        name : str
            Name used in messages.
        """
        bus = net.bus[net.bus.in_service.astype(bool)]
        names = [str(n) if isinstance(n, str) and n else f"bus {i}" for i, n in zip(bus.index, bus.name, strict=True)]
        dup = pd.Index(names)[pd.Index(names).duplicated()]
        if len(dup):
            raise ScenarioError(f"network {name}: bus name '{dup[0]}' is not unique")
        vn = bus.vn_kv.to_numpy(float)
        lo = bus["min_vm_pu"].to_numpy(float) if "min_vm_pu" in bus else np.full(len(bus), np.nan)
        hi = bus["max_vm_pu"].to_numpy(float) if "max_vm_pu" in bus else np.full(len(bus), np.nan)
        given = ~np.isnan(lo) & ~np.isnan(hi)
        slack = net.ext_grid[net.ext_grid.in_service.astype(bool)]
        slack_vm = dict(zip(slack.bus, slack.vm_pu.astype(float), strict=True))
        buses = pd.DataFrame(
            {
                "pp_index": bus.index.to_numpy(),
                "vn_kv": vn,
                "level": [voltage_level(v) for v in vn],
                "vm_min_pu": np.where(given, lo, DEFAULT_VM_PU[0]),
                "vm_max_pu": np.where(given, hi, DEFAULT_VM_PU[1]),
                "vm_limits": np.where(given, "simbench", "default"),
                "is_slack": [i in slack_vm for i in bus.index],
                "slack_vm_pu": [slack_vm.get(i, np.nan) for i in bus.index],
            },
            index=pd.Index(names, name="bus"),
        )
        name_of = dict(zip(bus.index, names, strict=True))
        rows = []
        for kind, tab in (("trafo", net.trafo), ("line", net.line)):
            tab = tab[tab.in_service.astype(bool)]
            for i, r in tab.iterrows():
                a, b = (r.hv_bus, r.lv_bus) if kind == "trafo" else (r.from_bus, r.to_bus)
                if a not in name_of or b not in name_of:
                    continue
                par = float(r.get("parallel", 1) or 1)
                if kind == "trafo":
                    rating = 1000.0 * float(r.sn_mva) * par
                else:
                    vn_kv = float(net.bus.vn_kv.at[a])
                    rating = 1000.0 * np.sqrt(3) * vn_kv * float(r.max_i_ka) * float(r.get("df", 1.0) or 1.0) * par
                mlp = (
                    float(r["max_loading_percent"])
                    if "max_loading_percent" in tab and pd.notna(r["max_loading_percent"])
                    else np.nan
                )
                ename = str(r["name"]) if isinstance(r["name"], str) and r["name"] else f"{kind} {i}"
                rows.append(
                    {
                        "element": ename,
                        "kind": kind,
                        "pp_index": i,
                        "from_bus": name_of[a],
                        "to_bus": name_of[b],
                        "rating_kva": rating,
                        "max_loading_percent": DEFAULT_MAX_LOADING_PERCENT if np.isnan(mlp) else mlp,
                    }
                )
        elements = pd.DataFrame(
            rows, columns=["element", "kind", "pp_index", "from_bus", "to_bus", "rating_kva", "max_loading_percent"]
        ).set_index("element")
        if not elements.index.is_unique:
            raise ScenarioError(
                f"network {name}: element name '{elements.index[elements.index.duplicated()][0]}' is not unique"
            )
        return cls(name=name, net=net, buses=buses, elements=elements)

    # ------------------------------------------------------------------ buses
    @property
    def bus_names(self) -> list[str]:
        """Names of the in-service buses."""
        return list(self.buses.index)

    def bus(self, name: str, *, source: str = "network", field: str = "bus", level: str | None = None) -> str:
        """Check that a bus exists (and is of ``level``); return its name.

        Parameters
        ----------
        name : str
            Bus name as in SimBench (e.g. ``"LV1.101 Bus 4"``).
        source : str
            File (basename) or object the name comes from, for the message.
        field : str
            Field or row the name comes from, for the message.
        level : str, optional
            Required voltage level: ``"LV"``, ``"MV"``, ``"HV"`` or ``"EHV"``.

        Raises
        ------
        ScenarioError
            One line naming ``source``, ``field``, the bus and what is wrong.
        """
        if not isinstance(name, str) or name not in self.buses.index:
            hint = _close_names(str(name), self.buses.index)
            raise ScenarioError(
                f"{source}: field '{field}': bus '{name}' is not in network {self.name} ({len(self.buses)} buses{hint})"
            )
        if level is not None:
            level = level.upper()
            if level not in {n for n, _ in _LEVELS}:
                raise ScenarioError(f"{source}: field '{field}': voltage level '{level}' is not LV, MV, HV or EHV")
            got = self.buses.at[name, "level"]
            if got != level:
                vn = self.buses.at[name, "vn_kv"]
                raise ScenarioError(
                    f"{source}: field '{field}': bus '{name}' is a {got} bus ({vn:g} kV), the site needs an {level} bus"
                )
        return name

    # --------------------------------------------------------------- profiles
    def profiles(
        self,
        start,
        steps: int,
        step_minutes: int,
        tz: str | None = None,
        *,
        resample: str | None = None,
        reference_start=None,
        source: str = "network",
    ) -> BusProfiles:
        """The network's own loads and generators for a scenario's steps, from SimBench's profiles.

        Parameters
        ----------
        start : str or datetime or pandas.Timestamp
            First step start; tz-aware, or naive with ``tz``.
        steps : int
            Number of steps ``T``.
        step_minutes : int
            Step length [min].
        tz : str, optional
            IANA time zone of a naive ``start`` (and of the returned index).
        resample : {None, "mean"}
            ``None``: only steps that are multiples of 15 min, starting on the 15-min grid.
            ``"mean"``: any whole-minute step; each step is the time-weighted mean of the
            15-minute values it overlaps.
        reference_start : str or pandas.Timestamp, optional
            The 2016 instant (Europe/Berlin if naive) the first step maps to; default: the
            same month, day and local time as ``start`` (see the module docstring).
        source : str
            File name for messages.

        Returns
        -------
        BusProfiles
            ``T`` steps of every load's and generator's power and their sums per bus.

        Raises
        ------
        ScenarioError
            A step or start off SimBench's 15-minute grid without ``resample="mean"``, a naive
            start without ``tz``, a horizon longer than the reference year.
        """
        index, row0_minutes = _map_dates(start, steps, step_minutes, tz, resample, reference_start, source)
        abs_vals = self._absolute_profiles()
        if not abs_vals:  # a net without SimBench profiles: its own powers in every step
            abs_vals = self._constant_profiles()
        out, n_rows = {}, None
        for key, tab in abs_vals.items():
            n_rows = len(tab) if len(tab) else n_rows
            out[key] = tab
        if not n_rows:
            raise ScenarioError(f"{source}: network {self.name} has no load or generator profiles")
        if steps * step_minutes > n_rows * PROFILE_MINUTES and n_rows > 1:
            raise ScenarioError(
                f"{source}: field 'horizon': {steps} steps of {step_minutes} min are longer than SimBench's reference year"
            )
        if n_rows == 1:
            row0_minutes = 0.0
        rows, weights = _step_weights(row0_minutes, steps, step_minutes, n_rows)

        def mean(tab: pd.DataFrame, columns) -> pd.DataFrame:
            if tab is None or tab.shape[1] == 0:
                return pd.DataFrame(np.zeros((steps, len(columns))), index=index, columns=pd.Index(columns))
            vals = 1000.0 * tab.reindex(columns=columns).fillna(0.0).to_numpy(float)[rows]  # MW -> kW
            return pd.DataFrame(weights @ vals, index=index, columns=pd.Index(columns))

        net = self.net
        load = net.load[net.load.in_service.astype(bool)]
        sgen = net.sgen[net.sgen.in_service.astype(bool)]
        storage = net.storage[net.storage.in_service.astype(bool)] if "storage" in net else net.load.iloc[:0]
        load_p = mean(out.get(("load", "p_mw")), load.index)
        load_q = mean(out.get(("load", "q_mvar")), load.index)
        sgen_p = mean(out.get(("sgen", "p_mw")), sgen.index)
        sgen_q = pd.DataFrame(
            np.tile(1000.0 * sgen.q_mvar.to_numpy(float), (steps, 1)), index=index, columns=sgen.index
        )
        stor_p = mean(out.get(("storage", "p_mw")), storage.index)
        name_of = dict(zip(self.buses.pp_index, self.buses.index, strict=True))
        bus_p = pd.DataFrame(0.0, index=index, columns=self.buses.index)
        bus_q = pd.DataFrame(0.0, index=index, columns=self.buses.index)
        for tab, buses, sign, target in (
            (load_p, load.bus, 1.0, bus_p),
            (load_q, load.bus, 1.0, bus_q),
            (sgen_p, sgen.bus, -1.0, bus_p),
            (sgen_q, sgen.bus, -1.0, bus_q),
            (stor_p, storage.bus, 1.0, bus_p),
        ):
            for col, b in zip(tab.columns, buses, strict=True):
                if b in name_of:
                    target[name_of[b]] += sign * tab[col].to_numpy()
        ref0 = pd.Timestamp(_dt.datetime(REFERENCE_YEAR, 1, 1), tz=REFERENCE_TZ) + pd.Timedelta(minutes=row0_minutes)
        return BusProfiles(
            index=index,
            step_minutes=int(step_minutes),
            reference_start=ref0,
            load_p_kw=load_p,
            load_q_kvar=load_q,
            sgen_p_kw=sgen_p,
            sgen_q_kvar=sgen_q,
            storage_p_kw=stor_p,
            bus_p_kw=bus_p,
            bus_q_kvar=bus_q,
        )

    def _constant_profiles(self) -> dict:
        """One row of the net's own ``p_mw``/``q_mvar`` (a net built by hand, without SimBench profiles)."""
        net = self.net
        out = {("load", "p_mw"): net.load.p_mw, ("load", "q_mvar"): net.load.q_mvar, ("sgen", "p_mw"): net.sgen.p_mw}
        if "storage" in net:
            out[("storage", "p_mw")] = net.storage.p_mw
        return {k: pd.DataFrame([v.to_numpy(float)], columns=v.index) for k, v in out.items() if len(v)} or {
            ("load", "p_mw"): pd.DataFrame([[]])
        }

    def _absolute_profiles(self) -> dict:
        """SimBench's absolute profiles [MW], [Mvar] (``simbench.get_absolute_values``), cached."""
        if "abs" not in self._profile_cache:
            if not getattr(self.net, "profiles", None):
                self._profile_cache["abs"] = {}
            else:
                import simbench as sb

                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    vals = sb.get_absolute_values(self.net, profiles_instead_of_study_cases=True)
                self._profile_cache["abs"] = {k: v for k, v in vals.items() if v is not None}
        return self._profile_cache["abs"]


def load_network(code: str, *, source: str = "network", field: str = "network") -> NetworkData:
    """Load a SimBench network by its code.

    Parameters
    ----------
    code : str
        SimBench code, e.g. ``"1-LV-rural1--0-sw"``, ``"1-LV-semiurb4--0-sw"``, ``"1-MV-semiurb--0-sw"``
        (``simbench.collect_all_simbench_codes()`` lists them all).
    source, field : str
        File (basename) and field the code comes from, for the message.

    Returns
    -------
    NetworkData

    Raises
    ------
    ScenarioError
        The code is not a SimBench code (one line naming it).
    """
    import_pandapower()
    import simbench as sb

    codes = sb.collect_all_simbench_codes()
    if not isinstance(code, str) or code not in codes:
        hint = _close_names(str(code), codes)
        raise ScenarioError(f"{source}: field '{field}': '{code}' is not a SimBench code{hint}")
    return NetworkData.from_pandapower(copy.deepcopy(_simbench_net(code)), name=code)


@functools.lru_cache(maxsize=8)
def _simbench_net(code: str):
    """SimBench's net for a code, read once per process (reading the CSV files takes seconds; callers get copies)."""
    import simbench as sb

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sb.get_simbench_net(code)


# ---------------------------------------------------------------------------- helpers


def _close_names(name: str, candidates) -> str:
    import difflib

    close = difflib.get_close_matches(name, [str(c) for c in candidates], n=2, cutoff=0.6)
    return "; did you mean " + " or ".join(f"'{c}'" for c in close) if close else ""


def _map_dates(start, steps, step_minutes, tz, resample, reference_start, source):
    """Scenario index and the minute offset (from 2016-01-01 00:00 Berlin) of its first step."""
    if resample not in (None, "mean"):
        raise ScenarioError(f"{source}: field 'resample': '{resample}' is not 'mean' (or left out)")
    if not isinstance(steps, (int, np.integer)) or isinstance(steps, bool) or steps < 1:
        raise ScenarioError(f"{source}: field 'steps': {steps!r} is not a positive whole number")
    if not isinstance(step_minutes, (int, np.integer)) or isinstance(step_minutes, bool) or step_minutes < 1:
        raise ScenarioError(
            f"{source}: field 'step_minutes': {step_minutes!r} is not a positive whole number of minutes"
        )
    ts = pd.Timestamp(start)
    if ts.tzinfo is None:
        if tz is None:
            raise ScenarioError(f"{source}: field 'start': {start} has no time zone (give tz)")
        ts = ts.tz_localize(tz)
    elif tz is not None:
        ts = ts.tz_convert(tz)
    index = pd.date_range(ts, periods=int(steps), freq=pd.Timedelta(minutes=int(step_minutes)))
    berlin0 = pd.Timestamp(_dt.datetime(REFERENCE_YEAR, 1, 1), tz=REFERENCE_TZ)
    if reference_start is None:
        local = ts.tz_localize(None)
        ref = pd.Timestamp(
            _dt.datetime(REFERENCE_YEAR, local.month, local.day, local.hour, local.minute, local.second)
        ).tz_localize(REFERENCE_TZ, ambiguous=True, nonexistent="shift_forward")
    else:
        ref = pd.Timestamp(reference_start)
        ref = ref.tz_localize(REFERENCE_TZ, ambiguous=True, nonexistent="shift_forward") if ref.tzinfo is None else ref
        if not (berlin0 <= ref < berlin0 + pd.Timedelta(days=366)):
            raise ScenarioError(f"{source}: field 'reference_start': {reference_start} is not in SimBench's year 2016")
    minutes = (ref - berlin0) / pd.Timedelta(minutes=1)
    if resample is None:
        if step_minutes % PROFILE_MINUTES:
            raise ScenarioError(
                f"{source}: field 'step_minutes': {step_minutes} min is not a multiple of SimBench's 15-minute "
                "profiles (resample='mean' averages them over each step)"
            )
        if minutes % PROFILE_MINUTES:
            raise ScenarioError(
                f"{source}: field 'start': {ts.isoformat()} is not on SimBench's 15-minute grid "
                "(resample='mean' averages the profiles over each step)"
            )
    return index, float(minutes)


def _step_weights(row0_minutes: float, steps: int, step_minutes: int, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows used and ``T x len(rows)`` weights: step ``k`` is the time-weighted mean of the rows it overlaps.

    Rows wrap at the end of the reference year (``n_rows`` rows).
    """
    cells = []
    for k in range(steps):
        a = row0_minutes + k * step_minutes
        b = a + step_minutes
        r = int(np.floor(a / PROFILE_MINUTES))
        while r * PROFILE_MINUTES < b:
            lo, hi = max(a, r * PROFILE_MINUTES), min(b, (r + 1) * PROFILE_MINUTES)
            if hi > lo:
                cells.append((k, r % n_rows, (hi - lo) / step_minutes))
            r += 1
    rows, col = np.unique([c[1] for c in cells], return_inverse=True)
    w = np.zeros((steps, len(rows)))
    for (k, _, v), j in zip(cells, col, strict=True):
        w[k, j] += v
    return rows, w


__all__ = [
    "BusProfiles",
    "NetworkData",
    "load_network",
    "voltage_level",
    "DEFAULT_VM_PU",
    "REFERENCE_YEAR",
    "REFERENCE_TZ",
]
