"""Neural-network ansatze. Import the submodules directly (e.g. ``lindblad_nqs.nets.transformer``);
this package file stays free of framework imports so that JAX and PyTorch models load independently."""
