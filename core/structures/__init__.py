"""Beyond categoricals, sampled exactly and relaxed: `subsets` (Gumbel top-k and successive
softmax), `permutations` (Gumbel-Sinkhorn and the assignment problem) and `sorting` (a task
that learns to sort lists with them)."""
