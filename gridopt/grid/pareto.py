"""Pareto fronts by epsilon-constraint: cost against emissions, or cost against the grid's peak.

:func:`pareto` answers "what does each kg of CO2 (each kW off the grid's peak)
cost?" with a series of checked plans:

* **point 0** is the cost-optimal plan: the scenario with the traded term's
  weight set to 0 (``carbon_price_per_kg`` for ``cost:carbon``,
  ``peak_weight_per_kw`` for ``cost:peak``). Its emissions (grid peak) ``v_0``
  are the front's loose end.
* **the least value** ``v_min`` (lexicographic, stage 1): the least emissions
  ``sum_t c(t) (import - [credit] export) dt_h`` (the ``emissions_kg`` KPI), or
  the least grid peak ``max_t (net_load_kw + import - export)`` (``grid_peak_kw``),
  found by HiGHS on the scenario's own MILP (:func:`gridopt.optimizer.matrix.build_matrix`,
  every rule of the scenario kept) with that quantity as the objective and every
  requirement's shortfall at most the cost-optimal plan's, so the cleanest plan
  serves every vehicle at least as well as the cheapest one. This is not a plan
  of the front: stage 2 is.
* **the last point** (stage 2) is the cheapest plan whose emissions (peak) are at
  most ``v_min`` plus a small tolerance (:data:`CAP_REL_TOL`), and **the points
  between** cap the emissions (peak) at evenly spaced levels
  ``v_0 - k / (n - 1) (v_0 - v_min)`` and minimise the cost. The caps are the
  scenario's epsilon-constraint hooks ``grid.emissions_cap_kg`` and
  ``grid.grid_peak_cap_kw``.

Every point is solved by :func:`gridopt.optimize` (the default fast path, with
its proven gap) and so re-checked by :func:`gridopt.check.check_schedule`
(including the cap) before it is kept. **Cost** on the front is the point's
``objective`` with the traded weight at 0: ``total_cost`` plus the scenario's
other weighted grid terms (equal to ``total_cost`` when there are none).

**Monotone.** A point is solved with the cap ``min(level, v of the point
before)`` (``cap_applied``): the point before is feasible for its level anyway, so
the optimum is the same, and the traded quantity never rises from point to
point. The caps shrink the feasible set, so the optimal cost never falls; a
plan found within the relative gap ``g`` may cost up to ``g`` times the cost less
than the point before (the ``gap`` column says how far each point may be from
its optimum). A point whose solve stopped at the time limit keeps its plan
(feasible and checked) with status ``time_limit`` and its gap.

**Dominated points.** The cost-optimal plan is often not unique: among plans of
the same cost, the solver returns one, whatever its emissions. Point 0 (and any
point whose cap is looser than needed) may then be as cheap as a later point
with less: ``dominated`` marks it (the later point's lower emissions or peak
come free), and the plot draws it grey.
"""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import GridoptError, InfeasibleError, OutputError, ScenarioError, SolverError
from ..scenario import Scenario, SolverOptions, step_inputs

#: The trades and, for each: the KPI on the second axis, its cap in the ``grid:`` block,
#: the weight set to 0 for the cost axis, and the KPI's unit.
TRADES = {
    "cost:carbon": ("emissions_kg", "emissions_cap_kg", "carbon_price_per_kg", "kg"),
    "cost:peak": ("grid_peak_kw", "grid_peak_cap_kw", "peak_weight_per_kw", "kW"),
}
#: The least value's cap is ``v_min + CAP_REL_TOL * max(1, |v_0|, |v_min|)`` (solver tolerances);
#: multiplied by 10 up to :data:`CAP_RETRIES` times if that is reported infeasible.
CAP_REL_TOL = 1e-6
CAP_RETRIES = 3
#: Shortfall allowed above the cost-optimal plan's, per requirement, when finding the least value [kWh].
UNMET_TOL_KWH = 1e-6
#: Most points on a front.
MAX_POINTS = 101
#: Columns of ``pareto.csv`` / :attr:`ParetoFront.table`.
COLUMNS = [
    "point",
    "cap",
    "cap_applied",
    "cost",
    "total_cost",
    "emissions_kg",
    "grid_peak_kw",
    "unmet_energy_kwh",
    "dominated",
    "status",
    "gap",
    "method",
    "solve_seconds",
]


