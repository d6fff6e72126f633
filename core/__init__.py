"""Gumbel Lab's library: sampling, the categorical VAE, data, training, checkpoints, figures.

Nothing here imports streamlit, so every piece works from a notebook or a script.
"""
