"""KPIs of a plan for people: labels, units, which way is better, formatting, comparisons.

Values come from a result's ``summary`` (see :func:`gridopt.analysis.kpis`);
nothing is recomputed here.

>>> fmt_value(KPI_BY_KEY["peak_import_kw"], 1234.56)
'1,235 kW'
>>> fmt_delta(KPI_BY_KEY["total_cost"], -10.0)
'-10.00'
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class KPI:
    """One key figure of a plan.

    Attributes
    ----------
    key : str
        Key in ``result.summary``.
    label : str
    unit : str
        ``"cost"`` (the scenario's currency), ``"cost/kWh"`` (the currency per
        kWh), ``"kW"``, ``"kWh"``, ``"kg"`` or ``"%"``.
    better : str or None
        ``"lower"``, ``"higher"`` or None when neither is better.
    help : str
        One sentence for a tooltip.
    """

    key: str
    label: str
    unit: str
    better: str | None
    help: str


KPIS: tuple[KPI, ...] = (
    KPI(
        "total_cost",
        "Total cost",
        "cost",
        "lower",
        "Energy + demand charge + battery degradation + unmet-energy penalty.",
    ),
    KPI(
        "cost_per_kwh_delivered",
        "Cost per kWh",
        "cost/kWh",
        "lower",
        "Total cost divided by the net energy stored in the vehicles' batteries (charged after losses, minus V2G); "
        "it includes the site's own load, so compare it between plans of one scenario.",
    ),
    KPI("energy_cost", "Energy cost", "cost", "lower", "Import bought minus export sold, at each step's price."),
    KPI(
        "demand_charge_cost", "Demand charge", "cost", "lower", "Demand charge per kW times the horizon's peak import."
    ),
    KPI("degradation_cost", "Battery degradation", "cost", "lower", "Degradation cost of every kWh discharged (V2G)."),
    KPI(
        "unmet_energy_cost",
        "Unmet penalty",
        "cost",
        "lower",
        "Penalty for energy that vehicles needed but did not get.",
    ),
    KPI("peak_import_kw", "Peak import", "kW", "lower", "Highest grid import over the horizon (step average)."),
    KPI(
        "pv_self_consumption",
        "PV self-use",
        "%",
        "higher",
        "Share of the available PV energy that served the site's own load and charging.",
    ),
    KPI(
        "energy_delivered_kwh", "Delivered", "kWh", None, "Energy delivered to the vehicles (drawn from the site, AC)."
    ),
    KPI("unmet_energy_kwh", "Unmet energy", "kWh", "lower", "Energy vehicles needed at departure but did not get."),
    KPI("v2g_energy_kwh", "V2G energy", "kWh", None, "Energy the vehicles discharged to the site (AC)."),
)
#: Grid KPIs (the Grid view's row; a card only where the summary has a value).
GRID_KPIS: tuple[KPI, ...] = (
    KPI(
        "emissions_kg",
        "Emissions",
        "kg",
        "lower",
        "CO2 of the site's net import: import times carbon_kg_per_kwh in each step (export credited only with "
        "carbon_credit_export).",
    ),
    KPI(
        "grid_peak_kw",
        "Grid peak",
        "kW",
        "lower",
        "Highest net_load_kw + site import - export (step average); the site's own net import without net_load_kw.",
    ),
    KPI(
        "grid_peak_reduction_kw",
        "Peak reduction",
        "kW",
        "higher",
        "Grid peak of uncontrolled charging minus the plan's (below zero: the plan raises the grid's peak).",
    ),
    KPI(
        "renewable_surplus_absorbed_kwh",
        "Surplus used",
        "kWh",
        "higher",
        "Renewable surplus absorbed by EV charging: min(EV charging, renewable_surplus_kw) per step, summed.",
    ),
    KPI(
        "renewable_surplus_share",
        "Surplus share",
        "%",
        "higher",
        "Share of the EV charging energy that came from the renewable surplus.",
    ),
    KPI(
        "net_load_std_kw",
        "Load std",
        "kW",
        "lower",
        "Standard deviation of net_load_kw + site import - export over the steps: lower is flatter.",
    ),
    KPI(
        "tracking_error_kwh",
        "Off target",
        "kWh",
        "lower",
        "Sum over the steps with a target of |site import - export - target_kw| times the step length.",
    ),
    KPI(
        "export_request_shortfall_kwh",
        "Export short",
        "kWh",
        "lower",
        "Export requested by export_request events but not delivered.",
    ),
)
#: The fleet's flexibility left around the plan, within its guaranteed band (the Grid view's envelope section).
FLEX_KPIS: tuple[KPI, ...] = (
    KPI(
        "flexibility_up_kwh",
        "Flexibility up",
        "kWh",
        None,
        "Energy the fleet could have drawn on top of the plan, step by step, within its guaranteed band "
        "(per-step headroom summed, not one block that can be called at once).",
    ),
    KPI(
        "flexibility_down_kwh",
        "Flexibility down",
        "kWh",
        None,
        "Energy the fleet could have drawn less (or fed back) than the plan, step by step, within its guaranteed "
        "band (per-step headroom summed).",
    ),
)
KPI_BY_KEY = {k.key: k for k in KPIS + GRID_KPIS + FLEX_KPIS}
#: Extra rows for comparisons.
COMPARE_EXTRA: tuple[KPI, ...] = (
    KPI("import_kwh", "Grid import", "kWh", None, "Energy imported over the horizon."),
    KPI("export_kwh", "Grid export", "kWh", None, "Energy exported over the horizon."),
    KPI(
        "energy_to_batteries_kwh",
        "Stored in batteries",
        "kWh",
        None,
        "Net energy into the vehicles' batteries: charged after losses, minus what V2G took out.",
    ),
    KPI("mip_gap", "Proven gap", "%", "lower", "How far the plan's cost may be above the best possible."),
    KPI("solve_seconds", "Solve time", "s", "lower", "Wall time of the solver."),
)


def kpi_value(summary: dict, key: str) -> float | None:
    """A KPI from a summary, as a plain float (percentages as 0..100); None if absent."""
    v = summary.get(key)
    if v is None:
        return None
    v = float(v)
    if key in ("pv_self_consumption", "mip_gap", "renewable_surplus_share"):
        v *= 100.0
    return v


#: Units shown without a unit (the scenario's currency, alone or per kWh; the label says which).
_MONEY = ("cost", "cost/kWh")


def _decimals(unit: str) -> int:
    return {"cost": 2, "cost/kWh": 3, "kW": 1, "kWh": 1, "kg": 1, "%": 1, "s": 1}.get(unit, 2)


def _digits(kpi: KPI, value: float) -> int:
    """Decimals for a value: fewer for large ones (``12,345`` kWh, not ``12,345.0``)."""
    d = _decimals(kpi.unit)
    return 0 if abs(value) >= (10_000 if kpi.unit == "cost" else 1_000) else d


def fmt_number(kpi: KPI, value: float | None) -> str:
    """The value without its unit, e.g. ``'1,235'`` for 1234.56 kW; a dash when there is none."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float) and math.isinf(value):
        return "∞"
    return f"{value:,.{_digits(kpi, value)}f}"


