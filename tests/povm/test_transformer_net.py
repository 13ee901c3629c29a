"""The autoregressive Transformer (luo2022): normalisation, exact sampling, key/value cache,
product-state initialisation, on systems small enough to enumerate all 4^N outcomes."""

import math

import numpy as np
import pytest
import torch
from scipy.stats import chi2

from lindblad_nqs.nets.transformer import Transformer, all_configurations

torch.set_num_threads(1)

TETRA_UP = [0.5, 1 / 6, 1 / 6, 1 / 6]  # tetrahedral POVM probabilities of |up>


def sharp_model(n_sites, n_layers, seed=0, scale=2.0, d_model=16, dtype=torch.float64):
    """A random Transformer whose distribution is far from uniform and strongly correlated, so that
    wrong conditionals show up clearly in sampled frequencies."""
    torch.manual_seed(seed)
    m = Transformer(n_sites, n_layers=n_layers, d_model=d_model, n_heads=4, dtype=dtype)
    with torch.no_grad():
        m.embed.weight.mul_(scale)
        m.head.weight.mul_(scale)
        for layer in m.layers:
            layer.qkv.weight.mul_(scale)
    return m


def exact_probs(model, n_sites):
    a = all_configurations(n_sites)
    with torch.no_grad():
        return model.log_prob(a).exp()


def codes(a):
    """Configuration -> its index in all_configurations (site 0 most significant)."""
    n = a.shape[1]
    return (a * (4 ** torch.arange(n - 1, -1, -1))).sum(1)


def chi_square_pvalue(samples, probs, min_expected=5.0):
    """Pearson chi-square of sampled counts against exact probabilities; bins with an expected count
    below ``min_expected`` are pooled into one bin."""
    m = samples.shape[0]
    counts = torch.bincount(codes(samples.cpu()), minlength=probs.numel()).double().numpy()
    expected = m * probs.double().cpu().numpy()
    small = expected < min_expected
    if small.any():
        counts = np.append(counts[~small], counts[small].sum())
        expected = np.append(expected[~small], expected[small].sum())
    stat = float(((counts - expected) ** 2 / expected).sum())
    return float(chi2.sf(stat, len(expected) - 1))


def unmasked_log_conditionals(model, a):
    """Conditionals of a wrong sampler: at site k, the full stack run WITHOUT the causal mask on the
    prefix (start, a_0..a_{k-1}). Exact for one layer only."""
    tokens = model._inputs(a)
    out = [torch.log_softmax(model._logits(tokens[:, : k + 1], causal=False)[:, -1], -1) for k in range(a.shape[1])]
    return torch.stack(out, 1)


@torch.no_grad()
def unmasked_sample(model, n, generator):
    a = torch.zeros(n, model.n_sites, dtype=torch.long)
    u = torch.rand(n, model.n_sites, generator=generator, dtype=model.dtype)
    for k in range(model.n_sites):
        tokens = model._inputs(a)[:, : k + 1]
        p = torch.softmax(model._logits(tokens, causal=False)[:, -1], -1)
        a[:, k] = (u[:, k : k + 1] >= p.cumsum(-1)[:, :3]).sum(-1)
    return a


@pytest.mark.parametrize("n_sites", [3, 4])
@pytest.mark.parametrize("n_layers", [1, 2])
def test_probabilities_sum_to_one(n_sites, n_layers):
    m = sharp_model(n_sites, n_layers, seed=n_sites + 10 * n_layers)
    p = exact_probs(m, n_sites)
    assert p.min() > 0
    assert abs(p.sum().item() - 1) < 1e-12
    # float32 (the default) is normalised to float32 accuracy
    m32 = Transformer(n_sites, n_layers=n_layers, d_model=32)
    assert m32.dtype == torch.float32
    assert abs(exact_probs(m32, n_sites).double().sum().item() - 1) < 1e-5


