#!/usr/bin/env bash
# Every GPU measurement of benchmarks/RESULTS.md in one lease: seconds per model-epoch of distnet's first-layer
# modes against both PyTorch peers (and their first-layer error against float64 on this device), the OffsetL2
# row, a kernel profile of one chunk, the paper's main study as one timed train.py command, analyze on its
# folder, and the cost of XLA's deterministic GPU ops. Ends with the rows for RESULTS.md.
#
#   DISTNET_DATA_DIR=/path/to/data bash benchmarks/gpu_paper.sh
#
# Knobs (environment): EPOCHS (5000), SEEDS (20), VARIANTS (the six main ones), SPLIT (auto: the trainer's
# choice), PRECISION (highest), ROW_EPOCHS (50, per throughput row), N_TRAIN (0 = all), PROFILE (the layouts
# profiled: bf16,fp16), OUTDIR
# (runs/gpu_paper), STEPS ("rows profile study analyze determinism"), BUDGET_S (skip a step that would start
# with less than 30 s of this budget left; 0 = none), TORCH_DEVICE (cuda), PY (python3).
# On CPU, a tiny check of the script itself:
#   EPOCHS=20 SEEDS=2 ROW_EPOCHS=2 N_TRAIN=3000 TORCH_DEVICE=cpu bash benchmarks/gpu_paper.sh
set -uo pipefail
cd "$(dirname "$0")/.."
EPOCHS=${EPOCHS:-5000}; SEEDS=${SEEDS:-20}; SPLIT=${SPLIT:-auto}; PRECISION=${PRECISION:-highest}
VARIANTS=${VARIANTS:-ReLU,Abs,ReLU2,Abs2,ReLU2-Neg,Abs2-Neg}; ROW_EPOCHS=${ROW_EPOCHS:-50}; N_TRAIN=${N_TRAIN:-0}
OUTDIR=${OUTDIR:-runs/gpu_paper}; STEPS=${STEPS:-rows profile study analyze determinism}
BUDGET_S=${BUDGET_S:-0}; TORCH_DEVICE=${TORCH_DEVICE:-cuda}; PY=${PY:-python3}
export PYTHONUNBUFFERED=1 PYTHONPATH="$(pwd)/src${PYTHONPATH:+:$PYTHONPATH}"   # no install on the GPU machine
mkdir -p "$OUTDIR"
start=$(date +%s)
left() { [ "$BUDGET_S" -eq 0 ] && echo 100000 || echo $(( BUDGET_S - ($(date +%s) - start) )); }
want() { [[ " $STEPS " == *" $1 "* ]] && [ "$(left)" -gt 30 ]; }
n_rows=$(( N_TRAIN > 0 ? N_TRAIN : 60000 ))
# XLA prints one line per compiled program with JAX_LOG_COMPILES=1: total seconds and count per program name
compiles() { grep -a "Finished XLA compilation" "$1" | sed -E 's/.*compilation of (.*) in ([0-9.e-]+) sec.*/\2 \1/' |
  awk '{t[$2]+=$1; n[$2]++; T+=$1; N++} END {printf "compiles: %d programs, %.1f s:", N, T;
       for (k in t) printf " %s %dx %.1fs;", k, n[k], t[k]; print ""}'; }

echo "== device"; nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm --format=csv,noheader 2>/dev/null || true
$PY -c "import jax, flax, optax, orbax.checkpoint as o; print('jax', jax.__version__, jax.devices(), 'flax', flax.__version__, 'optax', optax.__version__)"

