"""Gumbel Lab: `streamlit run app.py`. Navigation and the sidebar every page shares.

The pages live in views/, not pages/: with a pages/ folder, Streamlit runs a deep link's
page file alone (no sidebar, no wide layout) until app.py has run once on the server.
"""

import streamlit as st

from core.runtime.device import available_devices, device_label
from ui import layout, models, pages, runs, tasks

st.set_page_config(
    page_title="Gumbel Lab",
    page_icon=":material/casino:",
    layout="wide",
    initial_sidebar_state="collapsed" if layout.presenter_on() else "auto",  # the room sees the page
)
layout.page_style()
layout.leave_a_core_for_the_page()

navigation = st.navigation(
    [st.Page(p.path, title=p.title, icon=p.icon, default=i == 0) for i, p in enumerate(pages.PAGES)]
)

with st.sidebar:
    st.selectbox(
        "Device",
        available_devices(),
        key=models.DEVICE_KEY,
        format_func=device_label,
        help="Where models run. CUDA is used when a GPU is present.",
    )
    models.model_picker()
    models.share_switch()
    models.model_transfer()
    layout.lecture_toggles()
    runs.keep_run_alive()
    tasks.keep_tasks_alive()

navigation.run()