def test_log_prob_is_sum_of_log_conditionals_and_differentiable():
    m = sharp_model(5, 2, seed=3)
    a = torch.randint(4, (64, 5), generator=torch.Generator().manual_seed(0))
    lc = m.log_conditionals(a)
    assert torch.allclose(lc.exp().sum(-1), torch.ones(64, 5, dtype=torch.float64))
    lp = m.log_prob(a)
    ref = sum(lc[torch.arange(64), k, a[:, k]] for k in range(5))
    assert torch.allclose(lp, ref, atol=1e-12)
    # the conditional of site k does not depend on a_k or later outcomes
    b = a.clone()
    b[:, 2:] = (b[:, 2:] + 1) % 4
    assert torch.allclose(m.log_conditionals(b)[:, :3], lc[:, :3], atol=1e-12)
    assert not torch.allclose(m.log_conditionals(b)[:, 3:], lc[:, 3:], atol=1e-6)
    lp.sum().backward()
    for name, p in m.named_parameters():
        if name.startswith("embed"):
            # the start token and the outcomes fed in all receive gradient
            assert p.grad.abs().sum(1).min() > 0, name
        else:
            assert p.grad is not None and p.grad.abs().max() > 0, name


@pytest.mark.parametrize("n_layers", [1, 2])
def test_product_state_initialisation_is_exact(n_layers):
    torch.manual_seed(1)
    m = Transformer(4, n_layers=n_layers, d_model=16, site_probs=TETRA_UP, dtype=torch.float64)
    a = all_configurations(4)
    ref = torch.log(torch.tensor(TETRA_UP, dtype=torch.float64))[a].sum(1)
    assert torch.allclose(m.log_prob(a), ref, atol=1e-13, rtol=0)
    assert torch.all(m.head.weight == 0)
    # the other layers keep PyTorch's random default initialisation
    assert m.layers[0].qkv.weight.std() > 0.05
    s = m.sample(40000, torch.Generator().manual_seed(2))
    freq = torch.bincount(s.flatten(), minlength=4).double() / s.numel()
    assert torch.allclose(freq, torch.tensor(TETRA_UP, dtype=torch.float64), atol=0.01)
    # training can leave the product state: the head's weight gets a gradient
    m.log_prob(s[:100]).sum().backward()
    assert m.head.weight.grad.abs().max() > 0


@pytest.mark.parametrize("n_layers", [1, 2, 3])
def test_cached_conditionals_equal_full_forward(n_layers):
    m = sharp_model(7, n_layers, seed=n_layers)
    a = torch.randint(4, (50, 7), generator=torch.Generator().manual_seed(5))
    full = m.log_conditionals(a)
    cached = m.cached_log_conditionals(a)
    assert (full - cached).abs().max() < 1e-12
    # the sampler's own log p (accumulated from the cached conditionals) equals the forward pass's
    s, lp = m.sample(300, torch.Generator().manual_seed(6), return_log_prob=True)
    assert torch.allclose(lp, m.log_prob(s), atol=1e-12)
    # the uncached sampler (full forward over the prefix per site) draws the same samples
    s2, lp2 = m.sample(300, torch.Generator().manual_seed(6), use_cache=False, return_log_prob=True)
    assert torch.equal(s, s2) and torch.allclose(lp, lp2, atol=1e-12)


def test_unmasked_conditionals_exact_for_one_layer_only():
    a = all_configurations(4)
    one, two = sharp_model(4, 1, seed=7), sharp_model(4, 2, seed=7)
    with torch.no_grad():
        assert (unmasked_log_conditionals(one, a) - one.log_conditionals(a)).abs().max() < 1e-12
        diff = (unmasked_log_conditionals(two, a) - two.log_conditionals(a)).abs().max()
    assert diff > 1e-2


