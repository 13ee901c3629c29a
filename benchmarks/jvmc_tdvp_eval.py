"""jVMC 1.5.8's time per POVM-TDVP evaluation, run in jVMC's own environment by bench_rnn_tdvp.py.

    /tmp/jvmc_venv/bin/python benchmarks/jvmc_tdvp_eval.py --n 6 --hidden 10 --samples 2000 --repeat 5

The same model as bench_rnn_tdvp.py (periodic chain, J = (2, 0, 1), hz = 1, sigma^- at rate 1, from y-),
jVMC's GRU RNN1DGeneral with the product-state output bias of its examples, exact autoregressive
samples, TDVP(rhsPrefactor=-1, makeReal='real') with its default regularisation. Prints one JSON line:
parameters and seconds per evaluation (median of --repeat after a compiling call). Uses only jVMC's
public API (it is not part of the package and is never imported by it).
"""

import argparse
import json
import time

import jax

jax.config.update("jax_enable_x64", True)

import flax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import jVMC  # noqa: E402
import numpy as np  # noqa: E402
from jVMC.operator.povm import get_1_particle_distributions  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=6)
    ap.add_argument("--hidden", type=int, default=10)
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--cell", default="GRU")
    ap.add_argument("--translations", action="store_true",
                    help="p averaged over the chain's translations (jVMC's SymNet around the RNN)")
    args = ap.parse_args()
    L = args.n
    net = jVMC.nets.RNN1DGeneral(L=L, hiddenSize=args.hidden, depth=1, inputDim=4, logProbFactor=1,
                                 realValuedOutput=True, realValuedParams=True, cell=args.cell)
    if args.translations:
        # every log p is then a logsumexp over the L translates, as ours; jVMC samples the plain RNN's p,
        # which changes the samples but not the work of an evaluation
        from jVMC.nets.sym_wrapper import SymNet
        from jVMC.util.symmetries import get_orbit_1D

        net = SymNet(net=net, orbit=get_orbit_1D(L, "translation"))
    psi = jVMC.vqs.NQS(net, seed=1234)
    povm = jVMC.operator.POVM({"dim": "1D", "L": L})
    lind = jVMC.operator.POVMOperator(povm)
    for l in range(L):
        lind.add({"name": "XX", "strength": 2.0, "sites": (l, (l + 1) % L)})
        lind.add({"name": "ZZ", "strength": 1.0, "sites": (l, (l + 1) % L)})
        lind.add({"name": "Z", "strength": 1.0, "sites": (l,)})
        lind.add({"name": "decaydown", "strength": 1.0, "sites": (l,)})
    # product state y- through the output bias (logit 0 is fixed to 0), kernel near zero: jVMC's example 5
    probs = np.asarray(get_1_particle_distributions("y_down", povm))
    psi(jnp.zeros((1, 1, L), jnp.int32))  # initialises the parameters
    full = tree = flax.core.unfreeze(psi.params)
    tree = tree["params"] if "params" in tree else tree
    tree = tree["net"] if "net" in tree else tree  # inside SymNet
    dense = tree["outputDense"]
    dense["bias"] = jnp.log(probs[1:] / probs[0])
    dense["kernel"] = 1e-3 * jax.random.normal(jax.random.key(0), dense["kernel"].shape)
    psi.set_parameters(flax.core.freeze(full))
    sampler = jVMC.sampler.MCSampler(psi, (L,), jax.random.PRNGKey(0), numSamples=args.samples, logProbFactor=1)
    tdvp = jVMC.util.TDVP(sampler, rhsPrefactor=-1.0, makeReal="real")
    theta = psi.get_parameters()
    times = []
    for r in range(args.repeat + 1):
        t0 = time.perf_counter()
        out = tdvp(theta, 0.0, psi=psi, hamiltonian=lind, numSamples=args.samples)
        jax.block_until_ready(out)
        if r:
            times.append(time.perf_counter() - t0)
    print(json.dumps({"code": "jVMC " + jVMC.__version__, "n_params": int(theta.size),
                      "seconds_per_eval": float(np.median(times)), "all": times}))


if __name__ == "__main__":
    main()
