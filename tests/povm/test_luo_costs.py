"""Gradients of the luo2022 costs: the L1 steady-state cost (Eq. 5, gradient Eq. S22) and the
forward-backward trapezoid cost (Eq. 4) against finite differences of the exactly enumerated costs."""

import numpy as np
import pytest
import torch

from lindblad_nqs.model import Jump, Lattice, SpinSystem
from lindblad_nqs.nets.transformer import Transformer
from lindblad_nqs.povm import POVMLindbladian, all_strings
from lindblad_nqs.povm_solvers.costs import l1_cost, prepare, trapezoid_cost


def chain(n, periodic=False):
    return SpinSystem(Lattice((n,), periodic), (2.0, 0.0, 1.0), (0.0, 0.0, 1.0),
                      (Jump("sigma_minus", 1.0), Jump("sigma_z", 0.5)))


def model(n, seed):
    torch.manual_seed(seed)
    return Transformer(n, n_layers=1, d_model=8, n_heads=2, dtype=torch.float64)


def flat_params(m):
    return torch.cat([p.detach().reshape(-1) for p in m.parameters()])


def set_flat(m, vec):
    i = 0
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(vec[i:i + p.numel()].view_as(p))
            i += p.numel()


def flat_grad(m):
    return torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in m.parameters()])


def exact_probs(m, n):
    with torch.no_grad():
        return m.log_prob(torch.as_tensor(all_strings(n))).exp().numpy()


def directional_fd(m, f, v, eps=1e-5):
    x0 = flat_params(m)
    set_flat(m, x0 + eps * v)
    fp = f()
    set_flat(m, x0 - eps * v)
    fm = f()
    set_flat(m, x0)
    return (fp - fm) / (2 * eps)


@pytest.mark.parametrize("n,povm", [(2, "tetrahedral"), (3, "pauli4")])
def test_l1_gradient_matches_finite_differences(n, povm):
    lind = POVMLindbladian(chain(n), povm)
    L = lind.dense()
    m = model(n, seed=n)
    a = all_strings(n)
    exact = lambda: float(np.abs(L @ exact_probs(m, n)).sum())  # noqa: E731  sum_a |sum_b L_a^b p(b)|
    p = exact_probs(m, n)
    batch = prepare(lind, a, weights=p, dtype=torch.float64)
    m.zero_grad()
    res = l1_cost(m, batch)
    assert np.isclose(res.value, exact(), rtol=1e-10)
    g = flat_grad(m)
    # the biased alternative: autograd through the sampling weight 1/p(a) as well
    m.zero_grad()
    lp = m.log_prob(torch.as_tensor(a))
    num = torch.as_tensor(L) @ lp.exp()
    (torch.as_tensor(p) * num.abs() / lp.exp()).sum().backward()
    g_naive = flat_grad(m)
    rng = np.random.default_rng(0)
    for _ in range(3):
        v = torch.as_tensor(rng.normal(size=g.numel()))
        fd = directional_fd(m, exact, v)
        assert abs(float(g @ v) - fd) < 1e-6 * max(1.0, abs(fd)), (float(g @ v), fd)
        assert abs(float(g_naive @ v) - fd) > 1e-3 * max(1.0, abs(fd))  # the test can tell them apart


def test_trapezoid_gradient_matches_finite_differences():
    n, tau = 3, 0.02
    lind = POVMLindbladian(chain(n, periodic=True), "tetrahedral")
    L = lind.dense()
    old = model(n, seed=10)
    m = model(n, seed=11)
    q = exact_probs(old, n)
    a = all_strings(n)
    eye = np.eye(len(a))

    def exact():
        p = exact_probs(m, n)
        return float(np.abs((eye - tau * L) @ p - (eye + tau * L) @ q).sum())

    batch = prepare(lind, a, weights=exact_probs(m, n), dtype=torch.float64)
    with torch.no_grad():
        old_lp = old.log_prob(batch.strings)
    m.zero_grad()
    res = trapezoid_cost(m, old_lp, batch, tau)
    assert np.isclose(res.value, exact(), rtol=1e-10)
    g = flat_grad(m)
    rng = np.random.default_rng(1)
    for _ in range(3):
        v = torch.as_tensor(rng.normal(size=g.numel()))
        fd = directional_fd(m, exact, v)
        assert abs(float(g @ v) - fd) < 1e-6 * max(1.0, abs(fd)), (float(g @ v), fd)


