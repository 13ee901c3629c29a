"""Neural-network solvers for the Lindblad master equation, checked against exact baselines."""

__version__ = "0.1.0"
