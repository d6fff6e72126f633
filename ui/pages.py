"""The one list of pages: app.py navigates over it, Home links to every entry but itself."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PageEntry:
    path: str
    title: str
    icon: str
    blurb: str


PAGES = (
    PageEntry("views/home.py", "Home", ":material/home:", "What Gumbel Lab shows."),
    PageEntry(
        "views/temperature.py",
        "Temperature",
        ":material/thermostat:",
        "Move the logits and temperatures; compare relaxed samples and check Gumbel-max against softmax.",
    ),
    PageEntry(
        "views/train.py",
        "Train",
        ":material/model_training:",
        "Train the categorical VAE live and watch the relaxed and unrelaxed objectives.",
    ),
    PageEntry(
        "views/sweep.py",
        "Sweep",
        ":material/grid_view:",
        "A grid of runs over τ, estimator, annealing, learning rate, preset and seeds, trained at once on Ray.",
    ),
    PageEntry(
        "views/compare.py",
        "Compare",
        ":material/compare_arrows:",
        "Any runs — shipped, yours, the CLI's, sweep trials — on shared axes, with their settings side by side.",
    ),
    PageEntry(
        "views/latent_editor.py",
        "Latent editor",
        ":material/grid_on:",
        "Edit a trained model's one-hot code and watch the decoded digit change.",
    ),
    PageEntry(
        "views/estimators.py",
        "Gradient estimators",
        ":material/troubleshoot:",
        "Bias and variance of score-function, Gumbel-Softmax, straight-through and Gumbel-Rao gradients.",
    ),
    PageEntry(
        "views/structures.py",
        "Subsets & permutations",
        ":material/shuffle:",
        "Gumbel top-k subsets and Gumbel-Sinkhorn permutations, and a network that learns to sort.",
    ),
    PageEntry(
        "views/graphs.py",
        "Graphs",
        ":material/hub:",
        "Random graphs and spanning trees from the Gumbel trick, and a planted tree learned live.",
    ),
)
