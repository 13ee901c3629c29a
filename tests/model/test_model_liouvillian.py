"""The doubled-basis Liouvillian compiled from the model equals QuTiP's, on chains and 2x2 lattices."""

import numpy as np
import pytest

from lindblad_nqs.exact.qutip_model import liouvillian as qutip_liouvillian
from lindblad_nqs.liouvillian import dense_liouvillian
from lindblad_nqs.model import Jump, Lattice, SpinSystem


def random_system(shape, periodic, seed):
    rng = np.random.default_rng(seed)
    jumps = (Jump("sigma_minus", rng.uniform(0.2, 1.5)), Jump("sigma_z", rng.uniform(0, 0.5)),
             Jump("sigma_plus", rng.uniform(0, 0.3)), Jump("sigma_x", rng.uniform(0, 0.3)),
             Jump("sigma_y", rng.uniform(0, 0.3)))
    return SpinSystem(Lattice(shape, periodic), tuple(rng.normal(size=3)), tuple(rng.normal(size=3)), jumps)


def to_row_major(Lq, n):
    """QuTiP stacks columns (index bra * D + ket); the package stores ket * D + bra."""
    D = 2**n
    perm = np.arange(D * D).reshape(D, D).T.ravel()
    return Lq[np.ix_(perm, perm)]


@pytest.mark.parametrize("shape,periodic", [((2,), False), ((3,), True), ((3,), False), ((4,), True),
                                            ((4,), False), ((2, 2), True), ((2, 2), False)])
def test_dense_liouvillian_equals_qutip(shape, periodic):
    system = random_system(shape, periodic, seed=sum(shape) + periodic)
    ours = dense_liouvillian(system).toarray()
    ref = to_row_major(qutip_liouvillian(system).full(), system.n_sites)
    np.testing.assert_allclose(ours, ref, atol=1e-12)


@pytest.mark.parametrize("shape,periodic", [((3,), True), ((2, 2), False)])
def test_x_basis_is_the_hadamard_rotated_liouvillian(shape, periodic):
    """in_x_basis writes the model for U rho U (U the Hadamard on every site): its Liouvillian is
    W L W^dag with W = U kron conj(U) on row-major vec(rho), for every coupling, field and jump."""
    import functools

    from lindblad_nqs.model import HADAMARD

    system = random_system(shape, periodic, seed=7)
    rot = system.in_x_basis()
    U = functools.reduce(np.kron, [HADAMARD] * system.n_sites)
    W = np.kron(U, U.conj())
    np.testing.assert_allclose(dense_liouvillian(rot).toarray(), W @ dense_liouvillian(system).toarray() @ W.conj().T,
                               atol=1e-12)
    # the rotated sigma^- breaks Z parity even when the unrotated model keeps it
    tfi_rot = SpinSystem(Lattice((3,), True), (1.0, 0.0, 0.0), (0.0, 0.0, 0.5), (Jump("sigma_minus", 1.0),))
    assert tfi_rot.conserves_z_parity() and not tfi_rot.in_x_basis().conserves_z_parity()


def test_bonds_of_lattices():
    assert Lattice((4,), True).bonds == ((0, 1), (1, 2), (2, 3), (0, 3)) or len(Lattice((4,), True).bonds) == 4
    assert len(Lattice((4,), False).bonds) == 3
    assert len(Lattice((3, 3), True).bonds) == 18
    assert len(Lattice((3, 3), False).bonds) == 12
    assert len(Lattice((4, 4), True).bonds) == 32
    # a periodic axis of length 2 has one bond per pair, not two
    assert len(Lattice((2, 2), True).bonds) == 4


def test_symmetry_group_sizes():
    assert len(Lattice((3, 3), True).symmetry_permutations) == 72  # 9 translations x 8 point operations
    assert len(Lattice((6,), True).symmetry_permutations) == 12
    assert len(Lattice((6,), False).symmetry_permutations) == 2
    assert len(Lattice((2, 3), False).symmetry_permutations) == 4


def test_snake_orderings_are_paths():
    lat = Lattice((3, 3), True)
    for corner in range(4):
        for vertical in (False, True):
            order = lat.snake_ordering(corner, vertical)
            assert sorted(order) == list(range(9))
            steps = [np.abs(np.subtract(lat.coords(a), lat.coords(b))).sum() for a, b in zip(order, order[1:])]
            assert all(s == 1 for s in steps)
