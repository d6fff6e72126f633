"""Gumbel Lab: `streamlit run app.py`. Navigation and the sidebar every page shares.

The pages live in views/, not pages/: with a pages/ folder, Streamlit runs a deep link's
page file alone (no sidebar, no wide layout) until app.py has run once on the server.
"""

import streamlit as st

import ui

st.set_page_config(page_title="Gumbel Lab", page_icon=":material/casino:", layout="wide")
ui.leave_a_core_for_the_page()

PAGES = [
    st.Page("views/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("views/temperature.py", title="Temperature", icon=":material/thermostat:"),
    st.Page("views/train.py", title="Train", icon=":material/model_training:"),
    st.Page("views/latent_editor.py", title="Latent editor", icon=":material/grid_on:"),
    st.Page("views/estimators.py", title="Gradient estimators", icon=":material/troubleshoot:"),
    st.Page("views/structures.py", title="Subsets & permutations", icon=":material/shuffle:"),
]

navigation = st.navigation(PAGES)

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
