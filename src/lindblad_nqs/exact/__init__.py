"""Exact baselines: QuTiP operators, symmetry-reduced steady states and dynamics, trajectories."""