def test_chunked_gradient_equals_single_pass():
    n = 3
    lind = POVMLindbladian(chain(n), "tetrahedral")
    m = model(n, seed=4)
    a = m.sample(300, torch.Generator().manual_seed(0))
    batch = prepare(lind, a, dtype=torch.float64)
    m.zero_grad()
    r1 = l1_cost(m, batch, chunk=10**6)
    g1 = flat_grad(m).clone()
    m.zero_grad()
    r2 = l1_cost(m, batch, chunk=7)
    assert np.isclose(r1.value, r2.value, rtol=1e-12)
    assert torch.allclose(g1, flat_grad(m), rtol=1e-9, atol=1e-12)


def test_sampled_l1_gradient_is_unbiased():
    """The mean of Monte Carlo gradients over independent batches agrees with the exact gradient
    within 5 standard errors (per direction); the mean cost estimate agrees with the exact L1 norm."""
    n = 2
    lind = POVMLindbladian(chain(n), "tetrahedral")
    L = lind.dense()
    m = model(n, seed=7)
    p = exact_probs(m, n)
    m.zero_grad()
    l1_cost(m, prepare(lind, all_strings(n), weights=p, dtype=torch.float64))
    g_exact = flat_grad(m).clone()
    gen = torch.Generator().manual_seed(3)
    rng = np.random.default_rng(5)
    V = torch.as_tensor(rng.normal(size=(4, g_exact.numel())))
    proj, vals = [], []
    for _ in range(200):
        m.zero_grad()
        res = l1_cost(m, prepare(lind, m.sample(400, gen), dtype=torch.float64))
        proj.append((V @ flat_grad(m)).numpy())
        vals.append(res.value)
    proj = np.array(proj)
    mean, se = proj.mean(0), proj.std(0, ddof=1) / np.sqrt(len(proj))
    assert np.all(np.abs(mean - (V @ g_exact).numpy()) < 5 * se), (mean, (V @ g_exact).numpy(), se)
    assert abs(np.mean(vals) - np.abs(L @ p).sum()) < 5 * np.std(vals, ddof=1) / np.sqrt(len(vals))


@pytest.mark.parametrize("words", [1, 3])
def test_unique_rows_of_keys_match_numpy(words):
    from lindblad_nqs.povm_solvers.costs import _unique_rows

    k = np.random.default_rng(0).integers(0, 4, size=(5000, words))
    u, inv, cnt = (x.numpy() for x in _unique_rows(torch.as_tensor(k)))
    u2, inv2, cnt2 = np.unique(k, axis=0, return_inverse=True, return_counts=True)
    assert np.array_equal(u, u2) and np.array_equal(inv, inv2.ravel()) and np.array_equal(cnt, cnt2)
    assert np.array_equal(u[inv], k)


def test_prepare_on_a_long_chain_matches_the_padded_gather():
    """N = 33 needs two key words; the deduplicated batch reproduces sum_b L_a^b p(b) of the padded form."""
    n = 33
    lind = POVMLindbladian(SpinSystem(Lattice((n,), True), (1.0, 0.5, 0.2), (0.3, 0.0, 0.0),
                                      (Jump("sigma_minus", 1.0),)), "tetrahedral")
    rng = np.random.default_rng(1)
    a = rng.integers(0, 4, size=(20, n))
    a[10:] = a[:10]  # duplicates merge into counts
    batch = prepare(lind, a, dtype=torch.float64)
    assert batch.n_a == 10 and np.allclose(batch.weights.numpy(), 0.1)
    w = rng.random(4)  # a product "probability" p(b) = prod_i w[b_i], evaluated on the distinct strings
    pb = np.prod(w[batch.strings.numpy()], axis=1)
    got = np.bincount(batch.rows.numpy(), weights=batch.mel.numpy() * pb[batch.cols.numpy()], minlength=batch.n_a)
    b, mel = lind.connected(batch.strings.numpy()[batch.a_index.numpy()])
    want = np.sum(mel * np.prod(w[b.astype(np.int64)], axis=2), axis=1)
    assert np.allclose(got, want)


