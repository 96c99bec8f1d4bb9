"""Chargers and the site's circuit tree: the tables, checked like the fleet's.

``chargers.csv`` (``site.chargers``), one row per charger:

==============  =========================================================================
``charger_id``  text, unique (sessions name it in ``station_id``)
``max_kw``      largest power [kW], ``> 0``
``min_kw``      lowest power while charging at all [kW], default 0
``phases``      1 or 3; default 3 for ``phase`` ``ABC``, else 1
``v2g``         ``true``/``false`` (or 1/0): may discharge (at most ``max_kw``); default false
``connector``   text, carried to the outputs (not matched against vehicles)
``phase``       ``A``, ``B``, ``C`` (line to neutral), ``AB``, ``BC``, ``CA`` (line to line), ``ABC``
``voltage_v``   voltage across the charger's terminals [V]: line to neutral for ``A``,
                line to line for ``AB`` and ``ABC``; default from its node's ``voltage_v``
``node``        the circuit node the charger hangs from (needed with ``site.circuit``)
==============  =========================================================================

``site.circuit``: a CSV file or a YAML list, one row per node (pod, panel, transformer):

====================  ===============================================================
``node_id``           text, unique
``parent``            the node above (empty: a root, fed by the site's meter)
``limit_kw``          ``|sum of the net power of the chargers below| <= limit_kw`` [kW]
``limit_a``           every line current of the node at most this [A] (per phase)
``voltage_v``         line-to-line voltage of the node [V] (inherited by the nodes below)
``delta_wye_ratio``   the node is the delta primary of a delta-wye transformer with this
                      winding ratio: its line currents are ``(I_a - I_c) / n``,
                      ``(I_b - I_a) / n``, ``(I_c - I_b) / n`` of the currents below it
====================  ===============================================================

How the limits become linear rows: ``docs/circuit.md``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import ScenarioError
from .scenario import MAX_POWER_KW, numeric_column

CHARGER_REQUIRED = ("charger_id", "max_kw")
CHARGER_OPTIONAL = ("min_kw", "phases", "v2g", "connector", "phase", "voltage_v", "node")
CIRCUIT_REQUIRED = ("node_id",)
CIRCUIT_OPTIONAL = ("parent", "limit_kw", "limit_a", "voltage_v", "delta_wye_ratio")
#: Phase connections a charger may name.
PHASES = ("A", "B", "C", "AB", "BC", "CA", "ABC")
#: Largest current limit [A] and voltage [V] gridopt accepts (far beyond any site; typos beyond).
MAX_CURRENT_A = 1e6
MAX_VOLTAGE_V = 1e6
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no", "")


def _text(raw: pd.DataFrame, col: str) -> pd.Series:
    if col not in raw:
        return pd.Series("", index=raw.index, dtype=object)
    return raw[col].astype("string").str.strip().fillna("").astype(object)


def _bounded(raw: pd.DataFrame, col: str, where: str, lo: float, hi: float, unit: str, default=math.nan, strict=False):
    if col not in raw:
        return pd.Series(default, index=raw.index, dtype=float)
    num = numeric_column(raw, col, where, required=False)
    bad = (num <= lo if strict else num < lo) | (num > hi)
    if bad.any():
        i = bad.idxmax()
        rel = ">" if strict else ">="
        raise ScenarioError(f"{where} line {i}: '{col}' = {num[i]:g} must be {rel} {lo:g} and at most {hi:.15g} {unit}")
    return num.fillna(default)


def _unique_ids(ids: pd.Series, where: str, col: str) -> None:
    empty = ids == ""
    if empty.any():
        raise ScenarioError(f"{where} line {empty.idxmax()}: '{col}' is empty")
    dup = ids.duplicated()
    if dup.any():
        i = dup.idxmax()
        first = ids.index[(ids == ids[i]).to_numpy()][0]
        raise ScenarioError(f"{where} line {i}: {col} {ids[i]!r} is given twice (first on line {first})")


def validate_chargers(raw: pd.DataFrame, where: str) -> pd.DataFrame:
    """The chargers table, checked and completed (index = file line).

    Returns
    -------
    DataFrame
        ``charger_id``, ``max_kw``, ``min_kw`` [kW], ``phases`` (1 or 3), ``v2g``
        (bool), ``connector``, ``phase`` (one of :data:`PHASES` or ``""``),
        ``voltage_v`` [V] (NaN: from the node), ``node`` (``""``: none).
    """
    from .scenario import check_columns

    check_columns(raw, where, CHARGER_REQUIRED, CHARGER_OPTIONAL)
    if not len(raw):
        raise ScenarioError(f"{where}: no chargers")
    df = pd.DataFrame(index=raw.index)
    df["charger_id"] = _text(raw, "charger_id")
    _unique_ids(df["charger_id"], where, "charger_id")
    max_kw = numeric_column(raw, "max_kw", where)
    bad = (max_kw <= 0) | (max_kw > MAX_POWER_KW)
    if bad.any():
        i = bad.idxmax()
        raise ScenarioError(
            f"{where} line {i}: 'max_kw' = {max_kw[i]:g} must be > 0 and at most {MAX_POWER_KW:.15g} kW"
        )
    df["max_kw"] = max_kw
    df["min_kw"] = _bounded(raw, "min_kw", where, 0.0, MAX_POWER_KW, "kW", default=0.0)
    above = df["min_kw"] > df["max_kw"]
    if above.any():
        i = above.idxmax()
        raise ScenarioError(
            f"{where} line {i}: 'min_kw' {df.at[i, 'min_kw']:g} is above 'max_kw' {df.at[i, 'max_kw']:g}"
        )
    v2g = _text(raw, "v2g").str.lower()
    unknown = ~v2g.isin(_TRUE + _FALSE)
    if unknown.any():
        i = unknown.idxmax()
        raise ScenarioError(f"{where} line {i}: 'v2g' = {raw.at[i, 'v2g']!r} must be true or false (or 1 or 0)")
    df["v2g"] = v2g.isin(_TRUE).astype(bool)
    df["connector"] = _text(raw, "connector")
    phase = _text(raw, "phase").str.upper()
    bad = ~phase.isin(PHASES + ("",))
    if bad.any():
        i = bad.idxmax()
        raise ScenarioError(f"{where} line {i}: 'phase' = {raw.at[i, 'phase']!r} must be one of {', '.join(PHASES)}")
    df["phase"] = phase
    phases = _bounded(raw, "phases", where, 1, 3, "phases", default=math.nan)
    if "phases" in raw:
        odd = phases.notna() & ~phases.isin([1.0, 3.0])
        if odd.any():
            i = odd.idxmax()
            raise ScenarioError(f"{where} line {i}: 'phases' = {raw.at[i, 'phases']!r} must be 1 or 3")
    phases = phases.where(phases.notna(), np.where(phase == "ABC", 3.0, 1.0))
    clash = ((phases == 3) & (phase != "ABC") & (phase != "")) | ((phases == 1) & (phase == "ABC"))
    if clash.any():
        i = clash.idxmax()
        raise ScenarioError(
            f"{where} line {i}: 'phases' {int(phases[i])} does not fit 'phase' {phase[i]!r} "
            "(a three-phase charger is on ABC, a single-phase one on A, B, C, AB, BC or CA)"
        )
    df["phases"] = phases.astype(int)
    df.loc[(df["phases"] == 3) & (df["phase"] == ""), "phase"] = "ABC"
    df["voltage_v"] = _bounded(raw, "voltage_v", where, 0.0, MAX_VOLTAGE_V, "V", strict=True)
    df["node"] = _text(raw, "node")
    return df


def validate_circuit(raw: pd.DataFrame, where: str) -> pd.DataFrame:
    """The circuit tree, checked (index = file line, or item number of a YAML list).

    Returns
    -------
    DataFrame
        ``node_id``, ``parent`` (``""`` for a root), ``limit_kw`` [kW], ``limit_a``
        [A], ``voltage_v`` [V] (NaN where not given, before inheritance),
        ``delta_wye_ratio`` (NaN: none).
    """
    from .scenario import check_columns

    check_columns(raw, where, CIRCUIT_REQUIRED, CIRCUIT_OPTIONAL)
    if not len(raw):
        raise ScenarioError(f"{where}: no circuit nodes")
    df = pd.DataFrame(index=raw.index)
    df["node_id"] = _text(raw, "node_id")
    _unique_ids(df["node_id"], where, "node_id")
    df["parent"] = _text(raw, "parent")
    df["limit_kw"] = _bounded(raw, "limit_kw", where, 0.0, MAX_POWER_KW, "kW")
    df["limit_a"] = _bounded(raw, "limit_a", where, 0.0, MAX_CURRENT_A, "A")
    df["voltage_v"] = _bounded(raw, "voltage_v", where, 0.0, MAX_VOLTAGE_V, "V", strict=True)
    df["delta_wye_ratio"] = _bounded(raw, "delta_wye_ratio", where, 0.0, 1e6, "", strict=True)
    ids = set(df["node_id"])
    unknown = (df["parent"] != "") & ~df["parent"].isin(ids)
    if unknown.any():
        i = unknown.idxmax()
        raise ScenarioError(f"{where} line {i}: parent {df.at[i, 'parent']!r} is not a node_id of the circuit")
    parent = dict(zip(df["node_id"], df["parent"], strict=True))
    for i, node in zip(df.index, df["node_id"], strict=True):
        seen, cur = {node}, parent[node]
        while cur:
            if cur in seen:
                raise ScenarioError(f"{where} line {i}: node {node!r} is its own ancestor (a loop through {cur!r})")
            seen.add(cur)
            cur = parent[cur]
    return df


def node_voltages(circuit: pd.DataFrame) -> dict:
    """Line-to-line voltage of each node [V]: its own, else its nearest ancestor's (NaN: none)."""
    own = dict(zip(circuit["node_id"], circuit["voltage_v"], strict=True))
    parent = dict(zip(circuit["node_id"], circuit["parent"], strict=True))
    out = {}
    for node in own:
        cur = node
        while cur and math.isnan(own[cur]):
            cur = parent[cur]
        out[node] = own[cur] if cur else math.nan
    return out


