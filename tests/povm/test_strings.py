"""String States (luo2022): the string orderings, the exact mixture log p, its sampler and symmetry."""

import math

import numpy as np
import pytest
import torch
from scipy.stats import chi2

from lindblad_nqs.model.lattice import Lattice
from lindblad_nqs.nets.strings import STRING_SETS, StringStates, parse_strings, string_orderings
from lindblad_nqs.nets.transformer import all_configurations

torch.set_num_threads(1)

TETRA_UP = [0.5, 1 / 6, 1 / 6, 1 / 6]  # tetrahedral POVM probabilities of |up>


def codes(a):
    """Configuration -> its index in all_configurations (site 0 most significant)."""
    n = a.shape[1]
    return (a * (4 ** torch.arange(n - 1, -1, -1))).sum(1)


def chi_square_pvalue(samples, probs, min_expected=5.0):
    """Pearson chi-square of sampled counts against exact probabilities (bins expected below
    ``min_expected`` pooled)."""
    counts = torch.bincount(codes(samples.cpu()), minlength=probs.numel()).double().numpy()
    expected = samples.shape[0] * probs.double().cpu().numpy()
    small = expected < min_expected
    if small.any():
        counts = np.append(counts[~small], counts[small].sum())
        expected = np.append(expected[~small], expected[small].sum())
    return float(chi2.sf(((counts - expected) ** 2 / expected).sum(), len(expected) - 1))

# The 3x3 strings written out by hand (sites row-major, 0 1 2 / 3 4 5 / 6 7 8): entry k = k-th site.
EXPECTED_3x3 = {
    0: [0, 1, 2, 3, 4, 5, 6, 7, 8],
    1: [0, 1, 2, 5, 4, 3, 6, 7, 8],  # top-left, along rows
    2: [0, 3, 6, 7, 4, 1, 2, 5, 8],  # top-left, along columns
    3: [2, 5, 8, 7, 4, 1, 0, 3, 6],  # top-right, along columns
    4: [2, 1, 0, 3, 4, 5, 8, 7, 6],  # top-right, along rows
    5: [8, 7, 6, 3, 4, 5, 2, 1, 0],  # bottom-right, along rows
    6: [8, 5, 2, 1, 4, 7, 6, 3, 0],  # bottom-right, along columns
    7: [6, 3, 0, 1, 4, 7, 8, 5, 2],  # bottom-left, along columns
    8: [6, 7, 8, 5, 4, 3, 0, 1, 2],  # bottom-left, along rows
}


def sharp_strings(lattice, strings, n_layers=1, seed=0, scale=2.0):
    torch.manual_seed(seed)
    m = StringStates(lattice, strings, n_layers=n_layers, d_model=16, n_heads=4, dtype=torch.float64)
    with torch.no_grad():
        m.base.embed.weight.mul_(scale)
        m.base.head.weight.mul_(scale)
        for layer in m.base.layers:
            layer.qkv.weight.mul_(scale)
    return m


def test_orderings_of_the_3x3_lattice():
    lat = Lattice((3, 3))
    orders = string_orderings(lat, list(range(9)))
    for s, expected in EXPECTED_3x3.items():
        assert orders[s].tolist() == expected, s
        assert sorted(expected) == list(range(9))
    # consecutive sites of every snake are lattice neighbours; string 0 jumps at row ends
    for s in range(1, 9):
        o = orders[s]
        assert all(abs(divmod(int(i), 3)[0] - divmod(int(j), 3)[0]) + abs(divmod(int(i), 3)[1] - divmod(int(j), 3)[1]) == 1
                   for i, j in zip(o[:-1], o[1:]))
    assert [len(parse_strings(k)) for k in STRING_SETS] == [1, 1, 2, 4, 8]
    assert parse_strings("4s") == (1, 2, 3, 4) and parse_strings(0) == (0,)
    m = StringStates(lat, "8s", d_model=8, n_heads=2)
    assert np.array_equal(m.orderings(), orders[1:])
    for bad in ("3s", [9], [1, 1], []):
        with pytest.raises(ValueError):
            parse_strings(bad)
    with pytest.raises(ValueError):
        string_orderings(Lattice((6,)), "2s")


