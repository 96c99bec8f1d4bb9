"""Write the Caltech ACN network scenario: acnportal's model of the Caltech garage as gridopt chargers and circuit.

    python scenarios/build_caltech_network.py            # rebuild (needs acnportal and ../shared/data)
    python scenarios/build_caltech_network.py --verify   # rebuild into a temp dir and compare with the shipped files

The network is ``acnportal.acnsim.network.sites.caltech_acn()`` (54 EVSEs at 208 V, each across two
lines of a three-phase secondary; two pods of eight EVSEs limited to 80 A; a 150 kW delta-wye
transformer, 416.7 A per line on the 120 V wye secondary and 180.5 A per line on its 277 V delta
primary). It becomes

* ``chargers.csv``: one row per EVSE, ``phase`` from its phase angle (30 deg: ``AB``, -90: ``BC``,
  150: ``CA``), ``max_kw`` = 32 A x 208 V, ``min_kw`` = the EVSE's lowest non-zero current
  (6 A AeroVironment, 8 A ClipperCreek) x 208 V, ``node`` its pod or the secondary;
* ``circuit.csv``: ``primary`` (``delta_wye_ratio`` 4: acnportal's ``I2a = (I3a - I3c) / 4``),
  ``secondary`` (208 V line to line) below it, ``cc-pod`` and ``av-pod`` below that.

The script checks the translation: for random EVSE currents, acnportal's own constraint currents
(``ChargingNetwork.constraint_current``) equal the magnitudes of gridopt's line currents at the
matching node and line (:func:`gridopt.optimizer.circuit.unit_coefficients`).

Sessions: every real ACN-Data session at Caltech that arrived on 1, 2 or 3 October 2019 (a
Tuesday to Thursday), with its real station, arrival, departure (rounded to the minute inwards)
and delivered energy as the energy to deliver (``energy_kwh``, metered at the charger:
``charge_efficiency`` 1.0). Session ids are opaque (``acn-net-0001``); nothing else is shipped.
"""

from __future__ import annotations

import argparse
import filecmp
import math
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
OUT = HERE / "data" / "caltech_acn_network"
DAYS = ("2019-10-01", "2019-10-02", "2019-10-03")
SCENARIO_DAY = "2019-10-02"
VOLTAGE_V = 208.0
MAX_A = 32.0
PHASE_OF_ANGLE = {30: "AB", -90: "BC", 150: "CA"}
NODE_OF_CONSTRAINT = {"CC Pod": "cc-pod", "AV Pod": "av-pod"}
TZ = "America/Los_Angeles"


def network():
    from acnportal.acnsim.network.sites import caltech_acn

    return caltech_acn(basic_evse=False, voltage=VOLTAGE_V, transformer_cap=150)


def _down(limit: float) -> float:
    """A limit rounded down to 1e-6 (never above acnportal's)."""
    return math.floor(limit * 1e6) / 1e6


def chargers_and_circuit(net) -> tuple[pd.DataFrame, pd.DataFrame]:
    """gridopt's chargers.csv and circuit.csv rows for acnportal's network ``net``."""
    names = list(net.constraint_index)
    A = net.constraint_matrix
    mags = dict(zip(names, net.magnitudes, strict=True))
    pod_of = {}
    for name, node in NODE_OF_CONSTRAINT.items():
        for j in np.flatnonzero(A[names.index(name)] != 0):
            pod_of[net.station_ids[j]] = node
    rows = []
    for j, sid in enumerate(net.station_ids):
        evse = net._EVSEs[sid]
        lowest = min(r for r in evse.allowable_rates if r > 0)
        rows.append(
            {
                "charger_id": sid,
                "max_kw": round(evse.max_rate * VOLTAGE_V / 1000, 6),
                "min_kw": round(lowest * VOLTAGE_V / 1000, 6),
                "phases": 1,
                "v2g": "false",
                "connector": "J1772",
                "phase": PHASE_OF_ANGLE[int(round(net._phase_angles[j]))],
                "voltage_v": VOLTAGE_V,
                "node": pod_of.get(sid, "secondary"),
            }
        )
    circuit = pd.DataFrame(
        [
            {
                "node_id": "primary",
                "parent": "",
                "limit_a": _down(mags["Primary A"]),
                "voltage_v": "",
                "delta_wye_ratio": 4,
            },
            {
                "node_id": "secondary",
                "parent": "primary",
                "limit_a": _down(mags["Secondary A"]),
                "voltage_v": VOLTAGE_V,
                "delta_wye_ratio": "",
            },
            {
                "node_id": "cc-pod",
                "parent": "secondary",
                "limit_a": mags["CC Pod"],
                "voltage_v": "",
                "delta_wye_ratio": "",
            },
            {
                "node_id": "av-pod",
                "parent": "secondary",
                "limit_a": mags["AV Pod"],
                "voltage_v": "",
                "delta_wye_ratio": "",
            },
        ]
    )
    return pd.DataFrame(rows), circuit


