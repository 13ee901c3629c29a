"""The one spin-model definition: lattice, couplings, field, jumps, and paper presets."""

from .lattice import Lattice
from .operators import HADAMARD, HADAMARD_PAULI, JUMP_OPERATORS, PAULI, PRODUCT_STATES
from .system import Jump, SpinSystem

__all__ = ["Lattice", "SpinSystem", "Jump", "PAULI", "JUMP_OPERATORS", "PRODUCT_STATES", "HADAMARD", "HADAMARD_PAULI"]
