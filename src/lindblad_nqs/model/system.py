"""The spin model every method solves.

    H = sum_<ij> (Jx X_i X_j + Jy Y_i Y_j + Jz Z_i Z_j) + sum_i (hx X_i + hy Y_i + hz Z_i)
    d rho/dt = -i[H, rho] + sum_k rate_k (L_k rho L_k^dag - 1/2 {L_k^dag L_k, rho}),  L_k on every site.

The papers' models are presets that compile to this one form (see PRESETS).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from .lattice import Lattice
from .operators import JUMP_OPERATORS, PAULI


@dataclass(frozen=True)
class Jump:
    op: str
    rate: float

    @property
    def matrix(self) -> np.ndarray:
        return JUMP_OPERATORS[self.op]


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
        Bond terms XX, YY, ZZ commute with P; a field term does only along z; every single-site jump
        in JUMP_OPERATORS satisfies P L P = +-L."""
        return self.h[0] == 0.0 and self.h[1] == 0.0

    def to_dict(self) -> dict:
        return {
            "lattice": {"shape": list(self.lattice.shape), "boundary": self.lattice.boundary},
            "couplings": dict(zip(("Jx", "Jy", "Jz"), self.J)),
            "field": dict(zip(("hx", "hy", "hz"), self.h)),
            "jumps": [asdict(j) for j in self.jumps],
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
