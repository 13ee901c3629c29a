"""Every sampler of the package against the exact distribution it claims to draw from, by one criterion.

A case returns (the configurations' indices drawn, the exact probabilities over all configurations, the
number of independent samples they are worth). The test bounds the total-variation distance between the
histogram and the exact distribution by a few times its sampling spread, and checks that the same bound
rejects the histogram against a nearby wrong distribution (the exact one with every other
configuration's weight changed by a factor e^0.6, total-variation distance about 0.15: smaller than
what a wrong exponent, a missing mask or a dropped factor does to these distributions), so that the
test has the power to fail. A new sampler joins with one entry in CASES.
"""

import numpy as np
import pytest

jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402


def _random_rho(n, seed):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=4**n) + 1j * rng.normal(size=4**n)) * np.exp(rng.normal(size=4**n))


def metropolis_doubled():
    from lindblad_nqs.vmc.configs import doubled_index
    from lindblad_nqs.vmc.sampling import MetropolisSampler, prng_key
    from lindblad_nqs.vmc.table import table_log_rho, table_params

    n, rho = 2, _random_rho(2, 1)
    s = MetropolisSampler(table_log_rho(n), n, 256, "doubled", 2.0)
    _, batch = s.sample(table_params(rho), s.init_state(prng_key(0)), prng_key(1), 200, 20)
    p = np.abs(rho) ** 2
    # consecutive samples of one chain are correlated: count one in four as independent
    return doubled_index(np.asarray(batch.x).reshape(-1, 2, n)), p / p.sum(), 256 * 200 / 4


def metropolis_diagonal():
    from lindblad_nqs.vmc.configs import doubled_index
    from lindblad_nqs.vmc.sampling import MetropolisSampler, prng_key
    from lindblad_nqs.vmc.table import table_log_rho, table_params

    n, rho = 3, _random_rho(3, 3)
    s = MetropolisSampler(table_log_rho(n), n, 256, "diagonal", 1.0)
    _, batch = s.sample(table_params(rho), s.init_state(prng_key(2)), prng_key(3), 200, 20)
    d = np.abs(np.diag(rho.reshape(2**n, 2**n)))
    return doubled_index(np.asarray(batch.x).reshape(-1, 2, n)) // 2**n, d / d.sum(), 256 * 200 / 4


def exact_doubled():
    from lindblad_nqs.vmc.configs import doubled_index
    from lindblad_nqs.vmc.sampling import ExactSampler, prng_key
    from lindblad_nqs.vmc.table import table_log_rho, table_params

    n, rho = 2, _random_rho(2, 5)
    s = ExactSampler(table_log_rho(n), n, 64, "doubled", 2.0)
    _, batch = s.sample(table_params(rho), None, prng_key(0), 500)
    p = np.abs(rho) ** 2
    return doubled_index(np.asarray(batch.x).reshape(-1, 2, n)), p / p.sum(), 64 * 500


def _povm_rnn(**kw):
    from lindblad_nqs.nets.rnn import POVMRNN
    from lindblad_nqs.povm.lindbladian import all_strings, string_index

    n, B = 3, 40_000
    with jax.enable_x64(True):
        m = POVMRNN(n, hidden=6, depth=2, init_noise=1.0, **kw)
        params = m.init(jax.random.key(0), jnp.zeros((1, n), jnp.int8))
        p = np.exp(np.asarray(m.apply(params, jnp.asarray(all_strings(n)))))
        s, _ = m.apply(params, jax.random.key(5), B, method=POVMRNN.sample)
    return string_index(np.asarray(s, np.int64)), p / p.sum(), B


def povm_rnn_gru():
    return _povm_rnn(cell="gru")


def povm_rnn_symmetrised():
    from lindblad_nqs.model.lattice import Lattice

    perms = tuple(tuple(int(i) for i in g) for g in Lattice((3,), True).symmetry_permutations)
    return _povm_rnn(cell="lstm", symmetries=perms)


def transformer():
    torch = pytest.importorskip("torch")
    from lindblad_nqs.nets.transformer import Transformer
    from lindblad_nqs.povm.lindbladian import all_strings, string_index

    torch.manual_seed(0)
    n, B = 3, 40_000
    m = Transformer(n, n_layers=2, d_model=16, n_heads=4, dtype=torch.float64)
    with torch.no_grad():  # far from uniform, so that wrong conditionals show
        m.embed.weight.mul_(2.0)
        m.head.weight.mul_(2.0)
        p = m.log_prob(torch.as_tensor(all_strings(n), dtype=torch.long)).exp().numpy()
    s = m.sample(B, torch.Generator().manual_seed(11)).numpy()
    return string_index(s.astype(np.int64)), p / p.sum(), B


CASES = {f.__name__: f for f in (metropolis_doubled, metropolis_diagonal, exact_doubled, povm_rnn_gru,
                                 povm_rnn_symmetrised, transformer)}


@pytest.mark.parametrize("name", list(CASES))
def test_sampler_draws_its_distribution(name):
    idx, p, n_eff = CASES[name]()
    hist = np.bincount(np.asarray(idx), minlength=p.size) / len(idx)
    # E[TV] for n multinomial draws is about sum_k sqrt(p_k (1 - p_k) / (2 pi n)); allow four times it
    bound = 4 * np.sum(np.sqrt(p * (1 - p) / (2 * np.pi * n_eff)))
    tv = 0.5 * np.abs(hist - p).sum()
    assert tv < bound, (tv, bound)
    wrong = p * np.exp(0.3 * (-1.0) ** np.arange(p.size))
    wrong /= wrong.sum()
    assert 0.5 * np.abs(hist - wrong).sum() > bound, "the bound cannot tell a wrong distribution apart"