@dataclass(frozen=True)
class ParetoFront:
    """A cost trade-off front: one checked plan per point.

    Attributes
    ----------
    trade : str
        ``"cost:carbon"`` or ``"cost:peak"``.
    table : DataFrame
        One row per point (:data:`COLUMNS`): ``point`` (0 = cost-optimal),
        ``cap`` (the level [kg or kW], NaN for point 0), ``cap_applied`` (the cap
        solved with, see the module docstring), ``cost`` (the objective with the
        traded weight at 0) and ``total_cost`` [currency], ``emissions_kg`` [kg]
        (NaN without a carbon signal), ``grid_peak_kw`` [kW],
        ``unmet_energy_kwh`` [kWh], ``dominated`` (another point is as cheap,
        within its gap, and lower in the traded KPI: the cost-optimal plan is
        not unique and the cheaper KPI is free), ``status`` (``optimal`` or ``time_limit``),
        ``gap`` (proven relative gap, NaN when unknown), ``method``,
        ``solve_seconds`` [s].
    results : tuple of Result
        The plan of each point (``gridopt.optimize``'s result, checked); each
        summary carries ``pareto`` (trade, point, cap, cap_applied).
    least : float
        The least emissions [kg] or grid peak [kW] any plan reaches (stage 1,
        with every requirement served at least as well as at point 0).
    least_bound : float
        HiGHS's proven lower bound on it (equal to ``least`` when solved to optimality).
    currency : str or None
    note : str or None
        Why the front has fewer points than asked (no trade-off to make).
    """

    trade: str
    table: pd.DataFrame
    results: tuple
    least: float
    least_bound: float
    currency: str | None = None
    note: str | None = None

    @property
    def kpi(self) -> str:
        """The second axis' KPI: ``emissions_kg`` or ``grid_peak_kw``."""
        return TRADES[self.trade][0]

    @property
    def unit(self) -> str:
        """Unit of the second axis and of ``cap``: ``kg`` or ``kW``."""
        return TRADES[self.trade][3]


def _check_args(sc: Scenario, trade: str, points) -> int:
    if trade not in TRADES:
        raise ScenarioError(f"pareto: --trade must be one of {', '.join(TRADES)}, not {trade!r}")
    if isinstance(points, bool) or not isinstance(points, (int, np.integer)) or not 2 <= points <= MAX_POINTS:
        raise ScenarioError(f"pareto: --points must be a whole number from 2 to {MAX_POINTS}, not {points!r}")
    if trade == "cost:carbon" and step_inputs(sc).carbon_kg_per_kwh is None:
        raise ScenarioError(
            f"{sc.name}: pareto cost:carbon needs the carbon_kg_per_kwh column in grid.signals "
            "(the marginal emission rate, kg/kWh)"
        )
    return int(points)


def _with_terms(sc: Scenario, **changes) -> Scenario:
    """``sc`` with grid weights or caps changed (built parts swapped in: the values are checked numbers)."""
    return dataclasses.replace(sc, grid_terms=dataclasses.replace(sc.grid_terms, **changes))


