"""A density operator given by its full table (small systems): the exact state as an 'ansatz'.

log_rho(params, x) with params = {"log": complex array of the 4^N log elements in the order of
configs.doubled_index}. Used to check samplers and estimators against exact distributions.
"""

from __future__ import annotations

import numpy as np


def table_params(rho: np.ndarray) -> dict:
    import jax.numpy as jnp

    with np.errstate(divide="ignore"):
        lg = np.log(np.asarray(rho, complex).ravel())
    lg = np.where(np.isfinite(lg.real), lg, -1e4 + 0j)  # zero elements: a very small, finite amplitude
    return {"log": jnp.asarray(lg.astype(np.complex64))}


def table_log_rho(n: int):
    import jax.numpy as jnp

    w = 2 ** jnp.arange(n - 1, -1, -1)

    def log_rho(params, x):
        idx = jnp.sum(x[..., 0, :] * w, -1) * 2**n + jnp.sum(x[..., 1, :] * w, -1)
        return params["log"][idx]

    return log_rho
