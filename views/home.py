"""Home: what Gumbel Lab shows, the device in use, and a way into every page."""

import streamlit as st

import ui
from core import figures
from core.temperature import categorical_probabilities, simplex_cloud

st.title("Gumbel Lab")
st.markdown(
    "**See how discrete choices are sampled inside differentiable models.** The *Gumbel-max trick* "
    "draws an exact sample from a categorical by adding Gumbel noise to the logits and taking the "
    "argmax. The *Gumbel-Softmax* relaxation replaces the argmax with a softmax at temperature τ, so "
    "gradients flow; the *straight-through* estimator uses the exact one-hot forward and the relaxed "
    "gradient backward. A *categorical VAE* on MNIST puts it all to work: train one live, then edit its "
    "one-hot code and watch the digit change."
)
st.caption(f"Running on **{ui.device_label(ui.current_device())}** (change it in the sidebar).")


@st.cache_data(show_spinner=False)
def hero_figure():
    taus = [0.1, 1.0, 10.0]
    logits = [1.0, 0.0, -0.5]
    return figures.simplex_figure(taus, simplex_cloud(logits, taus, draws=500), categorical_probabilities(logits), 360)


st.plotly_chart(hero_figure(), width="stretch", config={"displayModeBar": False})
st.caption("The same Gumbel draws of a 3-class categorical relaxed at three temperatures: "
           "at τ = 0.1 samples sit at the one-hot corners, at τ = 10 they crowd the centre.")

st.subheader("Pages")
PAGES = [
    ("views/temperature.py", ":material/thermostat:", "Temperature",
     "Move the logits and temperatures; compare relaxed samples and check Gumbel-max against softmax."),
    ("views/train.py", ":material/model_training:", "Train",
     "Train the categorical VAE live and watch the relaxed and unrelaxed objectives."),
    ("views/latent_editor.py", ":material/grid_on:", "Latent editor",
     "Edit a trained model's one-hot code and watch the decoded digit change."),
    ("views/estimators.py", ":material/troubleshoot:", "Gradient estimators",
     "Bias and variance of score-function, Gumbel-Softmax, straight-through and Gumbel-Rao gradients."),
    ("views/structures.py", ":material/shuffle:", "Subsets & permutations",
     "Gumbel top-k subsets and Gumbel-Sinkhorn permutations, and a network that learns to sort."),
]
columns = st.columns(len(PAGES))
for column, (page, icon, label, text) in zip(columns, PAGES):
    with column.container(border=True, height="stretch"):
        st.page_link(page, label=f"**{label}**", icon=icon)
        st.caption(text)