def ancestors(circuit: pd.DataFrame, node: str) -> list:
    """``node`` and the nodes above it, bottom up."""
    parent = dict(zip(circuit["node_id"], circuit["parent"], strict=True))
    out = []
    while node:
        out.append(node)
        node = parent[node]
    return out


def check_chargers_on_circuit(chargers: pd.DataFrame, circuit: pd.DataFrame | None, where: str) -> pd.DataFrame:
    """Tie the chargers to the circuit: every charger on a known node, with a phase and a voltage where an
    ancestor has a current limit. Returns ``chargers`` with ``voltage_v`` filled from the nodes.

    A charger's own ``voltage_v`` is the voltage across its terminals; a node's is line to line, so a
    charger on one phase (``A``) without its own gets the node's divided by sqrt(3).
    """
    if circuit is None:
        if (chargers["node"] != "").any():
            i = (chargers["node"] != "").idxmax()
            raise ScenarioError(
                f"{where} line {i}: 'node' {chargers.at[i, 'node']!r} given, but the site has no circuit"
            )
        return chargers
    ids = set(circuit["node_id"])
    missing = chargers["node"] == ""
    if missing.any():
        raise ScenarioError(
            f"{where} line {missing.idxmax()}: 'node' is empty: with site.circuit every charger names its node"
        )
    unknown = ~chargers["node"].isin(ids)
    if unknown.any():
        i = unknown.idxmax()
        raise ScenarioError(f"{where} line {i}: node {chargers.at[i, 'node']!r} is not a node_id of the circuit")
    volts = node_voltages(circuit)
    has_amps = dict(zip(circuit["node_id"], circuit["limit_a"].notna(), strict=True))
    out = chargers.copy()
    for i in out.index:
        up = ancestors(circuit, out.at[i, "node"])
        if not any(has_amps[n] for n in up):
            continue
        ph = out.at[i, "phase"]
        if ph == "":
            raise ScenarioError(
                f"{where} line {i}: 'phase' is empty, but node {up[0]!r} or one above it has a limit_a: "
                "name the phase (A, B, C, AB, BC, CA or ABC)"
            )
        if math.isnan(out.at[i, "voltage_v"]):
            vll = volts[up[0]]
            if math.isnan(vll):
                raise ScenarioError(
                    f"{where} line {i}: no 'voltage_v', and neither node {up[0]!r} nor one above it gives one: "
                    "amps need a voltage"
                )
            out.at[i, "voltage_v"] = vll / math.sqrt(3) if len(ph) == 1 else vll
    return out


