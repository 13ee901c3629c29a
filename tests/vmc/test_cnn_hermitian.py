"""The paper's Hermitian CNN density operator: with the same parameters it is
rho_H(s, s') = [rho(s, s') + conj rho(s', s)] / 2 of the unconstrained network rho = exp A, built here from
the dense matrix of the unconstrained one; Hermitian, and not positive in general."""

import jax
import jax.numpy as jnp
import numpy as np

from lindblad_nqs.nets.cnn import CNNDensityOperator
from lindblad_nqs.vmc.sampling import enumerate_configs, prng_key


def test_hermitian_cnn_is_the_hermitian_part_of_the_unconstrained_one():
    n = 3
    kw = dict(shape=(n,), features=(4, 5), kernels=((3,), (3,)), pooling="mean", init_scale=2.0)
    free, herm = CNNDensityOperator(**kw), CNNDensityOperator(**kw, hermitian=True)
    p = jax.jit(free.init)(prng_key(5), jnp.zeros((1, 2, n), jnp.int8))  # the construction adds no parameters
    X = jnp.asarray(enumerate_configs(n, "doubled", False))  # row index: ket bits, then bra bits
    r_free = np.exp(np.asarray(free.apply(p, X), complex)).reshape(2**n, 2**n)
    r_herm = np.exp(np.asarray(herm.apply(p, X), complex)).reshape(2**n, 2**n)
    assert np.linalg.norm(r_free - r_free.conj().T) > 1e-2 * np.linalg.norm(r_free)
    np.testing.assert_allclose(r_herm, 0.5 * (r_free + r_free.conj().T), rtol=1e-4, atol=1e-6)
    ev = np.linalg.eigvalsh(r_herm)
    assert ev.min() < 0 < ev.max()  # Hermitian, not positive by construction
