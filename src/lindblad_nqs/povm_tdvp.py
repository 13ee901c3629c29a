"""The POVM TDVP (reh2021) in JAX: local values of the POVM Lindbladian and the TDVP right-hand side.

`POVMApplier` applies the POVM Lindbladian's table (povm.lindbladian.POVMLindbladian.table, the same
L_a^b; nothing is derived again) with operators.jax_apply: for strings a (B, N)

    E(a) = sum_b L_a^b p(b) / p(a) = diag(a) + sum_c mel[:, c] exp(log p(b_c) - log p(a)),

over at most 15 off-diagonal strings b a term, a fixed shape, so the whole thing jits.

`rhs` gives theta_dot of S theta_dot = F, S = <dO dO>, F = <dO dE> (variational.tdvp) from exact
samples of the RNN (equal weights) or, for tests on tiny systems, from all 4^N strings with weights p.
"""

from __future__ import annotations

from functools import partial

from .operators.jax_apply import JaxTable
from .povm.lindbladian import POVMLindbladian


class POVMApplier(JaxTable):
    """E(a) = sum_b L_a^b p(b) / p(a) by `local_values(log_p, a, log_pa)`."""

    # connected strings per network call: the RNN's intermediates of a block stay in cache, where one
    # call on all B x C strings streams arrays of B C H floats through memory at every site
    CHUNK = 8192

    def __init__(self, lind: POVMLindbladian):
        super().__init__(lind.table, chunk=self.CHUNK)
        self.lind = lind


def connected_log_p(module, state, applier: POVMApplier, theta):
    """log p of the connected strings from their sample's prefix, (a, y) -> (B, M), where the module
    has it (nets.rnn.POVMRNN.log_p_connected; the same values as log p on each string), else None."""
    if module is None or not hasattr(module, "log_p_connected"):
        return None
    changed = applier.changed_sites
    return lambda a, y: module.apply(state.unravel(theta), a, y, changed, method="log_p_connected")


def make_rhs(state, applier: POVMApplier, opts, module=None):
    """rhs(theta, a, w) -> (theta_dot, A, diag) for strings a (B, N) with weights w (None: samples);
    with the state's module given, connected strings are evaluated from their sample's prefix."""
    import jax

    from .variational import tdvp

    @partial(jax.jit, static_argnames="report")
    def rhs(theta, a, w=None, report=True):
        log_p = lambda x: state.log_value(theta, x)  # noqa: E731
        lpa = log_p(a)
        O = state.jacobian(theta, a)
        E = applier.local_values(log_p, a, lpa, log_f_connected=connected_log_p(module, state, applier, theta))
        theta_dot, A, d = tdvp.solve(O, E, opts, w=w, report=report)
        return theta_dot, A, d

    return rhs


def make_stage(module, state, applier: POVMApplier, opts, n_samples: int, prefix: bool = True):
    """stage(theta, key, report=True) -> (theta_dot, A, diag, finite): one integrator stage in one jitted call --
    exact samples, local values, Jacobian and the regularised solve -- so that nothing returns to the
    host between sampling and solving (the samples never leave the device). prefix: connected strings
    from their sample's prefix (False: each through the whole network, the same values). report False:
    no diagnostics (tdvp.solve's), for the stages whose diagnostics the integrator drops."""
    import jax
    import jax.numpy as jnp

    from .variational import tdvp

    @partial(jax.jit, static_argnames="report")
    def stage(theta, key, report=True):
        a, lpa = module.apply(state.unravel(theta), key, n_samples, method="sample")
        log_p = lambda x: state.log_value(theta, x)  # noqa: E731
        E = applier.local_values(log_p, a, lpa, log_f_connected=connected_log_p(module if prefix else None, state,
                                                                                 applier, theta))
        theta_dot, A, d = tdvp.solve(state.jacobian(theta, a), E, opts, report=report)
        return theta_dot, A, d, jnp.all(jnp.isfinite(theta_dot))

    return stage