def read_circuit(spec, base: Path, where: str, resolve) -> pd.DataFrame:
    """``site.circuit`` as a table: a CSV path (``resolve(rel)`` gives its path) or a YAML list of nodes."""
    from .io.read import read_table

    if isinstance(spec, str):
        path = resolve(spec)
        return validate_circuit(read_table(path, path.name), path.name)
    rows = []
    for item in spec:
        rows.append({key: ("" if val is None else str(val)) for key, val in item.items()})
    raw = pd.DataFrame(rows, index=pd.RangeIndex(1, len(rows) + 1)).astype(object)
    raw = raw.where(raw != "", np.nan)
    label = f"{where}: field 'site.circuit'"
    try:
        return validate_circuit(raw, label)
    except ScenarioError as exc:  # a YAML list has items, not file lines
        raise ScenarioError(
            str(exc).replace(f"{label} line ", f"{label} item ").replace("(first on line", "(first as item")
        ) from None


def _refuse_formula_ids(raw: pd.DataFrame, where: str, columns) -> None:
    """Ids that would start a spreadsheet formula are refused, as for the fleet's ids."""
    from .io.write import FORMULA_START

    for col in columns:
        if col in raw:
            bad = raw[col].map(lambda v: isinstance(v, str) and v.startswith(FORMULA_START))
            if bad.any():
                i = bad.idxmax()
                raise ScenarioError(
                    f"{where} line {i}: '{col}' = {raw.at[i, col]!r} starts with a sign that spreadsheets read as "
                    "a formula (= + - @): rename it"
                )


