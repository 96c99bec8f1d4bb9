"""The Grid page: what a plan does for the grid (issue 9).

For one run of this session (by default the one the Plan page shows): the grid
KPIs against the like-for-like uncontrolled baseline, and the figures whose
signal the scenario has (:func:`gridopt.plots.grid_figures`): the grid's load
with and without the fleet, the renewable surplus absorbed, emissions, the
tracking of a target, the site's exchange against its limits and events, and
the fleet's flexibility envelope. Figures are built once per run and kept in
the session; the envelope is cached on the scenario's content.
"""

from __future__ import annotations

import streamlit as st

import gridopt
from gridopt import plots, report
from gridopt.errors import GridoptError
from gridopt.scenario import Scenario, step_inputs
from gridopt.ui import state
from gridopt.ui.kpis import kpi_cards
from gridopt.ui.plan import PLOT_CONFIG, caveats

PLAN = "gridopt/ui/pages/plan.py"
#: Subheader and caption of each figure of :func:`gridopt.plots.grid_figures`.
SECTIONS = {
    "grid_load": (
        "Grid load with and without the fleet",
        "`net_load_kw` is the grid's load without this site (the feeder or region); adding the site's net import "
        "(import − export) gives its load with the site, for the plan and for uncontrolled charging. The grid peak "
        "and the load std above are the highest value and the standard deviation of the line with the plan.",
    ),
    "renewable": (
        "Renewable surplus absorbed",
        "Renewable supply on the grid that would otherwise be curtailed (`renewable_surplus_kw`), and the part of it "
        "the vehicles' charging took up in each step: the smaller of the two.",
    ),
    "emissions": (
        "Emissions",
        "The site's emission rate (net import × `carbon_kg_per_kwh`; export credited only with "
        "`carbon_credit_export`) and, below, the emissions since the start.",
    ),
    "tracking": (
        "Tracking the target",
        "The site's net import against the requested profile `target_kw` (a utility's or aggregator's dispatch "
        "signal; below zero = export), and the deviation from it.",
    ),
    "exchange": (
        "Utility events and grid limits",
        "The site's net import against its import limit in each step (after `import_cap` events and limit columns), "
        "its export limit and the export asked for by `export_request` events (both below zero).",
    ),
    "envelope": (
        "Flexibility envelope",
        "What the fleet can offer the grid, without any vehicle-level data: every profile of the fleet's net power "
        "inside the shaded band (and its energy inside the lower band) can be delivered with every requirement met. "
        "The dashed outer band sums each vehicle's own limits: what they could do one by one, with no guarantee. "
        "The plan is an optimum, not bound to the guarantee: it may leave the shaded band.",
    ),
}


@st.cache_data(show_spinner=False, max_entries=32)
def _envelope(fingerprint: str, _sc: Scenario):
    """The flexibility envelope of a scenario (cached on its content), or the message why there is none."""
    try:
        return gridopt.grid.flexibility(_sc), None
    except GridoptError as exc:
        return None, str(exc)
    except Exception as exc:  # never a traceback in the page
        return None, state.unexpected("The flexibility envelope", exc)


def figures(run: state.Run) -> tuple[dict, object, str | None]:
    """The run's grid figures, its envelope and the envelope's error, built once per run in this session."""
    cache = st.session_state.setdefault("_grid_figures", {})
    alive = {r.number for r in state.runs()}
    for number in [n for n in cache if n not in alive]:
        del cache[number]
    if run.number not in cache:
        env, err = _envelope(run.fingerprint, run.scenario) if len(run.scenario.vehicles) else (None, None)
        cache[run.number] = (plots.grid_figures(run.result, env), env, err)
    return cache[run.number]


def _choose_run(done: list[state.Run]) -> state.Run:
    numbers = [r.number for r in done]
    shown = st.session_state.get("shown_run")
    default = numbers.index(shown) if shown in numbers else len(numbers) - 1
    by_number = {r.number: r for r in done}
    number = st.selectbox(
        "Run",
        numbers,
        index=default,
        format_func=lambda n: by_number[n].label,
        key="grid_run",
        width=420,
        help="The kept runs; first the one the Plan page shows.",
    )
    return by_number[number]