def least_value(sc: Scenario, trade: str, unmet_max_kwh: np.ndarray, options: SolverOptions) -> tuple[float, float]:
    """Least emissions [kg] or grid peak [kW] of any plan of ``sc`` (stage 1 of :func:`pareto`).

    The scenario's MILP (every rule kept) with the objective replaced by
    ``sum_t c(t) dt_h (import - [credit] export)`` (``cost:carbon``) or by the
    grid peak column (``cost:peak``), and each requirement's shortfall bounded by
    ``unmet_max_kwh``; solved by the fast path
    (:func:`gridopt.optimizer.fast.solve_fast`: LP bound, repair, branch and bound
    if needed) within ``options.time_limit_s`` to ``options.mip_rel_gap``.

    Parameters
    ----------
    sc : Scenario
    trade : {"cost:carbon", "cost:peak"}
    unmet_max_kwh : ndarray, shape (n_requirements,)
        Most shortfall allowed per requirement (the fleet plan's order) [kWh].
    options : SolverOptions

    Returns
    -------
    (float, float)
        The least value found (a plan reaches it) and the proven lower bound
        (``-inf`` when none was proven in time).

    Raises
    ------
    SolverError
        No plan within the time limit.
    InfeasibleError
        The scenario admits no plan.
    """
    from ..fleet import build_fleet_plan
    from ..optimizer.fast import solve_fast
    from ..optimizer.solve import Status

    plan = build_fleet_plan(sc)
    if trade == "cost:peak":  # the model gets its grid peak column (with any cap the scenario has)
        sc = _with_terms(sc, peak_weight_per_kw=1.0)
    c_dt = step_inputs(sc).carbon_kg_per_kwh * sc.grid.dt_h if trade == "cost:carbon" else None
    credit = sc.grid_terms.carbon_credit_export
    unmet_max = np.asarray(unmet_max_kwh, float) + UNMET_TOL_KWH

    def objective(mm) -> None:
        mm.cost[:] = 0.0
        if c_dt is not None:
            mm.cost[mm.col_imp] = c_dt
            mm.cost[mm.col_exp] = -c_dt if credit else 0.0
        else:
            mm.cost[mm.col_gpk] = 1.0
        mm.col_ub[mm.col_u] = np.minimum(mm.col_ub[mm.col_u], unmet_max)

    fast = solve_fast(sc, plan, options, objective=objective)
    rep = fast.report
    if rep.status == Status.INFEASIBLE:
        raise InfeasibleError(f"{sc.name}: pareto: no plan keeps the scenario's rules (run it for the diagnosis)")
    if fast.values is None:
        raise SolverError(
            f"{sc.name}: pareto: no plan with the least {TRADES[trade][0]} was found within "
            f"{options.time_limit_s:g} s; raise solver.time_limit_s"
        )
    value = float(rep.objective)
    bound = float(rep.lower_bound) if math.isfinite(rep.lower_bound) else -math.inf
    return value, min(bound, value)


def _row(k: int, cap: float, applied: float, res) -> dict:
    s = res.summary
    gap = s.get("mip_gap")
    return {
        "point": k,
        "cap": cap,
        "cap_applied": applied,
        "cost": float(s["objective"]),
        "total_cost": float(s["total_cost"]),
        "emissions_kg": float(s["emissions_kg"]) if s.get("emissions_kg") is not None else math.nan,
        "grid_peak_kw": float(s["grid_peak_kw"]),
        "unmet_energy_kwh": float(s["unmet_energy_kwh"]),
        "status": s["status"],
        "gap": float(gap) if gap is not None and math.isfinite(gap) else math.nan,
        "method": s["method"],
        "solve_seconds": float(s["solve_seconds"]),
    }