def fmt_value(kpi: KPI, value: float | None) -> str:
    """``'1,235 kW'``, ``'345.6 kW'``, ``'2,764.88'`` (cost); a dash when the value does not exist."""
    text = fmt_number(kpi, value)
    return text if kpi.unit in _MONEY or text in ("–", "∞") else f"{text} {kpi.unit}"


def label_with_unit(kpi: KPI) -> str:
    """``'Peak grid import [kW]'``; costs carry no unit (the scenario's currency)."""
    return kpi.label if kpi.unit in _MONEY else f"{kpi.label} [{kpi.unit}]"


def fmt_delta(kpi: KPI, delta: float | None) -> str:
    """Signed difference, e.g. ``'-1,203.10'`` or ``'+12.0 kW'``; empty when there is none."""
    if delta is None or not math.isfinite(delta):
        return ""
    if rounds_to_zero(kpi, delta):
        return "0"
    text = f"{delta:+,.{_digits(kpi, delta)}f}"
    unit = "pp" if kpi.unit == "%" else kpi.unit
    return text if kpi.unit in _MONEY else f"{text} {unit}"


def rounds_to_zero(kpi: KPI, d: float | None) -> bool:
    """Whether a difference shows as zero at the KPI's precision."""
    return d is not None and abs(d) < 0.5 * 10 ** -_decimals(kpi.unit)