def _facts(sc: Scenario) -> str:
    """What the scenario brings for the grid: signals, events, grid terms."""
    st_ = step_inputs(sc)
    signals = [
        name
        for name, present in (
            ("net_load_kw", st_.has_net_load),
            ("renewable_surplus_kw", st_.renewable_surplus_kw is not None),
            ("carbon_kg_per_kwh", st_.carbon_kg_per_kwh is not None),
            ("target_kw", st_.target_kw is not None),
        )
        if present
    ]
    g = sc.grid_terms
    cur = f" {sc.currency}" if sc.currency else ""
    terms = [
        text
        for value, text in (
            (g.carbon_price_per_kg, f"carbon {g.carbon_price_per_kg:g}{cur}/kg"),
            (g.peak_weight_per_kw, f"grid peak {g.peak_weight_per_kw:g}{cur}/kW"),
            (g.valley_fill_weight_per_kw, f"valley fill {g.valley_fill_weight_per_kw:g}{cur}/kW"),
            (g.tracking_penalty_per_kwh, f"tracking {g.tracking_penalty_per_kwh:g}{cur}/kWh"),
            (g.renewable_use_bonus_per_kwh, f"renewable bonus {g.renewable_use_bonus_per_kwh:g}{cur}/kWh"),
        )
        if value
    ]
    if g.exact_tracking:
        terms.append("exact tracking")
    if g.emissions_cap_kg is not None:
        terms.append(f"emissions at most {g.emissions_cap_kg:,.0f} kg")
    if g.grid_peak_cap_kw is not None:
        terms.append(f"grid peak at most {g.grid_peak_cap_kw:,.0f} kW")
    parts = [
        "**Signals:** " + (", ".join(f"`{s}`" for s in signals) if signals else "none (no `grid:` signals file)"),
        "**Events:** " + ("; ".join(plots.event_label(e, sc.currency) for e in sc.events) if sc.events else "none"),
        "**Grid terms:** " + (", ".join(terms) if terms else "none (the plan minimises the site's cost only)"),
    ]
    return " · ".join(parts)


def _money(summary: dict) -> str | None:
    """The grid terms of the plan in the scenario's currency, those that are not zero."""
    cur = f" {summary['currency']}" if summary.get("currency") else ""
    names = (
        ("carbon_cost", "carbon cost"),
        ("grid_peak_cost", "grid peak cost"),
        ("valley_fill_cost", "valley fill cost"),
        ("tracking_cost", "tracking cost"),
        ("renewable_bonus", "renewable bonus"),
        ("export_request_payment", "export requests paid"),
        ("export_request_penalty", "export request penalty"),
        ("demand_response_cost", "demand response extra"),
    )
    parts = [f"{label} {summary[k]:,.2f}{cur}" for k, label in names if abs(summary.get(k) or 0.0) >= 0.005]
    if not parts:
        return None
    return (
        "In the plan: " + " · ".join(parts) + ". Carbon, peak, valley and tracking costs and the renewable bonus are "
        "weights in the objective, not money the site pays; the event payments and penalties are in its total cost."
    )


def _grid_kpis(run: state.Run) -> None:
    s = run.result.summary
    st_ = step_inputs(run.scenario)
    kpis = [
        k
        for k in report.GRID_KPIS
        if report.kpi_value(s, k.key) is not None
        and (k.key != "export_request_shortfall_kwh" or len(st_.request_steps))
    ]
    st.subheader("For the grid")
    kpi_cards(s, kpis, baseline=bool(s.get("baseline")))
    notes = []
    notes += caveats(s, grid=True)
    if not st_.has_net_load:
        notes.append("No `net_load_kw` signal: the grid peak and the load std are those of the site's own net import.")
    money = _money(s)
    if money:
        notes.append(money)
    st.caption("  \n".join(notes))


def _flex_kpis(summary: dict) -> None:
    """Cards for the flexibility the plan leaves, against uncontrolled charging (when the summary has them)."""
    kpis = [k for k in report.FLEX_KPIS if report.kpi_value(summary, k.key) is not None]
    if kpis:
        kpi_cards(summary, kpis, baseline=bool(summary.get("baseline")))


#: Label of each Pareto trade.
TRADES = {"cost:carbon": "Cost vs emissions", "cost:peak": "Cost vs grid peak"}


def _front(sc: Scenario, summary: dict, trade: str, points: int) -> tuple:
    """A Pareto front of ``sc``: (figure, table, note, None), or (None, None, None, message)."""
    from gridopt.grid.pareto import pareto_figure

    try:
        front = gridopt.pareto(sc, trade, points, baseline=False)
    except GridoptError as exc:
        return None, None, None, str(exc)
    except Exception as exc:  # never a traceback in the page
        return None, None, None, state.unexpected("The Pareto front", exc)
    fig = plots.mark_plan_on_front(pareto_figure(front), summary, trade)
    cur = f" [{sc.currency}]" if sc.currency else ""
    kpi_label = {"emissions_kg": "emissions [kg]", "grid_peak_kw": "grid peak [kW]"}[front.kpi]
    table = front.table[
        ["point", "cap_applied", front.kpi, "cost", "total_cost", "unmet_energy_kwh", "dominated", "status", "gap"]
    ].rename(
        columns={
            "cap_applied": f"cap [{front.unit}]",
            front.kpi: kpi_label,
            "cost": f"cost{cur}",
            "total_cost": f"total cost{cur}",
            "unmet_energy_kwh": "unmet [kWh]",
        }
    )
    return fig, table, front.note, None