def pareto(
    sc: Scenario,
    trade: str = "cost:carbon",
    points: int = 7,
    options: SolverOptions | None = None,
    *,
    baseline: bool = True,
    progress=None,
) -> ParetoFront:
    """The cost / emissions or cost / grid-peak front of a scenario by epsilon-constraint.

    Parameters
    ----------
    sc : Scenario
        From :func:`gridopt.load_scenario`; ``cost:carbon`` needs ``carbon_kg_per_kwh``
        in ``grid.signals``; ``cost:peak`` uses ``net_load_kw`` if given (else the
        site's own net import is the grid's load).
    trade : {"cost:carbon", "cost:peak"}
    points : int
        Number of points, 2..:data:`MAX_POINTS`: the cost-optimal plan, the
        cheapest plan at the least emissions (peak), and ``points - 2`` caps evenly
        spaced between.
    options : SolverOptions, optional
        Per solve (each point and the least-value stage); the scenario's ``solver`` block by default.
    baseline : bool
        Give every point's summary the uncontrolled baseline too (as ``gridopt run``).
    progress : callable, optional
        Called with each row (dict) as its point is solved.

    Returns
    -------
    ParetoFront
        With fewer points than asked (and a ``note``) only when the cost-optimal
        plan already has the least emissions (peak): there is no trade-off.

    Raises
    ------
    ScenarioError
        Unknown trade, a bad number of points, ``cost:carbon`` without a carbon signal.
    InfeasibleError, SolverError
        As :func:`gridopt.optimize`, for any point.
    """
    from ..optimizer import optimize

    n = _check_args(sc, trade, points)
    options = options or sc.solver
    kpi, cap_field, weight_field, unit = TRADES[trade]
    free = _with_terms(sc, **{weight_field: 0.0})
    rows, results = [], []

    def keep(k, cap, applied, res):
        res.summary["pareto"] = {"trade": trade, "point": k, "cap": cap, "cap_applied": applied, "unit": unit}
        row = _row(k, cap, applied, res)
        rows.append(row)
        results.append(res)
        if progress is not None:
            progress(row)
        return float(res.summary[kpi])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res0 = optimize(free, options, baseline=baseline)
    v0 = keep(0, math.nan, math.nan, res0)
    least, bound = least_value(free, trade, res0.unmet["unmet_kwh"].to_numpy(float), options)
    scale = max(1.0, abs(v0), abs(least))
    tol = CAP_REL_TOL * scale
    note = None
    if v0 <= least + tol:
        note = f"no trade-off: the cost-optimal plan already has the least {kpi} ({v0:.6g} {unit})"
        n = 1
    previous = v0
    for k in range(1, n):
        last = k == n - 1
        level = least + tol if last else v0 - k / (n - 1) * (v0 - least)
        applied = min(level, previous)
        for attempt in range(CAP_RETRIES + 1):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    res = optimize(_with_terms(free, **{cap_field: applied}), options, baseline=baseline)
                break
            except InfeasibleError:
                # the least value's plan meets the cap within HiGHS's tolerances: widen by 10x and retry
                if not last or attempt == CAP_RETRIES:
                    raise
                level = applied = applied + tol * 9 * 10**attempt
        previous = keep(k, level, applied, res)
    table = pd.DataFrame(rows, columns=[c for c in COLUMNS if c != "dominated"])
    table.insert(COLUMNS.index("dominated"), "dominated", dominated(table, kpi, options.mip_rel_gap, tol))
    return ParetoFront(
        trade=trade,
        table=table,
        results=tuple(results),
        least=least,
        least_bound=bound,
        currency=sc.currency,
        note=note,
    )


def dominated(table: pd.DataFrame, kpi: str, gap: float, kpi_tol: float) -> np.ndarray:
    """Per point: whether another point costs at most as much (within the larger of its proven gap and
    ``gap``, times ``max(|cost|, 1)``) and has a lower ``kpi`` (by more than ``kpi_tol``)."""
    cost = table["cost"].to_numpy(float)
    v = table[kpi].to_numpy(float)
    g = np.maximum(table["gap"].fillna(gap).to_numpy(float), gap)
    tol = g * np.maximum(np.abs(cost), 1.0) + 1e-9
    cheaper = cost[None, :] <= cost[:, None] + tol[:, None]
    lower = v[None, :] < v[:, None] - kpi_tol
    return (cheaper & lower).any(axis=1)


