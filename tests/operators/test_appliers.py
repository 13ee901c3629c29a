"""One local-operator table, three appliers (NumPy, JAX, PyTorch): each gives the dense operator entry by
entry, against references built without the table -- QuTiP's Liouvillian (exact.qutip_model) in the
doubled basis, and Tr(M_a L(N^b)) with the many-site frame and that same QuTiP Liouvillian in the POVM
basis."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from lindblad_nqs.exact.qutip_model import liouvillian as qutip_liouvillian
from lindblad_nqs.liouvillian import liouvillian_table
from lindblad_nqs.model import Jump, Lattice, SpinSystem
from lindblad_nqs.operators.jax_apply import JaxTable
from lindblad_nqs.operators.torch_apply import SITES_PER_WORD, torch_table
from lindblad_nqs.povm import POVMLindbladian, all_strings, get_povm, string_index


def model(shape, periodic, seed=0):
    rng = np.random.default_rng(seed)
    jumps = (Jump("sigma_minus", 1.0), Jump("sigma_z", 0.3), Jump("sigma_plus", 0.2), Jump("sigma_x", 0.1))
    return SpinSystem(Lattice(shape, periodic), tuple(rng.normal(size=3)), tuple(rng.normal(size=3)), jumps)


SYSTEMS = {"chain-3-periodic": ((3,), True), "chain-3-open": ((3,), False), "2x2-periodic": ((2, 2), True)}


def qutip_row_major(system):
    """QuTiP's Liouvillian on row-major vec(rho) (index ket * 2^N + bra; QuTiP stacks columns)."""
    D = 2**system.n_sites
    perm = np.arange(D * D).reshape(D, D).T.ravel()
    return qutip_liouvillian(system).full()[np.ix_(perm, perm)]


def doubled_index(digits):
    """Digits 2 * ket + bra (..., N) -> row-major vec(rho) index ket * 2^N + bra."""
    d = np.asarray(digits, np.int64)
    n = d.shape[-1]
    place = 2 ** np.arange(n - 1, -1, -1)
    return ((d >> 1) @ place) * 2**n + (d & 1) @ place


def povm_reference(system, povm):
    """L_a^b = Tr(M_a L(N^b)) on the whole lattice."""
    n, D = system.n_sites, 2**system.n_sites
    L = qutip_liouvillian(system).full()
    M, N = povm.frame_n(n), povm.dual_n(n)
    LN = np.stack([(L @ Nb.T.ravel()).reshape(D, D).T for Nb in N])  # column-stacked vec in QuTiP
    out = np.einsum("aij,bji->ab", M, LN)
    assert np.max(np.abs(out.imag)) < 1e-12
    return out.real


def cases():
    """(name, table, all configurations, their dense indices, the independent dense reference)."""
    for name, (shape, periodic) in SYSTEMS.items():
        system = model(shape, periodic, seed=len(name))
        n = system.n_sites
        x = all_strings(n)
        yield f"doubled-{name}", liouvillian_table(system), x, doubled_index, qutip_row_major(system)
        yield (f"doubled-adjoint-{name}", liouvillian_table(system, adjoint=True), x, doubled_index,
               qutip_row_major(system).conj().T)
        for p in ("tetrahedral", "pauli4"):
            povm = get_povm(p)
            yield (f"povm-{p}-{name}", POVMLindbladian(system, povm).table, x, string_index,
                   povm_reference(system, povm))


CASES = {c[0]: c[1:] for c in cases()}


def dense_of(rows, cols, vals, size):
    out = np.zeros((size, size), complex)
    np.add.at(out, (rows, cols), vals)
    return out


@pytest.mark.parametrize("name", list(CASES))
def test_numpy_applier_gives_the_dense_operator(name):
    table, x, index, ref = CASES[name]
    y, mel = table.connected(x)
    assert y.shape == (len(x), table.n_connected, table.n_sites) and np.array_equal(y[:, 0], x)
    rows = np.repeat(np.arange(len(x)), y.shape[1])
    got = dense_of(rows, index(y.reshape(-1, table.n_sites)), mel.ravel(), len(x))  # row i: x[i]
    np.testing.assert_allclose(got, ref[index(x)], rtol=0, atol=1e-12)


def index_jax(z, doubled: bool):
    n = z.shape[-1]
    z = z.astype(jnp.int64)
    if doubled:
        place = 2 ** jnp.arange(n - 1, -1, -1)
        return ((z >> 1) @ place) * 2**n + (z & 1) @ place
    return z @ (4 ** jnp.arange(n - 1, -1, -1))