@pytest.mark.parametrize("n_layers", [1, 2])
def test_sampled_frequencies_match_exact_probabilities(n_layers):
    m = sharp_model(3, n_layers, seed=0)
    p = exact_probs(m, 3)
    n = 40000
    s = m.sample(n, torch.Generator().manual_seed(11))
    assert s.shape == (n, 3) and s.dtype == torch.long
    assert chi_square_pvalue(s, p) > 1e-3
    # chunked sampling draws from the same distribution
    s_chunked = m.sample(n, torch.Generator().manual_seed(12), chunk_size=7000)
    assert chi_square_pvalue(s_chunked, p) > 1e-3
    tv = 0.5 * (torch.bincount(codes(s), minlength=64).double() / n - p).abs().sum()
    assert tv < 0.03
    if n_layers == 2:
        # the same statistical test rejects a sampler that drops the causal mask
        bad = unmasked_sample(m, n, torch.Generator().manual_seed(11))
        assert chi_square_pvalue(bad, p) < 1e-6


def test_sampling_is_reproducible_with_a_generator():
    m = sharp_model(6, 2, seed=4, dtype=torch.float32)
    a = m.sample(100, torch.Generator().manual_seed(3))
    b = m.sample(100, torch.Generator().manual_seed(3))
    c = m.sample(100, torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.min() >= 0 and a.max() <= 3
    assert m.sample(0).shape == (0, 6)


def test_bad_inputs_are_rejected():
    m = Transformer(4, d_model=8, n_heads=2)
    with pytest.raises(ValueError):
        m.log_prob(torch.zeros(3, 5, dtype=torch.long))
    with pytest.raises(ValueError):
        Transformer(4, d_model=10, n_heads=4)
    with pytest.raises(ValueError):
        Transformer(4, site_probs=[0.5, 0.5, -0.1, 0.1])


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    m = sharp_model(5, 2, seed=9)
    g = m.to("cuda")
    assert g.device.type == "cuda"
    a = torch.randint(4, (200, 5), generator=torch.Generator().manual_seed(1))
    lp = g.log_prob(a.cuda())
    assert (g.cached_log_conditionals(a.cuda()) - g.log_conditionals(a.cuda())).abs().max() < 1e-10
    cpu = sharp_model(5, 2, seed=9)
    assert torch.allclose(lp.cpu(), cpu.log_prob(a), atol=1e-10)
    s, slp = g.sample(20000, torch.Generator(device="cuda").manual_seed(0), return_log_prob=True)
    assert s.device.type == "cuda" and torch.allclose(slp, g.log_prob(s), atol=1e-10)
    small = sharp_model(3, 2, seed=0).to("cuda")
    s = small.sample(40000, torch.Generator(device="cuda").manual_seed(11))
    assert chi_square_pvalue(s, exact_probs(small, 3)) > 1e-3


@pytest.mark.parametrize("n_layers", [1, 2])
def test_log_prob_from_a_parents_prefix_equals_the_full_pass(n_layers):
    """Strings that agree with a parent string before a site `first` and differ there: their log p from
    the parent's cached pass equals log_prob, value and gradient, for every first in 0..N."""
    torch.manual_seed(0)
    n = 7
    m = Transformer(n, n_layers=n_layers, d_model=16, n_heads=4, dtype=torch.float64)
    a = torch.randint(0, 4, (5, n))
    parent = torch.randint(0, 5, (200,))
    first = torch.randint(0, n + 1, (200,))
    b = a[parent].clone()
    for j, f in enumerate(first.tolist()):
        if f < n:
            b[j, f] = (b[j, f] + torch.randint(1, 4, ()).item()) % 4
            b[j, f + 1:] = torch.randint(0, 4, (n - f - 1,))
    w = torch.randn(200, dtype=torch.float64)
    m.zero_grad()
    ref = m.log_prob(b)
    (w * ref).sum().backward()
    g_ref = [p.grad.clone() for p in m.parameters()]
    m.zero_grad()
    got = m.log_prob_from_parents(b, parent, first, m.parent_pass(a))
    (w * got).sum().backward()
    assert torch.allclose(got, ref, atol=1e-12)
    assert all(torch.allclose(p.grad, g, atol=1e-11) for p, g in zip(m.parameters(), g_ref))