def test_keys_decode_into_a_torch_tensor():
    """prepare() decodes the distinct keys on a GPU into a torch tensor; the same code on CPU tensors
    gives back the strings that were encoded (two key words at N = 40)."""
    from lindblad_nqs.operators.torch_apply import torch_table

    op = torch_table(POVMLindbladian(chain(40), "tetrahedral").table)
    a = np.random.default_rng(3).integers(0, 4, size=(50, 40))
    keys = op.keys(torch.as_tensor(a))
    out = op.decode(keys, out=torch.empty((50, 40), dtype=torch.long))
    assert isinstance(out, torch.Tensor) and torch.equal(out, torch.as_tensor(a))


def test_connected_strings_from_their_samples_prefix_give_the_same_cost_and_gradient():
    """prepare() gives each connected string a sample it leaves at site `first`; the Transformer then
    evaluates it from there on. Cost and gradient equal the full pass, in one chunk and in many."""
    import dataclasses

    from lindblad_nqs.povm_solvers.costs import batch_log_prob

    n = 6
    lind = POVMLindbladian(chain(n), "tetrahedral")
    torch.manual_seed(3)
    m = Transformer(n, n_layers=2, d_model=8, n_heads=2, dtype=torch.float64)
    a = torch.randint(0, 4, (40, n))
    batch = prepare(lind, a, dtype=torch.float64)
    strings = batch.strings.numpy()
    parents = strings[batch.a_index.numpy()][batch.parent.numpy()]
    f = batch.first.numpy()
    for row, (s, p, k) in enumerate(zip(strings, parents, f)):
        assert np.array_equal(s[:k], p[:k]) and (k == n or s[k] != p[k]), row
    assert np.all(np.diff(f) >= 0)  # ordered by the first changed site
    # of all samples connected to b, the parent shares the longest prefix with it (the shortest suffix)
    samples = strings[batch.a_index.numpy()]
    for r, c in zip(batch.rows.numpy(), batch.cols.numpy()):
        differ = np.flatnonzero(samples[r] != strings[c])
        assert (differ[0] if len(differ) else n) <= f[c]
    full = dataclasses.replace(batch, parent=None, first=None)
    assert torch.allclose(batch_log_prob(m, batch, 7), m.log_prob(batch.strings), atol=1e-12)
    results = []
    for b, chunk in ((full, 10**6), (batch, 10**6), (batch, 7)):
        m.zero_grad()
        value = l1_cost(m, b, chunk=chunk).value
        results.append((value, flat_grad(m)))
        old = m.log_prob(b.strings).detach() - 0.01
        m.zero_grad()
        results.append((trapezoid_cost(m, old, b, 0.01, chunk=chunk).value, flat_grad(m)))
    for i in range(2, len(results)):  # (l1, trapezoid) with prefixes, one chunk then many, vs the full pass
        ref_v, ref_g = results[i % 2]
        assert abs(results[i][0] - ref_v) < 1e-10 * abs(ref_v)
        assert torch.allclose(results[i][1], ref_g, atol=1e-10, rtol=1e-8)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_prepare_on_cuda_matches_cpu():
    """The preparation runs on the network's device: on a GPU it gives the CPU's batch entry by entry
    (two key words at N = 40, duplicated samples)."""
    lind = POVMLindbladian(SpinSystem(Lattice((40,), True), (1.0, 0.5, 0.2), (0.3, 0.0, 0.1),
                                      (Jump("sigma_minus", 1.0),)), "tetrahedral")
    a = np.random.default_rng(6).integers(0, 4, size=(400, 40))
    a[200:300] = a[:100]
    cpu, gpu = prepare(lind, a, dtype=torch.float64), prepare(lind, a, device="cuda", dtype=torch.float64)
    for name in ("strings", "a_index", "weights", "rows", "cols", "mel", "parent", "first", "keys"):
        assert torch.equal(getattr(cpu, name), getattr(gpu, name).cpu()), name
