#!/usr/bin/env bash
# One GPU session, in one call: the versions found there, the paper-size smoke of the costliest points of
# config/paper.yaml, and the per-step benchmarks of both frameworks, each stage under its own time limit
# so that one slow or broken stage leaves the others' numbers. Run from the repository root:
#
#     OUT=/some/dir bash benchmarks/gpu_session.sh        # default OUT: benchmarks/out/gpu
#
# The package is used from src/ (no install); a GPU machine needs jax (with its CUDA plugin), flax,
# optax, torch, pandas and pyyaml; qutip and snakemake are not used. Everything lands in $OUT/gpu_session.log
# and the stages' CSV files, packed into $OUT/gpu_session.tar.gz after every stage.
set -u
OUT=${OUT:-benchmarks/out/gpu}
PY=${PY:-python3}
SCALE=${SCALE:-1}   # stretch every stage's limit (a slower machine); 1 fits a 10-minute call
W=$(mktemp -d)
mkdir -p "$OUT"
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
# Several JAX processes run one after another: let each allocate what it needs, not 75% of the card.
export XLA_PYTHON_CLIENT_PREALLOCATE=false
LOG=$OUT/gpu_session.log

stage() {
  local name=$1 limit=$(( $2 * SCALE )); shift 2
  local t0; t0=$(date +%s)
  echo "=== $name (limit ${limit}s) $(date -u +%T)" | tee -a "$LOG"
  timeout "$limit" "$@" >>"$LOG" 2>&1
  echo "=== $name rc=$? in $(( $(date +%s) - t0 )) s" | tee -a "$LOG"
  tar -czf "$OUT/gpu_session.tar.gz" -C "$W" . 2>/dev/null
}

stage info 30 bash -c "nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm --format=csv; nproc; \
  $PY -c 'import sys, jax, flax, optax, torch, numpy, pandas; print(sys.version.split()[0], \"jax\", jax.__version__, \
  \"flax\", flax.__version__, \"optax\", optax.__version__, \"torch\", torch.__version__, \"numpy\", numpy.__version__); \
  print(jax.devices(), torch.cuda.is_available() and torch.cuda.get_device_name(0))'"

# First what no GPU has measured yet (luo2022 after the prefix evaluation and the on-device preparation
# of connected strings): the POVM step with and without prefixes, then paper-size points for a few
# iterations (time steps of 3 inner iterations for the dynamics), the full cost projected from the
# per-iteration time. ALL=1 adds the stages measured in the first GPU session (benchmarks/gpu/).
stage tests_cuda 60 "$PY" -m pytest -q -p no:cacheprovider tests/povm/test_luo_costs.py tests/povm/test_transformer_net.py -k cuda
stage povm_step 120 "$PY" benchmarks/bench_povm_step.py --device cuda --sizes 8 16 24 --samples 12000 \
  --repeat 2 --warmup 2 --out "$W/povm_step_gpu.csv"

SMOKE=("$PY" benchmarks/paper_smoke.py --iterations 3 --inner 3 --first-point-only --timeout $(( 60 * SCALE )) --threads 8)
stage smoke_luo 200 "${SMOKE[@]}" --out "$W/paper_smoke_luo_gpu.csv" --runs 'luo_(chain40_dyn|chain_dyn|square_dyn_2x64)'
stage smoke_mellak 150 "${SMOKE[@]}" --out "$W/paper_smoke_mellak_gpu.csv" --runs 'mellak_(rotated_long_cnn|square6_cnn|tfi_rbm)'

if [ "${ALL:-0}" = 1 ]; then
  stage smoke_luo_steady 150 "${SMOKE[@]}" --out "$W/paper_smoke_luo_steady_gpu.csv" --runs 'luo_(tfi_var|square_var_2x64)'
  stage vmc_steady 90 "$PY" benchmarks/bench_vmc_steady.py --sizes 8 16 32 40 --samples 4096 --repeat 3 \
    --out "$W/vmc_steady_gpu.csv"
  stage transformer 50 "$PY" benchmarks/bench_transformer.py --device cuda --sizes 9 16 40 --batch 12000 \
    --uncached-batch 2000 --models 1x32 2x64 --strings 8s --repeat 3
fi

rm -rf "$W"
echo "done $(date -u +%T)" | tee -a "$LOG"
