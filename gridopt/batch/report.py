"""Charts of a sweep: each KPI against each varied parameter (plotly; HTML, and PNG where possible).

:func:`sweep_figures` turns a results table into figures (no files, used by the
app too); :func:`sweep_report` writes them as ``DIR/report/report.html`` (one
self-contained page: plotly.js inline, nothing loaded from the network) and,
when kaleido and a Chrome or Chromium are installed (Debian: ``apt-get install
chromium``), one PNG per chart in ``DIR/report/png/``. kaleido never downloads a
browser here: without one the report is HTML only, and says so.

A chart puts one numeric parameter on the x axis, colours the lines by a second
parameter and splits panels by a third (when it has at most
:data:`MAX_FACETS` values); the KPI is averaged over any further parameters
(the title says so). Only cases with a plan (``optimal`` or ``time_limit``) are
drawn.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

#: The KPIs drawn, with their axis titles, when the table has them.
KPIS: dict[str, str] = {
    "total_cost": "total cost",
    "peak_import_kw": "peak import [kW]",
    "savings.total_cost": "saving vs uncontrolled",
    "savings.total_cost_percent": "saving vs uncontrolled [%]",
    "cost_per_kwh_delivered": "cost per kWh stored",
    "v2g_energy_kwh": "V2G energy [kWh]",
    "unmet_energy_kwh": "unmet energy [kWh]",
    "emissions_kg": "emissions [kg CO2]",
    "grid_peak_kw": "grid peak [kW]",
}
#: Statuses that have a plan.
PLAN_STATUSES = ("optimal", "time_limit")
#: Most panels side by side.
MAX_FACETS = 4
#: Bookkeeping columns that are never parameters.
NOT_PARAMETERS = ("case", "case_id", "case_key", "status", "message", "seed")


@dataclass(frozen=True)
class Report:
    """What :func:`sweep_report` wrote.

    Attributes
    ----------
    files : list of Path
        ``report.html`` and any PNGs.
    note : str
        Why there are no PNGs, or ``""``.
    """

    files: list
    note: str


def parameters_of(df: pd.DataFrame, manifest: dict | None = None) -> list[str]:
    """The varied parameters of a results table (from the manifest, else the columns before ``status``)."""
    if manifest and manifest.get("parameters"):
        names = [p for p in manifest["parameters"] if p in df.columns]
    else:
        cols = list(df.columns)
        names = cols[cols.index("case_key") + 1 : cols.index("status")] if {"case_key", "status"} <= set(cols) else []
    return [p for p in names if p not in NOT_PARAMETERS and df[p].nunique(dropna=False) > 1]


def _numeric(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)


def _currency(df: pd.DataFrame) -> str:
    cur = df["currency"].dropna().unique() if "currency" in df else []
    return f" [{cur[0]}]" if len(cur) == 1 else ""


def sweep_figures(df: pd.DataFrame, params: list[str] | None = None, kpis: list[str] | None = None) -> list:
    """``(name, figure)`` for each KPI against each numeric parameter (bars for text parameters).

    Parameters
    ----------
    df : DataFrame
        A sweep's results table (:func:`gridopt.batch.load_results`).
    params : list of str, optional
        The varied parameters (default :func:`parameters_of`).
    kpis : list of str, optional
        Columns to draw (default: those of :data:`KPIS` the table has with values).
    """
    import plotly.express as px

    params = parameters_of(df) if params is None else params
    ok = df[df["status"].isin(PLAN_STATUSES)] if "status" in df else df
    if kpis is None:
        kpis = [k for k in KPIS if k in ok and ok[k].notna().any()]
    cur = _currency(df)
    figs = []
    xs = [p for p in params if _numeric(ok[p])] or params[:1]
    for x in xs:
        others = [p for p in params if p != x]
        color = others[0] if others else None
        facet = others[1] if len(others) > 1 and ok[others[1]].nunique() <= MAX_FACETS else None
        keys = [k for k in (x, color, facet) if k]
        rest = [p for p in others if p not in keys]
        for y in kpis:
            data = ok[keys + [y]].copy()
            for k in (color, facet):
                if k:
                    data[k] = data[k].astype(str)
            data = data.groupby(keys, dropna=False, sort=True)[y].mean().reset_index()
            title = KPIS.get(y, y) + (cur if "cost" in y and "percent" not in y else "")
            note = f" (mean over {', '.join(rest)})" if rest else ""
            kwargs = dict(x=x, y=y, color=color, facet_col=facet, labels={y: title, x: x})
            if _numeric(ok[x]):
                fig = px.line(data.sort_values(x), markers=True, **kwargs)
            else:
                fig = px.bar(data, barmode="group", **kwargs)
            fig.update_layout(
                title=f"{KPIS.get(y, y)} vs {x}{note}",
                template="plotly_white",
                height=420,
                margin=dict(l=60, r=20, t=60, b=50),
            )
            figs.append((f"{_slug(y)}_vs_{_slug(x)}", fig))
    return figs


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_")


def _write_pngs(figs: list, folder: Path) -> tuple[list[Path], str]:
    """PNGs with kaleido and a local Chrome/Chromium (one browser for all); ``([], why)`` when not possible."""
    try:
        import kaleido  # noqa: F401
        import plotly.io as pio
    except ImportError:
        return [], "PNG charts need kaleido (pip install kaleido) and Chromium; wrote HTML only"
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{name}.png" for name, _ in figs]
    try:
        pio.write_images([f for _, f in figs], paths, width=900, height=420, scale=1.5)
    except Exception as exc:  # noqa: BLE001 - no browser (kaleido would have to download one): HTML only
        for p in paths:
            p.unlink(missing_ok=True)
        why = " ".join(str(exc).split())[:160]
        return [], f"no PNG charts (kaleido found no Chrome or Chromium: {why}); wrote HTML only"
    return paths, ""


def sweep_report(out_dir, *, png: bool = True, kpis: list[str] | None = None) -> Report:
    """Write ``DIR/report/report.html`` (and PNGs) of a sweep's results.

    Parameters
    ----------
    out_dir : path-like
        The sweep's folder.
    png : bool
        Also write PNGs (needs kaleido and a local Chrome or Chromium).
    kpis : list of str, optional
        Columns to draw (default :data:`KPIS`).
    """
    from .journal import MANIFEST, load_results

    out = Path(out_dir)
    df = load_results(out)
    manifest = json.loads((out / MANIFEST).read_text()) if (out / MANIFEST).is_file() else {}
    params = parameters_of(df, manifest)
    figs = sweep_figures(df, params, kpis)
    folder = out / "report"
    folder.mkdir(parents=True, exist_ok=True)
    counts = df["status"].value_counts().to_dict() if "status" in df else {}
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(str(manifest.get('sweep', 'sweep')))}</title>",
        "<style>body{font-family:Arial,sans-serif;margin:24px;max-width:1100px} td,th{padding:2px 8px}</style>",
        "</head><body>",
        f"<h1>Sweep {html.escape(str(manifest.get('sweep', '')))}</h1>",
        f"<p>{html.escape(str(manifest.get('description', '')))}</p>",
        f"<p>{len(df)} cases: "
        + ", ".join(f"{n} {html.escape(str(s))}" for s, n in sorted(counts.items()))
        + f". Parameters: {html.escape(', '.join(params) or 'none')}.</p>",
    ]
    failed = df[~df["status"].isin(PLAN_STATUSES)] if "status" in df else df.iloc[:0]
    if len(failed):
        rows = "".join(
            f"<tr><td>{r.case_id}</td><td>{html.escape(str(r.status))}</td><td>{html.escape(str(r.message))}</td></tr>"
            for r in failed.head(50).itertuples()
        )
        parts.append(
            f"<h2>Cases without a plan</h2><table><tr><th>case</th><th>status</th><th>message</th></tr>{rows}</table>"
        )
    for i, (name, fig) in enumerate(figs):
        parts.append(f"<h3 id='{name}'>{html.escape(fig.layout.title.text or name)}</h3>")
        parts.append(fig.to_html(full_html=False, include_plotlyjs=(i == 0), config={"displaylogo": False}))
    parts.append("</body></html>")
    page = folder / "report.html"
    page.write_text("\n".join(parts), encoding="utf-8")
    files = [page]
    note = ""
    if png and figs:
        pngs, note = _write_pngs(figs, folder / "png")
        files += pngs
    return Report(files, note)