def check_named_stations(sessions: pd.DataFrame, chargers: pd.DataFrame, where: str) -> None:
    """Sessions that name a ``station_id`` must name a charger of chargers.csv."""
    if "station_id" not in sessions:
        return
    sid = sessions["station_id"]
    named = sid.notna() & (sid.astype(str) != "")
    unknown = named & ~sid.astype(str).isin(set(chargers["charger_id"]))
    if unknown.any():
        i = unknown.idxmax()
        raise ScenarioError(f"{where} line {i}: station_id {sid[i]!r} is not a charger_id of chargers.csv")


def parse_reassign_times(times, where: str) -> tuple:
    """``site.reassign_at`` as sorted daily clock times ``(hour, minute)``."""
    out = set()
    for k, t in enumerate(times or ()):
        text = str(t).strip()
        parts = text.split(":")
        ok = len(parts) == 2 and all(p.isdigit() for p in parts)
        h, m = (int(parts[0]), int(parts[1])) if ok else (-1, -1)
        if not (ok and 0 <= h <= 23 and 0 <= m <= 59):
            raise ScenarioError(f"{where}: field 'site.reassign_at' item {k + 1}: {t!r} is not a clock time HH:MM")
        out.add((h, m))
    return tuple(sorted(out))


def load_site_chargers(site, base: Path, where: str, resolve, sessions: pd.DataFrame, sessions_where: str, named=None):
    """``(chargers, circuit, reassign_at)`` of a scenario's ``site`` block (None, None, () without them).

    ``resolve(rel, field)`` turns a path of the YAML into a checked path. ``named``, if given, is
    ``(vehicles, trips, start, end, files)`` for :func:`check_named_chargers`.
    """
    from .io.read import read_table

    circuit = None
    if site.circuit is not None:
        circuit = read_circuit(site.circuit, base, where, lambda rel: resolve(rel, "site.circuit"))
    chargers = None
    if site.chargers:
        path = resolve(site.chargers, "site.chargers")
        raw = read_table(path, path.name)
        _refuse_formula_ids(raw, path.name, ("charger_id", "node", "connector"))
        chargers = validate_chargers(raw, path.name)
        chargers = check_chargers_on_circuit(chargers, circuit, path.name)
        check_named_stations(sessions, chargers, sessions_where)
    elif circuit is not None:
        raise ScenarioError(f"{where}: field 'site.circuit' needs site.chargers (which charger hangs from which node)")
    reassign = parse_reassign_times(site.reassign_at, where)
    if reassign and chargers is None:
        raise ScenarioError(f"{where}: field 'site.reassign_at' needs site.chargers")
    if named is not None:
        vehicles, trips, start, end, files = named
        check_named_chargers(vehicles, trips, sessions, chargers, start, end, files)
    return chargers, circuit, reassign


