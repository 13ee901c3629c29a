"""What every variational solver shares: the flat parameter vector with its per-sample log-derivatives
(state), the regularised solve of S x = F (linsolve), the TDVP equation assembled from samples (tdvp),
and the time integrators (integrators). Framework-neutral where it can be (NumPy or JAX arrays)."""
