"""The Streamlit app's pages and caching (``streamlit run app.py``).

Only this package imports Streamlit; the core never imports it. Pages are thin:
they read widgets, call gridopt (:mod:`gridopt.edit`, :func:`gridopt.optimize`,
:mod:`gridopt.plots`, :mod:`gridopt.report`, :mod:`gridopt.io`) and show what
comes back.
"""
