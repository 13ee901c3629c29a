"""Methods `cnn` and `rbm_ndo`: steady states by minimising the Monte Carlo L2 cost ||L rho||^2/||rho||^2
(mellak2024), with the CNN density operator or the purified RBM density operator.

The keys are the tables below (`lindblad-nqs methods cnn`, `lindblad-nqs methods rbm_ndo`); see
vmc.driver, vmc.sampling and vmc.optimizers for what they drive.

--init-state DIR initialises the parameters from DIR/params.npz of another run (transfer learning);
a state dir with checkpoint.npz resumes.
"""

from __future__ import annotations

from pathlib import Path

from ..compile_cache import enable_compilation_cache
from ..methods import Key, Result, RunContext, register
from ..spec import RunSpec, SpecError

COMMON = {
    "iterations": Key(300, int, "optimiser iterations", minimum=1),
    "n_samples": Key(1024, int, "samples of the doubled configuration (s, s') per iteration", minimum=1),
    "n_chains": Key(64, int, "Markov chains run in parallel", minimum=1),
    "sweep": Key(0, int, "proposals between kept samples (0: 2N)", minimum=0),
    "n_discard": Key(50, int, "burn-in sweeps of every chain", minimum=0),
    "beta": Key(1.0, float, "sampling exponent: samples are drawn from |rho|^(2 beta) and reweighted exactly",
                positive=True, maximum=1),
    "estimator": Key("l2", str, "l2: |L_loc|^2 as in the paper; ldagl: (L^dag L rho)/rho, the same cost, which also "
                     "sees elements where rho vanishes but L rho does not, at ~M times the cost per sample",
                     choices=("l2", "ldagl")),
    "sector": Key(True, bool, "restrict proposals to the Z-parity sector when the model conserves it"),
    "basis": Key("z", str, "x: the network represents U rho U with the Hadamard U on every site (mellak2024's "
                 "rotated Ising model, whose XX correlations become diagonal); results are in the usual basis",
                 choices=("z", "x")),
    "sampler": Key("metropolis", str, "metropolis: Markov chains; exact: independent draws from the enumerated "
                   "distribution; full_sum: exact sums over all configurations (exact and full_sum: N <= 7)",
                   choices=("metropolis", "exact", "full_sum")),
    "optimizer": Key("gn", str, "nagd: NAGD+ (the paper); adam; sr: stochastic reconfiguration; gn: Gauss-Newton "
                     "on the residual L rho (beyond the paper, see vmc.optimizers)", choices=("nagd", "adam", "sr", "gn")),
    "lr": Key(0.02, float, "step: NAGD+'s initial step, Adam's rate, SR's rate", positive=True),
    "lr_final_factor": Key(0.1, float, "Adam's rate decays exponentially to lr * lr_final_factor at the last "
                           "iteration", positive=True),
    "diag_shift": Key(0.01, float, "SR's diagonal shift of the metric", positive=True),
    "gn_damping": Key(0.01, float, "initial Levenberg damping of gn", positive=True),
    "gn_damping_min": Key(0.01, float, "floor of the gn damping: with few samples per parameter a small damping "
                          "fits the sampling noise", positive=True),
    "gn_warmup": Key(0, int, "gn only: this many Adam iterations at rate lr first", minimum=0),
    "nagd_shrink": Key(0.5, float, "NAGD+: factor of the step after a failed sufficient-decrease test",
                       positive=True, below=1),
    "nagd_grow": Key(1.2, float, "NAGD+: factor of the step after each iteration, so it can recover", minimum=1),
    "nagd_max_backtrack": Key(8, int, "NAGD+: most step reductions per iteration", minimum=0),
    "obs_samples": Key(20000, int, "samples of the final diagonal sampling for the reported observables", minimum=1),
    "obs_chains": Key(128, int, "Markov chains of the final diagonal sampling", minimum=1),
    "track": Key(None, list, "observables of the spec recorded per iteration (null: all)", nullable=True),
    "track_every": Key(10, int, "iterations between tracked observables", minimum=1),
    "track_samples": Key(1024, int, "samples for the tracked observables", minimum=1),
    "checkpoint_every": Key(100, int, "iterations between checkpoints in the state dir", minimum=1),
    "eig_max_sites": Key(8, int, "build rho and report its spectrum up to this many sites", minimum=0),
}

CNN_KEYS = dict(
    COMMON,
    features=Key([6, 20], list, "channels of each convolution layer (positive integers)"),
    kernels=Key([3, 3], list, "kernel size of each layer: one integer for every lattice axis, or a list with one "
                "per axis"),
    padding=Key("auto", str, "auto: follows the lattice boundary; periodic; open", choices=("auto", "periodic", "open")),
    pooling=Key("sum", str, "sum or mean over the lattice (translation invariant, parameters independent of the "
                "lattice size), or none (flatten)", choices=("sum", "mean", "none")),
    hermitian=Key(False, bool, "rho(s, s') + conj(rho(s', s)), Hermitian by construction at twice the cost"),
    init_scale=Key(1.0, float, "multiplies the He-style initial std sqrt(2/v_n)"),
)
RBM_KEYS = dict(
    COMMON,
    lr=Key(0.01, float, COMMON["lr"].doc, positive=True),
    alpha=Key(1.0, float, "hidden units per site", positive=True),
    ancilla=Key(1.0, float, "ancilla units per site (the purification)", positive=True),
    init_std=Key(0.01, float, "std of the normal initial parameters", positive=True),
)