#: acnportal's constraint -> (gridopt node, line index)
CONSTRAINT_LINES = {
    "CC Pod": ("cc-pod", 0),
    "AV Pod": ("av-pod", 0),
    "Secondary A": ("secondary", 0),
    "Secondary B": ("secondary", 1),
    "Secondary C": ("secondary", 2),
    "Primary A": ("primary", 0),
    "Primary B": ("primary", 1),
    "Primary C": ("primary", 2),
}


def gridopt_currents(sc, amps_by_station: np.ndarray, station_ids: list) -> dict:
    """Line current magnitudes [A] of gridopt's circuit per acnportal constraint name, shape (n_steps,).

    ``amps_by_station``: shape (n_stations, n_steps), currents in acnportal's station order.
    """
    from gridopt.optimizer.circuit import unit_coefficients

    chg = sc.chargers.reset_index(drop=True)
    row_of = {cid: i for i, cid in enumerate(chg["charger_id"])}
    out = {}
    for name, (node, line) in CONSTRAINT_LINES.items():
        total = np.zeros(amps_by_station.shape[1], complex)
        for j, sid in enumerate(station_ids):
            z = unit_coefficients(sc, chg, row_of[sid]).get(node)
            if z is not None:
                total += z[line] * amps_by_station[j] * VOLTAGE_V / 1000.0  # kW of the station times A/kW
        out[name] = np.abs(total)
    return out


def sessions_of_day(raw: pd.DataFrame, day: str, stations: set, first_id: int) -> pd.DataFrame:
    start = pd.Timestamp(day, tz=TZ)
    day_rows = raw[(raw["arrival"] >= start) & (raw["arrival"] < start + pd.Timedelta(days=1))]
    day_rows = day_rows[day_rows["station_id"].isin(stations)].sort_values(["arrival", "station_id"])
    out = pd.DataFrame(
        {
            "session_id": [f"acn-net-{first_id + i:04d}" for i in range(len(day_rows))],
            "station_id": day_rows["station_id"].to_numpy(),
            "arrival": day_rows["arrival"].dt.ceil("min").map(lambda t: t.isoformat()).to_numpy(),
            "departure": day_rows["departure"].dt.floor("min").map(lambda t: t.isoformat()).to_numpy(),
            "energy_kwh": day_rows["delivered_energy (kWh)"].round(3).to_numpy(),
        }
    )
    # one car per station at a time (gridopt refuses overlaps): the data has none, check it
    chk = out.assign(a=pd.to_datetime(out["arrival"]), d=pd.to_datetime(out["departure"])).sort_values(
        ["station_id", "a"]
    )
    prev = chk.groupby("station_id")["d"].shift()
    assert not (chk["a"] < prev).any(), f"{day}: two sessions on one station overlap"
    return out


