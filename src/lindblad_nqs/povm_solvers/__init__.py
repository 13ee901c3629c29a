"""PyTorch solvers on POVM distributions (luo2022): the L1 steady-state cost, the forward-backward
trapezoid dynamics, and their training loops. The physics tensors come from lindblad_nqs.povm."""
