"""Variational Monte Carlo for density operators in the doubled basis (sigma, sigma').

Modules: configs (bit layout of doubled configurations), local_estimator (the Liouvillian's table,
liouvillian.liouvillian_table, applied by operators.jax_apply on doubled configurations), sampling (Metropolis on the doubled and the
diagonal space, exact sampling, diagnostics), cost (the L2 cost and its gradient), optimizers (NAGD+,
Adam, SR), observables (diagonal estimators with jackknife errors), driver (the steady-state loop).
Nothing here is imported at package import time; jax is only imported by these modules.
"""
