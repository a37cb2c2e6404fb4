#!/usr/bin/env bash
# The GPU measurements of benchmarks/RESULTS.md in one lease, most wanted first: the paper's main study as one timed
# train.py command, analyze on its folder, seconds per model-epoch of the trainer's default first layer (the
# `auto` row resolves as train.py plans it) against plain float32 and the PyTorch loop, the distance heads' cost per
# model-epoch against a Linear head (both MD formulations, heads_cost.py), and the distance heads trained at
# HEAD_SEEDS seeds. Opt-in steps: a kernel profile (profile) and the cost of XLA's deterministic ops (determinism).
#
#   DISTNET_DATA_DIR=/path/to/data bash benchmarks/gpu_paper.sh
#
# Fits one 10-minute command: BUDGET_S (540) skips a step that would start with less than 30 s left and stops a
# running one at the budget (train.py resumes from its checkpoints if rerun). Expected on one H200 (RESULTS.md):
# study 150-200 s, analyze 25-60 s, rows about 40 s, heads about 80 s, heads_study about 100 s (estimates for the
# last three).
# Knobs (environment): EPOCHS (5000), SEEDS (20), VARIANTS (the six main ones), SPLIT (auto: the trainer's
# choice), PRECISION (highest), ROW_EPOCHS (50, per throughput row), N_TRAIN (0 = all), OUTDIR (runs/gpu_paper),
# STEPS ("study analyze rows heads heads_study"; also: profile, determinism), BUDGET_S (540; 0 = none),
# HEAD_COST_VARIANTS (ReLU,ReLU-L2,ReLU-RBF,ReLU-MD,ReLU-MD@gram), HEAD_COST_EPOCHS (20), HEAD_SEEDS (10),
# HEAD_EPOCHS (1000), HEAD_VARIANTS (ReLU-L2,ReLU-RBF,ReLU-MD,ReLU-MD-Neg), PROFILE (the layouts profiled:
# bf16,fp16), TORCH_DEVICE (cuda), PY (python3).
# On CPU, a tiny check of the script itself (a few minutes on 2 cores):
#   EPOCHS=20 SEEDS=2 ROW_EPOCHS=2 N_TRAIN=3000 HEAD_COST_EPOCHS=2 HEAD_SEEDS=2 HEAD_EPOCHS=20 TORCH_DEVICE=cpu \
#     VARIANTS=ReLU,Abs2-Neg OUTDIR=/tmp/gpu_paper bash benchmarks/gpu_paper.sh
set -uo pipefail
cd "$(dirname "$0")/.."
EPOCHS=${EPOCHS:-5000}; SEEDS=${SEEDS:-20}; SPLIT=${SPLIT:-auto}; PRECISION=${PRECISION:-highest}
VARIANTS=${VARIANTS:-ReLU,Abs,ReLU2,Abs2,ReLU2-Neg,Abs2-Neg}; ROW_EPOCHS=${ROW_EPOCHS:-50}; N_TRAIN=${N_TRAIN:-0}
OUTDIR=${OUTDIR:-runs/gpu_paper}; STEPS=${STEPS:-study analyze rows heads heads_study}
BUDGET_S=${BUDGET_S:-540}; TORCH_DEVICE=${TORCH_DEVICE:-cuda}; PY=${PY:-python3}
HEAD_COST_VARIANTS=${HEAD_COST_VARIANTS:-ReLU,ReLU-L2,ReLU-RBF,ReLU-MD,ReLU-MD@gram}; HEAD_COST_EPOCHS=${HEAD_COST_EPOCHS:-20}
HEAD_SEEDS=${HEAD_SEEDS:-10}; HEAD_EPOCHS=${HEAD_EPOCHS:-1000}; HEAD_VARIANTS=${HEAD_VARIANTS:-ReLU-L2,ReLU-RBF,ReLU-MD,ReLU-MD-Neg}
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
summaries() { $PY - "$1" <<'EOF'
import json, pathlib, sys
for s in sorted(pathlib.Path(sys.argv[1]).glob("*/summary.json")):
    d = json.loads(s.read_text())
    print(f"  {d['variant']}: wall {d['wall_time_s']:.1f} s, timing {d.get('timing')}")
EOF
}