def pareto_figure(front: ParetoFront):
    """The front as a plotly figure: cost [currency] against emissions [kg] or grid peak [kW].

    Points that stopped at the time limit are drawn open; hovering shows the
    point, its cap, status and gap.
    """
    import plotly.graph_objects as go

    t = front.table
    cur = f" [{front.currency}]" if front.currency else ""
    what = {"emissions_kg": "Emissions [kg CO2]", "grid_peak_kw": "Grid peak [kW]"}[front.kpi]
    done = t["status"] == "optimal"
    colors = np.where(t["dominated"], "#a3acb6", "#2a9d8f")
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=t[front.kpi], y=t["cost"], mode="lines", line=dict(color="#2a9d8f"), hoverinfo="skip"))
    for mask, name, symbol in ((done, "optimal", "circle"), (~done, "time limit (see gap)", "circle-open")):
        if not mask.any():
            continue
        s = t[mask]
        text = [
            f"point {r.point}<br>cap {'none' if math.isnan(r.cap) else f'{r.cap:,.2f} {front.unit}'}"
            f"<br>status {r.status}, gap {'unknown' if math.isnan(r.gap) else f'{r.gap:.1e}'}"
            f"<br>total cost {r.total_cost:,.2f}{'<br>dominated: a point as cheap is lower' if r.dominated else ''}"
            for r in s.itertuples()
        ]
        fig.add_trace(
            go.Scatter(
                x=s[front.kpi],
                y=s["cost"],
                mode="markers+text",
                name=name,
                marker=dict(size=10, symbol=symbol, color=list(colors[mask.to_numpy()])),
                text=[str(p) for p in s["point"]],
                textposition="top right",
                hovertext=text,
                hoverinfo="text+x+y",
            )
        )
    title = {"cost:carbon": "Cost against emissions", "cost:peak": "Cost against the grid's peak"}[front.trade]
    fig.update_layout(
        title=dict(text=f"{title} ({len(t)} points, epsilon-constraint)", x=0, xanchor="left"),
        xaxis_title=what,
        yaxis_title=f"Cost{cur}",
        showlegend=bool((~done).any()),
        height=480,
        margin=dict(l=10, r=10, t=60, b=10),
        font=dict(family="Source Sans Pro, Arial, sans-serif", size=13),
    )
    return fig


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_pareto(front: ParetoFront, out_dir: str | os.PathLike) -> list[Path]:
    """Write a front: ``pareto.csv``, ``pareto.html`` (``pareto.png`` if kaleido can draw it),
    and each point's ``schedule.csv``, ``site.csv``, ``summary.json`` under ``points/<k>/``.

    Point folders are written as ``gridopt run`` writes its folder
    (:func:`gridopt.write_results`); point folders of an earlier, longer front
    that hold only result files are removed.

    Returns
    -------
    list of Path
        The files written (the point folders' files included).

    Raises
    ------
    OutputError
        ``out_dir`` is a file or cannot be written.
    """
    from ..io import write_results
    from ..io.write import RESULT_FILES

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} exists and is not a folder")
    written: list[Path] = []
    try:
        (out / "points").mkdir(parents=True, exist_ok=True)
        for k, res in enumerate(front.results):
            written += write_results(res, out / "points" / str(k))
        for old in (out / "points").iterdir():
            if old.is_dir() and old.name.isdigit() and int(old.name) >= len(front.results):
                if {p.name for p in old.iterdir()} <= set(RESULT_FILES):
                    shutil.rmtree(old)
                    lock = out / "points" / f".{old.name}.lock"
                    lock.unlink(missing_ok=True)
        table = front.table.copy()
        _write_text(out / "pareto.csv", table.to_csv(index=False, float_format="%.10g"))
        written.append(out / "pareto.csv")
        fig = pareto_figure(front)
        _write_text(out / "pareto.html", fig.to_html(include_plotlyjs=True, full_html=True))
        written.append(out / "pareto.html")
    except GridoptError:
        raise
    except OSError as exc:
        raise OutputError(f"cannot write to {out}: {exc.strerror or exc}") from None
    png = png_of(fig, out / "pareto.png")
    if png is not None:
        written.append(png)
    return written