def _pareto(run: state.Run) -> None:
    """The Pareto front section: computed on request (each point is a solve), kept per run, trade and points."""
    sc = run.scenario
    trades = [t for t in TRADES if t != "cost:carbon" or step_inputs(sc).carbon_kg_per_kwh is not None]
    st.subheader("Pareto front")
    row = st.container(horizontal=True, wrap=True, vertical_alignment="bottom", gap="medium")
    trade = row.radio(
        "Trade-off",
        trades,
        format_func=TRADES.get,
        horizontal=True,
        key="pareto_trade",
        help="Cost against emissions needs a carbon_kg_per_kwh signal; the grid peak is net_load_kw + site import - "
        "export (the site alone without net_load_kw).",
    )
    points = int(row.number_input("Points", min_value=2, max_value=15, value=5, step=1, key="pareto_points", width=140))
    clicked = row.button("Compute the front", icon=":material/insights:", key="pareto_run")
    cache = st.session_state.setdefault("_pareto", {})
    alive = {r.number for r in state.runs()}
    for k in [k for k in cache if k[0] not in alive]:
        del cache[k]
    key = (run.number, trade, points)
    if clicked and key not in cache:
        with st.spinner(
            f"Solving {points} plans and the least {'emissions' if trade == 'cost:carbon' else 'grid peak'} "
            f"(each within {sc.solver.time_limit_s:g} s)…",
            show_time=True,
        ):
            cache[key] = _front(sc, run.result.summary, trade, points)
    cur = f" ({sc.currency})" if sc.currency else ""
    explain = (
        "Each point is a checked plan, by epsilon-constraint: point 0 is the cheapest plan with the traded weight at 0, "
        "the last the cheapest plan at the least emissions (grid peak) any plan reaches with every need served as "
        "well, and the points between cap the emissions (peak) at levels evenly spaced between. Cost is the total "
        f"cost plus the scenario's other weighted grid terms{cur}; grey points are dominated. The star is this run's "
        "plan, counted the same way."
    )
    if key not in cache:
        st.caption(explain + " Each point is a full solve: press **Compute the front**.")
        return
    fig, table, note, error = cache[key]
    if error:
        st.error(f"**No Pareto front.** {error}", icon=":material/error:")
        return
    st.plotly_chart(fig, config=PLOT_CONFIG, key="grid_pareto")
    if note:
        st.info(f"Only one point: {note}.", icon=":material/info:")
    st.dataframe(table, hide_index=True, width="stretch")
    st.caption(explain + " `gridopt pareto` writes the same front with every point's files.")


def render() -> None:
    """Draw the Grid page."""
    state.keep_widget_state()
    state.collect_job()
    done = [r for r in state.runs() if r.result is not None]
    if not done:
        st.title("Grid")
        st.info(
            "Run a plan on the **Plan** page first: this page shows what it does for the grid (the grid's load with "
            "and without the fleet, renewable surplus absorbed, emissions, the tracking of a target, utility events) "
            "and the fleet's flexibility envelope. The ready scenarios named grid-… bring grid signals and events.",
            icon=":material/info:",
        )
        st.page_link(PLAN, label="Go to the Plan page", icon=":material/arrow_back:")
        return
    title = st.empty()  # the run chosen below names the title
    run = _choose_run(done)
    sc = run.scenario
    title.title(f"Grid: {sc.name}")
    st.markdown(_facts(sc))
    _grid_kpis(run)

    figs, env, env_error = figures(run)
    for name, fig in figs.items():
        title, caption = SECTIONS[name]
        st.subheader(title)
        if name == "envelope":
            _flex_kpis(run.result.summary)
        st.plotly_chart(fig, config=PLOT_CONFIG, key=f"grid_{name}")
        if name == "envelope":
            caption += (
                f" Tightness {100 * env.tightness:.0f}% (the guaranteed energy range over the outer one, summed over "
                f"the steps; power: {100 * env.power_tightness:.0f}%), {env.n_vehicles} vehicles."
            )
            n = env.best_effort_requirements
            if n:
                caption += (
                    f" {n} {'requirement is' if n == 1 else 'requirements are'} out of physical reach; the band "
                    f"keeps the best effort ({env.best_effort_shortfall_kwh:,.1f} kWh short)."
                )
        st.caption(caption)
    if env_error:
        st.warning(f"**No flexibility envelope.** {env_error}", icon=":material/warning:")
    if len(run.scenario.vehicles):
        _pareto(run)
    if len(figs) <= 1:
        st.info(
            "This scenario has no grid signals or utility events, so only its flexibility envelope is shown. Add a "
            "`grid:` block (net load, renewable surplus, carbon, target) or `events` to see more; the ready "
            "scenarios named grid-… have them.",
            icon=":material/info:",
        )