echo "== device"; nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm --format=csv,noheader 2>/dev/null || true
$PY -c "import jax, flax, optax, orbax.checkpoint as o; print('jax', jax.__version__, jax.devices(), 'flax', flax.__version__, 'optax', optax.__version__)"

# train NAME CONFIG LABEL EPOCHS CKPT CHUNK FLAGS...: one timed train.py run into $OUTDIR/NAME (a checkpoint every CKPT
# epochs and chunks of CHUNK at most), its non-compile stderr, exit code, wall time, compiles and per-variant summaries
train() {
  local name=$1 config=$2 label=$3 epochs=$4 most_ckpt=$5 most_chunk=$6; shift 6
  local ckpt=$(( epochs >= most_ckpt ? most_ckpt : epochs / 2 )) chunk=$(( epochs >= most_chunk ? most_chunk : epochs / 2 ))
  echo "== $label"
  rm -rf "$OUTDIR/$name"
  local t0=$(date +%s.%N)
  JAX_LOG_COMPILES=1 timeout --signal=TERM "$(left)" $PY train.py --config "$config" --workdir "$OUTDIR/$name" \
    --config.epochs="$epochs" --config.checkpoint_every="$ckpt" --config.chunk_epochs="$chunk" \
    --config.matmul_precision="$PRECISION" --config.split="$SPLIT" --config.data.n_train="$N_TRAIN" "$@" \
    2> "$OUTDIR/$name.err"
  local rc=$? t1=$(date +%s.%N)
  grep -avE "^[WI][0-9]{4} |^WARNING:jax|^$" "$OUTDIR/$name.err" | tail -5   # what is not JAX's compile log
  echo "== $name: exit $rc, wall $(awk "BEGIN{printf \"%.1f\", $t1 - $t0}") s (process start, data, compiles and checkpoints included)"
  compiles "$OUTDIR/$name.err"
  summaries "$OUTDIR/$name"
}

if want study; then
  train main configs/paper_table1.py "main study: ${VARIANTS//,/ } x $SEEDS seeds x $EPOCHS epochs, split=$SPLIT, precision $PRECISION" \
    "$EPOCHS" 1000 500 --config.variants="$VARIANTS" --config.num_seeds="$SEEDS"
fi
if want analyze && [ -d "$OUTDIR/main" ]; then
  echo "== python -m distnet.analysis.analyze on the main study's folder"
  t0=$(date +%s.%N)
  JAX_LOG_COMPILES=1 timeout "$(left)" $PY -m distnet.analysis.analyze "$OUTDIR/main" --force 2> "$OUTDIR/analyze.err" | grep -a "done in\|analyzed"
  grep -avE "^[WI][0-9]{4} |^WARNING:jax|^$" "$OUTDIR/analyze.err" | tail -5
  rc=$?; t1=$(date +%s.%N)
  echo "== analyze: wall $(awk "BEGIN{printf \"%.1f\", $t1 - $t0}") s"
  compiles "$OUTDIR/analyze.err"
fi
if want rows; then
  echo "== seconds per model-epoch, $SEEDS seeds, ReLU: train.py's first layer (auto) and plain float32 vs the PyTorch loop"
  timeout "$(left)" $PY benchmarks/throughput.py --seeds "$SEEDS" --epochs "$ROW_EPOCHS" --n-train "$n_rows" \
    --precision "$PRECISION" --layout auto,row --torch loop --no-numpy --torch-device "$TORCH_DEVICE" \
    --json "$OUTDIR/throughput.json"
fi
if want heads; then
  echo "== distance heads per model-epoch against a Linear head, $SEEDS seeds, $HEAD_COST_EPOCHS epochs per call"
  (cd benchmarks && timeout "$(left)" $PY heads_cost.py --variants "$HEAD_COST_VARIANTS" --seeds "$SEEDS" \
    --epochs "$HEAD_COST_EPOCHS" --reps 3 --n-train "$n_rows" --memory-seeds "$SEEDS" --memory-n-train "$n_rows")
fi
if want heads_study; then
  train heads configs/distance_heads.py "distance heads: ${HEAD_VARIANTS//,/ } x $HEAD_SEEDS seeds x $HEAD_EPOCHS epochs (configs/distance_heads.py)" \
    "$HEAD_EPOCHS" 500 250 --config.variants="$HEAD_VARIANTS" --config.num_seeds="$HEAD_SEEDS"
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
