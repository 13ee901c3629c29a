"""A variational state as a flat real parameter vector: log value, unravel, per-sample log-derivatives.

Every network of the package is a Flax module with real parameters (complex weights are stored as real
and imaginary parts, which the TDVP treats as independent real parameters). `FlatState` is the one
place that turns (module, params) into functions of a flat vector theta, which is what optimisers,
preconditioners and integrators work on:

    log_value(theta, x)   (B,) complex log rho, or real log p for a probability
    jacobian(theta, x)    (B, P) O_k(x) = d log_value(x) / d theta_k (complex or real)

The Jacobian is a vmap over samples of one sample's reverse-mode derivative, O(B P) work and memory, or,
for a network that has them in closed form, `log_derivatives(params, x)`: a tree like params whose
leaves carry a leading batch axis (nets.rbm_dm.log_derivatives), flattened in ravel_pytree's order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass
class FlatState:
    theta0: object  # (P,) initial parameters, on the device
    unravel: Callable
    apply: Callable  # (params, x) -> log values
    is_complex: bool
    log_derivatives: Callable | None = None

    @classmethod
    def from_module(cls, module, params, x_example=None, apply=None, log_derivatives=None):
        import jax
        import jax.numpy as jnp
        from jax.flatten_util import ravel_pytree

        theta0, unravel = ravel_pytree(params)
        if jnp.iscomplexobj(theta0):
            raise TypeError("FlatState needs real parameters (store complex weights as real and imaginary parts)")
        apply = module.apply if apply is None else apply
        is_complex = True
        if x_example is not None:
            out = jax.eval_shape(lambda th: apply(unravel(th), x_example), theta0)
            is_complex = jnp.issubdtype(out.dtype, jnp.complexfloating)
        if log_derivatives is not None and x_example is not None:
            shapes = jax.eval_shape(log_derivatives, params, x_example)
            tu = jax.tree_util
            if tu.tree_structure(shapes) != tu.tree_structure(params) or any(
                    s.shape != (x_example.shape[0], *p.shape) for s, p in zip(tu.tree_leaves(shapes), tu.tree_leaves(params))):
                raise ValueError("log_derivatives must return a tree like the parameters with a leading batch axis")
        return cls(theta0, unravel, apply, bool(is_complex), log_derivatives)

    @property
    def n_params(self) -> int:
        return int(self.theta0.size)

    def log_value(self, theta, x):
        return self.apply(self.unravel(theta), x)

    def jacobian(self, theta, x):
        import jax
        import jax.numpy as jnp

        if self.log_derivatives is not None:
            leaves = jax.tree_util.tree_leaves(self.log_derivatives(self.unravel(theta), x))
            return jnp.concatenate([v.reshape(x.shape[0], -1) for v in leaves], axis=1)
        if self.is_complex:
            def one(th, xi):
                v = self.log_value(th, xi[None])[0]
                return jnp.stack([v.real, v.imag])

            J = jax.vmap(jax.jacrev(one), in_axes=(None, 0))(theta, x)  # (B, 2, P)
            return J[:, 0] + 1j * J[:, 1]
        return jax.vmap(jax.jacrev(lambda th, xi: self.log_value(th, xi[None])[0]), in_axes=(None, 0))(theta, x)

