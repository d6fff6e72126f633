"""Gumbel Lab: `streamlit run app.py`. Navigation and the sidebar every page shares.

The pages live in views/, not pages/: with a pages/ folder, Streamlit runs a deep link's
page file alone (no sidebar, no wide layout) until app.py has run once on the server.
"""

import streamlit as st

import ui

st.set_page_config(page_title="Gumbel Lab", page_icon=":material/casino:", layout="wide")
ui.leave_a_core_for_the_page()

navigation = st.navigation(
    [st.Page(p.path, title=p.title, icon=p.icon, default=i == 0) for i, p in enumerate(ui.PAGES)]
)

with st.sidebar:
    st.selectbox("Device", ui.devices(), key="device", format_func=ui.device_label,
                 help="Where models run. CUDA is used when a GPU is present.")
    ui.register_finished_run()
    models = ui.available_models()
    if models:
        labels = list(models)
        if st.session_state.get("model_label") not in labels:
            st.session_state["model_label"] = ui.default_model_label(models)
        st.selectbox("Model", labels, key="model_label",
                     help="Shipped models, and those trained in this session.")
    else:
        st.caption("No model yet: train one on the Train page.")

navigation.run()
