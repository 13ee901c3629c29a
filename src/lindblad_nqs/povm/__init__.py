"""The POVM (probabilistic) formulation: frames, the local POVM Lindbladian, observables.

Plain NumPy, shared by every solver that works with POVM distributions (PyTorch, JAX).
"""

from .frames import POVM, POVM_NAMES, get_povm
from .lindbladian import POVMLindbladian, POVMTerm, all_strings, local_generator, string_index
from .observables import estimate, observable_samples, pauli_string_samples

__all__ = ["POVM", "POVM_NAMES", "get_povm", "POVMLindbladian", "POVMTerm", "local_generator", "all_strings",
           "string_index", "estimate", "observable_samples", "pauli_string_samples"]
