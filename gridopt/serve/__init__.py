"""``gridopt serve``: a small HTTP API for live re-planning (FastAPI, the ``serve`` extra).

:func:`gridopt.serve.app.create_app` builds the app; :mod:`gridopt.serve.state`
holds the live site and re-plans it; :mod:`gridopt.serve.cli` starts uvicorn.
See ``docs/serve.md``.
"""