# --- chargers named by vehicles (their bay) and by trips (the plug-in after the trip) -------------


def _named(df: pd.DataFrame | None) -> pd.Series:
    """``charger_id`` of each row where given (text), else None."""
    index = df.index if df is not None else pd.Index([])
    if df is None or "charger_id" not in df:
        return pd.Series([None] * len(index), index=index, dtype=object)
    return pd.Series([k if isinstance(k, str) and k else None for k in df["charger_id"]], index=index, dtype=object)


def plug_in_chargers(vehicles: pd.DataFrame, trips: pd.DataFrame, sessions: pd.DataFrame, start, end) -> list:
    """Every plug-in within ``[start, end)`` that names its charger, as real-time intervals.

    A vehicle's ``charger_id`` (vehicles.csv) is the charger of all its plug-ins; a trip's
    ``charger_id`` (trips.csv) is that of the plug-in after the trip, and a session's
    ``station_id`` that of the session. A vehicle with trips is plugged in from ``start`` to its
    first departure, between a return and the next departure, and from its last return to ``end``.

    Returns
    -------
    list of tuple
        ``(charger_id, plug_in, unplug, vehicle_id, source, line)``: times tz-aware, ``source``
        ``"vehicles"``, ``"trips"`` or ``"sessions"``, ``line`` the file line that names it.
    """
    bay = _named(vehicles)

    def own(vid):
        """The vehicle's bay: (charger or None, source, line)."""
        line = vehicles.at[vid, "line"] if vid in vehicles.index and "line" in vehicles else None
        return bay.get(vid), "vehicles", int(line) if line is not None and not pd.isna(line) else 0

    out = []
    with_sessions = set(sessions["vehicle_id"]) if len(sessions) else set()
    t_named = _named(trips)
    for vid, rows in trips.sort_values("departure", kind="stable").groupby("vehicle_id", sort=False):
        if vid in with_sessions:
            continue
        t0, (named, src, line) = start, own(vid)
        for i, r in rows.iterrows():
            out.append((named, t0, min(r["departure"], end), vid, src, line))
            t0 = max(r["arrival"], start)
            named, src, line = (t_named[i], "trips", int(i)) if t_named[i] is not None else own(vid)
        out.append((named, t0, end, vid, src, line))
    with_trips = set(trips["vehicle_id"]) if len(trips) else set()
    for vid in vehicles.index:
        if vid not in with_trips and vid not in with_sessions:  # at the site the whole horizon
            out.append((*own(vid)[:1], start, end, vid, *own(vid)[1:]))
    station = sessions["station_id"] if "station_id" in sessions else pd.Series(None, index=sessions.index)
    for i, vid, a, d, sid in zip(
        sessions.index, sessions["vehicle_id"], sessions["arrival"], sessions["departure"], station, strict=True
    ):
        if isinstance(sid, str) and sid:
            out.append((sid, a, d, vid, "sessions", int(i)))
        else:
            named, src, line = own(vid)
            out.append((named, a, d, vid, src, line))
    return [o for o in out if o[0] is not None and max(o[1], start) < min(o[2], end)]


