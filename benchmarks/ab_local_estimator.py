"""The doubled-basis local estimator of two source trees in ONE process, interleaved: connected elements
and L_loc (purified RBM) on 1024 random configurations, 15 rounds, median and min of the ratios new / old.

    python benchmarks/ab_local_estimator.py OLD_SRC NEW_SRC

The new tree is the package imported; the old tree's vmc/local_estimator.py is loaded beside it (it
builds its tables from the same liouvillian.local_terms). Both compile the same network, so a
difference is the connected elements' own.
"""
import importlib.util
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

OLD, NEW = sys.argv[1], sys.argv[2]
sys.path.insert(0, NEW)
import lindblad_nqs.vmc  # noqa: E402,F401

spec = importlib.util.spec_from_file_location("lindblad_nqs.vmc._old_le", f"{OLD}/lindblad_nqs/vmc/local_estimator.py")
old = importlib.util.module_from_spec(spec); sys.modules[spec.name] = old; spec.loader.exec_module(old)
from lindblad_nqs.model import Jump, Lattice, SpinSystem  # noqa: E402
from lindblad_nqs.nets.rbm_ndo import RBMDensityOperator  # noqa: E402
from lindblad_nqs.vmc import local_estimator as new  # noqa: E402
print(new.__file__)
for name, s in [("tfi-16", SpinSystem(Lattice((16,), True), (0.0, 0.0, 0.5), (0.5, 0.0, 0.0), (Jump("sigma_minus", 1.0),))),
                ("xyz-3x3", SpinSystem(Lattice((3,3), True), (0.9, 1.8, 1.0), (0.0, 0.0, 0.0), (Jump("sigma_minus", 1.0),)))]:
    n = s.n_sites
    x = jnp.asarray(np.random.default_rng(0).integers(0, 2, size=(1024, 2, n)), jnp.int8)
    m = RBMDensityOperator(n_sites=n, alpha=1.0, ancilla=4.0)
    p = m.init(jax.random.key(0), x[:1])
    fns = {}
    for tag, mod in (("old", old), ("new", new)):
        L = mod.LocalLiouvillian(s)
        c = jax.jit(lambda x, t, L=L: L.connected(x, t)); fns[tag + " conn"] = (lambda c=c, L=L: jax.block_until_ready(c(x, L.tables)))
        f = jax.jit(lambda p, x, t, L=L: L.local_values(lambda y: m.apply(p, y), x, None, t)); fns[tag + " lloc"] = (lambda f=f, L=L: jax.block_until_ready(f(p, x, L.tables)))
    for v in fns.values(): v()
    res = {k: [] for k in fns}
    for r in range(15):
        for k, v in fns.items():
            t0 = time.perf_counter(); v(); v(); res[k].append((time.perf_counter() - t0) / 2)
    for kind in ("conn", "lloc"):
        o, w = np.array(res["old " + kind]), np.array(res["new " + kind])
        print(name, kind, "old %.2f ms new %.2f ms  median ratio %.2f  min ratio %.2f" % (1e3*np.median(o), 1e3*np.median(w), np.median(w/o), w.min()/o.min()))