if want rows; then
  echo "== seconds per model-epoch, $SEEDS seeds, ReLU: distnet's first layers vs the PyTorch peers (same device)"
  timeout "$(left)" $PY benchmarks/throughput.py --seeds "$SEEDS" --epochs "$ROW_EPOCHS" --n-train "$n_rows" \
    --precision "$PRECISION" --layout auto,bf16,fp16 --torch loop,batched --no-numpy --torch-device "$TORCH_DEVICE" \
    --json "$OUTDIR/throughput.json"
  echo "== the OffsetL2 head (Abs-L2), for the 50,000-epoch study's estimate"
  timeout "$(left)" $PY benchmarks/throughput.py --seeds "$SEEDS" --epochs "$ROW_EPOCHS" --n-train "$n_rows" \
    --precision "$PRECISION" --variant Abs-L2 --layout auto,fp16 --torch none --no-numpy --json "$OUTDIR/throughput_l2.json"
fi
if want study; then
  ckpt=$(( EPOCHS >= 1000 ? 1000 : EPOCHS / 2 )); chunk=$(( EPOCHS >= 500 ? 500 : EPOCHS / 2 ))
  echo "== main study: ${VARIANTS//,/ } x $SEEDS seeds x $EPOCHS epochs, split=$SPLIT, precision $PRECISION"
  rm -rf "$OUTDIR/main"
  t0=$(date +%s.%N)
  JAX_LOG_COMPILES=1 timeout --signal=TERM "$(left)" $PY train.py --config configs/paper_table1.py \
    --workdir "$OUTDIR/main" --config.variants="$VARIANTS" --config.num_seeds="$SEEDS" --config.epochs="$EPOCHS" \
    --config.checkpoint_every="$ckpt" --config.chunk_epochs="$chunk" --config.matmul_precision="$PRECISION" \
    --config.split="$SPLIT" --config.data.n_train="$N_TRAIN" 2> "$OUTDIR/study.err"
  rc=$?; t1=$(date +%s.%N)
  grep -avE "^[WI][0-9]{4} |^$" "$OUTDIR/study.err" | tail -5   # what is not JAX's compile log
  echo "== main study: exit $rc, wall $(awk "BEGIN{printf \"%.1f\", $t1 - $t0}") s (process start, data, compiles and checkpoints included)"
  compiles "$OUTDIR/study.err"
  $PY - "$OUTDIR/main" <<'EOF'
import json, pathlib, sys
for s in sorted(pathlib.Path(sys.argv[1]).glob("*/summary.json")):
    d = json.loads(s.read_text())
    print(f"  {d['variant']}: wall {d['wall_time_s']:.1f} s, timing {d.get('timing')}")
EOF
fi
if want analyze && [ -d "$OUTDIR/main" ]; then
  echo "== python -m distnet.analysis.analyze on the main study's folder"
  t0=$(date +%s.%N)
  JAX_LOG_COMPILES=1 timeout "$(left)" $PY -m distnet.analysis.analyze "$OUTDIR/main" --force 2> "$OUTDIR/analyze.err" | grep -a "done in\|analyzed"
  grep -avE "^[WI][0-9]{4} |^$" "$OUTDIR/analyze.err" | tail -5
  rc=$?; t1=$(date +%s.%N)
  echo "== analyze: wall $(awk "BEGIN{printf \"%.1f\", $t1 - $t0}") s"
  compiles "$OUTDIR/analyze.err"
fi
if want profile; then
  echo "== kernel profile of one chunk (20 epochs)"
  (out=$(realpath "$OUTDIR")/profile; cd benchmarks && timeout "$(left)" $PY profile_epoch.py --layouts ${PROFILE:-bf16,fp16} \
    --seeds "$SEEDS" --epochs 20 --n-train "$n_rows" --precision "$PRECISION" --out "$out")
fi
if want determinism; then
  echo "== the cost of --xla_gpu_deterministic_ops=true (same rows, flag set)"
  XLA_FLAGS="${XLA_FLAGS:-} --xla_gpu_deterministic_ops=true" timeout "$(left)" $PY benchmarks/throughput.py \
    --seeds "$SEEDS" --epochs "$ROW_EPOCHS" --n-train "$n_rows" --precision "$PRECISION" --layout auto,fp16 \
    --torch none --no-numpy --json "$OUTDIR/throughput_deterministic.json"
fi
echo "== total $(( $(date +%s) - start )) s"
