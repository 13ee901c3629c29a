"""The spin model every method solves.

    H = sum_<ij> (Jx X_i X_j + Jy Y_i Y_j + Jz Z_i Z_j) + sum_i (hx X_i + hy Y_i + hz Z_i)
    d rho/dt = -i[H, rho] + sum_k rate_k (L_k rho L_k^dag - 1/2 {L_k^dag L_k, rho}),  L_k on every site.

The papers' models are presets that compile to this one form (see PRESETS).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import numpy as np

from .lattice import Lattice
from .operators import HADAMARD, JUMP_OPERATORS, PAULI, Z


@dataclass(frozen=True)
class Jump:
    op: str
    rate: float
    basis: str = "z"  # "x": the operator written in the Hadamard-rotated basis (SpinSystem.in_x_basis)

    @property
    def matrix(self) -> np.ndarray:
        L = JUMP_OPERATORS[self.op]
        return HADAMARD @ L @ HADAMARD if self.basis == "x" else L


@dataclass(frozen=True)
class SpinSystem:
    lattice: Lattice
    J: tuple[float, float, float] = (0.0, 0.0, 0.0)
    h: tuple[float, float, float] = (0.0, 0.0, 0.0)
    jumps: tuple[Jump, ...] = field(default_factory=tuple)

    @property
    def n_sites(self) -> int:
        return self.lattice.n_sites

    def bond_terms(self):
        """(pauli, coupling) pairs of the two-site Hamiltonian term, zero couplings dropped."""
        return [(a, c) for a, c in zip("xyz", self.J) if c != 0.0]

    def field_terms(self):
        return [(a, c) for a, c in zip("xyz", self.h) if c != 0.0]

    def bond_hamiltonian(self) -> np.ndarray:
        """The 4x4 two-site term on a bond (site i is the first tensor factor)."""
        return sum((c * np.kron(PAULI[a], PAULI[a]) for a, c in self.bond_terms()), np.zeros((4, 4), complex))

    def site_hamiltonian(self) -> np.ndarray:
        return sum((c * PAULI[a] for a, c in self.field_terms()), np.zeros((2, 2), complex))

    def conserves_z_parity(self) -> bool:
        """Whether rho -> P rho P, P = prod_i Z_i, is a symmetry of the Liouvillian, so that the
        elements rho(s, s') with sum_i (s_i - s'_i) = 2 mod 4 (spins +-1) evolve apart from the rest.
        Bond terms XX, YY, ZZ commute with P; a field term does only along z; a jump must satisfy
        Z L Z = +-L (every operator of JUMP_OPERATORS does, their Hadamard-rotated forms need not)."""
        def parity_even_or_odd(L):
            ZLZ = Z @ L @ Z
            return np.allclose(ZLZ, L) or np.allclose(ZLZ, -L)
        return self.h[0] == 0.0 and self.h[1] == 0.0 and all(parity_even_or_odd(j.matrix) for j in self.jumps)

    def in_x_basis(self) -> "SpinSystem":
        """The same model written in the basis rotated by the Hadamard U on every site (rho -> U rho U):
        X and Z swap, Y changes sign. mellak2024 trains the rotated Ising model this way, where the XX
        correlations it is after become diagonal; observables map with HADAMARD_PAULI."""
        if any(j.basis != "z" for j in self.jumps):
            raise ValueError("in_x_basis: the system is already rotated")
        Jx, Jy, Jz = self.J
        hx, hy, hz = self.h
        return replace(self, J=(Jz, Jy, Jx), h=(hz, -hy, hx), jumps=tuple(replace(j, basis="x") for j in self.jumps))

    def to_dict(self) -> dict:
        # a jump's basis is written only when rotated, so the specs of unrotated systems keep their hashes
        return {
            "lattice": {"shape": list(self.lattice.shape), "boundary": self.lattice.boundary},
            "couplings": dict(zip(("Jx", "Jy", "Jz"), self.J)),
            "field": dict(zip(("hx", "hy", "hz"), self.h)),
            "jumps": [{k: v for k, v in asdict(j).items() if k != "basis" or v != "z"} for j in self.jumps],
        }


# --- paper presets: each returns the couplings, field and jumps of the one model ------------------
def _tfi(V: float, g: float, gamma: float = 1.0):
    """Transverse-field Ising (luo2022, mellak2024): H = V/4 sum Z Z + g/2 sum X, L = sigma^-."""
    return {"couplings": {"Jz": V / 4}, "field": {"hx": g / 2}, "jumps": [{"op": "sigma_minus", "rate": gamma}]}


def _rotated_ising(V: float, g: float, gamma: float = 1.0):
    """Rotated transverse-field Ising (mellak2024 Fig. 5, 6): H = V/4 sum X X + g/2 sum Z, L = sigma^-."""
    return {"couplings": {"Jx": V / 4}, "field": {"hz": g / 2}, "jumps": [{"op": "sigma_minus", "rate": gamma}]}


def _heisenberg(Jx: float, Jy: float, Jz: float, B: float = 0.0, gamma: float = 1.0):
    """Dissipative XYZ model (hartmann2019, reh2021, luo2022, mellak2024): field B along z, L = sigma^-."""
    return {
        "couplings": {"Jx": Jx, "Jy": Jy, "Jz": Jz},
        "field": {"hz": B},
        "jumps": [{"op": "sigma_minus", "rate": gamma}],
    }


def _confinement(Jz: float = 1.0, hx: float = 0.25, hz: float = 0.05, dephasing: float = 0.25):
    """Ising chain with a tilted field and dephasing (reh2021 Fig. 3): L = Z at rate `dephasing`."""
    jumps = [{"op": "sigma_z", "rate": dephasing}] if dephasing else []
    return {"couplings": {"Jz": Jz}, "field": {"hx": hx, "hz": hz}, "jumps": jumps}


PRESETS = {
    "tfi": _tfi,
    "rotated_ising": _rotated_ising,
    "heisenberg": _heisenberg,
    "confinement": _confinement,
}
