"""Single-site operators and states, as plain NumPy (the one place they are defined).

Conventions: Z|up> = +|up>, basis index 0 is |up>, sigma^- = (X - iY)/2 = |down><up|.
"""

import numpy as np

I2 = np.eye(2, dtype=complex)
X = np.array([[0, 1], [1, 0]], dtype=complex)
Y = np.array([[0, -1j], [1j, 0]], dtype=complex)
Z = np.array([[1, 0], [0, -1]], dtype=complex)

PAULI = {"x": X, "y": Y, "z": Z}

JUMP_OPERATORS = {
    "sigma_minus": (X - 1j * Y) / 2,
    "sigma_plus": (X + 1j * Y) / 2,
    "sigma_x": X,
    "sigma_y": Y,
    "sigma_z": Z,
}

_s = 1 / np.sqrt(2)
# The Hadamard change of basis U = (X + Z)/sqrt2 (U = U^dag) maps U X U = Z, U Y U = -Y, U Z U = X:
# Pauli a becomes sign * Pauli b with (b, sign) = HADAMARD_PAULI[a].
HADAMARD = _s * (X + Z)
HADAMARD_PAULI = {"x": ("z", 1.0), "y": ("y", -1.0), "z": ("x", 1.0)}

PRODUCT_STATES = {
    "z+": np.array([1, 0], dtype=complex),
    "z-": np.array([0, 1], dtype=complex),
    "x+": np.array([_s, _s], dtype=complex),
    "x-": np.array([_s, -_s], dtype=complex),
    "y+": np.array([_s, 1j * _s], dtype=complex),
    "y-": np.array([_s, -1j * _s], dtype=complex),
}
