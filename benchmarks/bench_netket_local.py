"""Our doubled-basis local estimator against NetKet's LocalLiouvillian: same values, and samples per second.

NetKet is the peer code for L_loc = (L rho)(x)/rho(x); it is NOT a dependency of the project. Install it
only in a separate benchmark environment, e.g.

    python3 -m venv /tmp/nk && /tmp/nk/bin/pip install netket==3.23.0   # pulls jax 0.10.2 like ours
    /tmp/nk/bin/python benchmarks/bench_netket_local.py [--sizes 4 8 16 32] [--samples 4096]

For the dissipative TFI ring (V = 2, g = 1, sigma^- decay) and the purified RBM of the paper's comparison
(alpha = 1, beta = 4, random parameters of a realistic scale), both codes get the same doubled
configurations; NetKet supplies connected configurations and matrix elements (get_conn_padded, Numba) and
the same jitted network evaluates rho on them. The script checks that the two L_loc agree (an
independent cross-check of the Liouvillian convention: NetKet's Spin(1/2) local state +1 is our bit 0 =
up, rows then columns) and prints samples per second of each, and their ratio, from one run.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def netket_liouvillian(n, V=2.0, g=1.0, gamma=1.0):
    import netket as nk

    hi = nk.hilbert.Spin(0.5, n)
    sz, sx, sm = nk.operator.spin.sigmaz, nk.operator.spin.sigmax, nk.operator.spin.sigmam
    H = sum(V / 4 * sz(hi, i) @ sz(hi, (i + 1) % n) for i in range(n)) + sum(g / 2 * sx(hi, i) for i in range(n))
    jumps = [np.sqrt(gamma) * sm(hi, i) for i in range(n)]
    return nk.operator.LocalLiouvillian(H, jumps)


def bench(n, n_samples, repeat, seed=0):
    import jax
    import jax.numpy as jnp
    from jax.flatten_util import ravel_pytree

    from lindblad_nqs.model import Jump, Lattice, SpinSystem
    from lindblad_nqs.nets.rbm_ndo import RBMDensityOperator
    from lindblad_nqs.vmc.local_estimator import LocalLiouvillian
    from lindblad_nqs.vmc.sampling import prng_key

    system = SpinSystem(Lattice((n,), True), (0.0, 0.0, 0.5), (0.5, 0.0, 0.0), (Jump("sigma_minus", 1.0),))
    module = RBMDensityOperator(n_sites=n, alpha=1.0, ancilla=4.0, init_std=0.1)
    theta, unravel = ravel_pytree(module.init(prng_key(seed), jnp.zeros((1, 2, n), jnp.int8)))
    log_rho = jax.jit(lambda x: module.apply(unravel(theta), x))
    ours = LocalLiouvillian(system)
    ours_fn = jax.jit(lambda x: ours.local_values(log_rho, x, None, ours.tables))

    rng = np.random.default_rng(seed)
    bits = rng.integers(0, 2, size=(n_samples, 2, n)).astype(np.int8)
    x = jnp.asarray(bits)
    sigma = (1 - 2 * bits.reshape(n_samples, 2 * n)).astype(np.float64)  # NetKet: (row, column), +1 = up

    lind = netket_liouvillian(n)

    def netket_lloc():
        xc, mels = lind.get_conn_padded(sigma)  # (B, M, 2N), (B, M)
        B, M = mels.shape
        xc_bits = ((1 - xc) // 2).astype(np.int8).reshape(B * M, 2, n)
        lc = log_rho(jnp.asarray(xc_bits)).reshape(B, M)
        l0 = log_rho(x)
        return jnp.sum(jnp.asarray(mels) * jnp.exp(lc - l0[:, None]), axis=1)

    a = np.asarray(jax.block_until_ready(ours_fn(x)))
    b = np.asarray(jax.block_until_ready(netket_lloc()))
    rel = float(np.max(np.abs(a - b)) / np.max(np.abs(b)))

    def timed(fn):
        t0 = time.perf_counter()
        for _ in range(repeat):
            jax.block_until_ready(fn())
        return n_samples * repeat / (time.perf_counter() - t0)

    return dict(n_sites=n, max_rel_diff=rel, ours_per_s=timed(lambda: ours_fn(x)), netket_per_s=timed(netket_lloc),
                connected_ours=ours.n_conn)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[4, 8, 16, 32])
    ap.add_argument("--samples", type=int, default=4096)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    import netket

    print(f"netket {netket.__version__}")
    ok = True
    for n in args.sizes:
        r = bench(n, args.samples, args.repeat)
        ok &= r["max_rel_diff"] < 1e-4
        print(f"N={n:3d}  max |L_loc ours - netket| / max |L_loc| = {r['max_rel_diff']:.1e}   "
              f"ours {r['ours_per_s']:9.0f} samples/s   netket {r['netket_per_s']:9.0f} samples/s   "
              f"ratio {r['ours_per_s'] / r['netket_per_s']:.2f}", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
