"""rnn_tdvp on a periodic chain: the translation average lets the TDVP follow L p across the wrap bond.

At the exact product start the plain RNN couples sites only through its recurrence, so the first-order
correlation of the wrap bond (sites N-1 and 0, at the two ends of the autoregressive path) is tied to the
nearest-neighbour ones and the update misses a fixed share of L p; the translation-averaged RNN does not.
Exact sums over all 4^N strings: no sampling noise, so the residual is the tangent space's alone.
"""

import pytest

jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402

from lindblad_nqs.methods import get_method  # noqa: E402
from lindblad_nqs.model.lattice import Lattice  # noqa: E402
from lindblad_nqs.povm.frames import get_povm  # noqa: E402
from lindblad_nqs.povm.lindbladian import POVMLindbladian, all_strings  # noqa: E402
from lindblad_nqs.povm_tdvp import POVMApplier, make_rhs  # noqa: E402
from lindblad_nqs.solvers.rnn_tdvp import build_state  # noqa: E402
from lindblad_nqs.spec import parse_system  # noqa: E402
from lindblad_nqs.variational import tdvp  # noqa: E402


def _first_stage_residual(boundary, symmetry, n=4):
    system = parse_system({"lattice": {"shape": [n], "boundary": boundary},
                           "preset": {"name": "heisenberg", "Jx": 2.0, "Jy": 0.0, "Jz": 1.0, "B": 1.0,
                                      "gamma": 1.0}})
    p = {k: v.default for k, v in get_method("rnn_tdvp").keys.items()}
    p.update(symmetry=symmetry)
    _, _, state = build_state(system.lattice, p, "y-", 0)
    applier = POVMApplier(POVMLindbladian(system, get_povm(p["povm"])))
    rhs = make_rhs(state, applier, tdvp.TDVPOptions("soft", 0.0, 1e-8, 2.0))
    every = jnp.asarray(all_strings(n), jnp.int8)
    w = jnp.exp(state.log_value(state.theta0, every))
    _, _, d = rhs(state.theta0, every, w / jnp.sum(w))
    return float(d["residual"])


def test_translation_average_removes_the_wrap_bond_residual():
    with jax.enable_x64(True):
        plain = _first_stage_residual("periodic", "none")
        averaged = _first_stage_residual("periodic", "translations")
    assert plain > 0.03  # measured 0.086: the failure the default avoids
    assert averaged < 1e-4  # measured below 1e-7 (an open chain, without the wrap bond: 0.0026)


def test_translations_are_the_group_of_shifts():
    assert len(Lattice((6,), True).translation_permutations) == 6
    assert len(Lattice((3, 3), True).translation_permutations) == 9
    assert len(Lattice((6,), False).translation_permutations) == 1  # the identity
    assert len(Lattice((4, 4), True).symmetry_permutations) == 128