SCENARIO = """# gridopt scenario, generated by scenarios/build_caltech_network.py: edit that script, not this file.
# Data sources and licences: scenarios/data/README.md; the circuit: docs/circuit.md
name: caltech-acn-network
description: 'The Caltech ACN garage on Wednesday 2 October 2019 with its {n} real sessions (ACN-Data: station,
  arrival, departure, delivered energy) on acnportal''s model of its network: 54 EVSEs across two lines of
  a 208 V secondary, two 80 A pods, a 150 kW delta-wye transformer. SCE TOU-EV-4 tariff (acnportal).'
currency: USD
timezone: America/Los_Angeles
start: '{day}T00:00:00-07:00'
horizon_hours: 24
step_minutes: 15
site:
  export_limit_kw: 0
  chargers: data/caltech_acn_network/chargers.csv
  circuit: data/caltech_acn_network/circuit.csv
tariff: {{tariff_file: data/workplace_acn/sce_tou_ev_4_march_2019.json, demand_charge_period: month, export_price: 0.0}}
unmet_energy_penalty_per_kwh: 10.0
fleet:
  sessions: data/caltech_acn_network/sessions_{day}.csv
  session_defaults: {{max_charge_kw: {pmax}, min_charge_kw: 0, charge_efficiency: 1.0}}
solver: {{time_limit_s: 120, mip_rel_gap: 0.001}}
"""


def build(shared: Path, out_dir: Path, yaml_path: Path) -> None:
    net = network()
    chargers, circuit = chargers_and_circuit(net)
    out_dir.mkdir(parents=True, exist_ok=True)
    chargers.to_csv(out_dir / "chargers.csv", index=False)
    circuit.to_csv(out_dir / "circuit.csv", index=False)
    raw = pd.read_csv(shared / "acn_sessions" / "caltech_2019-09-01_2019-12-31.csv.gz")
    for col in ("arrival", "departure"):
        raw[col] = pd.to_datetime(raw[col], utc=True).dt.tz_convert(TZ)
    first = 1
    counts = {}
    for day in DAYS:
        ses = sessions_of_day(raw, day, set(net.station_ids), first)
        ses.to_csv(out_dir / f"sessions_{day}.csv", index=False)
        first += len(ses)
        counts[day] = len(ses)
    pmax = round(MAX_A * VOLTAGE_V / 1000, 6)
    yaml_path.write_text(SCENARIO.format(n=counts[SCENARIO_DAY], day=SCENARIO_DAY, pmax=pmax))


def check_translation(yaml_path: Path) -> float:
    """Largest difference between acnportal's constraint currents and gridopt's line currents [A] on random currents."""
    sys.path.insert(0, str(HERE.parent))
    import gridopt

    sc = gridopt.load_scenario(yaml_path)
    net = network()
    rng = np.random.default_rng(13)
    amps = rng.uniform(0, MAX_A, (len(net.station_ids), 50)) * (rng.random((len(net.station_ids), 50)) < 0.6)
    theirs = np.abs(net.constraint_current(amps))
    ours = gridopt_currents(sc, amps, list(net.station_ids))
    worst = 0.0
    for i, name in enumerate(net.constraint_index):
        worst = max(worst, float(np.max(np.abs(theirs[i] - ours[name]))))
    return worst


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=HERE.parent.parent / "shared" / "data")
    ap.add_argument("--verify", action="store_true", help="rebuild into a temp dir and compare with the shipped files")
    args = ap.parse_args(argv)
    if args.verify:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            build(args.shared, tmp / "data", tmp / "caltech_acn_network.yaml")
            same = filecmp.cmp(tmp / "caltech_acn_network.yaml", HERE / "caltech_acn_network.yaml", shallow=False)
            for f in sorted((tmp / "data").iterdir()):
                same &= filecmp.cmp(f, OUT / f.name, shallow=False)
            print("identical" if same else "DIFFERENT")
            return 0 if same else 1
    build(args.shared, OUT, HERE / "caltech_acn_network.yaml")
    worst = check_translation(HERE / "caltech_acn_network.yaml")
    print(
        f"wrote {OUT} and caltech_acn_network.yaml; acnportal vs gridopt line currents differ by at most {worst:.2e} A"
    )
    assert worst < 1e-6 * MAX_A * 54, worst
    assert math.isfinite(worst)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
