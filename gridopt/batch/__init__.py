"""Batch studies: parameter sweeps over scenarios on Dask, with a tidy results table.

>>> import gridopt                                                              # doctest: +SKIP
>>> run = gridopt.sweep("scenarios/sweeps/depot_limits_v2g_weeks.yaml", "results/sweep")  # doctest: +SKIP
>>> run.results.groupby("v2g_share")["savings.total_cost"].mean()              # doctest: +SKIP
>>> gridopt.sweep_report("results/sweep")                                      # doctest: +SKIP

:mod:`~gridopt.batch.spec` reads a sweep file and expands it into cases,
:mod:`~gridopt.batch.task` runs one case (a Dask task), :mod:`~gridopt.batch.runner`
runs them on a ``LocalCluster`` or a scheduler and keeps the journal,
:mod:`~gridopt.batch.journal` rebuilds ``results.parquet``, and
:mod:`~gridopt.batch.report` draws the charts. Dask, pyarrow and tqdm come with
the ``scale`` extra (``pip install 'gridopt[scale]'``); they are imported only
when a sweep runs.
"""

from __future__ import annotations

from .journal import load_results
from .spec import Case, Sweep, expand, load_sweep

__all__ = ["Case", "Sweep", "expand", "load_results", "load_sweep", "sweep", "sweep_report"]


def sweep(spec, out, **kwargs):
    """Run a sweep: see :func:`gridopt.batch.runner.sweep`."""
    from .runner import sweep as _sweep

    return _sweep(spec, out, **kwargs)


def sweep_report(out_dir, **kwargs):
    """Charts of a sweep's results: see :func:`gridopt.batch.report.sweep_report`."""
    from .report import sweep_report as _report

    return _report(out_dir, **kwargs)