@pytest.mark.parametrize("name", list(CASES))
def test_jax_applier_gives_the_dense_operator_and_local_values(name):
    table, x, index, ref = CASES[name]
    n, doubled = table.n_sites, name.startswith("doubled")
    with jax.enable_x64(True):
        op = JaxTable(table)
        diag, y, mel = jax.jit(op.connected)(jnp.asarray(x, jnp.int8))
        y, mel = np.asarray(y), np.asarray(mel)
        assert y.shape == (len(x), op.n_offdiag, n)
        rows = np.repeat(np.arange(len(x)), y.shape[1])
        got = dense_of(np.concatenate([np.arange(len(x)), rows]),
                       np.concatenate([index(x), index(y.reshape(-1, n))]),
                       np.concatenate([np.asarray(diag), mel.ravel()]), len(x))
        np.testing.assert_allclose(got, ref[index(x)], rtol=0, atol=1e-12)
        # the local value (A f)(x) / f(x) of a random complex f (logarithms of negative reals included)
        rng = np.random.default_rng(1)
        f = rng.normal(size=len(x)) + 1j * rng.normal(size=len(x))  # over the dense index
        log_f = jnp.asarray(np.log(f))
        loc = jax.jit(lambda xx: op.local_values(lambda z: log_f[index_jax(z, doubled)], xx))(jnp.asarray(x))
        np.testing.assert_allclose(np.asarray(loc), (ref @ f)[index(x)] / f[index(x)], rtol=1e-10)


@pytest.mark.parametrize("name", [c for c in CASES if c.startswith("povm")])
def test_torch_applier_gives_the_dense_operator(name):
    table, x, index, ref = CASES[name]
    op = torch_table(table)
    rows, keys, mel = op.connected_flat(torch.as_tensor(x))
    b = op.decode(keys).numpy()
    got = dense_of(rows.numpy(), index(b), mel.numpy(), len(x))
    np.testing.assert_allclose(got, ref[index(x)], rtol=0, atol=1e-12)
    assert np.all(mel.numpy() != 0)  # only nonzero elements are listed


def long_chain():
    return POVMLindbladian(SpinSystem(Lattice((40,), True), (1.0, 0.5, 0.2), (0.3, 0.0, 1.0),
                                      (Jump("sigma_minus", 1.0),)), "tetrahedral")


def test_torch_keys_span_several_words_and_equal_the_numpy_applier():
    """At N = 40 (two key words, no dense reference) keys decode back, and the flat elements of each
    string equal those of the NumPy applier up to summing repeated strings."""
    lind = long_chain()
    op = torch_table(lind.table)
    assert op.n_words == 2 and 40 > SITES_PER_WORD
    a = np.random.default_rng(2).integers(0, 4, size=(5, 40))
    assert np.array_equal(op.decode(op.keys(torch.as_tensor(a))).numpy(), a)
    rows, keys, m = (t.numpy() for t in op.connected_flat(torch.as_tensor(a)))
    b, mel = lind.table.connected(a)
    for r in range(len(a)):
        got, want = {}, {}
        for s, v in zip(map(tuple, op.decode(torch.as_tensor(keys[rows == r])).numpy()), m[rows == r]):
            got[s] = got.get(s, 0.0) + v
        for s, v in zip(map(tuple, b[r].astype(np.int64)), mel[r]):
            want[s] = want.get(s, 0.0) + v
        want = {k: v for k, v in want.items() if abs(v) > 1e-12}
        got = {k: v for k, v in got.items() if abs(v) > 1e-12}
        assert got.keys() == want.keys()
        np.testing.assert_allclose([got[k] for k in want], list(want.values()), rtol=1e-13)


def test_first_difference_of_keys_matches_the_strings():
    """The first differing site read off the packed keys (two words at N = 40) equals a direct comparison."""
    op = torch_table(long_chain().table)
    rng = np.random.default_rng(5)
    a = rng.integers(0, 4, size=(300, 40))
    b = a.copy()
    cut = rng.integers(0, 41, size=300)
    for r, c in enumerate(cut):
        if c < 40:
            b[r, c] = (b[r, c] + rng.integers(1, 4)) % 4
            b[r, c + 1:] = rng.integers(0, 4, size=39 - c)
    got = op.first_difference(op.keys(torch.as_tensor(a)), op.keys(torch.as_tensor(b)))
    assert np.array_equal(got.numpy(), cut)


def test_terms_with_equal_matrices_share_a_group():
    """A periodic chain's bonds all carry the same superoperator: one group of N bonds, one of N sites."""
    table = liouvillian_table(model((5,), True))
    assert sorted((g.n_terms, g.k) for g in table.groups) == [(5, 1), (5, 2)]


def test_a_term_of_the_wrong_size_is_refused():
    from lindblad_nqs.operators import build_table

    with pytest.raises(ValueError, match="needs a 16-square matrix"):
        build_table(3, [((0, 1), np.eye(4))])