def _check(spec: RunSpec) -> dict:
    """The resolved keys of a spec, after the checks that relate several keys or a key and the system."""
    p = dict(spec.params)
    n = spec.system.n_sites
    if p["sampler"] in ("exact", "full_sum") and n > 7:
        raise SpecError(f"method.sampler {p['sampler']} enumerates 4^N configurations: at most 7 sites, got {n}")
    track = p["track"]
    names = [o.name for o in spec.observables]
    if track is None:
        p["track"] = names
    elif not isinstance(track, list) or any(t not in names for t in track):
        raise SpecError(f"method.track must be a list of observables of the spec ({', '.join(names)}), got {track!r}")
    return p


# keys that cannot change the state of a training so far: a checkpoint of the run resumes across them
VOLATILE = ("iterations", "checkpoint_every", "obs_samples", "obs_chains", "track", "track_every", "track_samples",
            "eig_max_sites")


def checkpoint_fingerprint(spec: RunSpec, p: dict, init_state) -> str:
    """The checkpoint policy of cnn and rbm_ndo: the same system, network, sampling and optimisation
    setup, seed and --init-state parameters (their content); the iteration budget may differ unless
    Adam's decay depends on it."""
    from ..checkpoint import file_digest, fingerprint

    volatile = [k for k in VOLATILE if not (k == "iterations" and p["optimizer"] == "adam"
                                            and p["lr_final_factor"] != 1.0)]
    init = None
    if init_state is not None:
        f = Path(init_state) / "params.npz"
        init = file_digest(f) if f.is_file() else str(init_state)
    return fingerprint(dict(spec.raw, init_state=init), volatile)


def _run(spec: RunSpec, ctx: RunContext, module, p: dict, extra_info: dict) -> Result:
    import jax
    import jax.numpy as jnp

    from ..checkpoint import Checkpointer
    from ..results import device_description
    from ..vmc.driver import run_steady
    from ..vmc.sampling import prng_key

    n = spec.system.n_sites
    x0 = jnp.zeros((1, 2, n), jnp.int8)
    enable_compilation_cache()
    params0 = jax.jit(module.init)(prng_key(spec.seed + 7919), x0)
    try:
        ck = Checkpointer(Path(ctx.state_dir) / "checkpoint.npz", checkpoint_fingerprint(spec, p, ctx.init_state))
        run = run_steady(spec.system, module, params0, p, list(spec.observables), seed=spec.seed,
                         state_dir=ctx.state_dir, checkpointer=ck, init_state=ctx.init_state,
                         progress=ctx.progress, tracked=p["track"])
    except (FileNotFoundError, ValueError) as e:
        if ctx.init_state is not None and ("init-state" in str(e) or "params.npz" in str(e) or "parameter" in str(e)):
            raise SpecError(f"--init-state: {e}") from None
        raise
    rows = [(None, o.name, float(run.rows[o.name][0]), float(run.rows[o.name][1])) for o in spec.observables]
    info = {**extra_info, **run.info, "jax_device": device_description(),
            "threads": ctx.threads, "state_dir": str(ctx.state_dir)}
    return Result(rows, info, run.history)


def cnn_module(spec: RunSpec, p: dict):
    """The CNN density operator of a spec with resolved method options ``p`` (see ``_check``)."""
    from ..nets.cnn import CNNDensityOperator

    lat = spec.system.lattice
    feats, kern = p["features"], p["kernels"]
    if not feats or not all(isinstance(f, int) and not isinstance(f, bool) and f > 0 for f in feats):
        raise SpecError(f"method.features must be a non-empty list of positive integers, got {feats!r}")
    if len(kern) != len(feats):
        raise SpecError(f"method.kernels needs one entry per layer of method.features ({len(feats)}), got {kern!r}")
    kernels = []
    for k in kern:
        ks = [k] * lat.dim if isinstance(k, int) and not isinstance(k, bool) else k
        if (not isinstance(ks, list) or len(ks) != lat.dim
                or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in ks)):
            raise SpecError(f"method.kernels entries must be a positive integer or a list of {lat.dim} of them, got {k!r}")
        kernels.append(tuple(ks))
    periodic = lat.periodic if p["padding"] == "auto" else p["padding"] == "periodic"
    return CNNDensityOperator(shape=lat.shape, features=tuple(feats), kernels=tuple(kernels), periodic=periodic,
                              pooling=p["pooling"], hermitian=p["hermitian"], init_scale=p["init_scale"])


@register("cnn", CNN_KEYS, tasks=("steady",), uses_gpu=True, framework="jax")
def solve_cnn(spec: RunSpec, ctx: RunContext) -> Result:
    p = _check(spec)
    module = cnn_module(spec, p)
    return _run(spec, ctx, module, p, {"ansatz": "cnn", "padding_periodic": module.periodic})


def rbm_module(spec: RunSpec, p: dict):
    """The purified RBM density operator of a spec with resolved method options ``p``."""
    from ..nets.rbm_ndo import RBMDensityOperator

    return RBMDensityOperator(n_sites=spec.system.n_sites, alpha=p["alpha"], ancilla=p["ancilla"], init_std=p["init_std"])


MODULES = {"cnn": cnn_module, "rbm_ndo": rbm_module}


@register("rbm_ndo", RBM_KEYS, tasks=("steady",), uses_gpu=True, framework="jax")
def solve_rbm(spec: RunSpec, ctx: RunContext) -> Result:
    p = _check(spec)
    return _run(spec, ctx, rbm_module(spec, p), p, {"ansatz": "rbm_ndo"})


check_spec = _check  # run by spec.parse_spec: validate and the workflow see the same checks