def check_named_chargers(
    vehicles: pd.DataFrame,
    trips: pd.DataFrame,
    sessions: pd.DataFrame,
    chargers: pd.DataFrame | None,
    start,
    end,
    files: dict,
) -> None:
    """Chargers named in vehicles.csv (``charger_id``) and trips.csv (``charger_id``): each one of
    chargers.csv, and never two vehicles plugged in on one charger at once (within the horizon
    ``[start, end)``). ``files`` maps ``"vehicles"``, ``"trips"``, ``"sessions"`` to file names."""
    for src, df in (("vehicles", vehicles), ("trips", trips)):
        named = _named(df)
        if not named.notna().any():
            continue
        i = named.first_valid_index()
        line = df.at[i, "line"] if src == "vehicles" else i
        if chargers is None:
            raise ScenarioError(
                f"{files[src]} line {line}: charger_id {named[i]!r} given, but the scenario has no site.chargers "
                "(chargers.csv)"
            )
        known = set(chargers["charger_id"])
        unknown = named.notna() & ~named.isin(known)
        if unknown.any():
            i = unknown.idxmax()
            line = df.at[i, "line"] if src == "vehicles" else i
            raise ScenarioError(
                f"{files[src]} line {line}: charger_id {named[i]!r} is not a charger_id of chargers.csv"
            )
    if chargers is None:
        return
    plugs = sorted(plug_in_chargers(vehicles, trips, sessions, start, end), key=lambda o: (o[0], o[1], o[2]))
    holder: dict = {}  # charger -> the plug-in that holds it longest so far
    for cur in plugs:
        prev = holder.get(cur[0])
        if prev is None or cur[2] > prev[2]:
            holder[cur[0]] = cur
        if prev is not None and max(cur[1], start) < prev[2] and prev[3] != cur[3]:
            k, a, _, vid, src, line = cur
            raise ScenarioError(
                f"{files[src]} line {line}: charger {k!r} is taken by vehicle {prev[3]!r} until "
                f"{prev[2].isoformat()} ({files[prev[4]]} line {prev[5]}), but vehicle {vid!r} is plugged in there "
                f"from {max(a, start).isoformat()}: one charger charges one vehicle at a time"
            )


def segment_chargers(sc, vids: list, segments: pd.DataFrame, stations: np.ndarray | None) -> np.ndarray | None:
    """The named charger of each vehicle and step (:attr:`gridopt.fleet.FleetPlan.stations`), completed
    with the vehicles' ``charger_id`` (every plug-in without a session ``station_id``) and the trips'
    ``charger_id`` (the plug-in after the trip, over the vehicle's own); unchanged when nothing is named.

    A plug-in segment of a vehicle with trips follows the last trip that arrived by its first step.
    """
    bay = _named(sc.vehicles)
    t_named = _named(sc.trips)
    if not bay.notna().any() and not t_named.notna().any():
        return stations
    T = sc.grid.n_steps
    out = stations.copy() if stations is not None else np.full((len(vids), T), None, dtype=object)
    idx = sc.grid.index
    with_sessions = set(sc.sessions["vehicle_id"]) if len(sc.sessions) else set()
    trips = sc.trips.sort_values("arrival", kind="stable")
    for v, a, e in zip(segments["vehicle"], segments["start"], segments["end"], strict=True):
        if e <= a or isinstance(out[v, a], str):
            continue
        vid = vids[v]
        k = bay.get(vid)
        if vid not in with_sessions and len(trips):
            back = trips[(trips["vehicle_id"] == vid) & (trips["arrival"] <= idx[a])]
            if len(back) and t_named[back.index[-1]] is not None:
                k = t_named[back.index[-1]]
        if k is not None:
            out[v, a:e] = k
    return out
