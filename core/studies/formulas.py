"""The maths beside every picture: each figure's defining formula (LaTeX) and one sentence on
how to read it. Pages show them under the figure when "Show the maths" is on (`ui.layout.chart`,
`ui.layout.maths`); the text lives here so every page says the same thing the same way."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Formula:
    latex: str
    reading: str

    @property
    def lines(self) -> str:
        """The formula with each part its own line: its parts are set apart by \\quad or \\qquad
        at the top level, and one line each keeps the long ones inside a narrow column."""
        parts: list[str] = []
        for piece in _SPACE.split(self.latex):
            if parts and not _closed(parts[-1]):
                parts[-1] += r"\quad " + piece  # the space sat inside a group: keep it there
            else:
                parts.append(piece)
        kept = [p.strip().rstrip(",").rstrip(r"\ ").strip() for p in parts]
        if len(kept) == 1:
            return self.latex
        return r"\begin{gathered}" + r" \\ ".join(kept) + r"\end{gathered}"


_SPACE = re.compile(r"\\q?quad(?![a-zA-Z])")


def _closed(latex: str) -> bool:
    """Whether every brace and environment opened in `latex` is closed in it."""
    return latex.count("{") == latex.count("}") and latex.count(r"\begin") == latex.count(r"\end")


FORMULAS: dict[str, Formula] = {
    "gumbel_max": Formula(
        r"g_i = -\log(-\log u_i),\ u_i \sim \mathcal U(0,1) \qquad "
        r"\arg\max_i\,(\log \pi_i + g_i) \sim \mathrm{Categorical}(\pi)",
        "Add independent Gumbel noise to the log-probabilities and take the largest: each class wins "
        "exactly as often as π says, so the bars should match the softmax bars up to sampling noise.",
    ),
    "gumbel_softmax": Formula(
        r"y_i = \frac{\exp\big((\log \pi_i + g_i)/\tau\big)}{\sum_{j=1}^{k} \exp\big((\log \pi_j + g_j)/\tau\big)}",
        "The argmax of the Gumbel-max trick replaced by a softmax at temperature τ: each panel is the "
        "same noise g relaxed at a different τ, nearly one-hot when τ is small, nearly uniform when large.",
    ),
    "relaxed_means": Formula(
        r"\mathbb E[y_i] \ne \pi_i \text{ in general}, \qquad \mathbb E[y_i] \xrightarrow[\tau \to 0]{} "
        r"P\big(\arg\max_j (\log \pi_j + g_j) = i\big) = \pi_i",
        "Bars are the mean relaxed sample at each τ, diamonds the categorical it relaxes: they agree as τ → 0 "
        "and drift towards the uniform 1/k as τ grows.",
    ),
    "one_hotness": Formula(
        r"\mathbb E\big[\max_i y_i\big] \xrightarrow[\tau \to 0]{} 1, \qquad "
        r"\mathbb E\big[\max_i y_i\big] \xrightarrow[\tau \to \infty]{} \tfrac1k",
        "How close a relaxed sample is to a corner of the simplex: read off the τ at which the curve "
        "leaves 1, that is where samples stop being (almost) exact categories.",
    ),
    "gumbel_softmax_density": Formula(
        r"p_{\pi,\tau}(y) = \Gamma(k)\,\tau^{k-1} \Big(\sum_{i=1}^{k} \frac{\pi_i}{y_i^{\tau}}\Big)^{-k} "
        r"\prod_{i=1}^{k} \frac{\pi_i}{y_i^{\tau+1}}",
        "The density of a Gumbel-Softmax sample on the simplex (Jang et al.; Maddison et al.): at small τ "
        "its mass sits in the corners in proportion to π, at large τ it gathers at the centre.",
    ),
    "estimator_error": Formula(
        r"\hat\nabla_{\mathrm{SF}} = f(z)\,\nabla_\theta \log p_\theta(z), \quad "
        r"\mathrm{MSE} = \big\|\mathbb E[\hat\nabla] - \nabla_\theta \mathbb E[f(z)]\big\|^2 "
        r"+ \operatorname{tr}\operatorname{Var}[\hat\nabla]",
        "Each estimator's squared bias and variance against the exact gradient (known by enumeration): "
        "the score function is unbiased but noisy, relaxed estimators trade bias (growing with τ) for variance.",
    ),
    "estimator_gradients": Formula(
        r"\hat\nabla_{\mathrm{ST}} = \frac{\partial f}{\partial z}\Big|_{z=\mathrm{onehot}(\arg\max y)} "
        r"\frac{\partial y}{\partial \theta}, \qquad "
        r"\hat\nabla_{\mathrm{GR}} = \frac{\partial f}{\partial z}\,\frac1K\sum_{k=1}^{K} "
        r"\frac{\partial\,\mathrm{softmax}\big((\theta + g^{(k)})/\tau\big)}{\partial \theta},\ "
        r"g^{(k)} \sim p(g \mid z)",
        "Straight-through forwards the exact one-hot and backwards the relaxed Jacobian; Gumbel-Rao averages "
        "that Jacobian over K Gumbel draws given the same argmax: bars closer to the exact ones are better.",
    ),
    "vae_objective": Formula(
        r"\mathcal L(x) = -\sum_{p=1}^{784} \big[x_p \log \hat x_p + (1-x_p)\log(1-\hat x_p)\big] \quad "
        r"+ \sum_{n=1}^{30} \mathrm{KL}\big(q_n \,\|\, \mathcal U_C\big), \quad "
        r"\mathrm{KL}(q_n\|\mathcal U_C) = \sum_{i=1}^{C} q_{n,i} \log(C\, q_{n,i})",
        "The negative ELBO per image: binary cross-entropy of the reconstruction plus the KL of each of the "
        "30 categorical posteriors to the uniform prior over C = 10 classes; lower is better.",
    ),
    "relaxed_vs_exact": Formula(
        r"\mathcal L_{\text{relaxed}} = \mathrm{BCE}\big(x, \mathrm{dec}(y)\big) + \mathrm{KL},\ "
        r"y \sim \mathrm{GS}(q, \tau) \qquad "
        r"\mathcal L_{\text{exact}} = \mathrm{BCE}\big(x, \mathrm{dec}(z)\big) + \mathrm{KL},\ z \sim q",
        "The blue curve is what the gradient sees (the decoder fed a relaxed sample), the red one the same "
        "model scored with an exact one-hot sample; the gap between them is the price of the relaxation.",
    ),
    "diagnostics": Formula(
        r"\tau_t = \max\big(\tau_{\min},\ \tau_0\, e^{-r\,\lfloor t/N \rfloor N}\big), \qquad "
        r"\mathrm{KL} = \sum_{n} \sum_{i} q_{n,i} \log(C q_{n,i}), \qquad \mathrm{BCE}(x, \hat x)",
        "The two terms of the objective apart, and the temperature each step used: a KL that rises means "
        "the code carries more information about the digit.",
    ),
    "reconstructions": Formula(
        r"\hat x = \sigma\big(\mathrm{dec}(z^\star)\big), \qquad "
        r"z^\star_n = \mathrm{onehot}\big(\arg\max_i q_{n,i}(x)\big)",
        "Top row: test digits; bottom row: the decoder's picture of each digit's most likely code.",
    ),
    "prior_samples": Formula(
        r"z_n \sim \mathcal U\{1,\dots,C\},\ n = 1,\dots,30, \qquad \hat x = \sigma\big(\mathrm{dec}(z)\big)",
        "Digits decoded from codes drawn from the uniform prior: how well the model generates, not reconstructs.",
    ),
    "code_grid": Formula(
        r"z \in \{e_1,\dots,e_C\}^{30}, \qquad \hat x = \sigma\big(\mathrm{dec}(z)\big) \in [0,1]^{784}",
        "Each column is one categorical variable, the dark cell its active class; the digit beside it is the "
        "decoder's output for exactly this code. A dragged variable sits between two classes, a point of the "
        "simplex the decoder also sees in training.",
    ),
    "encoder_probabilities": Formula(
        r"q(z_n = i \mid x) = \mathrm{softmax}\big(\mathrm{enc}(x)_n\big)_i, \qquad "
        r"z^\star_n = \arg\max_i q(z_n = i \mid x)",
        "Darker cells are classes the encoder finds likely for each variable; the red dots are the mode code "
        "the editor starts from.",
    ),
    "variable_sweep": Formula(
        r"\hat x^{(i)} = \sigma\big(\mathrm{dec}(z_{-n},\, z_n = e_i)\big), \quad i = 1,\dots,C",
        "The selected variable set to each class in turn, all others held: what that variable controls.",
    ),
    "code_path": Formula(
        r"z^{(t)}_n = \begin{cases} b_n & n < t \\ a_n & n \ge t \end{cases}, \quad t = 0,\dots,30",
        "From this code a to the target code b, one variable switched at a time: digits in between are "
        "one-hot codes too, never blends.",
    ),
    "subset_inclusion": Formula(
        r"S = \operatorname{top-}k_i\,(\log w_i + g_i) \quad \Rightarrow\ "
        r"P(S = (s_1,\dots,s_k)) = \prod_{j=1}^{k} \frac{w_{s_j}}{\sum_{l \notin \{s_1..s_{j-1}\}} w_l}",
        "The k largest perturbed log-weights are an exact draw without replacement: the top-k frequencies "
        "should meet the exact inclusion probabilities, and the relaxed k-hot means approach them as τ → 0.",
    ),
    "successive_softmax": Formula(
        r"\alpha^{(1)} = \log w + g, \quad p^{(j)} = \mathrm{softmax}\big(\alpha^{(j)}/\tau\big), \quad "
        r"\alpha^{(j+1)} = \alpha^{(j)} + \log\big(1 - p^{(j)}\big), \quad \tilde z = \sum_{j=1}^{k} p^{(j)}",
        "Successive softmax: each round softly picks one item and softly removes it from the next; the "
        "relaxed k-hot sums to k and matches the hard one as τ → 0.",
    ),
    "sinkhorn": Formula(
        r"S^{(0)} = \exp\big((X + G)/\tau\big), \quad "
        r"S^{(l)} = \mathcal C\big(\mathcal R(S^{(l-1)})\big), \quad "
        r"\lim_{\tau\to 0} S^{(\infty)} = \arg\max_{P \in \mathcal P_n} \langle P,\, X + G\rangle_F",
        "Sinkhorn normalises rows (R) and then columns (C) L times; down a column τ falls and the matrix "
        "hardens towards the permutation that best matches the perturbed scores.",
    ),
    "hard_permutation": Formula(
        r"P^\star = \arg\max_{P \in \mathcal P_n} \langle P,\, X + G\rangle_F",
        "The exact Gumbel-matching draw: the assignment that maximises the perturbed scores (Hungarian algorithm).",
    ),
    "sorting": Formula(
        r"\ell(\theta) = \big\| S_\tau\big(f_\theta(x) + G\big)^{\!\top} x - \mathrm{sort}(x) \big\|^2",
        "A network scores positions, Gumbel-Sinkhorn relaxes them into a soft permutation; accuracy is "
        "measured with the hard permutation, so rising curves mean the network has learnt to sort.",
    ),
    "spanning_tree": Formula(
        r"T^\star = \arg\max_{T} \sum_{e \in T} (s_e + g_e), \qquad "
        r"P_{\text{Gibbs}}(T) \propto \prod_{e \in T} e^{s_e}, \quad "
        r"P(e \in T) = e^{s_e}\, b_e^{\top} \hat L^{-1} b_e",
        "Perturb-and-max with one Gumbel per edge is not Gibbs sampling: compare its edge frequencies with the "
        "Gibbs marginals from the matrix-tree theorem (L̂ the reduced weighted Laplacian).",
    ),
    "tree_relaxation": Formula(
        r"\tilde\mu_e = e^{(s_e + g_e)/\tau}\, b_e^{\top} \hat L_\tau^{-1} b_e, \qquad \sum_e \tilde\mu_e = n - 1",
        "The relaxed tree: Gibbs edge marginals of the perturbed scores at τ, which harden to the maximum "
        "spanning tree as τ → 0.",
    ),
    "random_graph": Formula(
        r"A_{ij} = \mathbb 1\big[\theta_{ij} + g^{1}_{ij} - g^{2}_{ij} > 0\big] "
        r"\sim \mathrm{Bernoulli}\big(\sigma(\theta_{ij})\big), "
        r"\quad \tilde A_{ij} = \sigma\big((\theta_{ij} + g^1_{ij} - g^2_{ij})/\tau\big)",
        "The difference of two Gumbels is logistic noise, so thresholding at 0 is an exact edge draw; its "
        "sigmoid at τ is the relaxation, and frequencies should meet σ(θ).",
    ),
    "tree_learning": Formula(
        r"\min_s\ \mathbb E_{T \sim p_s}\big\|A(T) - \hat A\big\|^2",
        "Learnable edge scores s fitted to noisy observations Â of a planted tree with each estimator: a "
        "curve reaching 100% means the learnt scores' best tree is the planted one.",
    ),
}


def formula(name: str) -> Formula:
    try:
        return FORMULAS[name]
    except KeyError:
        raise ValueError(f"no formula named {name!r}; known: {', '.join(sorted(FORMULAS))}.") from None
