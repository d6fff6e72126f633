"""Home: what Gumbel Lab shows, the device in use, and a way into every page."""

import streamlit as st

from core.figures.temperature import simplex_figure
from core.runtime.device import device_label
from core.studies.temperature import categorical_probabilities, simplex_cloud
from ui import layout, models, pages

st.title("Gumbel Lab")
st.markdown(
    "**See how discrete choices are sampled inside differentiable models.** The *Gumbel-max trick* "
    "draws an exact sample from a categorical by adding Gumbel noise to the logits and taking the "
    "argmax. The *Gumbel-Softmax* relaxation replaces the argmax with a softmax at temperature τ, so "
    "gradients flow; the *straight-through* estimator uses the exact one-hot forward and the relaxed "
    "gradient backward. A *categorical VAE* on MNIST puts it all to work: train one live, then edit its "
    "one-hot code and watch the digit change."
)
st.caption(f"Running on **{device_label(models.current_device())}** (change it in the sidebar).")


@st.cache_data(show_spinner=False)
def hero_figure():
    taus = [0.1, 1.0, 10.0]
    logits = [1.0, 0.0, -0.5]
    return simplex_figure(taus, simplex_cloud(logits, taus, draws=500), categorical_probabilities(logits), 360)


layout.chart(hero_figure(), "gumbel_softmax_density", width="stretch", config={"displayModeBar": False})
layout.note(
    "The same Gumbel draws of a 3-class categorical relaxed at three temperatures: "
    "at τ = 0.1 samples sit at the one-hot corners, at τ = 10 they crowd the centre."
)

st.subheader("Pages")
CARDS_PER_ROW = 3  # with 4 in a row, "Subsets & permutations" is cut to an ellipsis at 1280 px
links = pages.PAGES[1:]
for start in range(0, len(links), CARDS_PER_ROW):
    row = links[start : start + CARDS_PER_ROW]
    for column, entry in zip(st.columns(CARDS_PER_ROW), row):
        with column.container(border=True, height="stretch"):
            st.page_link(entry.path, label=f"**{entry.title}**", icon=entry.icon)
            layout.note(entry.blurb)
