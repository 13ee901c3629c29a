"""Samplers reproduce exact distributions (total-variation bound; a wrong distribution fails it)."""

import jax
import numpy as np
import pytest

from lindblad_nqs.vmc.configs import all_doubled, doubled_index, in_parity_sector
from lindblad_nqs.vmc.sampling import ExactSampler, prng_key, MetropolisSampler, autocorr_time, split_rhat
from lindblad_nqs.vmc.table import table_log_rho, table_params


def random_rho(n, seed, sector=False):
    rng = np.random.default_rng(seed)
    rho = (rng.normal(size=4**n) + 1j * rng.normal(size=4**n)) * np.exp(rng.normal(size=4**n))
    if sector:
        rho = np.where(in_parity_sector(all_doubled(n)), rho, 0)
    return rho


def histogram(x, n):
    idx = doubled_index(np.asarray(x).reshape(-1, 2, n))
    return np.bincount(idx, minlength=4**n) / idx.size


def tv(p, q):
    return 0.5 * np.abs(p - q).sum()


@pytest.mark.parametrize("beta,sector", [(1.0, False), (0.4, False), (1.0, True), (0.3, True)])
def test_doubled_metropolis_matches_rho_power(beta, sector):
    n = 2
    rho = random_rho(n, seed=int(10 * beta) + sector, sector=sector)
    lr = table_log_rho(n)
    s = MetropolisSampler(lr, n, 256, "doubled", 2 * beta, sector=sector)
    x0 = s.init_state(prng_key(0))
    _, batch = s.sample(table_params(rho), x0, prng_key(1), 200, 20)
    h = histogram(batch.x, n)
    p = np.abs(rho) ** (2 * beta)
    p /= p.sum()
    wrong = np.abs(rho) ** (2 * (beta + 0.3) if beta < 1 else 1.0)
    wrong /= wrong.sum()
    assert tv(h, p) < 0.02, tv(h, p)
    assert tv(p, wrong) > 0.06  # the bound can tell a different power apart
    if sector:
        assert h[~in_parity_sector(all_doubled(n))].sum() == 0
    assert 0.05 < batch.acceptance < 1
    assert split_rhat(np.asarray(batch.log_rho).real) < 1.05


def test_diagonal_metropolis_matches_modulus_of_diagonal():
    n = 3
    rho = random_rho(n, seed=3)
    d = np.abs(np.diag(rho.reshape(2**n, 2**n)))
    p = d / d.sum()
    s = MetropolisSampler(table_log_rho(n), n, 256, "diagonal", 1.0)
    _, batch = s.sample(table_params(rho), s.init_state(prng_key(2)), prng_key(3), 200, 20)
    x = np.asarray(batch.x).reshape(-1, 2, n)
    assert np.array_equal(x[:, 0], x[:, 1])
    idx = doubled_index(x) // 2**n
    h = np.bincount(idx, minlength=2**n) / idx.size
    assert tv(h, p) < 0.02, tv(h, p)
    assert tv(p, np.full(2**n, 1 / 2**n)) > 0.06


def test_exact_sampler_sector():
    n = 2
    rho = random_rho(n, seed=5, sector=True)
    s = ExactSampler(table_log_rho(n), n, 64, "doubled", 1.0, sector=True)
    _, batch = s.sample(table_params(rho), None, prng_key(0), 500)
    h = histogram(batch.x, n)
    p = np.abs(rho)
    p /= p.sum()
    assert tv(h, p) < 0.02


def test_diagnostics_detect_bad_mixing():
    rng = np.random.default_rng(0)
    good = rng.normal(size=(16, 400))
    stuck = good + np.arange(16)[:, None]  # chains at different levels
    assert abs(split_rhat(good) - 1) < 0.02 and split_rhat(stuck) > 2
    ar = np.zeros((16, 2000))
    for t in range(1, 2000):
        ar[:, t] = 0.9 * ar[:, t - 1] + rng.normal(size=16)
    assert autocorr_time(good) < 1.5
    assert 12 < autocorr_time(ar) < 26  # (1 + 0.9)/(1 - 0.9) = 19
