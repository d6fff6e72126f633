"""Random graphs and spanning trees through the Gumbel trick, sampled exactly and relaxed:
`edges` (edge-independent graphs, the edge layout and the score checks), `trees` (spanning
trees: perturb-and-max, the matrix-tree relaxation, Wilson's exact sampler, enumeration) and
`learning` (recovering a planted tree with three gradient estimators)."""