def delta(summary: dict, reference: dict, key: str) -> float | None:
    """``summary[key] - reference[key]`` (None if either is missing)."""
    a, b = kpi_value(summary, key), kpi_value(reference, key)
    if a is None or b is None or not (math.isfinite(a) and math.isfinite(b)):
        return None
    return a - b


def verdict(kpi: KPI, d: float | None) -> str:
    """``'better'``, ``'worse'`` or ``'same'`` for a difference, by the KPI's direction."""
    if d is None or kpi.better is None or rounds_to_zero(kpi, d):
        return "same"
    good = d < 0 if kpi.better == "lower" else d > 0
    return "better" if good else "worse"


def fmt_gap(gap: float | None) -> str:
    """A relative gap for people: ``'0.35%'``, ``'below 0.01%'``, ``'unknown'``."""
    if gap is None or not math.isfinite(gap):
        return "unknown"
    if gap < 1e-4:
        return "below 0.01%"
    return f"{100 * gap:.2f}%"


def status_text(summary: dict, seconds: float | None = None) -> str:
    """One sentence on how the solve went, e.g. ``'Optimal plan (proven gap 0.01%) in 3.2 s.'``.

    ``seconds`` is the whole run's wall time; the solver's own time by default.
    """
    gap = summary.get("mip_gap")
    secs = seconds if seconds is not None else (summary.get("solve_seconds", 0.0) or 0.0)
    gap_txt = fmt_gap(gap)
    if summary.get("status") == "optimal":
        return f"Optimal plan (proven gap {gap_txt}) in {secs:.1f} s."
    return (
        f"The solver stopped at its time limit ({secs:.1f} s in all) with a feasible plan: its cost is at most "
        f"{gap_txt} above the best possible (proven gap). Raise the time limit for a better plan."
    )


def compare_table(summaries: dict[str, dict], reference: str, kpis=KPIS + COMPARE_EXTRA) -> pd.DataFrame:
    """KPIs of several runs side by side with differences from ``reference``.

    Parameters
    ----------
    summaries : dict
        Run label -> ``result.summary``; the first is shown first.
    reference : str
        Label of the run the others are compared with.

    Returns
    -------
    DataFrame
        One row per KPI (index: label), columns ``unit`` then, per run, its
        value and, for the others, ``Δ <label>`` (difference from the
        reference) as numbers; :func:`compare_verdicts` says which are better.
    """
    ref = summaries[reference]
    rows = []
    for k in kpis:
        row = {"KPI": k.label, "unit": "cost" if k.unit == "cost" else k.unit}
        for label, s in summaries.items():
            row[label] = kpi_value(s, k.key)
            if label != reference:
                row[f"Δ {label}"] = delta(s, ref, k.key)
        rows.append(row)
    return pd.DataFrame(rows).set_index("KPI")


def compare_verdicts(summaries: dict[str, dict], reference: str, kpis=KPIS + COMPARE_EXTRA) -> pd.DataFrame:
    """``'better'``/``'worse'``/``'same'`` for each Δ column of :func:`compare_table`."""
    ref = summaries[reference]
    out = {}
    for label, s in summaries.items():
        if label != reference:
            out[f"Δ {label}"] = [verdict(k, delta(s, ref, k.key)) for k in kpis]
    return pd.DataFrame(out, index=[k.label for k in kpis])
