"""rbm_tdvp's connected values, old and new code in one process: the local values L_loc of 2000 samples from
nets.rbm_dm.log_rho_ratio_connected (the log ratio, the sample's own log rho never evaluated) against the
log_rho_connected of an older commit (the product form, with log rho of the sample computed twice), and the
generic path (a full evaluation per connected configuration), interleaved, CPU seconds, single-threaded.

    python benchmarks/bench_rbm_connected.py [N] [init_noise] [--rev ca4184d]
"""
import subprocess, sys, time, numpy as np, jax
jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp
from lindblad_nqs.nets import rbm_dm
from lindblad_nqs.nets.rbm_dm import RBMDensityMatrix
from lindblad_nqs.spec import parse_system
from lindblad_nqs.variational.state import FlatState
from lindblad_nqs.vmc.local_estimator import LocalLiouvillian
rev = sys.argv[sys.argv.index("--rev") + 1] if "--rev" in sys.argv else "ca4184d"
sys.argv = [a for i, a in enumerate(sys.argv) if a != "--rev" and (i == 0 or sys.argv[i - 1] != "--rev")]
src = subprocess.run(["git", "show", f"{rev}:src/lindblad_nqs/nets/rbm_dm.py"], capture_output=True, text=True,
                     check=True).stdout
old_src = src[src.index("def log_rho_connected("):]
ns = dict(vars(rbm_dm)); exec(old_src, ns); old_conn = ns["log_rho_connected"]
clock = time.process_time
n = int(sys.argv[1]) if len(sys.argv) > 1 else 4
scale = float(sys.argv[2]) if len(sys.argv) > 2 else 0.3
system = parse_system({"lattice": {"shape": [n], "boundary": "periodic"},
                       "preset": {"name": "heisenberg", "Jx": 2.0, "Jy": 0.0, "Jz": 1.0, "B": 1.0}})
m = RBMDensityMatrix(n, 8, 8, initial="y-", init_noise=scale, bias_std=1.0, dtype=jnp.float64)
x0 = jnp.zeros((1, 2, n), jnp.int8)
st = FlatState.from_module(m, m.init(jax.random.key(0), x0), x0, log_derivatives=rbm_dm.log_derivatives)
lind = LocalLiouvillian(system, dtype=np.complex128)
ch = lind.op.changed_sites
x = jnp.asarray(np.random.default_rng(0).integers(0, 2, size=(2000, 2, n)), jnp.int8)
theta = st.theta0

def old(theta, x, tables):
    conn = lambda d, y: old_conn(st.unravel(theta), d, y, ch)
    return lind.local_values(lambda xx: st.log_value(theta, xx), x, st.log_value(theta, x), tables, log_rho_connected=conn)

def new(theta, x, tables):
    conn = lambda d, y: rbm_dm.log_rho_ratio_connected(st.unravel(theta), d, y, ch)
    return lind.local_values(lambda xx: st.log_value(theta, xx), x, jnp.zeros(x.shape[0], lind.dtype), tables, log_rho_connected=conn)

def generic(theta, x, tables):
    return lind.local_values(lambda xx: st.log_value(theta, xx), x, st.log_value(theta, x), tables)

jf = {"old": jax.jit(old), "new": jax.jit(new), "generic": jax.jit(generic)}
ref = np.asarray(jf["generic"](theta, x, lind.tables))
for k, f in jf.items():
    v = np.asarray(f(theta, x, lind.tables))
    print(f"{k:8s} max rel diff to generic {np.max(np.abs(v - ref)) / np.max(np.abs(ref)):.1e}")
T = {k: [] for k in jf}
for r in range(31):
    for k in (list(jf) if r % 2 else list(jf)[::-1]):
        t0 = clock(); jax.block_until_ready(jf[k](theta, x, lind.tables)); T[k].append(clock() - t0)
med = {k: np.median(v[1:]) for k, v in T.items()}
print(f"N={n} local values of 2000 samples, CPU ms (median of 30, interleaved): " + ", ".join(f"{k} {v*1e3:.2f}" for k, v in med.items())
      + f"; new/old {med['new']/med['old']:.2f}")
