"""gridopt in the browser: ``streamlit run app.py`` (binds to 127.0.0.1, see .streamlit/config.toml)."""

import streamlit as st

st.set_page_config(page_title="gridopt: EV charging and V2G plans", page_icon=":material/ev_station:", layout="wide")
page = st.navigation(
    [
        st.Page("gridopt/ui/pages/plan.py", title="Plan", icon=":material/ev_station:", default=True),
        st.Page("gridopt/ui/pages/grid.py", title="Grid", icon=":material/electrical_services:"),
        st.Page("gridopt/ui/pages/compare.py", title="Compare runs", icon=":material/compare_arrows:"),
    ]
)
page.run()
