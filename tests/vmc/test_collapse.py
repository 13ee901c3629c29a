"""The sampler's acceptance per move kind against its exact stationary value, and the steady driver's collapse
check: it fires on chains over a rho that sits on one element and stays silent on an exact, nearly pure but
spread steady state whose chains accept hardly more than the ket-bra swaps (where the total acceptance cannot
tell them apart)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lindblad_nqs.exact.steady import solve_sector
from lindblad_nqs.spec import parse_spec
from lindblad_nqs.vmc import driver
from lindblad_nqs.vmc.configs import all_doubled, doubled_index
from lindblad_nqs.vmc.sampling import MOVES, MetropolisSampler, element_weights, move_probs, prng_key
from lindblad_nqs.vmc.table import table_log_rho, table_params


def tfi_steady(n, g):
    s = parse_spec({"system": {"lattice": {"shape": [n], "boundary": "periodic"},
                               "preset": {"name": "tfi", "V": 2.0, "g": g, "gamma": 1.0}},
                    "task": {"kind": "steady"}, "method": {"name": "exact"}, "observables": ["sz"]})
    return np.asarray(solve_sector(s.system).rho)


def one_element(n, contrast=10**-2.5):
    """A pure product state on the element (s, s), s = 0101..: rho = (x) |phi_i><phi_i| with phi_i = e_{s_i} + c
    e_{1 - s_i}, so each flip away from s divides |rho| by c = 10^-2.5 (|rho|^2 of every neighbour 1e-5 of the
    element's, as the quick Fig. 8 x-basis CNN that collapsed onto a product of sigma^x eigenstates: its
    neighbours' log|rho| -5.7)."""
    s = np.arange(n) % 2
    rho = np.ones((1, 1))
    for si in s:
        phi = np.where(np.arange(2) == si, 1.0, contrast)
        rho = np.kron(rho, np.outer(phi, phi))
    return rho.astype(complex), np.stack([s, s])


def chains(rho, n, beta, x0=None, n_chains=32, per_chain=32, seed=1):
    s = MetropolisSampler(table_log_rho(n), n, n_chains, "doubled", 2 * beta)
    x0 = s.init_state(prng_key(seed)) if x0 is None else jnp.asarray(np.repeat(x0[None], n_chains, 0).astype(np.int8))
    _, b = s.sample(table_params(rho), x0, prng_key(seed + 1), per_chain, n_discard=32)
    return s, b


def exact_acceptance(rho, n, power):
    """Stationary acceptance of the single and diag moves: sum_x p(x) mean_y min(1, p(y) / p(x))."""
    X = all_doubled(n)
    p = np.abs(rho.ravel()) ** power
    p = p / p.sum()
    flat = X.reshape(len(X), 2 * n)
    out = {}
    for kind, flips in (("single", [[i] for i in range(2 * n)]), ("diag", [[i, i + n] for i in range(n)])):
        acc = 0.0
        for f in flips:
            y = flat.copy()
            y[:, f] ^= 1
            py = p[doubled_index(y.reshape(-1, 2, n))]
            acc += np.sum(np.minimum(p, py)) / len(flips)
        out[kind] = acc
    return out


def test_acceptance_per_move_kind_matches_the_exact_stationary_value():
    n = 2
    rng = np.random.default_rng(4)
    a = rng.normal(size=(4, 4)) + 1j * rng.normal(size=(4, 4))
    rho = a @ a.conj().T  # Hermitian: |rho| symmetric, so every swap is accepted
    s, b = chains(rho, n, 1.0, n_chains=128, per_chain=100)
    assert b.proposed.sum() == 128 * 100 * s.sweep
    assert np.allclose(b.proposed / b.proposed.sum(), move_probs("doubled", False), atol=0.01)
    assert b.acceptance == pytest.approx(b.accepted.sum() / b.proposed.sum())
    got, want = b.acceptance_by_move, exact_acceptance(rho, n, 2.0)
    assert got["swap"] == 1.0 and "pair" not in got
    for kind in ("single", "diag"):
        assert abs(got[kind] - want[kind]) < 0.02, (kind, got[kind], want[kind])
    assert abs(want["single"] - want["diag"]) > 0.05  # the two kinds are told apart
    flips = [MOVES.index("single"), MOVES.index("diag")]
    assert b.flip_acceptance == pytest.approx(b.accepted[flips].sum() / b.proposed[flips].sum())


def test_element_weights_count_an_element_and_its_mirror_once():
    x = np.array([[[0, 1], [1, 0]], [[1, 0], [0, 1]], [[1, 1], [1, 1]], [[0, 1], [1, 0]]], np.int8)
    assert list(element_weights(x)) == [3, 1]
    assert list(element_weights(x, [0.1, 0.2, 0.6, 0.1])) == pytest.approx([0.6, 0.4])


def check(s, b, rho, n):
    return driver.chain_collapse(table_log_rho(n), table_params(rho), b, s)


@pytest.mark.parametrize("beta", [1.0, 0.5])
def test_collapse_check_fires_on_one_element(beta):
    n = 3
    rho, x0 = one_element(n)
    s, b = chains(rho, n, beta, x0)
    info = check(s, b, rho, n)
    assert info["collapsed"], info
    # exactly 1.1e-5 (single flips c^2 = 1e-5, diag flips c^4): the probes see the contrast of the element's
    # neighbours, whatever beta the chains ran at (6e-6 at beta = 1, 3e-5 at beta = 0.5 here)
    assert 2e-6 < info["final_l2_flip_acceptance"] < driver.COLLAPSE_L2_FLIP_ACCEPTANCE / 3
    assert info["final_peak_share"] > 0.999
    assert "collapsed onto one element" in driver.collapse_message(info)


@pytest.mark.parametrize("g,beta", [(0.5, 1.0), (0.25, 1.0), (0.25, 0.5)])
def test_collapse_check_silent_on_a_nearly_pure_spread_steady_state(g, beta):
    """The exact 3-spin TFI steady state (purity 0.995 at g = 0.5, 0.9998 at g = 0.25): its chains accept
    hardly more than the swaps, as the quick TFI runs at g = 0.5 did (total 0.124-0.126), so a check on the
    total acceptance (<= 1.5 x the swap share) fired on it; the collapse check does not."""
    n = 3
    rho = tfi_steady(n, g)
    s, b = chains(rho, n, beta)
    info = check(s, b, rho, n)
    if beta == 1.0:
        assert b.acceptance <= 1.5 * s.probs[MOVES.index("swap")]  # what the reverted warning fired on
    assert not info["collapsed"], info
    assert info["final_l2_flip_acceptance"] > 10 * driver.COLLAPSE_L2_FLIP_ACCEPTANCE
    assert info["final_distinct_elements"] > 2


def test_steady_run_records_flip_acceptance_and_flags_collapse(tmp_path, monkeypatch):
    """The driver's wiring: the history carries flip_acceptance, the provenance collapsed (False on a healthy
    run); a check that fires puts collapsed and the warning into the run's info."""
    from lindblad_nqs.methods import RunContext, get_method

    s = parse_spec({"system": {"lattice": {"shape": [2], "boundary": "open"}, "couplings": {"Jz": 0.5},
                               "field": {"hx": 0.6}, "jumps": [{"op": "sigma_minus", "rate": 1.0}]},
                    "task": {"kind": "steady"},
                    "method": {"name": "cnn", "features": [2], "kernels": [2], "iterations": 3, "n_samples": 64,
                               "n_chains": 8, "obs_samples": 64, "obs_chains": 8, "track_every": 100},
                    "observables": ["sz"]})
    res = get_method(s.method).solve(s, RunContext(state_dir=tmp_path / "a"))
    assert "flip_acceptance" in res.history and res.history["flip_acceptance"].between(0, 1).all()
    assert res.info["collapsed"] is False and "collapsed onto" not in str(res.info.get("warning"))
    real = driver.chain_collapse
    monkeypatch.setattr(driver, "chain_collapse", lambda *a, **k: real(*a, **k, threshold=2.0))
    res = get_method(s.method).solve(s, RunContext(state_dir=tmp_path / "b"))
    assert res.info["collapsed"] is True and "collapsed onto one element" in res.info["warning"]