@pytest.mark.parametrize("shape,strings", [((2, 2), "8s"), ((2, 3), "4s"), ((2, 2), "0s")])
def test_mixture_log_prob_matches_brute_force(shape, strings):
    lat = Lattice(shape)
    m = sharp_strings(lat, strings, n_layers=2, seed=1)
    a = all_configurations(lat.n_sites)
    with torch.no_grad():
        lp = m.log_prob(a)
        # brute force: permute the configurations into each string's order and call the base model
        total = torch.zeros(a.shape[0], dtype=torch.float64)
        for order in string_orderings(lat, strings):
            total += m.base.log_prob(a[:, torch.as_tensor(order)]).exp()
        total /= len(parse_strings(strings))
    assert torch.allclose(lp.exp(), total, rtol=1e-12, atol=0)
    assert abs(lp.exp().sum().item() - 1) < 1e-12
    if strings != "0s":
        # a real mixture: the strings give different distributions
        per = m.log_prob_per_string(a[:50])
        assert (per - per[0]).abs().max() > 1e-2


def test_mixture_is_differentiable():
    m = sharp_strings(Lattice((2, 3)), "4s", seed=2)
    a = torch.randint(4, (32, 6), generator=torch.Generator().manual_seed(0))
    m.log_prob(a).sum().backward()
    assert all(p.grad is not None and p.grad.abs().max() > 0 for n, p in m.named_parameters() if "embed" not in n)


def _act(a, perm):
    """Move the outcome of site i to site perm[i]."""
    out = torch.empty_like(a)
    out[:, torch.as_tensor(perm)] = a
    return out


def test_string_sets_restore_lattice_symmetries():
    lat = Lattice((3, 3), periodic=False)
    perms = lat.symmetry_permutations  # the 8 symmetries of the square
    assert len(perms) == 8
    transpose = np.array([0, 3, 6, 1, 4, 7, 2, 5, 8])
    mirror = np.array([2, 1, 0, 5, 4, 3, 8, 7, 6])
    a = torch.randint(4, (200, 9), generator=torch.Generator().manual_seed(3))

    def max_change(model, perm):
        with torch.no_grad():
            return (model.log_prob(_act(a, perm)) - model.log_prob(a)).abs().max().item()

    m8 = sharp_strings(lat, "8s", seed=4)
    for g in perms:
        assert max_change(m8, g) < 1e-12
    m2 = sharp_strings(lat, "2s", seed=4)
    assert max_change(m2, transpose) < 1e-12
    assert max_change(m2, mirror) > 1e-3
    m1 = sharp_strings(lat, "1s", seed=4)
    assert max_change(m1, transpose) > 1e-3


def test_mixture_sampling_matches_exact_probabilities():
    lat = Lattice((2, 2))
    m = sharp_strings(lat, "4s", n_layers=2, seed=5)
    a = all_configurations(4)
    with torch.no_grad():
        p = m.log_prob(a).exp()
    n = 60000
    s, which = m.sample(n, torch.Generator().manual_seed(7), return_strings=True)
    assert s.shape == (n, 4)
    assert chi_square_pvalue(s, p) > 1e-3
    # the strings are drawn uniformly
    freq = torch.bincount(which, minlength=4).double() / n
    assert (freq - 0.25).abs().max() < 0.01
    # each sample is the base model's sequence laid along its string: a[order] is that sequence
    orders = m.orders
    seq = s[torch.arange(n).unsqueeze(1), orders[which]]
    x = m.base.sample(n, torch.Generator().manual_seed(7))
    assert torch.equal(seq, x)
    # the same test rejects samples laid out with the inverse permutation by mistake
    wrong = torch.gather(x, 1, orders[which])
    assert chi_square_pvalue(wrong, p) < 1e-6


def test_product_initialisation_survives_the_mixture():
    lat = Lattice((3, 3))
    m = StringStates(lat, "8s", n_layers=2, d_model=16, site_probs=TETRA_UP, dtype=torch.float64)
    a = torch.randint(4, (100, 9), generator=torch.Generator().manual_seed(1))
    ref = torch.log(torch.tensor(TETRA_UP, dtype=torch.float64))[a].sum(1)
    assert torch.allclose(m.log_prob(a), ref, atol=1e-12, rtol=0)


def test_chain_uses_string_zero():
    lat = Lattice((5,))
    m = StringStates(lat, "0s", d_model=8, n_heads=2, dtype=torch.float64)
    a = torch.randint(4, (20, 5), generator=torch.Generator().manual_seed(0))
    assert torch.allclose(m.log_prob(a), m.base.log_prob(a), atol=1e-14)
    assert m.sample(10).shape == (10, 5)
