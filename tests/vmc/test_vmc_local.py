"""The JAX local estimator L_loc = (L rho)/rho equals the dense Liouvillian applied to rho."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lindblad_nqs.liouvillian import dense_liouvillian
from lindblad_nqs.model import Jump, Lattice, SpinSystem
from lindblad_nqs.vmc.configs import all_doubled, doubled_index, int_to_bits
from lindblad_nqs.vmc.local_estimator import LocalLiouvillian
from lindblad_nqs.vmc.table import table_log_rho, table_params

SYSTEMS = {
    "xyz-chain-3-periodic-all-jumps": SpinSystem(Lattice((3,), True), (0.3, 0.5, 1.0), (0.4, 0.2, 0.3),
                                                 (Jump("sigma_minus", 1.0), Jump("sigma_z", 0.3),
                                                  Jump("sigma_plus", 0.2), Jump("sigma_x", 0.1), Jump("sigma_y", 0.15))),
    "heisenberg-2x2-open": SpinSystem(Lattice((2, 2), False), (0.9, 1.6, 1.0), (0, 0, 0.2), (Jump("sigma_minus", 1.0),)),
    "tfi-4-open-dephasing": SpinSystem(Lattice((4,), False), (0.0, 0.0, 0.5), (1.0, 0, 0),
                                       (Jump("sigma_minus", 1.0), Jump("sigma_z", 0.25))),
    "rotated-ising-3-periodic": SpinSystem(Lattice((3,), True), (-0.5, 0, 0), (0, 0, 0.5), (Jump("sigma_minus", 1.0),)),
}


@pytest.mark.parametrize("name", list(SYSTEMS))
def test_local_estimator_equals_dense(name):
    system = SYSTEMS[name]
    n = system.n_sites
    rng = np.random.default_rng(len(name))
    rho = rng.normal(size=4**n) + 1j * rng.normal(size=4**n)
    lind = LocalLiouvillian(system)
    params = table_params(rho)
    f = jax.jit(lambda p, x: lind.local_values(lambda y: table_log_rho(n)(p, y), x))
    X = all_doubled(n)
    loc = np.asarray(f(params, jnp.asarray(X)))
    ref = (dense_liouvillian(system) @ rho) / rho
    assert np.max(np.abs(loc - ref)) < 2e-5 * np.max(np.abs(ref))


def test_connected_elements_match_dense_sparsity():
    """Every nonzero matrix element of a row of the dense L appears among the connected configurations."""
    system = SYSTEMS["xyz-chain-3-periodic-all-jumps"]
    n = system.n_sites
    L = dense_liouvillian(system).tocsr()
    lind = LocalLiouvillian(system)
    X = all_doubled(n)
    diag, xc, mel = jax.jit(lind.connected)(jnp.asarray(X))
    idx = doubled_index(np.asarray(xc))
    for r in range(0, 4**n, 7):
        row = L.getrow(r)
        dense = dict(zip(row.indices, row.data))
        ours = {}
        for c, v in zip(idx[r], np.asarray(mel)[r]):
            if v != 0:
                ours[c] = ours.get(c, 0) + v
        ours[r] = ours.get(r, 0) + complex(diag[r])
        keys = {k for k in set(dense) | set(ours) if abs(dense.get(k, 0) - ours.get(k, 0)) > 1e-5}
        assert not keys, f"row {r} differs at columns {sorted(keys)}"


def test_bits_roundtrip():
    c = np.arange(32)
    b = int_to_bits(c, 5)
    assert b[1].tolist() == [0, 0, 0, 0, 1]
    X = all_doubled(2)
    assert np.array_equal(doubled_index(X), np.arange(16))
