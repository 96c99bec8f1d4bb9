"""Caltech ACN network: gridopt's plans with and without the circuit, loaded into acnportal's network.

    python benchmarks/caltech_network.py

For each shipped day (scenarios/data/caltech_acn_network/) and tariff (as shipped, with the demand
charge; and energy prices only), prints the plan's cost and the largest pod and secondary-line
current as a share of its limit, from acnportal's own ``constraint_current``. Figures, not times:
docs/circuit.md quotes them.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from test_caltech_network import DAYS, evse_currents, load_day  # noqa: E402

import gridopt  # noqa: E402


def main() -> None:
    from acnportal.acnsim.network.sites import caltech_acn

    net = caltech_acn(basic_evse=False, voltage=208, transformer_cap=150)
    tmp = Path(tempfile.mkdtemp())
    print("| day | tariff | with the circuit | without |\n|---|---|---|---|")
    for day in DAYS:
        for demand in (True, False):
            sc = load_day(day, tmp)
            if not demand:
                sc = sc.with_built(demand_charge_per_kw=0.0)
            cells = []
            for s in (sc, sc.with_built(circuit=None)):
                res = gridopt.optimize(s, baseline=False, flexibility=False)
                cur = np.abs(net.constraint_current(evse_currents(res, list(net.station_ids))))
                share = cur.max(axis=1) / net.magnitudes
                cells.append(
                    f"pods {100 * share[:2].max():.0f} %, secondary {100 * share[2:5].max():.0f} %, "
                    f"primary {100 * share[5:].max():.0f} %, {res.summary['objective']:.2f} USD"
                )
            print(f"| {day} | {'TOU + demand charge' if demand else 'TOU only'} | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    main()