def png_of(fig, path: Path) -> Path | None:
    """Write ``fig`` as PNG with kaleido if it is installed and works; None otherwise (HTML only)."""
    try:
        import kaleido  # noqa: F401
    except ImportError:
        return None
    try:
        fig.write_image(str(path), width=900, height=480)
    except Exception:  # noqa: BLE001 - kaleido needs a browser; without one the HTML is the figure
        return None
    return path


def summary_lines(front: ParetoFront, name: str) -> list[str]:
    """A terminal table of the front."""
    t = front.table
    cur = f" {front.currency}" if front.currency else ""
    head = {"cost:carbon": "emissions", "cost:peak": "grid peak"}[front.trade]
    lines = [
        f"{name}: Pareto front cost against {head}, {len(t)} points (least {head} any plan reaches: "
        f"{front.least:,.2f} {front.unit})",
        f"  {'point':>5}  {'cap':>12}  {'cost' + cur:>14}  {head:>12}  status",
    ]
    for r in t.itertuples():
        cap = "none" if math.isnan(r.cap) else f"{r.cap:,.2f}"
        gap = "" if r.status == "optimal" else f" (gap {'unknown' if math.isnan(r.gap) else f'{r.gap:.2e}'})"
        lines.append(
            f"  {r.point:>5}  {cap:>12}  {r.cost:>14,.2f}  {getattr(r, front.kpi):>10,.2f} {front.unit:<2}  "
            f"{r.status}{gap}{', dominated' if r.dominated else ''}"
        )
    if front.note:
        lines.append(f"  note: {front.note}")
    return lines


def run_pareto_cli(
    scenario_path,
    out_dir,
    *,
    trade: str = "cost:carbon",
    points: int = 7,
    time_limit_s: float | None = None,
    gap: float | None = None,
    quiet: bool = False,
) -> int:
    """``gridopt pareto``: compute a front and write it; return the exit code (0).

    Raises :class:`~gridopt.errors.GridoptError` (scenario, infeasible, solver,
    output) for the caller to print on one line.
    """
    from ..io import load_scenario

    sc = load_scenario(scenario_path)
    for w in sc.warnings:
        print(f"warning: {w}", file=sys.stderr)
    _check_args(sc, trade, points)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():  # refused before solving, as gridopt run does (exit 2)
        raise ScenarioError(f"--out {out} exists and is not a folder")
    opts = sc.solver
    if time_limit_s is not None or gap is not None:
        opts = SolverOptions(
            time_limit_s=time_limit_s if time_limit_s is not None else opts.time_limit_s,
            mip_rel_gap=gap if gap is not None else opts.mip_rel_gap,
        )
        if not (opts.time_limit_s > 0 and math.isfinite(opts.time_limit_s) and 0 <= opts.mip_rel_gap <= 1):
            raise ScenarioError("--time-limit must be > 0 and --gap within 0..1")
    t0 = time.monotonic()

    def progress(row):
        if not quiet:
            print(f"  point {row['point']} solved ({row['status']}, {time.monotonic() - t0:.1f} s)", file=sys.stderr)

    front = pareto(sc, trade, points, opts, progress=progress)
    written = write_pareto(front, out)
    if not quiet:
        for line in summary_lines(front, sc.name):
            print(line)
        png = " and pareto.png" if any(p.name == "pareto.png" for p in written) else " (no PNG: kaleido not available)"
        print(f"  wrote {out / 'pareto.csv'}, pareto.html{png}, points/<k>/summary.json")
    return 0


__all__ = [
    "COLUMNS",
    "TRADES",
    "ParetoFront",
    "least_value",
    "pareto",
    "pareto_figure",
    "run_pareto_cli",
    "summary_lines",
    "write_pareto",
]
