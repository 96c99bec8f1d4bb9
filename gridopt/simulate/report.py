"""Tables and the Markdown report of a simulation.

:func:`comparison_table` has one row per policy with :data:`COMPARISON_COLUMNS`;
:func:`daily_table` one row per policy and local day; :func:`robustness_table`
what each robustness option buys against the plain rolling horizon;
:func:`markdown_report` puts them together.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .engine import SimulationResult

#: Columns of :func:`comparison_table`, in order. Costs in the scenario's currency,
#: powers [kW], energies [kWh], times [s].
COMPARISON_COLUMNS = [
    "policy",
    "description",
    "total_cost",
    "cost_vs_perfect_pct",
    "energy_cost",
    "demand_charge_cost",
    "degradation_cost",
    "unmet_energy_cost",
    "peak_import_kw",
    "energy_needed_kwh",
    "energy_delivered_kwh",
    "v2g_energy_kwh",
    "unmet_energy_kwh",
    "unmet_events",
    "import_limit_violation_steps",
    "solves",
    "solve_median_s",
    "solve_max_s",
    "solve_total_s",
    "replan_median_s",
    "replan_max_s",
    "site_guard_steps",
    "fallback_steps",
]
DAILY_COLUMNS = [
    "policy",
    "day",
    "energy_cost",
    "peak_import_kw",
    "energy_delivered_kwh",
    "unmet_energy_kwh",
    "unmet_events",
    "day_cost",
]
ROBUSTNESS_COLUMNS = [
    "policy",
    "description",
    "unmet_energy_kwh",
    "unmet_avoided_kwh",
    "total_cost",
    "extra_cost_without_penalty",
    "extra_cost_per_kwh_avoided",
]


def comparison_table(res: SimulationResult) -> pd.DataFrame:
    """One row per policy: costs, peak, energy delivered vs needed, unmet, solver runs (:data:`COMPARISON_COLUMNS`)."""
    rows = []
    perfect = res.outcomes.get("perfect")
    ref = perfect.kpis["total_cost"] if perfect is not None else math.nan
    for name, out in res.outcomes.items():
        k = out.kpis
        row = {c: k.get(c) for c in COMPARISON_COLUMNS}
        row["policy"] = name
        row["description"] = out.spec.description
        row["cost_vs_perfect_pct"] = 100.0 * (k["total_cost"] - ref) / abs(ref) if ref and not math.isnan(ref) else None
        rows.append(row)
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)


def daily_table(res: SimulationResult) -> pd.DataFrame:
    """Per policy and local day: energy cost, peak import, energy delivered, unmet energy (by due time).

    ``day_cost`` = energy cost + unmet energy at its penalty + degradation of
    that day (the demand charge is on the whole period's peak and is not split).
    """
    sc = res.scenario
    dt = sc.grid.dt_h
    day = pd.Series(sc.grid.index.strftime("%Y-%m-%d"), index=sc.grid.index)
    rows = []
    for name, out in res.outcomes.items():
        s = out.site
        energy = (s["import_price"] * s["grid_import_kw"] - s["export_price"] * s["grid_export_kw"]) * dt
        degr = sc.battery_degradation_cost_per_kwh * s["ev_discharge_kw"] * dt
        g = pd.DataFrame(
            {
                "day": day.to_numpy(),
                "energy_cost": energy.to_numpy(),
                "degradation": degr.to_numpy(),
                "peak_import_kw": s["grid_import_kw"].to_numpy(),
                "energy_delivered_kwh": (s["ev_charge_kw"] * dt).to_numpy(),
            }
        ).groupby("day")
        per = g.agg(
            energy_cost=("energy_cost", "sum"),
            degradation=("degradation", "sum"),
            peak_import_kw=("peak_import_kw", "max"),
            energy_delivered_kwh=("energy_delivered_kwh", "sum"),
        )
        u = out.unmet
        if len(u):
            uday = pd.DatetimeIndex(pd.to_datetime(u["time"], utc=True)).tz_convert(sc.timezone).strftime("%Y-%m-%d")
            ug = pd.DataFrame({"day": uday, "kwh": u["unmet_kwh"].to_numpy(float)}).groupby("day")["kwh"]
            per["unmet_energy_kwh"] = ug.sum().reindex(per.index).fillna(0.0)
            per["unmet_events"] = (ug.apply(lambda x: int((x > 1e-6).sum()))).reindex(per.index).fillna(0).astype(int)
        else:
            per["unmet_energy_kwh"] = 0.0
            per["unmet_events"] = 0
        per["day_cost"] = (
            per["energy_cost"] + per["degradation"] + sc.unmet_energy_penalty_per_kwh * per["unmet_energy_kwh"]
        )
        per = per.reset_index()
        per.insert(0, "policy", name)
        rows.append(per[DAILY_COLUMNS])
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=DAILY_COLUMNS)


def robustness_table(res: SimulationResult) -> pd.DataFrame:
    """What each rolling-horizon variant buys against the plain ``rolling``: unmet avoided and its price.

    ``extra_cost_without_penalty`` is the change of energy + demand +
    degradation cost (what the margin costs the site); divided by the unmet
    energy avoided it is the price of each kWh of need served.
    """
    base = res.outcomes.get("rolling")
    rows = []
    if base is None:
        return pd.DataFrame(columns=ROBUSTNESS_COLUMNS)

    def site_cost(k):
        return k["energy_cost"] + k["demand_charge_cost"] + k["degradation_cost"]

    for name, out in res.outcomes.items():
        if out.spec.kind != "rolling":
            continue
        k = out.kpis
        avoided = base.kpis["unmet_energy_kwh"] - k["unmet_energy_kwh"]
        extra = site_cost(k) - site_cost(base.kpis)
        rows.append(
            {
                "policy": name,
                "description": out.spec.description,
                "unmet_energy_kwh": k["unmet_energy_kwh"],
                "unmet_avoided_kwh": avoided,
                "total_cost": k["total_cost"],
                "extra_cost_without_penalty": extra,
                "extra_cost_per_kwh_avoided": extra / avoided if avoided > 1e-6 else None,
            }
        )
    return pd.DataFrame(rows, columns=ROBUSTNESS_COLUMNS)


# ---------------------------------------------------------------------------
# Markdown
# ---------------------------------------------------------------------------


def _fmt(v, digits=2) -> str:
    if v is None or (isinstance(v, float) and (math.isnan(v))):
        return ""
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    if isinstance(v, (float, np.floating)):
        return f"{v:,.{digits}f}"
    return str(v)


def _table(df: pd.DataFrame, cols: list, headers: list, digits: dict | None = None) -> str:
    digits = digits or {}
    lines = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---" if i == 0 else "---:" for i in range(len(cols))) + "|",
    ]
    for _, r in df.iterrows():
        lines.append("| " + " | ".join(_fmt(r[c], digits.get(c, 2)) for c in cols) + " |")
    return "\n".join(lines)


def markdown_report(res: SimulationResult, command: str | None = None) -> str:
    """The report: settings, the comparison, robustness, days, solver runs, definitions."""
    info = res.info
    sc = res.scenario
    comp = comparison_table(res)
    cur = ""
    out = [f"# Rolling-horizon simulation: {info['scenario']}", ""]
    out.append(
        f"Real period {info['start']} to {info['end']} ({sc.grid.n_steps} steps of {info['step_minutes']} min), "
        f"{info['events']} real {info['kind']} of {info['vehicles']} vehicles from `{info['actual']}`. "
        f"Re-plan every {info['replan_minutes']} min"
        f"{' and on every plug-in and unplug' if info.get('replan_on_events') else ''} over "
        f"{info['lookahead_hours']:g} h ahead; forecasts: "
        f"{info['forecast']}."
        + (
            " **Told exactly**: every vehicle's real departure and need were given at plug-in (ACN-Sim's assumption)."
            if info.get("told") == "exact"
            else ""
        )
    )
    if command:
        out += ["", "```", command, "```"]
    out += ["", "## Comparison", ""]
    cols = [
        "policy",
        "total_cost",
        "cost_vs_perfect_pct",
        "energy_cost",
        "demand_charge_cost",
        "degradation_cost",
        "unmet_energy_cost",
        "peak_import_kw",
        "energy_delivered_kwh",
        "unmet_energy_kwh",
        "unmet_events",
        "import_limit_violation_steps",
    ]
    heads = [
        "policy",
        f"total cost{cur}",
        "vs perfect %",
        "energy",
        "demand",
        "degradation",
        "unmet penalty",
        "peak kW",
        "delivered kWh",
        "unmet kWh",
        "unmet events",
        "steps over limit",
    ]
    out.append(_table(comp, cols, heads, {"cost_vs_perfect_pct": 1, "peak_import_kw": 1, "energy_delivered_kwh": 1}))
    out += [
        "",
        f"Energy needed by the real sessions/trips: {info['energy_needed_kwh']:,.1f} kWh at the charger. "
        "Costs as in `gridopt run`: energy, demand charge on the period's realised peak import "
        f"({sc.demand_charge_per_kw:g} per kW), degradation ({sc.battery_degradation_cost_per_kwh:g} per kWh "
        f"discharged) and unmet energy ({sc.unmet_energy_penalty_per_kwh:g} per kWh), unmet energy counted "
        "against the real needs at the real departures.",
        "",
        "Policies:",
        "",
    ]
    for _, r in comp.iterrows():
        out.append(f"- `{r['policy']}`: {r['description']}")
    rob = robustness_table(res)
    if len(rob) > 1:
        out += ["", "## What the robustness options buy", ""]
        out.append(
            _table(
                rob,
                [
                    "policy",
                    "unmet_energy_kwh",
                    "unmet_avoided_kwh",
                    "total_cost",
                    "extra_cost_without_penalty",
                    "extra_cost_per_kwh_avoided",
                ],
                ["policy", "unmet kWh", "unmet avoided kWh", "total cost", "site cost added", "added per kWh avoided"],
            )
        )
        out += [
            "",
            "Site cost added = change of energy + demand + degradation cost against `rolling` (what the option "
            "costs before the unmet penalty).",
        ]
    out += ["", "## Solver runs", ""]
    solved = comp[comp["solves"] > 0]
    out.append(
        _table(
            solved,
            [
                "policy",
                "solves",
                "solve_median_s",
                "solve_max_s",
                "solve_total_s",
                "replan_median_s",
                "replan_max_s",
                "fallback_steps",
                "site_guard_steps",
            ],
            [
                "policy",
                "solves",
                "median s",
                "max s",
                "total s",
                "re-plan median s",
                "re-plan max s",
                "fallback steps",
                "site-guard steps",
            ],
            {"solve_median_s": 3, "solve_max_s": 3, "solve_total_s": 1, "replan_median_s": 3, "replan_max_s": 3},
        )
    )
    out += [
        "",
        "Seconds per solve are HiGHS's; a re-plan also builds the forecasts and the planning scenario. "
        "Re-plans are skipped while no vehicle is plugged in. Fallback steps: steps run by earliest deadline "
        "first because a solve found no plan; site-guard steps: steps in which charging was scaled down because "
        "a planned discharge did not happen.",
    ]
    daily = daily_table(res)
    if daily["day"].nunique() > 1:
        out += [
            "",
            "## Per day",
            "",
            "Cost of each day without the demand charge (energy + degradation + unmet penalty), and its peak import [kW]:",
            "",
        ]
        cost = daily.pivot(index="day", columns="policy", values="day_cost")[list(res.outcomes)]
        peak = daily.pivot(index="day", columns="policy", values="peak_import_kw")[list(res.outcomes)]
        tab = pd.DataFrame({"day": cost.index})
        heads = ["day"]
        for p in res.outcomes:
            tab[p] = [f"{c:,.2f} / {k:,.0f}" for c, k in zip(cost[p], peak[p], strict=True)]
            heads.append(p)
        out.append(_table(tab, list(tab.columns), heads))
    out.append("")
    return "\n".join(out)
