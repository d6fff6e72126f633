"""Computing in the visitor's browser: a decoder and a Gumbel-Softmax sampler in plain JavaScript,
mounted as Streamlit components (`st.components.v2.component`), so a drag redraws within a frame
and costs the server nothing.

The JavaScript, CSS and HTML are files beside this one, read once at import; `components`
mounts them and packs what they receive: numbers the server validated, never text from a URL or
an upload, and a model's decoder weights once per browser session.
"""
