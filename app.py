"""gridopt in the browser: ``streamlit run app.py`` (binds to 127.0.0.1, see .streamlit/config.toml)."""

from pathlib import Path

import streamlit as st

# the favicon is bundled: the page fetches nothing from anywhere but this server
ICON = Path(__file__).resolve().parent / "gridopt" / "ui" / "static" / "favicon.png"
st.set_page_config(page_title="gridopt: EV charging and V2G plans", page_icon=str(ICON), layout="wide")
# a KPI card's label wraps rather than being cut ("Battery degradation [EUR]" on a narrow screen)
st.html(
    "<style>[data-testid='stMetricLabel'], [data-testid='stMetricLabel'] *"
    "{white-space: normal !important; overflow: visible !important; text-overflow: clip !important;}</style>"
)
page = st.navigation(
    [
        st.Page("gridopt/ui/pages/plan.py", title="Plan", icon=":material/ev_station:", default=True),
        st.Page("gridopt/ui/pages/grid.py", title="Grid", icon=":material/electrical_services:"),
        st.Page("gridopt/ui/pages/compare.py", title="Compare runs", icon=":material/compare_arrows:"),
        st.Page("gridopt/ui/pages/feeder.py", title="Feeder", icon=":material/lan:"),
    ]
)
page.run()
