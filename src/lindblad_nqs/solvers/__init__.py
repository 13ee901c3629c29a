"""Solvers, one module per method family; each registers its methods with methods.register."""
